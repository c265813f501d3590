# Sourced by scripts/demo and scripts/bench/run.sh: starts the local hermetic stack.
#   start_stack TIME_SCALE  ->  sets WORK, REGISTRY (127.0.0.1:PORT), KUBECONFIG_PATH, FIXTURE;
#   a real registry (Debian's docker-registry, no auth) and the fake cluster, stopped on exit;
#   the fixture image loaded into the engine; the offline Trivy DB in $WORK/cache; an app
#   context FROM the fixture image in $WORK/app.
FIXTURE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/fixtures/trivy
WORK=$(mktemp -d)
PIDS=()
stop_stack() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap stop_stack EXIT

start_stack() {
  local scale=${1:-0.2} port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$WORK/registry.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$port}
YML
  docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  PIDS+=($!)
  REGISTRY=127.0.0.1:$port
  scripts/fake-cluster --time-scale "$scale" >"$WORK/cluster.out" 2>"$WORK/cluster.log" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$WORK/cluster.out" ] && break; sleep 0.1; done
  KUBECONFIG_PATH=$(head -1 "$WORK/cluster.out")
  docker load -q -i "$FIXTURE/image.tar" >/dev/null
  mkdir -p "$WORK/cache/db" "$WORK/app"
  cp "$FIXTURE/db/trivy.db" "$FIXTURE/db/metadata.json" "$WORK/cache/db/"
  printf 'FROM trivy-fixture/debian12-vuln:test\nCOPY hello.txt /app/hello.txt\n' > "$WORK/app/Dockerfile"
  echo hello > "$WORK/app/hello.txt"
}
