#!/usr/bin/env bash
# Benchmark: time from the composite action's start (its first step,
# scripts/action/resolve-binary.sh) to the binary running (`aks-backend --version`), in
# the two cases a released action meets:
#   cached:   the binary is already in the runner's tool cache (verified by sha256, no request)
#   download: an empty tool cache, the asset downloaded from a loopback release server
#             (python3 -m http.server on 127.0.0.1), verified, installed
# Target: under 5 s for both. Prints hyperfine's table (median is what we quote) and
# /usr/bin/time -v for one download run.
#
#   scripts/bench/action-start.sh [BINARY]
# BINARY defaults to $CARGO_TARGET_DIR/release/aks-backend (built if missing; the release
# profile is what ships), then the debug build.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}

bin=${1:-$CARGO_TARGET_DIR/release/aks-backend}
if [ ! -x "$bin" ]; then
  echo "building the release binary (cargo build --release --locked)" >&2
  cargo build --release --locked --quiet
fi
command -v hyperfine >/dev/null || { echo "hyperfine is missing: eval \"\$(scripts/setup-test-tools)\"" >&2; exit 2; }

work=$(mktemp -d)
cleanup() {
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

target=x86_64-unknown-linux-musl
case "$(uname -m)" in aarch64 | arm64) target=aarch64-unknown-linux-musl ;; esac
asset=aks-backend-$target
tag=v0.0.0-bench
mkdir -p "$work/releases/$tag"
cp "$bin" "$work/releases/$tag/$asset"
sha=$(sha256sum "$bin" | cut -d' ' -f1)
size=$(stat -c %s "$bin")
cat >"$work/checksums.json" <<JSON
{"schema": 1, "current": "$tag", "release_base_url": null,
 "releases": {"$tag": {"$target": {"asset": "$asset", "sha256": "$sha"}}}}
JSON

# The loopback release server, on a free port.
(cd "$work/releases" && exec python3 -m http.server 0 --bind 127.0.0.1) >"$work/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/http.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the release server did not start" >&2; exit 3; }

# What the action's first two steps do: resolve, then run the binary.
cat >"$work/start.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
bin=$("$AKS_BACKEND_ACTION_PATH/scripts/action/resolve-binary.sh")
"$bin" --version >/dev/null
SH
chmod +x "$work/start.sh"

export AKS_BACKEND_ACTION_PATH=$root
export AKS_BACKEND_ACTION_REF=$tag
export AKS_BACKEND_MANIFEST=$work/checksums.json
export AKS_BACKEND_RELEASE_BASE_URL=http://127.0.0.1:$port
export RUNNER_OS=Linux RUNNER_TEMP=$work
export RUNNER_TOOL_CACHE=$work/tool-cache

echo "binary: $bin ($size bytes), sha256 $sha"
"$work/start.sh" 2>/dev/null # warm the tool cache for the cached case
hyperfine --warmup 2 --runs 20 --export-json "$work/cached.json" \
  -n "cached (tool cache hit, sha256 verified)" "$work/start.sh 2>/dev/null"
hyperfine --warmup 1 --runs 10 --export-json "$work/download.json" \
  --prepare "rm -rf $work/tool-cache" \
  -n "download (loopback release, sha256 verified)" "$work/start.sh 2>/dev/null"
rm -rf "$work/tool-cache"
echo "== /usr/bin/time -v, one download run"
/usr/bin/time -v "$work/start.sh" 2>&1 | grep -E "Elapsed|Maximum resident" || true
echo "== medians"
for case in cached download; do
  jq -r --arg c "$case" '.results[] | "\($c): median \(.median * 1000 | floor) ms (mean \(.mean * 1000 | floor) ms, min \(.min * 1000 | floor) ms, max \(.max * 1000 | floor) ms, \(.times | length) runs)"' "$work/$case.json"
done
