"""The Deployment and ReplicaSet controllers.

Deployments: one ReplicaSet per pod template (`<name>-<template hash>`),
revisions, RollingUpdate (maxSurge/maxUnavailable) or Recreate scaling, status
and the Progressing/Available/ReplicaFailure conditions, including
ProgressDeadlineExceeded. ReplicaSets: create and delete Pods to match
`spec.replicas`, or fail with FailedCreate (quota scenario, admission).
"""

import copy
import hashlib
import json
import math
import random
import time

from .errors import ApiError
from .kinds import by_kind
from .kubelet import SCENARIO_KEY
from .store import timestamp

DEPLOYMENT = by_kind("apps/v1", "Deployment")
RS = by_kind("apps/v1", "ReplicaSet")
POD = by_kind("v1", "Pod")
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
NOT_COPIED = {REVISION, "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
              "deployment.kubernetes.io/max-replicas", "kubectl.kubernetes.io/last-applied-configuration"}
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MANAGER = "kube-controller-manager"
QUOTA_MESSAGE = ("exceeded quota: compute-resources, requested: requests.cpu=500m, used: requests.cpu=2, "
                 "limited: requests.cpu=2")
RETRY_FAILED_CREATE = 10.0


def _encode(data, length):
    number = int.from_bytes(hashlib.sha256(data).digest()[:8], "big")
    out = ""
    for _ in range(length):
        number, digit = divmod(number, len(NAME_ALPHABET))
        out += NAME_ALPHABET[digit]
    return out


def template_without_hash(template):
    template = copy.deepcopy(template)
    (template.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return template


def template_hash(template):
    return _encode(json.dumps(template_without_hash(template), sort_keys=True).encode(), 10)


def revision(obj):
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def controlled_by(obj, owner):
    return any(ref.get("controller") and ref.get("uid") == owner["metadata"]["uid"]
               for ref in obj["metadata"].get("ownerReferences", []))


def owner_reference(owner):
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def resolve(value, total, round_up):
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def condition(status, kind, state, reason, message, now, keep_transition=True):
    """Set a condition on a status dict; lastTransitionTime only moves when status flips."""
    conditions = status.setdefault("conditions", [])
    current = next((c for c in conditions if c["type"] == kind), None)
    new = {"type": kind, "status": state, "reason": reason, "message": message,
           "lastUpdateTime": now, "lastTransitionTime": now}
    if current is not None:
        if keep_transition and current["status"] == state:
            new["lastTransitionTime"] = current["lastTransitionTime"]
        if (current["status"], current["reason"], current["message"]) == (state, reason, message):
            new["lastUpdateTime"] = current.get("lastUpdateTime", now)
        conditions[conditions.index(current)] = new
    else:
        conditions.append(new)


class DeploymentController:
    def __init__(self, api, recorder, scale):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.last_progress = {}

    def sync(self):
        for deployment in self.api.store.list(DEPLOYMENT)[0]:
            self._sync(deployment)

    def _owned_sets(self, deployment):
        namespace = deployment["metadata"]["namespace"]
        return [rs for rs in self.api.store.list(RS, namespace)[0] if controlled_by(rs, deployment)]

    def _sync(self, d):
        meta, spec = d["metadata"], d["spec"]
        namespace, name = meta["namespace"], meta["name"]
        desired = spec.get("replicas", 1)
        sets = self._owned_sets(d)
        max_revision = max((revision(rs) for rs in sets), default=0)
        wanted = template_without_hash(spec["template"])
        new_rs = next((rs for rs in sets if template_without_hash(rs["spec"]["template"]) == wanted), None)
        created = False
        if new_rs is None:
            new_rs = self._create_set(d, max_revision + 1)
            created = True
        elif revision(new_rs) < max_revision:
            new_rs["metadata"]["annotations"][REVISION] = str(max_revision + 1)
            new_rs = self.api.replace(RS, namespace, new_rs["metadata"]["name"], new_rs, MANAGER, check_version=False)
        if (meta.get("annotations") or {}).get(REVISION) != str(revision(new_rs)):
            meta.setdefault("annotations", {})[REVISION] = str(revision(new_rs))
            d = self.api.replace(DEPLOYMENT, namespace, name, d, MANAGER, check_version=False)
        old_sets = [rs for rs in sets if rs["metadata"]["name"] != new_rs["metadata"]["name"]]
        if not spec.get("paused"):
            if spec["strategy"]["type"] == "Recreate":
                self._recreate(d, new_rs, old_sets, desired)
            else:
                self._rolling(d, new_rs, old_sets, desired)
        self._prune_history(d, old_sets)
        self._update_status(d, created)

    def _create_set(self, d, next_revision):
        meta = d["metadata"]
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in NOT_COPIED}
        surge = resolve(d["spec"]["strategy"].get("rollingUpdate", {}).get("maxSurge", 0), d["spec"]["replicas"], True)
        annotations.update({REVISION: str(next_revision),
                            "deployment.kubernetes.io/desired-replicas": str(d["spec"]["replicas"]),
                            "deployment.kubernetes.io/max-replicas": str(d["spec"]["replicas"] + surge)})
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"{meta['name']}-{pod_hash}", "namespace": meta["namespace"],
                           "labels": dict(template["metadata"]["labels"]), "annotations": annotations,
                           "ownerReferences": [owner_reference(d)]},
              "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                       "selector": selector, "template": template}}
        return self.api.create(RS, meta["namespace"], rs, MANAGER)

    def _scale(self, d, rs, replicas):
        current = rs["spec"]["replicas"]
        if replicas == current:
            return rs
        rs["spec"]["replicas"] = replicas
        rs = self.api.replace(RS, rs["metadata"]["namespace"], rs["metadata"]["name"], rs, MANAGER, check_version=False)
        direction = "up" if replicas > current else "down"
        self.recorder.record(d, "Normal", "ScalingReplicaSet",
                             f"Scaled {direction} replica set {rs['metadata']['name']} from {current} to {replicas}",
                             "deployment-controller")
        return rs

    def _recreate(self, d, new_rs, old_sets, desired):
        for rs in old_sets:
            self._scale(d, rs, 0)
        namespace = d["metadata"]["namespace"]
        old_pods = [p for p in self.api.store.list(POD, namespace)[0] if any(controlled_by(p, rs) for rs in old_sets)]
        if not old_pods:
            self._scale(d, new_rs, desired)

    def _rolling(self, d, new_rs, old_sets, desired):
        rolling = d["spec"]["strategy"].get("rollingUpdate", {})
        surge = resolve(rolling.get("maxSurge", "25%"), desired, True)
        unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        new_count = new_rs["spec"]["replicas"]
        total = new_count + sum(rs["spec"]["replicas"] for rs in old_sets)
        if new_count > desired:
            new_rs = self._scale(d, new_rs, desired)
        elif new_count < desired and total < desired + surge:
            new_rs = self._scale(d, new_rs, min(desired, new_count + desired + surge - total))
        if not old_sets:
            return
        min_available = desired - unavailable
        all_pods = new_rs["spec"]["replicas"] + sum(rs["spec"]["replicas"] for rs in old_sets)
        new_unavailable = new_rs["spec"]["replicas"] - new_rs.get("status", {}).get("availableReplicas", 0)
        budget = all_pods - min_available - new_unavailable
        old_sets.sort(key=lambda rs: rs["metadata"]["creationTimestamp"])
        for rs in old_sets:
            unhealthy = rs["spec"]["replicas"] - rs.get("status", {}).get("availableReplicas", 0)
            cut = max(0, min(budget, unhealthy))
            if cut:
                self._scale(d, rs, rs["spec"]["replicas"] - cut)
                budget -= cut
        available = sum(rs.get("status", {}).get("availableReplicas", 0) for rs in [new_rs] + old_sets)
        to_remove = available - min_available
        for rs in old_sets:
            if to_remove <= 0:
                break
            cut = min(rs["spec"]["replicas"], to_remove)
            if cut:
                self._scale(d, rs, rs["spec"]["replicas"] - cut)
                to_remove -= cut

    def _prune_history(self, d, old_sets):
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = sorted((rs for rs in old_sets if rs["spec"]["replicas"] == 0 and not rs.get("status", {}).get("replicas")),
                      key=revision)
        for rs in idle[: max(0, len(idle) - limit)]:
            self.api.delete(RS, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _update_status(self, d, created):
        meta, spec = d["metadata"], d["spec"]
        sets = self._owned_sets(d)
        wanted = template_without_hash(spec["template"])
        new_rs = next(rs for rs in sets if template_without_hash(rs["spec"]["template"]) == wanted)
        desired = spec.get("replicas", 1)
        rolling = spec["strategy"].get("rollingUpdate", {})
        max_unavailable = resolve(rolling.get("maxUnavailable", "25%"), desired, False) if rolling else 0

        def total(field):
            return sum(rs.get("status", {}).get(field, 0) for rs in sets)

        old = d.get("status") or {}
        status = copy.deepcopy(old)
        status.update({"observedGeneration": meta.get("generation", 1), "replicas": total("replicas"),
                       "updatedReplicas": new_rs.get("status", {}).get("replicas", 0),
                       "readyReplicas": total("readyReplicas"), "availableReplicas": total("availableReplicas")})
        status["unavailableReplicas"] = max(0, sum(rs["spec"]["replicas"] for rs in sets) - status["availableReplicas"])
        for field in ("readyReplicas", "availableReplicas", "unavailableReplicas"):
            if not status[field]:
                status.pop(field)
        now = timestamp()
        available = status.get("availableReplicas", 0)
        if available >= desired - max_unavailable:
            condition(status, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now)
        else:
            condition(status, "Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", now)
        rs_name = new_rs["metadata"]["name"]
        progress_key = (meta["uid"], rs_name)
        complete = (status["updatedReplicas"] == desired and status["replicas"] == desired
                    and available == desired)
        progressed = (status["updatedReplicas"] > old.get("updatedReplicas", 0)
                      or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
                      or available > old.get("availableReplicas", 0)
                      or status["replicas"] - status["updatedReplicas"] < old.get("replicas", 0) - old.get("updatedReplicas", 0))
        deadline = spec.get("progressDeadlineSeconds", 600) * self.scale
        if complete:
            self.last_progress[progress_key] = time.time()
            condition(status, "Progressing", "True", "NewReplicaSetAvailable",
                      f'ReplicaSet "{rs_name}" has successfully progressed.', now)
        elif created or progress_key not in self.last_progress:
            self.last_progress[progress_key] = time.time()
            condition(status, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"', now)
        elif progressed:
            self.last_progress[progress_key] = time.time()
            condition(status, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.', now)
        elif time.time() - self.last_progress[progress_key] > deadline:
            condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                      f'ReplicaSet "{rs_name}" has timed out progressing.', now)
        failure = next((c for rs in sets for c in rs.get("status", {}).get("conditions", [])
                        if c["type"] == "ReplicaFailure" and c["status"] == "True"), None)
        if failure:
            condition(status, "ReplicaFailure", "True", failure["reason"], failure["message"], now)
        else:
            status["conditions"] = [c for c in status["conditions"] if c["type"] != "ReplicaFailure"]
        if status != old:
            d["status"] = status
            self.api.replace(DEPLOYMENT, meta["namespace"], meta["name"], d, MANAGER, subresource="status",
                             check_version=False)


class ReplicaSetController:
    def __init__(self, api, recorder, scale):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.last_failure = {}

    def sync(self):
        for rs in self.api.store.list(RS)[0]:
            self._sync(rs)

    def _sync(self, rs):
        meta = rs["metadata"]
        namespace = meta["namespace"]
        pods = [p for p in self.api.store.list(POD, namespace)[0] if controlled_by(p, rs)]
        missing = rs["spec"].get("replicas", 1) - len(pods)
        status = copy.deepcopy(rs.get("status") or {})
        if missing > 0:
            failure = self._create_pods(rs, missing)
            if failure:
                condition(status, "ReplicaFailure", "True", "FailedCreate", failure, timestamp(), keep_transition=True)
            pods = [p for p in self.api.store.list(POD, namespace)[0] if controlled_by(p, rs)]
        else:
            status["conditions"] = [c for c in status.get("conditions", []) if c["type"] != "ReplicaFailure"]
            if missing < 0:
                pods = self._delete_pods(rs, pods, -missing)
        if not status.get("conditions"):
            status.pop("conditions", None)
        ready = [p for p in pods if _pod_ready(p)]
        status.update({"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": len(ready),
                       "availableReplicas": len(ready), "observedGeneration": meta.get("generation", 1)})
        for field in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            if not status[field]:
                status.pop(field)
        if status != rs.get("status"):
            rs["status"] = status
            self.api.replace(RS, namespace, meta["name"], rs, MANAGER, subresource="status", check_version=False)

    def _create_pods(self, rs, count):
        """Create pods; the FailedCreate message when creation is refused."""
        meta = rs["metadata"]
        template = rs["spec"]["template"]
        scenario = ((meta.get("annotations") or {}).get(SCENARIO_KEY)
                    or ((template.get("metadata") or {}).get("annotations") or {}).get(SCENARIO_KEY))
        for _ in range(count):
            pod_name = f"{meta['name']}-{_encode(random.randbytes(8), 5)}"
            try:
                if scenario == "quota-exceeded":
                    raise ApiError(403, "Forbidden", f'pods "{meta["name"]}-" is forbidden: {QUOTA_MESSAGE}')
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": pod_name, "namespace": meta["namespace"],
                                    "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                                    "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                                    "ownerReferences": [owner_reference(rs)]},
                       "spec": copy.deepcopy(template["spec"])}
                self.api.create(POD, meta["namespace"], pod, MANAGER)
            except ApiError as exc:
                message = f"Error creating: {exc.message}"
                last = self.last_failure.get(meta["uid"], 0)
                if time.time() - last >= RETRY_FAILED_CREATE * self.scale:
                    self.last_failure[meta["uid"]] = time.time()
                    self.recorder.record(rs, "Warning", "FailedCreate", message, "replicaset-controller")
                return message
            self.recorder.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}", "replicaset-controller")
        return None

    def _delete_pods(self, rs, pods, count):
        pods.sort(key=lambda p: (_pod_ready(p), p["metadata"]["creationTimestamp"]))
        for pod in pods[:count]:
            self.api.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])
            self.recorder.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                                 "replicaset-controller")
        return pods[count:]


def _pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))
