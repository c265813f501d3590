"""The StatefulSet and DaemonSet controllers, and the ControllerRevisions they keep.

Both record each pod template as a ControllerRevision (`<name>-<hash>`, numbered
`revision`), label their pods `controller-revision-hash`, and replace pods of an old
revision one at a time only while the others are ready (RollingUpdate), or never
(OnDelete). StatefulSets: ordered pods `<name>-0..n-1`, created one after the other
once the previous is Running and Ready (OrderedReady), updated from the highest
ordinal down to `partition`; status with currentRevision/updateRevision. DaemonSets:
one pod per fake node (`recorder.NODES`), bound to it; status with the
desired/updated/available numbers. As in the real controllers, a broken new pod stops
the rollout where it is.
"""

import copy

from .kinds import by_kind
from .recorder import NODES
from .workloads import MANAGER, controlled_by, owner_reference, template_hash, template_without_hash

STATEFULSET = by_kind("apps/v1", "StatefulSet")
DAEMONSET = by_kind("apps/v1", "DaemonSet")
REVISION = by_kind("apps/v1", "ControllerRevision")
POD = by_kind("v1", "Pod")
HASH_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"


def pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions", []))


class Revisions:
    """The ControllerRevisions of one owner: the current template's is created or renumbered."""

    def __init__(self, api):
        self.api = api

    def owned(self, owner):
        namespace = owner["metadata"]["namespace"]
        return sorted((r for r in self.api.store.list(REVISION, namespace)[0] if controlled_by(r, owner)),
                      key=lambda r: r.get("revision", 0))

    def current(self, owner):
        """The ControllerRevision of the owner's template, made the newest."""
        meta = owner["metadata"]
        revisions = self.owned(owner)
        template = template_without_hash(owner["spec"]["template"])
        template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
        name = f"{meta['name']}-{template_hash(template)}"
        newest = max((r.get("revision", 0) for r in revisions), default=0)
        found = next((r for r in revisions if r["metadata"]["name"] == name), None)
        if found is None:
            data = {"spec": {"template": dict(copy.deepcopy(template), **{"$patch": "replace"})}}
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            found = self.api.create(REVISION, meta["namespace"], {
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                             "ownerReferences": [owner_reference(owner)]},
                "data": data, "revision": newest + 1}, MANAGER)
        elif found.get("revision", 0) < newest:
            found["revision"] = newest + 1
            found = self.api.replace(REVISION, meta["namespace"], name, found, MANAGER, check_version=False)
        self._prune(owner, found)
        return found

    def _prune(self, owner, keep):
        limit = owner["spec"].get("revisionHistoryLimit", 10)
        namespace = owner["metadata"]["namespace"]
        in_use = {(p["metadata"].get("labels") or {}).get(HASH_LABEL)
                  for p in self.api.store.list(POD, namespace)[0] if controlled_by(p, owner)}
        old = [r for r in self.owned(owner) if r["metadata"]["name"] != keep["metadata"]["name"]
               and r["metadata"]["name"] not in in_use and hash_of(r) not in in_use]
        for r in old[: max(0, len(old) - limit)]:
            self.api.delete(REVISION, namespace, r["metadata"]["name"])


def hash_of(revision):
    return revision["metadata"]["name"].rsplit("-", 1)[-1]


def _new_pod(owner, revision, name, labels, node=None):
    template = revision["data"]["spec"]["template"]
    meta = template.get("metadata") or {}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                        "labels": dict(meta.get("labels") or {}, **labels),
                        "annotations": dict(meta.get("annotations") or {}),
                        "ownerReferences": [owner_reference(owner)]},
           "spec": copy.deepcopy(template["spec"])}
    if node:
        pod["spec"]["nodeName"] = node
    return pod


class StatefulSetController:
    def __init__(self, api, recorder, scale):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.revisions = Revisions(api)

    def sync(self):
        for sts in self.api.store.list(STATEFULSET)[0]:
            self._sync(sts)

    def _pods(self, sts):
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        out = {}
        for p in self.api.store.list(POD, namespace)[0]:
            ordinal = p["metadata"]["name"][len(name) + 1:]
            if controlled_by(p, sts) and ordinal.isdigit():
                out[int(ordinal)] = p
        return out

    def _sync(self, sts):
        meta, spec = sts["metadata"], sts["spec"]
        namespace, name = meta["namespace"], meta["name"]
        update = self.revisions.current(sts)
        by_name = {r["metadata"]["name"]: r for r in self.revisions.owned(sts)}
        status = copy.deepcopy(sts.get("status") or {})
        current = by_name.get(status.get("currentRevision"), update)
        replicas = spec.get("replicas", 1)
        strategy = spec.get("updateStrategy", {})
        partition = (strategy.get("rollingUpdate") or {}).get("partition", 0) if strategy.get("type") == "RollingUpdate" else 0
        pods = self._pods(sts)
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        for ordinal in range(replicas):
            if ordinal in pods:
                if ordered and not pod_ready(pods[ordinal]):
                    break
                continue
            revision = current if ordinal < partition else update
            pod_name = f"{name}-{ordinal}"
            pod = _new_pod(sts, revision, pod_name, {HASH_LABEL: revision["metadata"]["name"], POD_NAME_LABEL: pod_name})
            pod["spec"].setdefault("hostname", pod_name)
            if spec.get("serviceName"):
                pod["spec"].setdefault("subdomain", spec["serviceName"])
            pods[ordinal] = self.api.create(POD, namespace, pod, MANAGER)
            self.recorder.record(sts, "Normal", "SuccessfulCreate",
                                 f"create Pod {pod_name} in StatefulSet {name} successful", "statefulset-controller")
            if ordered:
                break
        for ordinal in sorted((o for o in pods if o >= replicas), reverse=True)[:1]:
            self._delete(sts, pods.pop(ordinal))
        all_ready = len(pods) == replicas and all(pod_ready(p) for p in pods.values())
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and all_ready:
            stale = [o for o in sorted(pods, reverse=True)
                     if o >= partition and _label(pods[o]) != update["metadata"]["name"]]
            if stale:
                self._delete(sts, pods.pop(stale[0]))
        self._status(sts, status, pods, current, update, replicas)

    def _delete(self, sts, pod):
        self.api.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.recorder.record(sts, "Normal", "SuccessfulDelete",
                             f"delete Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} successful",
                             "statefulset-controller")

    def _status(self, sts, status, pods, current, update, replicas):
        meta = sts["metadata"]
        ready = [p for p in pods.values() if pod_ready(p)]
        updated = [p for p in pods.values() if _label(p) == update["metadata"]["name"]]
        current_name = current["metadata"]["name"]
        if len(updated) == replicas and len(pods) == replicas:
            current_name = update["metadata"]["name"]
        new = dict(status, observedGeneration=meta.get("generation", 1), replicas=len(pods),
                   readyReplicas=len(ready), availableReplicas=len(ready),
                   currentReplicas=sum(1 for p in pods.values() if _label(p) == current_name),
                   updatedReplicas=len(updated), currentRevision=current_name,
                   updateRevision=update["metadata"]["name"], collisionCount=0)
        for field in ("readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas"):
            if not new[field]:
                new.pop(field)
        if new != sts.get("status"):
            sts["status"] = new
            self.api.replace(STATEFULSET, meta["namespace"], meta["name"], sts, MANAGER, subresource="status",
                             check_version=False)


def _label(pod):
    return (pod["metadata"].get("labels") or {}).get(HASH_LABEL)


class DaemonSetController:
    def __init__(self, api, recorder, scale):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.revisions = Revisions(api)

    def sync(self):
        for ds in self.api.store.list(DAEMONSET)[0]:
            self._sync(ds)

    def _sync(self, ds):
        meta, spec = ds["metadata"], ds["spec"]
        namespace, name = meta["namespace"], meta["name"]
        update = self.revisions.current(ds)
        wanted = hash_of(update)
        pods = [p for p in self.api.store.list(POD, namespace)[0] if controlled_by(p, ds)]
        on_node = {node: [p for p in pods if p["spec"].get("nodeName") == node] for node in NODES}
        for node, here in on_node.items():
            if here:
                continue
            pod_name = f"{name}-{template_hash({'node': node, 'rev': wanted})[:5]}"
            pod = _new_pod(ds, update, pod_name, {HASH_LABEL: wanted,
                                                  "pod-template-generation": str(meta.get("generation", 1))}, node)
            here.append(self.api.create(POD, namespace, pod, MANAGER))
            self.recorder.record(ds, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}", "daemonset-controller")
        strategy = spec.get("updateStrategy", {})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            budget = int((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1) or 1)
            unavailable = sum(1 for here in on_node.values() if not any(pod_ready(p) for p in here))
            for node, here in on_node.items():
                old = [p for p in here if _label(p) != wanted]
                if not old or unavailable >= budget and all(pod_ready(p) for p in old):
                    continue
                for p in old:
                    self.api.delete(POD, namespace, p["metadata"]["name"])
                    self.recorder.record(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}",
                                         "daemonset-controller")
                    here.remove(p)
                unavailable += 1
        self._status(ds, on_node, wanted)

    def _status(self, ds, on_node, wanted):
        meta = ds["metadata"]
        pods = [p for here in on_node.values() for p in here]
        ready = [p for p in pods if pod_ready(p)]
        desired = len(NODES)
        status = dict(ds.get("status") or {}, observedGeneration=meta.get("generation", 1),
                      currentNumberScheduled=sum(1 for here in on_node.values() if here),
                      desiredNumberScheduled=desired, numberMisscheduled=0, numberReady=len(ready),
                      numberAvailable=len(ready), numberUnavailable=desired - len(ready),
                      updatedNumberScheduled=sum(1 for p in pods if _label(p) == wanted))
        for field in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"):
            if not status[field]:
                status.pop(field)
        if status != ds.get("status"):
            ds["status"] = status
            self.api.replace(DAEMONSET, meta["namespace"], meta["name"], ds, MANAGER, subresource="status",
                             check_version=False)
