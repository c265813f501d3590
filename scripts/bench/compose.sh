#!/usr/bin/env bash
# Compose benchmark (issue #17): `aks-backend run --compose` of a three-service app
# (tests/it/fixtures/compose/three: the web FROM the Trivy fixture image, the API and
# the worker FROM scratch) against the same work done by three separate `aks-backend run`
# invocations one after the other (how a user glues it today), on the hermetic stack:
# the real engine, Debian's docker-registry, the real Trivy with the offline DB, the fake
# cluster. Both sides build (engine cache allowed alike), push, scan and deploy the three
# images. Prints hyperfine's means, the wall-time ratio (goal <= 0.6: builds overlap, one
# sign-in), and our own CPU share of one `run --compose` (the process's CPU over its
# wall time, from the run's timing breakdown; Trivy's CPU is not ours).
#
#   scripts/bench/compose.sh           # RUNS=3; AKS_BACKEND_BIN=path picks the binary
#   TIME_SCALE=1 scripts/bench/compose.sh  # the fake cluster's pace (1 = real seconds)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
eval "$(scripts/setup-test-tools)"
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}
BIN=${AKS_BACKEND_BIN:-$TARGET/release/aks-backend}
RUNS=${RUNS:-3}
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release" >&2; exit 2; }
. scripts/lib/hermetic-stack.sh
start_stack "${TIME_SCALE:-1}"
cp -r "$root/tests/it/fixtures/compose/three" "$WORK/three"
A="$WORK/three"

common="--kubeconfig $KUBECONFIG_PATH --replicas 1 --settle-seconds 2 --min-ready-seconds 0 --timeout 120s \
  --trivy-path $AKS_BACKEND_TEST_TRIVY --trivy-cache-dir $WORK/cache --skip-db-update --offline-scan \
  --registry-insecure --fail-on-findings false --comment false"
compose="$BIN run $common --compose $A/compose.yaml --image-prefix $REGISTRY/bench-compose \
  --namespace bench-compose --sarif $WORK/compose.sarif --state $WORK/compose-state.json"
one() { # service port [extra flags]
  echo "$BIN run $common --image $REGISTRY/bench-separate/$1 --context $A/$1 --app $1 --port $2 \
    --namespace bench-separate --sarif $WORK/$1.sarif --state $WORK/$1-state.json ${3:-}"
}
separate="$(one web 8080) && $(one api 8000 '--target release --build-arg VERSION=1.0.0') && $(one worker 8080)"

# Both must work before they are timed.
$compose >"$WORK/compose.log" 2>&1 || { tail -40 "$WORK/compose.log"; exit 1; }
bash -c "$separate" >"$WORK/separate.log" 2>&1 || { tail -40 "$WORK/separate.log"; exit 1; }

hyperfine --runs "$RUNS" --warmup 1 --export-json "$WORK/h.json" \
  -n "run --compose (3 services)" "$compose >/dev/null 2>&1" \
  -n "3 x run" "bash -c '$separate' >/dev/null 2>&1"
python3 - "$WORK/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
c, s = r[0]["mean"], r[1]["mean"]
print(f"run --compose {c:.2f} s, 3 x run {s:.2f} s, ratio {c / s:.2f} (goal <= 0.6)")
PY
$compose 2>&1 | sed -n '/aks-backend run: timing/,$p' | grep -E '^\| |Our own work' || true
