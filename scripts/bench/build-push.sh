#!/usr/bin/env bash
# Build + push of the same Dockerfile: `aks-backend build` vs `docker build && docker push`
# (the docker CLI, classic builder: this engine's CLI has no buildx; same labels), to a
# loopback docker-registry. Ours runs twice: BuildKit (the default on Docker, with the
# inline cache and cache-from the registry) and --builder classic (like for like).
# Each run gets a fresh 20 MB layer so both really push. Target: <= 1.05x the CLI's median.
# Usage: scripts/bench/build-push.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-$(mktemp -d)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/aks-backend/target}
cargo build --release --quiet
BIN=$CARGO_TARGET_DIR/release/aks-backend
docker load -q -i ../shared/fixtures/trivy/image.tar >/dev/null 2>&1 || docker load -q -i /work/shared/fixtures/trivy/image.tar >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/ctx" "$W/data"
cat > "$W/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/data}}
http: {addr: 127.0.0.1:$PORT}
YML
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
REG=$!
trap 'kill $REG' EXIT
sleep 1
printf 'FROM trivy-fixture/debian12-vuln:test\nCOPY . /app/\n' > "$W/ctx/Dockerfile"
for i in $(seq 1 50); do head -c 100000 /dev/urandom > "$W/ctx/static-$i.bin"; done
PREP="head -c 20000000 /dev/urandom > $W/ctx/layer.bin"
LABELS="--label org.opencontainers.image.created=\$(date -u +%FT%TZ) --label org.opencontainers.image.title=bench --label org.opencontainers.image.version=latest"
export HOME=$W  # no Docker config: anonymous pushes for both
hyperfine --warmup 1 --runs 7 --prepare "$PREP" --export-json "$W/build-push.json" \
  -n 'aks-backend (BuildKit)' "$BIN build --context $W/ctx --image 127.0.0.1:$PORT/bench/ours --tag latest" \
  -n 'aks-backend --builder classic' "$BIN build --builder classic --context $W/ctx --image 127.0.0.1:$PORT/bench/classic --tag latest" \
  -n 'docker build && docker push' "DOCKER_BUILDKIT=0 docker build -q $LABELS -t 127.0.0.1:$PORT/bench/cli:latest $W/ctx >/dev/null && docker push -q 127.0.0.1:$PORT/bench/cli:latest >/dev/null"
python3 scripts/bench/medians.py "$W/build-push.json"
eval "$PREP"
/usr/bin/time -v "$BIN" build --context "$W/ctx" --image "127.0.0.1:$PORT/bench/ours" --tag latest 2>&1 | grep -E 'Maximum resident|Elapsed'
