#!/usr/bin/env bash
# Bootstrap benchmark: from "ARM deployment done" (a --bare fake cluster: the Flux
# extension, nothing else) to "cluster ready" (`aks-backend infra` exits 0: charts
# installed, Deployments Available, issuers registered, stores Ready, wildcard issued),
# with the simulated controllers at real speed (--time-scale 1). Reports:
#   - wall time of `aks-backend infra` (GNU time),
#   - our CPU share: (user + sys) / wall (goal: <= 5 %),
#   - peak RSS,
#   - API requests the fake served, by verb (watches count once each: fewer is better),
#   - a re-run's wall time and request count (nothing to change).
#
#   scripts/bench/bootstrap.sh                       # release build
#   AKS_BACKEND_BIN=target/debug/aks-backend scripts/bench/bootstrap.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SCALE=${SCALE:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
BIN=${AKS_BACKEND_BIN:-}
if [ -z "$BIN" ]; then
  (cd "$root" && cargo build --release --quiet)
  BIN="$CARGO_TARGET_DIR/release/aks-backend"
fi
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
work="$(mktemp -d)"
"$root/scripts/fake-cluster" --bare --time-scale "$SCALE" >"$work/fc.out" 2>"$work/fc.err" &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/fc.out" ] && break; sleep 0.1; done
kubeconfig="$(head -1 "$work/fc.out")"
server="$(grep -m1 'server:' "$kubeconfig" | awk '{print $2}')"

infra() {
  /usr/bin/time -v -o "$work/time.txt" "$BIN" infra --infra-phases cluster --kubeconfig "$kubeconfig" \
    --acme-email ops@contoso.com --dns-zone example.com --dns-zone-resource-group rg-dns \
    --subscription-id 00000000-0000-0000-0000-000000000000 \
    --eso-client-id 22222222-2222-2222-2222-222222222222 \
    --cert-manager-client-id 11111111-1111-1111-1111-111111111111 \
    --key-vault-uri https://kv-example.vault.azure.net --wildcard true --timeout 10m \
    --comment false >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }
}
field() { grep -F "$1" "$work/time.txt" | awk -F': ' '{print $2}'; }
seconds() {  # m:ss.ss or h:mm:ss -> seconds
  awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }' <<<"$1"
}
report() {
  local wall user sys
  wall=$(seconds "$(field 'Elapsed (wall clock) time')")
  user=$(field 'User time (seconds)')
  sys=$(field 'System time (seconds)')
  local counts
  counts=$(curl -sS "$server/_fake/state" | python3 -c 'import json,sys; c=json.load(sys.stdin)["requestCounts"]; print(sum(c.values()), json.dumps(c, sort_keys=True))')
  printf '%-8s wall %6.2f s  cpu %5.2f s (%4.1f %%)  peak RSS %s KB  API requests %s\n' \
    "$1" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "100 * ($user + $sys) / $wall" | bc -l)" \
    "$(field 'Maximum resident set size')" "$counts"
}

echo "# aks-backend infra (cluster phase) against the fake cluster at time scale $SCALE; binary $BIN"
infra
report "fresh"
before=$(curl -sS "$server/_fake/state" | python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["requestCounts"].values()))')
infra
after=$(curl -sS "$server/_fake/state" | python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["requestCounts"].values()))')
wall=$(seconds "$(field 'Elapsed (wall clock) time')")
echo "re-run   wall $(printf '%.2f' "$wall") s  API requests $((after - before))  ($(grep -o 'cluster ready: .*' "$work/out.txt"))"
