#!/usr/bin/env bash
# Benchmark: SARIF from a big Trivy report, ours against `trivy convert` on the same file.
#   aks-backend scan --trivy-report BIG --sarif OUT   vs   trivy convert --format sarif --output OUT BIG
# BIG replicates the real Debian fixture report 300 times (scripts/bench/gen-big-report.py:
# 48,000 vulnerabilities and 600 secrets, about 77 MB). Prints the hyperfine medians, the
# median peak RSS of RUNS runs each (/usr/bin/time -v), both ratios, and the start time of
# `aks-backend --version`.
# Needs: a release build (cargo build --release), Trivy (scripts/setup-test-tools), hyperfine.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/setup-test-tools)"
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}
BIN=${AKS_BACKEND_BIN:-$TARGET/release/aks-backend}
TRIVY=$AKS_BACKEND_TEST_TRIVY
RUNS=${RUNS:-7}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

[ -x "$BIN" ] || { echo "no release binary at $BIN: run cargo build --release" >&2; exit 2; }
python3 scripts/bench/gen-big-report.py ../shared/fixtures/trivy/expected/image.json "$WORK/big.json" >&2
ls -la "$WORK/big.json" >&2

ours="$BIN scan --trivy-report $WORK/big.json --sarif $WORK/ours.sarif --fail-on-findings false"
anchor="$TRIVY convert --format sarif --output $WORK/trivy.sarif $WORK/big.json"

hyperfine --warmup 1 --runs "$RUNS" --export-json "$WORK/h.json" \
  -n aks-backend "$ours >/dev/null 2>&1" -n "trivy convert" "$anchor"
python3 - "$WORK/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
a, t = r["aks-backend"]["median"], r["trivy convert"]["median"]
print(f"median: aks-backend {a:.3f}s, trivy convert {t:.3f}s, trivy/ours = {t/a:.1f}x")
PY

peak() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
po=$(for _ in $(seq "$RUNS"); do peak $BIN scan --trivy-report "$WORK/big.json" --sarif "$WORK/ours.sarif" --fail-on-findings false; done | median)
pt=$(for _ in $(seq "$RUNS"); do peak $TRIVY convert --format sarif --output "$WORK/trivy.sarif" "$WORK/big.json"; done | median)
echo "median peak RSS: aks-backend ${po} KiB, trivy convert ${pt} KiB, ours/trivy = $(python3 -c "print(f'{$po/$pt:.2f}')")"
ls -la "$WORK/ours.sarif" "$WORK/trivy.sarif"

hyperfine --warmup 3 --runs 20 -N -n "aks-backend --version" "$BIN --version"
