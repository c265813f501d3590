#!/usr/bin/env bash
# Benchmark of `aks-backend infra`:
#   1. template render time for the full stack: `infra --dry-run --template-out` with no
#      subscription (no Azure at all; the whole process, start-up included). Goal < 5 ms.
#   2. our own CPU and peak memory during a deploy against the loopback mocks
#      (examples/infra-mocks.rs: the tests' spec-validated ARM deployments mock; the wall
#      time of a real deploy is Azure's), with /usr/bin/time -v.
#   3. the anchor: `az --version` start-up of PyPI azure-cli in a venv (what
#      `az deployment group what-if` pays before it sends anything). Skipped with
#      ANCHOR=0; AZ=path/to/az to reuse an existing install.
# Usage: scripts/bench/infra.sh   (PROFILE=debug to skip the release build; RUNS=30)
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/setup-test-tools)" >/dev/null
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}
export AKS_BACKEND_SHARED=${AKS_BACKEND_SHARED:-$(cd .. && pwd)/shared}
PROFILE=${PROFILE:-release}
RUNS=${RUNS:-30}
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build --quiet "${flag[@]}" --bin aks-backend --example infra-mocks
BIN=$CARGO_TARGET_DIR/$PROFILE/aks-backend
MOCKS=$CARGO_TARGET_DIR/$PROFILE/examples/infra-mocks

work=$(mktemp -d)
mocks=
trap '[ -n "$mocks" ] && kill -INT $mocks 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

echo "== 1. template render (infra --dry-run --template-out, no Azure), $PROFILE build"
hyperfine --warmup 3 --runs "$RUNS" -N \
  "$BIN infra --dry-run --infra-phases arm --resource-group rg-shared --name-prefix shop --dns-zone shop.example.com --allow-cidr 203.0.113.0/24 --mysql-allow-cidr 198.51.100.7 --template-out $work/infra.json"

echo "== 2. mocked deploy: our CPU and peak memory"
"$MOCKS" "$work/mocks.env" 2>"$work/mocks.log" &
mocks=$!
for _ in $(seq 100); do [ -s "$work/mocks.env" ] && break; sleep 0.1; done
# shellcheck disable=SC1091
. "$work/mocks.env"
/usr/bin/time -v env -i PATH=/usr/bin:/bin HOME="$work" RUNNER_TEMP="$work" GITHUB_ACTIONS=true \
  ACTIONS_ID_TOKEN_REQUEST_URL="$ACTIONS_ID_TOKEN_REQUEST_URL" ACTIONS_ID_TOKEN_REQUEST_TOKEN="$ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
  AKS_BACKEND_TEST_CA_FILE="$AKS_BACKEND_TEST_CA_FILE" GITHUB_OUTPUT="$work/out" GITHUB_STEP_SUMMARY="$work/summary.md" \
  "$BIN" infra --infra-phases arm --subscription-id "$AZ_MOCK_SUBSCRIPTION" --resource-group rg-shared --name-prefix shop \
  --dns-zone shop.example.com --tenant-id "$AZ_MOCK_TENANT" --client-id "$AZ_MOCK_CLIENT" \
  --authority-host "$AZ_MOCK_ENTRA" --arm-endpoint "$AZ_MOCK_ARM" --state "$work/state.json" \
  >"$work/deploy.log" 2>"$work/time.txt" || { cat "$work/deploy.log" "$work/time.txt"; exit 1; }
grep -E 'Elapsed|User time|System time|Maximum resident' "$work/time.txt"

if [ "${ANCHOR:-1}" = 1 ]; then
  echo "== 3. anchor: az --version (PyPI azure-cli in a venv)"
  AZ=${AZ:-}
  if [ -z "$AZ" ]; then
    venv=$HOME/.cache/aks-backend/tools/azure-cli
    [ -x "$venv/bin/az" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet azure-cli; }
    AZ=$venv/bin/az
  fi
  hyperfine --warmup 1 --runs 3 "$AZ --version"
fi
