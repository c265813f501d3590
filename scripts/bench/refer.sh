#!/usr/bin/env bash
# Benchmark of `aks-backend refer` against the loopback Azure mocks (examples/azure-mocks.rs,
# the same spec-validated mocks the tests use): GitHub OIDC sign-in, discovery by tags,
# AKS credentials with an Entra ID token, a Key Vault secret reference, DNS zone,
# gateway IP and NSG.
#   1. time from start to the outputs file written (hyperfine, median of RUNS runs);
#   2. child processes started by refer (strace -f, execve calls after our own);
#   3. peak memory (/usr/bin/time -v).
# Usage: scripts/bench/refer.sh   (PROFILE=debug to skip the release build; RUNS=30)
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/setup-test-tools)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}
export AKS_BACKEND_SHARED=${AKS_BACKEND_SHARED:-$(cd .. && pwd)/shared}
PROFILE=${PROFILE:-release}
RUNS=${RUNS:-30}
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build --quiet "${flag[@]}" --bin aks-backend --example azure-mocks
BIN=$CARGO_TARGET_DIR/$PROFILE/aks-backend
MOCKS=$CARGO_TARGET_DIR/$PROFILE/examples/azure-mocks

work=$(mktemp -d)
"$MOCKS" "$work/mocks.env" 2>"$work/mocks.log" &
mocks=$!
trap 'kill -INT $mocks 2>/dev/null; wait $mocks 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/mocks.env" ] && break; sleep 0.1; done
# shellcheck disable=SC1091
. "$work/mocks.env"

envs=(env -i PATH=/usr/bin:/bin HOME="$work" RUNNER_TEMP="$work" GITHUB_ACTIONS=true
  ACTIONS_ID_TOKEN_REQUEST_URL="$ACTIONS_ID_TOKEN_REQUEST_URL"
  ACTIONS_ID_TOKEN_REQUEST_TOKEN="$ACTIONS_ID_TOKEN_REQUEST_TOKEN"
  AKS_BACKEND_TEST_CA_FILE="$AKS_BACKEND_TEST_CA_FILE"
  GITHUB_OUTPUT="$work/github_output" GITHUB_STEP_SUMMARY="$work/summary.md")
args=("$BIN" refer --subscription-id "$AZ_MOCK_SUBSCRIPTION" --resource-group rg-shared
  --tenant-id "$AZ_MOCK_TENANT" --client-id "$AZ_MOCK_CLIENT"
  --authority-host "$AZ_MOCK_ENTRA" --arm-endpoint "$AZ_MOCK_ARM"
  --discovery-tags app=shop --dns-zone shop.example.com --key-vault-secrets mysql-root-password
  --outputs-file "$work/outputs.json")
cmd=("${envs[@]}" "${args[@]}")
printf -v line '%q ' "${cmd[@]}"

"${cmd[@]}" >/dev/null
grep -q '"acr-login-server": "acrshop.azurecr.io"' "$work/outputs.json" || { echo "refer did not write its outputs" >&2; exit 1; }

echo "== time to outputs written ($PROFILE build, $RUNS runs)"
hyperfine -N --warmup 3 --runs "$RUNS" --style basic --export-json "$work/hyperfine.json" "$line" >&2
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f\"median {r['median']*1000:.1f} ms (mean {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms, min {r['min']*1000:.1f}, max {r['max']*1000:.1f})\")" "$work/hyperfine.json"

echo "== child processes"
"${envs[@]}" strace -f -qq -e trace=execve,fork,vfork -o "$work/strace.txt" "${args[@]}" >/dev/null
execs=$(grep -c 'execve(' "$work/strace.txt")
forks=$(grep -cE '^[0-9]+ +v?fork\(' "$work/strace.txt" || true)
echo "execve calls: $execs (the first is aks-backend itself) -> child processes: $((execs - 1 + forks))"

echo "== peak memory"
/usr/bin/time -v "${cmd[@]}" 2>&1 >/dev/null | grep -E 'Maximum resident|Elapsed'
