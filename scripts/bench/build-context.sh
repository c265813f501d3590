#!/usr/bin/env bash
# Context packing: our tar of a generated 20,000-file / ~500 MB tree with a .dockerignore
# vs GNU tar of the same files with the same exclusions. Target: <= 1.2x tar's median.
# Usage: [ENGINE=1 [RUNS=5]] scripts/bench/build-context.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}
cargo build --release --quiet --example pack_context
PACK=$CARGO_TARGET_DIR/release/examples/pack_context
CTX=$W/ctx
if [ ! -f "$CTX/.done" ]; then
  rm -rf "$CTX"; mkdir -p "$CTX"
  python3 - "$CTX" <<'PY'
import os, sys
root = sys.argv[1]
blob = os.urandom(1 << 20)
for i in range(20000):
    d = os.path.join(root, ["src", "node_modules/pkg", "logs", "assets", "docs"][i % 5], str(i % 50))
    os.makedirs(d, exist_ok=True)
    ext = "log" if i % 9 == 0 else "bin"
    size = 25_000 + (i * 7919) % 25_000          # ~20,000 x 37.5 KB = ~750 MB written, ~500 MB kept
    with open(os.path.join(d, f"f{i}.{ext}"), "wb") as f:
        f.write(blob[(i * 4099) % (len(blob) - size):][:size])
open(os.path.join(root, "Dockerfile"), "w").write("FROM scratch\nCOPY . /\n")
PY
  touch "$CTX/.done"
fi
printf 'node_modules\n**/*.log\n!logs/1/*.log\n.done\n' > "$CTX/.dockerignore"
echo "tree: $(find "$CTX" -type f | wc -l) files, $(du -sh "$CTX" | cut -f1)"
# The same exclusions for GNU tar (node_modules, *.log except logs/1/*.log, the marker).
( cd "$CTX" && find . -type f ! -path './node_modules/*' ! -name '.done' \( ! -name '*.log' -o -path './logs/1/*' \) | sort > "$W/tar-list" )
echo "files kept: $(wc -l < "$W/tar-list")"
hyperfine --warmup 1 --runs 7 --export-json "$W/build-context.json" \
  -n aks-backend "$PACK $CTX $W/ours.tar" \
  -n 'tar' "tar -C $CTX -cf $W/theirs.tar --no-recursion -T $W/tar-list"
python3 scripts/bench/medians.py "$W/build-context.json"
echo "ours: $(tar -tf "$W/ours.tar" | grep -v '/$' | wc -l) files; tar: $(tar -tf "$W/theirs.tar" | wc -l) files"
for cmd in "$PACK $CTX $W/ours.tar" "tar -C $CTX -cf $W/theirs.tar --no-recursion -T $W/tar-list"; do
  /usr/bin/time -v $cmd 2>&1 | grep -E 'Maximum resident|Elapsed' | sed "s|^|${cmd%% *}: |"
done
# ENGINE=1: the same tree through the engine after a one-file edit, as in a CI loop:
# our BuildKit build (the engine asks our file sync only for what changed), our classic
# build and the docker CLI's classic build (both send the whole tar every time).
if [ "${ENGINE:-0}" = 1 ]; then
  cargo build --release --quiet
  BIN=$CARGO_TARGET_DIR/release/aks-backend
  EDIT="head -c 1000 /dev/urandom > $CTX/src/5/f5.bin"
  hyperfine --warmup 1 --runs "${RUNS:-5}" --prepare "$EDIT" --export-json "$W/build-context-engine.json" \
    -n 'aks-backend (BuildKit, file sync)' "$BIN build --builder buildkit --push false --context $CTX --image bench/ctx-bk" \
    -n 'aks-backend --builder classic (tar)' "$BIN build --builder classic --push false --context $CTX --image bench/ctx-classic" \
    -n 'docker build (CLI, classic)' "DOCKER_BUILDKIT=0 docker build -q -t bench/ctx-cli $CTX"
  python3 scripts/bench/medians.py "$W/build-context-engine.json"
  eval "$EDIT"
  /usr/bin/time -v "$BIN" build --builder buildkit --push false --context "$CTX" --image bench/ctx-bk 2>&1 | grep -E 'Maximum resident|Elapsed|context:'
  docker image rm -f bench/ctx-bk bench/ctx-classic bench/ctx-cli >/dev/null 2>&1 || true
  docker builder prune -f >/dev/null 2>&1 || true
fi
