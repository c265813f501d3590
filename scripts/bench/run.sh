#!/usr/bin/env bash
# Benchmark: the whole `run` (build -> push -> scan -> deploy) on the hermetic stack, with the
# fake cluster at real speed. Prints hyperfine's median of the whole process, its peak memory
# (/usr/bin/time -v), and one run's breakdown: each step's wall time, our process's own CPU
# time (our overhead) against the time spent waiting on the engine, registry, Trivy and cluster.
# Needs a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/setup-test-tools)"
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}
BIN=${AKS_BACKEND_BIN:-$TARGET/release/aks-backend}
RUNS=${RUNS:-5}
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release" >&2; exit 2; }
. scripts/lib/hermetic-stack.sh
start_stack 1

cmd="$BIN run --image $REGISTRY/bench/api --context $WORK/app --app api --namespace bench --timeout 120s \
  --kubeconfig $KUBECONFIG_PATH --trivy-path $AKS_BACKEND_TEST_TRIVY --trivy-cache-dir $WORK/cache \
  --skip-db-update --offline-scan --registry-insecure --fail-on-findings false \
  --sarif $WORK/b.sarif --state $WORK/state.json"

hyperfine --warmup 1 --runs "$RUNS" -n run "$cmd >/dev/null 2>&1"
/usr/bin/time -v $cmd 2>"$WORK/time.txt" >/dev/null || true
echo "peak RSS: $(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/time.txt") KiB (aks-backend and its Trivy child, the larger)"
$cmd 2>&1 | sed -n '/aks-backend run: timing/,$p'
# Inside the build step: sign-in, the engine's build and the push, each on its own.
$cmd 2>&1 | grep -m1 '^timing: sign-in' || true
