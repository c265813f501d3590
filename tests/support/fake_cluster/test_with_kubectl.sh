#!/usr/bin/env bash
# Hold the fake cluster against a real kubectl: where they disagree, the fake is wrong.
#
#   tests/support/fake_cluster/test_with_kubectl.sh        # uses $KUBECTL or /usr/bin/kubectl
#
# Debian's kubectl 1.20 is the reference client: `apt-get install -y kubernetes-client`.
# Runs in ~30 s thanks to --time-scale.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
data="$here/testdata"
KUBECTL="${KUBECTL:-/usr/bin/kubectl}"
if ! [ -x "$KUBECTL" ]; then
  echo "kubectl not found at $KUBECTL: install it with 'apt-get install -y kubernetes-client' (or set KUBECTL)" >&2
  exit 2
fi
for tool in curl jq timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y $tool" >&2; exit 2; }
done

work="$(mktemp -d)"
"$root/scripts/fake-cluster" --tls --time-scale 0.05 --kubeconfig "$work/kubeconfig" --state-dump "$work/state.json" \
  >"$work/stdout" 2>"$work/stderr" &
fake_pid=$!
cleanup() { kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$work/stdout" ] && break; sleep 0.1; done
export KUBECONFIG="$(head -1 "$work/stdout")"
server="$(grep -m1 'server:' "$KUBECONFIG" | awk '{print $2}')"
ca="$(grep -m1 'certificate-authority:' "$KUBECONFIG" | awk '{print $2}')"
curl() { command curl --cacert "$ca" "$@"; }
k() { "$KUBECTL" "$@"; }

failures=0
pass() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; [ -n "${2:-}" ] && sed 's/^/       /' <<<"$2"; failures=$((failures + 1)); }
# expect NAME OUTPUT PATTERN: OUTPUT must match the extended regex PATTERN
expect() { if grep -Eq -- "$3" <<<"$2"; then pass "$1"; else fail "$1 (wanted /$3/)" "$2"; fi; }
wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
  local until=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $until ] && return 1; sleep 0.2; done
}
fake() { curl -sS -X "$1" -H 'Content-Type: application/json' "$server/_fake/$2" ${3:+-d "$3"}; }

echo "# kubectl: $("$KUBECTL" version --client 2>/dev/null | head -1); kubeconfig: $KUBECONFIG"

expect "first stdout line is the kubeconfig path" "$(head -1 "$work/stdout")" "^$work/kubeconfig$"
expect "discovery lists apps, CRDs and subresources" "$(k api-resources 2>&1)" "externalsecrets.*ExternalSecret"
expect "server version is served" "$(k version 2>&1 | grep Server)" "v1\.30\."

out="$(k apply --server-side -f "$data/deploy.yaml" 2>&1)"
expect "apply --server-side creates namespace, deployment, service, ingress" "$(grep -c serverside-applied <<<"$out")" "^4$"
expect "apply --server-side is idempotent" "$(k apply --server-side -f "$data/deploy.yaml" 2>&1)" "deployment.apps/hello serverside-applied"
out="$(k -n web get deploy hello -o yaml 2>&1)"
expect "managedFields record the apply manager" \
  "$(k -n web get deploy hello -o jsonpath='{range .metadata.managedFields[*]}{.manager}/{.operation} {end}')" "kubectl/Apply"
expect "get -o yaml shows generation 1" "$out" "^  generation: 1$"
expect "rollout status succeeds for a healthy image" "$(k -n web rollout status deploy/hello --timeout=30s 2>&1)" \
  'deployment "hello" successfully rolled out'
expect "pods run with the pinned digest as imageID" \
  "$(k -n web get pods -l app=hello -o jsonpath='{.items[*].status.containerStatuses[*].imageID}')" \
  "docker-pullable://registry.example.com/team/hello@sha256:1111"
expect "ingress gets the gateway address" \
  "$(wait_for 5 test -n "$(k -n web get ing hello -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"; k -n web get ing hello -o jsonpath='{.status.loadBalancer.ingress[0].ip}')" "^20\."

conflicting() {
  k apply --server-side --field-manager=other "$@" -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: web}
spec: {replicas: 3}
YAML
}
expect "a second field manager changing replicas gets the conflict" "$(conflicting 2>&1)" \
  'Apply failed with 1 conflict: conflict with "kubectl": \.spec\.replicas'
expect "--force-conflicts takes the field" "$(conflicting --force-conflicts 2>&1)" "serverside-applied"
expect "the forced value is stored and owned by the new manager" \
  "$(k -n web get deploy hello -o jsonpath='{.spec.replicas} {.metadata.managedFields[*].manager}')" "^3 .*other"
token="$(grep -m1 'token:' "$KUBECONFIG" | awk '{print $2}')"
dry_run="$(curl -s -X PATCH -H "Authorization: Bearer $token" -H 'Content-Type: application/merge-patch+json' \
  "$server/apis/apps/v1/namespaces/web/deployments/hello?dryRun=All" \
  -d '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"example.com/x:dry"}]}}}}' \
  | jq -r '.spec.template.spec.containers[0].image')"
expect "server-side dry run (dryRun=All) answers without storing" \
  "$dry_run / $(k -n web get deploy hello -o jsonpath='{.spec.template.spec.containers[0].image}')" \
  "^example.com/x:dry / registry.example.com/team/hello@sha256"

k -n web set image deploy/hello app=registry.example.com/team/hello:v2 >/dev/null
expect "a new template rolls out" "$(k -n web rollout status deploy/hello --timeout=30s 2>&1)" "successfully rolled out"
expect "rollout history lists both revisions" "$(k -n web rollout history deploy/hello 2>&1)" "^2 "
expect "rollout undo is accepted" "$(k -n web rollout undo deploy/hello 2>&1)" "rolled back"
expect "the rollback rolls out" "$(k -n web rollout status deploy/hello --timeout=30s 2>&1)" "successfully rolled out"
expect "the old ReplicaSet is reused with the next revision" \
  "$(k -n web get rs -l app=hello -o jsonpath='{range .items[*]}{.metadata.annotations.deployment\.kubernetes\.io/revision}:{.spec.replicas}:{.spec.template.spec.containers[0].image}{"\n"}{end}')" \
  "^3:3:registry.example.com/team/hello@sha256:1111"

k apply --server-side -f "$data/pull-fails.yaml" -f "$data/crashes.yaml" -f "$data/crashes-by-env.yaml" >/dev/null
out="$(k -n web rollout status deploy/broken --timeout=30s 2>&1)"
expect "rollout status reports the progress deadline for an image that never pulls" "$out" \
  'deployment "broken" exceeded its progress deadline'
expect "the pod waits in ImagePullBackOff" "$(k -n web get pods -l app=broken 2>&1)" "ImagePullBackOff"
expect "the deployment carries ProgressDeadlineExceeded" \
  "$(k -n web get deploy broken -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason}')" "^ProgressDeadlineExceeded$"

# The pod alternates between Error (just exited) and CrashLoopBackOff (backing off):
# wait for the back-off after at least one restart, as a person watching would.
crashy_table=""
restarted() { crashy_table=$(k -n web get pods -l app=crashy 2>&1); grep -Eq "CrashLoopBackOff +[1-9]" <<<"$crashy_table"; }
wait_for 10 restarted || true
crashy="$(k -n web get pods -l app=crashy -o name)"
expect "a crashing container is in CrashLoopBackOff with restarts" "$crashy_table" "CrashLoopBackOff +[1-9]"
expect "kubectl logs shows the crash" "$(k -n web logs "$crashy" 2>&1)" "^boom$"
by_env_table=""
by_env_restarted() { by_env_table=$(k -n web get pods -l app=crashy-by-env 2>&1); grep -Eq "(CrashLoopBackOff|Error) +[1-9]" <<<"$by_env_table"; }
wait_for 10 by_env_restarted || true
expect "FAKE_CLUSTER_BEHAVIOUR=crashes makes a healthy-named image crash" "$by_env_table" "(CrashLoopBackOff|Error) +[1-9]"
expect "kubectl logs --previous shows the previous container" "$(k -n web logs "$crashy" --previous --tail=1 2>&1)" "^boom$"
expect "logs of a pod that never pulled explain why" "$(k -n web logs deploy/broken 2>&1)" "waiting to start"
out="$(k -n web get events 2>&1)"
expect "events: image pull failures" "$out" 'Warning +Failed +pod/broken-.*Failed to pull image.*not found'
expect "events: crash loop back-off" "$out" 'Warning +BackOff +pod/crashy-.*Back-off restarting failed container'
expect "events: scaling by the deployment controller" "$out" 'Normal +ScalingReplicaSet +deployment/hello'
expect "events filter by involved object" \
  "$(k -n web get events --field-selector involvedObject.kind=Deployment,involvedObject.name=broken -o name 2>&1 | wc -l)" "^[1-9]"

( sleep 1; k -n web scale deploy/hello --replicas=4 >/dev/null ) &
out="$(timeout 4 "$KUBECTL" -n web get pods -l app=hello -w 2>&1)"
expect "get -w streams pods created after the watch started" "$(sed -n '5,$p' <<<"$out")" "hello-.* (Pending|ContainerCreating|Running)"

expect "admission webhook rejection" "$(k -n web create configmap bad --from-literal=a=b --dry-run=client -o yaml \
  | sed 's/^metadata:/metadata:\n  labels: {fake.aks-backend\/reject: no-configmaps-here}/' | k apply --server-side -f - 2>&1)" \
  'admission webhook ".*" denied the request: no-configmaps-here'

expect "auth can-i is allowed by default" "$(k -n web auth can-i patch deployments 2>&1)" "^yes"
fake POST faults '{"deny":[{"verb":"patch","group":"apps","resource":"deployments"}]}' >/dev/null
expect "auth can-i follows deny rules" "$(k -n web auth can-i patch deployments 2>&1)" "^no"
expect "a denied verb answers 403" "$(k -n web annotate deploy hello a=b 2>&1)" 'cannot patch resource "deployments"'
fake DELETE faults >/dev/null

fake POST faults '{"rbac":[{"role":"view"}]}' >/dev/null
expect "a view binding may read" "$(k -n web auth can-i get deployments 2>&1)" "^yes"
expect "a view binding may not patch" "$(k -n web auth can-i patch deployments 2>&1)" "^no"
fake DELETE faults >/dev/null
fake POST faults '{"rbac":[{"role":"edit","namespace":"other"}]}' >/dev/null
expect "edit in another namespace: no reading this namespace" "$(k get namespace web 2>&1)" \
  'namespaces "web" is forbidden: User ".*" cannot get resource "namespaces"'
expect "edit in another namespace: no creating namespaces" "$(k auth can-i create namespaces 2>&1)" "^no"
expect "edit in another namespace: may patch there" "$(k -n other auth can-i patch deployments 2>&1)" "^yes"
fake DELETE faults >/dev/null
fake POST faults '{"rbac":[]}' >/dev/null
expect "no rights: access reviews are still answered" "$(k -n web auth can-i get pods 2>&1)" "^no"
fake DELETE faults >/dev/null

fake POST faults '{"faults":[{"path":"/log$","status":500,"count":1,"message":"Get https://10.224.0.4:10250/containerLogs/web/x/app: dial tcp 10.224.0.4:10250: connect: connection refused"}]}' >/dev/null
expect "logs: an unreachable kubelet is a 500 with the server's words" "$(k -n web logs "$crashy" 2>&1)" \
  "Error from server.*dial tcp 10.224.0.4:10250: connect: connection refused"
fake POST faults '{"faults":[{"path":"/log$","stall":3,"count":1}]}' >/dev/null
expect "logs: a hanging kubelet leaves the request unanswered" \
  "$(k -n web logs "$crashy" --request-timeout=1s 2>&1)" "Timeout|timeout|deadline"
fake DELETE faults >/dev/null

expect "cert-manager's CRD is installed" "$(k get crd 2>&1)" "certificates.cert-manager.io"
k apply --server-side -f - >/dev/null 2>&1 <<'YAML'
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: pruned}
spec:
  selfSigned: {}
  notAField: 1
YAML
expect "a custom object's unknown fields are pruned by its CRD's schema" \
  "$(k get clusterissuer pruned -o jsonpath='{.spec}' 2>&1)" '^\{"selfSigned":\{\}\}$'
out="$(k apply --server-side -f - 2>&1 <<'YAML'
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: invalid}
spec:
  acme: {server: 1, privateKeySecretRef: {name: x}}
YAML
)"
expect "a custom object that breaks its CRD's schema is refused in the API server's words" "$out" \
  'spec.acme.server in body must be of type string'
expect "ExternalSecret is served as external-secrets.io/v1 only (v1beta1 is in the CRD, not served)" \
  "$(k api-resources --api-group external-secrets.io -o wide 2>&1 | grep -c 'external-secrets.io/v1 ')" "^2$"
k delete crd certificates.cert-manager.io clusterissuers.cert-manager.io issuers.cert-manager.io >/dev/null 2>&1
expect "without its CRD, Certificate is not a served type" "$(k -n web get certificates --cache-dir "$work/fresh-discovery" 2>&1)" \
  "the server doesn't have a resource type \"certificates\""
expect "without its CRD, its paths answer the mux's plain-text 404" \
  "$(curl -s -w ' %{http_code} %{content_type}' "$server/apis/cert-manager.io/v1/namespaces/web/certificates/x")" \
  "^404 page not found
 404 text/plain"
expect "discovery no longer lists the group" "$(curl -s "$server/apis" | jq -c '[.groups[].name] | index("cert-manager.io")')" "^null$"
fake POST faults '{"unserve":["autoscaling/v2"]}' >/dev/null
expect "an unserved built-in group/version is gone from discovery" "$(k api-resources 2>&1 | grep -c horizontalpodautoscalers)" "^0$"
fake DELETE faults >/dev/null

fake POST faults '{"faults":[{"path":"/deployments$","method":"GET","status":429,"retryAfter":1,"count":1}]}' >/dev/null
expect "client-go retries a 429 with Retry-After" "$(k -n web get deploy 2>&1)" "^hello "
expect "the 429 was answered" "$(fake GET state | jq -r '.requests[] | select(.status == 429) | .path')" "/deployments$"
fake POST faults '{"faults":[{"path":"/deployments$","status":500,"count":1}]}' >/dev/null
expect "an injected 500 is a Status" "$(curl -s "$server/apis/apps/v1/namespaces/web/deployments" | jq -r .reason)" "^InternalError$"
fake POST faults '{"faults":[{"path":"/pods$","dropWatch":{"afterEvents":1}}]}' >/dev/null
curl -sSN "$server/api/v1/namespaces/web/pods?watch=1" >"$work/dropped" 2>&1
expect "a watch dropped after 1 event is cut without the closing chunk" "$(cat "$work/dropped")" \
  "transfer closed with outstanding read data|end of response with .* bytes missing"
rv="$(curl -s "$server/api/v1/namespaces/web/pods" | jq -r .metadata.resourceVersion)"
fake POST compact >/dev/null
expect "a watch from a compacted resourceVersion gets 410 Expired" \
  "$(curl -sN "$server/api/v1/namespaces/web/pods?watch=1&resourceVersion=$((rv - 1))&timeoutSeconds=1" | jq -r '.type + " " + (.object.code|tostring) + " " + .object.reason')" \
  "^ERROR 410 Expired$"
# A fresh resourceVersion: crash-looping pods keep changing, so one read before the
# compaction may already be too old (410) by now.
rv_now=$(curl -s "$server/api/v1/namespaces/web/pods" | jq -r .metadata.resourceVersion)
expect "bookmarks are sent to watches that allow them" \
  "$(curl -sN "$server/api/v1/namespaces/web/pods?watch=1&resourceVersion=$rv_now&allowWatchBookmarks=true&timeoutSeconds=3" | jq -r .type | sort -u)" \
  "BOOKMARK"

k create namespace kinds >/dev/null
k apply --server-side -f "$data/workloads.yaml" >/dev/null
expect "rollout status succeeds for a StatefulSet (ordered pods)" "$(k -n kinds rollout status sts/db --timeout=30s 2>&1)" \
  "roll out complete: 3 new pods have been updated"
expect "StatefulSet pods are named by ordinal and carry the revision" \
  "$(k -n kinds get pods -l app=db -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.labels.controller-revision-hash} {end}')" \
  "^db-0=db-[a-z0-9]+ db-1=db-[a-z0-9]+ db-2=db-[a-z0-9]+ $"
expect "get sts prints READY" "$(k -n kinds get sts db 2>&1)" "^db +3/3 "
expect "rollout status succeeds for a DaemonSet (one pod per node)" "$(k -n kinds rollout status ds/agent --timeout=30s 2>&1)" \
  'daemon set "agent" successfully rolled out'
expect "get ds prints desired/current/ready/up-to-date/available" "$(k -n kinds get ds agent 2>&1)" "^agent +2 +2 +2 +2 +2 "
expect "one DaemonSet pod on each node" \
  "$(k -n kinds get pods -l app=agent -o jsonpath='{range .items[*]}{.spec.nodeName} {end}' | tr ' ' '\n' | sort | tr '\n' ' ')" \
  "^fake-node-1 fake-node-2 $"
expect "a Job runs to completion" "$(k -n kinds wait --for=condition=complete job/migrate --timeout=30s 2>&1)" "condition met"
expect "get job prints COMPLETIONS" "$(k -n kinds get job migrate 2>&1)" "^migrate +1/1 "
expect "the Job's pod is Completed" "$(k -n kinds get pods -l job-name=migrate 2>&1)" "Completed"
expect "a crashing Job fails with BackoffLimitExceeded" \
  "$(k -n kinds wait --for=condition=failed job/doomed --timeout=30s >/dev/null 2>&1; k -n kinds get job doomed -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason} {.status.failed}')" \
  "^BackoffLimitExceeded 2$"
expect "kubectl logs job/... shows the failed pod's words" "$(k -n kinds logs job/doomed 2>&1)" "^boom$"
expect "events: the Job controller's BackoffLimitExceeded" "$(k -n kinds get events 2>&1)" \
  "Warning +BackoffLimitExceeded +job/doomed +Job has reached the specified backoff limit"
k -n kinds set image sts/db db=registry.example.com/team/db:v2 >/dev/null
expect "a new StatefulSet template rolls out" "$(k -n kinds rollout status sts/db --timeout=30s 2>&1)" "roll out complete"
expect "StatefulSet rollout history lists both ControllerRevisions" "$(k -n kinds rollout history sts/db 2>&1)" "^2 "
expect "StatefulSet rollout undo is accepted" "$(k -n kinds rollout undo sts/db 2>&1)" "rolled back"
expect "the undo rolls every pod back to the first image" \
  "$(k -n kinds rollout status sts/db --timeout=30s >/dev/null 2>&1; k -n kinds get pods -l app=db -o jsonpath='{.items[*].spec.containers[0].image}')" \
  "^(registry.example.com/team/db:v1 ?){3}$"
k -n kinds set image ds/agent agent=registry.example.com/team/pull-fails:v2 >/dev/null
expect "a DaemonSet rollout stops at a pod that cannot pull" \
  "$(timeout 6 "$KUBECTL" -n kinds rollout status ds/agent --timeout=3s 2>&1)" "1 out of 2 new pods have been updated"
expect "the DaemonSet keeps the other node's old pod" \
  "$(k -n kinds get pods -l app=agent --no-headers 2>&1 | awk '{print $3}' | sort | tr '\n' ' ')" "^ImagePullBackOff Running $"
k -n kinds patch sts db -p '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}' >/dev/null
expect "rollout status on an OnDelete StatefulSet says it is not tracked" \
  "$(k -n kinds rollout status sts/db --timeout=5s 2>&1)" "only available for RollingUpdate strategy"

# PodSecurity admission: a namespace's enforce label decides which pods are admitted, in the
# real server's words (what the deploy step turns into the setting to relax).
img=registry.example.com/team/hello@sha256:1111111111111111111111111111111111111111111111111111111111111111
k create namespace strict >/dev/null 2>&1
expect "kubectl label sets the enforce label" \
  "$(k label namespace strict pod-security.kubernetes.io/enforce=restricted 2>&1)" "namespace/strict labeled"
expect "a pod without a securityContext is refused with PodSecurity's words" \
  "$(k -n strict run loose --image="$img" --restart=Never 2>&1)" \
  'pods "loose" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false \(container "loose" must set securityContext.allowPrivilegeEscalation=false\), unrestricted capabilities'
restricted_pod() {
  k apply --server-side -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: tight, namespace: strict}
spec:
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: $img
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, readOnlyRootFilesystem: true}
    volumeMounts: [{name: tmp, mountPath: /tmp}]
  volumes: [{name: tmp, emptyDir: {}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: tight, namespace: strict}
spec:
  podSelector: {matchLabels: {app: tight}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
    ports: [{port: 8080, protocol: TCP}]
YAML
}
out="$(restricted_pod 2>&1)"
expect "a pod that meets restricted is admitted" "$out" "pod/tight serverside-applied"
expect "NetworkPolicies are served" "$out" "networkpolicy.networking.k8s.io/tight serverside-applied"
expect "baseline admits what only restricted refuses" \
  "$(k label --overwrite namespace strict pod-security.kubernetes.io/enforce=baseline >/dev/null 2>&1; k -n strict run loose --image="$img" --restart=Never 2>&1)" \
  "pod/loose created"
expect "deleting a deployment removes its ReplicaSets and pods" \
  "$(k -n web delete deploy hello >/dev/null; wait_for 5 test -z "$(k -n web get rs,pods -l app=hello -o name)"; k -n web get rs,pods -l app=hello -o name 2>&1)" "^$"
expect "a namespaced object in a missing namespace is NotFound" "$(k -n nope create configmap x 2>&1)" 'namespaces "nope" not found'
expect "the bearer token is recorded" "$(fake GET state | jq -r '.tokens | keys[]')" "^fake-token$"

kill -TERM "$fake_pid"; wait "$fake_pid"; status=$?
expect "SIGTERM stops the server cleanly" "$status" "^0$"
expect "the state dump is written on exit" "$(jq -r '.objects | length' "$work/state.json")" "^[0-9]+$"

echo "# $failures failure(s)"
[ "$failures" -eq 0 ]
