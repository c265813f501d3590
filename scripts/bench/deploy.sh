#!/usr/bin/env bash
# Deploy benchmark on the fake cluster at time scale 1 (real seconds), with
# progressDeadlineSeconds: 60. Medians of RUNS runs:
#   1. apply -> verdict for an ImagePullBackOff and a CrashLoopBackOff rollout:
#      `aks-backend deploy` (whole command, pre-flight included) against
#      `kubectl apply --server-side` + `kubectl rollout status` (rollout status timed);
#      (the fake's crashing container is Ready for ~1 s first, as on a real kubelet, so
#      kubectl may call that rollout a success: its words are printed);
#   2. a healthy rollout: delay from the moment the Deployment is Available (seen by an
#      independent watch) to the tool's exit, ours (which then watches the new pods for
#      the settle window, SETTLE seconds, default 10) against `kubectl rollout status`;
#   3. child processes spawned by `aks-backend deploy` (strace -f -e trace=execve).
#
#   scripts/bench/deploy.sh            # RUNS=3 by default; the kubectl runs take ~65 s each
#   AKS_BACKEND_BIN=target/debug/aks-backend scripts/bench/deploy.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS=${RUNS:-3}
SETTLE=${SETTLE:-10}
eval "$("$root/scripts/setup-test-tools")"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# AKS_BACKEND_BIN=path skips the release build (the waits dominate, not the code).
BIN=${AKS_BACKEND_BIN:-}
if [ -z "$BIN" ]; then
  (cd "$root" && cargo build --release --quiet)
  BIN="$CARGO_TARGET_DIR/release/aks-backend"
fi
work="$(mktemp -d)"
"$root/scripts/fake-cluster" --time-scale 1 >"$work/fc.out" 2>"$work/fc.err" &
fake=$!
trap 'kill $fake 2>/dev/null; wait $fake 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/fc.out" ] && break; sleep 0.1; done
export KUBECONFIG="$(head -1 "$work/fc.out")"
server="$(grep -m1 'server:' "$KUBECONFIG" | awk '{print $2}')"
D=sha256:1111111111111111111111111111111111111111111111111111111111111111

manifest() {  # manifest NS NAME REPO
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $2, namespace: $1}
spec:
  replicas: 2
  progressDeadlineSeconds: 60
  selector: {matchLabels: {app: $2}}
  template:
    metadata: {labels: {app: $2}}
    spec:
      # restricted-ready: namespaces the deploy creates enforce that Pod Security level
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: registry.example.com/team/$3@$D
        ports: [{containerPort: 8080}]
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
YAML
}
ns_create() { curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' "$server/api/v1/namespaces" \
  -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$1\"}}"; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Prints the epoch when deployment $2 in $1 is Available for its current generation.
available_at() {
  python3 - "$server" "$1" "$2" <<'PY'
import json, sys, time, urllib.request
server, ns, name = sys.argv[1:]
url = f"{server}/apis/apps/v1/namespaces/{ns}/deployments?watch=1&fieldSelector=metadata.name={name}"
with urllib.request.urlopen(url) as r:
    for line in r:
        d = json.loads(line)["object"]
        s, want = d.get("status", {}), d["spec"].get("replicas", 1)
        if (s.get("observedGeneration", 0) >= d["metadata"].get("generation", 1)
                and s.get("updatedReplicas") == want and s.get("availableReplicas") == want
                and s.get("replicas") == want):
            print(f"{time.time():.3f}", flush=True)
            break
PY
}

ours_fail() {  # ours_fail SCENARIO RUN -> seconds
  local ns="o-$1-$2"; manifest "$ns" app "$1" >"$work/$ns.yaml"
  local t0; t0=$(now)
  "$BIN" deploy --namespace "$ns" --manifests "$work/$ns.yaml" --no-rollback --timeout 120s >"$work/$ns.log" 2>&1 || true
  echo "$(now) - $t0" | bc
}
kubectl_fail() {
  local ns="k-$1-$2"; ns_create "$ns"; manifest "$ns" app "$1" | "$KUBECTL" apply --server-side -f - >/dev/null
  local t0; t0=$(now)
  "$KUBECTL" -n "$ns" rollout status deploy/app --timeout=180s >"$work/$ns.log" 2>&1 || true
  echo "$(now) - $t0" | bc
}

echo "# time from apply to verdict (s), median of $RUNS"
for scenario in pull-fails crashes; do
  ours=(); for r in $(seq "$RUNS"); do ours+=("$(ours_fail "$scenario" "$r")"); done
  printf '%s\n' "${ours[@]}" >"$work/ours-$scenario"
done
# kubectl waits for the progress deadline: run both scenarios side by side.
pids=()
for scenario in pull-fails crashes; do
  ( for r in $(seq "$RUNS"); do kubectl_fail "$scenario" "$r"; done >"$work/kubectl-$scenario" ) &
  pids+=($!)
done
wait "${pids[@]}"
for scenario in pull-fails crashes; do
  o=$(median <"$work/ours-$scenario"); k=$(median <"$work/kubectl-$scenario")
  printf '%-11s ours %6.2f s   kubectl rollout status %6.2f s   (%.0fx)   [%s] [%s]\n' "$scenario" "$o" "$k" \
    "$(echo "$k / $o" | bc -l)" "$(tr '\n' ' ' <"$work/ours-$scenario")" "$(tr '\n' ' ' <"$work/kubectl-$scenario")"
done
grep -h "error:" "$work"/o-pull-fails-1.log "$work"/o-crashes-1.log | sed 's/^/  ours said: /'
grep -h . "$work"/k-pull-fails-1.log | tail -1 | sed 's/^/  kubectl said (pull-fails): /'
grep -h . "$work"/k-crashes-1.log | tail -1 | sed 's/^/  kubectl said (crashes): /'

echo "# healthy rollout: exit minus Available (s), median of $RUNS"
ours=(); kub=()
for r in $(seq "$RUNS"); do
  ns="oh-$r"; manifest "$ns" app api >"$work/$ns.yaml"
  ns_create "$ns"; available_at "$ns" app >"$work/$ns.avail" &
  sleep 0.3
  "$BIN" deploy --namespace "$ns" --manifests "$work/$ns.yaml" --settle-seconds "$SETTLE" --timeout 60s >/dev/null 2>&1
  done_at=$(now); wait $!
  ours+=("$(echo "$done_at - $(cat "$work/$ns.avail")" | bc)")
  ns="kh-$r"; ns_create "$ns"; available_at "$ns" app >"$work/$ns.avail" &
  sleep 0.3
  manifest "$ns" app api | "$KUBECTL" apply --server-side -f - >/dev/null
  "$KUBECTL" -n "$ns" rollout status deploy/app --timeout=60s >/dev/null
  done_at=$(now); wait $!
  kub+=("$(echo "$done_at - $(cat "$work/$ns.avail")" | bc)")
done
printf 'ours    %6.3f s  [%s]  (settle window %s s included)\nkubectl %6.3f s  [%s]\n' \
  "$(printf '%s\n' "${ours[@]}" | median)" "${ours[*]}" "$SETTLE" "$(printf '%s\n' "${kub[@]}" | median)" "${kub[*]}"

echo "# child processes spawned by aks-backend deploy"
manifest strace app api >"$work/strace.yaml"
strace -f -qq -e trace=execve -o "$work/strace.txt" "$BIN" deploy --namespace strace --manifests "$work/strace.yaml" \
  --settle-seconds 1 --timeout 60s >/dev/null 2>&1
echo "execve calls: $(grep -c 'execve(' "$work/strace.txt") (1 = the binary itself); children: $(( $(grep -c 'execve(' "$work/strace.txt") - 1 ))"
