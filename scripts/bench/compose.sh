#!/usr/bin/env bash
# Compose benchmark (issue #17), deploy part: a three-service app (api, web, worker) on the
# fake cluster, `aks-backend deploy --compose` (one process, one deadline, the three
# rollouts tracked together) against the same three components deployed by three
# separate `aks-backend deploy` invocations one after the other (how a user glues it
# today). Each run changes an environment variable so every run is a real rollout.
# Prints hyperfine's means, the wall-time ratio, and our CPU share of one compose deploy
# (user+sys of the process over its wall time, /usr/bin/time -v).
#
# `run --compose` (build, push, scan of every service) is not implemented yet, so the
# issue's whole-pipeline comparison (builds overlapping, one sign-in, one Trivy DB load)
# cannot be measured here; this covers the deploy step only.
#
#   scripts/bench/compose.sh              # RUNS=5; AKS_BACKEND_BIN=path skips the build
#   TIME_SCALE=1 scripts/bench/compose.sh # the fake cluster's pace (1 = real seconds)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS=${RUNS:-5}
TIME_SCALE=${TIME_SCALE:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
BIN=${AKS_BACKEND_BIN:-}
if [ -z "$BIN" ]; then
  (cd "$root" && cargo build --release --quiet)
  BIN="$CARGO_TARGET_DIR/release/aks-backend"
fi
work="$(mktemp -d)"
"$root/scripts/fake-cluster" --time-scale "$TIME_SCALE" >"$work/fc.out" 2>"$work/fc.err" &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/fc.out" ] && break; sleep 0.1; done
export KUBECONFIG="$(head -1 "$work/fc.out")"
D=sha256:1111111111111111111111111111111111111111111111111111111111111111
img() { echo "registry.example.com/team/$1@$D"; }

cat >"$work/compose.yaml" <<YAML
services:
  api:
    image: $(img api)
    ports: ["8080:8080"]
    environment: {REV: "\${REV}"}
  web:
    image: $(img web)
    expose: ["3000"]
    environment: {REV: "\${REV}"}
  worker:
    image: $(img worker)
    command: ["work"]
    environment: {REV: "\${REV}"}
YAML
common="--kubeconfig $KUBECONFIG --replicas 2 --settle-seconds 2 --min-ready-seconds 0 --timeout 120s --comment false"
compose="REV=\$(date +%s%N) $BIN deploy $common --namespace bench-compose --compose $work/compose.yaml"
separate="R=\$(date +%s%N); for s in api:8080 web:3000 worker:8080; do \
$BIN deploy $common --namespace bench-separate --app \${s%%:*} --port \${s##*:} \
--image registry.example.com/team/\${s%%:*}@$D --env REV=\$R || exit 1; done"

cd "$work"
hyperfine --runs "$RUNS" --warmup 1 --export-json "$work/h.json" \
  -n "deploy --compose (3 services)" "$compose >/dev/null 2>&1" \
  -n "3 x deploy" "$separate >/dev/null 2>&1"
python3 - "$work/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
c, s = r[0]["mean"], r[1]["mean"]
print(f"compose {c:.2f} s, separate {s:.2f} s, ratio {c / s:.2f} (goal <= 0.6 for the whole run)")
PY
REV=cpu /usr/bin/time -v "$BIN" deploy $common --namespace bench-compose --compose "$work/compose.yaml" \
  >/dev/null 2>"$work/time.txt" || true
python3 - "$work/time.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
user = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1))
sys_ = float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
w = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", t)
wall = int(w.group(1) or 0) * 3600 + int(w.group(2)) * 60 + float(w.group(3))
print(f"one compose deploy: wall {wall:.2f} s, our CPU {user + sys_:.2f} s = {100 * (user + sys_) / wall:.1f} % (goal <= 5 %)")
PY
