"""The scheduler and kubelet: binds pods to the one fake node and reports their status.

Container behaviour comes from `behaviours` (by image repository) and pod-level
scenarios from the `fake.aks-backend/scenario` annotation on the pod or its
ReplicaSet: `unschedulable`, `mount-fails` and `image-drift` (the node reports another
digest than the one asked for, as when a mirror or a mutating webhook swapped the image).
"""

import hashlib
import time

from . import behaviours
from .errors import ApiError
from .kinds import by_kind
from .recorder import NODE
from .store import timestamp

POD = by_kind("v1", "Pod")
SCENARIO_KEY = "fake.aks-backend/scenario"
SCHEDULING_FAILURE = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                      "3 No preemption victims found for incoming pod.")
MOUNT_FAILURE = 'MountVolume.SetUp failed for volume "secrets" : secret "app-secrets" not found'


def scenario_of(store, pod):
    annotations = pod["metadata"].get("annotations") or {}
    if SCENARIO_KEY in annotations:
        return annotations[SCENARIO_KEY]
    for ref in pod["metadata"].get("ownerReferences", []):
        kind = by_kind(ref.get("apiVersion"), ref.get("kind"))
        owner = store.get(kind, pod["metadata"]["namespace"], ref["name"]) if kind else None
        if owner:
            return (owner["metadata"].get("annotations") or {}).get(SCENARIO_KEY)
    return None


class Kubelet:
    def __init__(self, api, recorder, scale):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.births = {}
        self.emitted = {}

    def sync(self):
        pods, _ = self.api.store.list(POD)
        live = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            live.add(uid)
            born = self.births.setdefault(uid, time.time())
            self._sync_pod(pod, born, time.time() - born)
        for uid in set(self.births) - live:
            self.births.pop(uid)
            self.emitted.pop(uid, None)

    def _sync_pod(self, pod, born, t):
        meta = pod["metadata"]
        scenario = scenario_of(self.api.store, pod)
        s = self.scale
        events = []
        if scenario == "unschedulable":
            status = {"phase": "Pending", "qosClass": _qos(pod), "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": SCHEDULING_FAILURE,
                 "lastTransitionTime": timestamp(born)}]}
            events += [(at, "Warning", "FailedScheduling", SCHEDULING_FAILURE, "default-scheduler", None)
                       for at in _every(0, behaviours.REPEAT_WARNING * s, t)]
        else:
            if not pod["spec"].get("nodeName"):
                pod["spec"]["nodeName"] = NODE
                pod = self.api.replace(POD, meta["namespace"], meta["name"], pod, "kube-scheduler", check_version=False)
            node = pod["spec"]["nodeName"]
            events.append((0, "Normal", "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                           "default-scheduler", None))
            status, container_events = self._running_status(pod, scenario, born, t)
            events += container_events
        if pod.get("status") != status:
            pod["status"] = status
            self.api.replace(POD, meta["namespace"], meta["name"], pod, "kubelet", subresource="status",
                             check_version=False)
        events.sort(key=lambda e: e[0])
        done = self.emitted.get(meta["uid"], 0)
        for at, event_type, reason, message, component, field_path in events[done:]:
            self.recorder.record(pod, event_type, reason, message, component, field_path, at=born + at)
        self.emitted[meta["uid"]] = len(events)

    def _running_status(self, pod, scenario, born, t):
        meta = pod["metadata"]
        s = self.scale
        statuses, moments, events = [], [], []
        for container in pod["spec"].get("containers", []):
            field_path = f"spec.containers{{{container['name']}}}"
            if scenario == "mount-fails":
                moment = behaviours.Moment(state={"waiting": {"reason": "ContainerCreating"}})
                events += [(at, "Warning", "FailedMount", MOUNT_FAILURE, "kubelet", None)
                           for at in _every(0.1 * s, behaviours.REPEAT_WARNING * s, t)]
            else:
                moment = behaviours.container_at(container, meta["name"], meta["namespace"], meta["uid"], t, s,
                                                 pod["spec"].get("restartPolicy", "Always"),
                                                 pod["spec"].get("securityContext"))
            events += [(at, et, reason, msg, "kubelet", field_path) for at, et, reason, msg in moment.events]
            statuses.append(_container_status(container, moment, meta["uid"], born, scenario == "image-drift"))
            moments.append(moment)
        all_ready = bool(statuses) and all(c["ready"] for c in statuses)
        ever_ran = any(c.get("started") or c["restartCount"] or "terminated" in c["state"] for c in statuses)
        ready_at = born + max(m.ready_since or 0 for m in moments) if all_ready else born
        ready = "True" if all_ready else "False"
        conditions = [
            {"type": "Initialized", "status": "True", "lastTransitionTime": timestamp(born)},
            {"type": "Ready", "status": ready, "lastTransitionTime": timestamp(ready_at)},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": timestamp(ready_at)},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": timestamp(born)},
        ]
        for condition in conditions[1:3]:
            if not all_ready:
                condition["reason"] = "ContainersNotReady"
                not_ready = [c["name"] for c in statuses if not c["ready"]]
                condition["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
        phase = "Running" if ever_ran else "Pending"
        finished = [c["state"]["terminated"] for c in statuses if "terminated" in c["state"]]
        if pod["spec"].get("restartPolicy", "Always") != "Always" and statuses and len(finished) == len(statuses):
            failed = any(t["exitCode"] != 0 for t in finished)
            if not failed or pod["spec"]["restartPolicy"] == "Never":
                phase = "Failed" if failed else "Succeeded"
                for condition in conditions[1:3]:
                    condition["reason"] = "PodFailed" if failed else "PodCompleted"
                    condition.pop("message", None)
        digest = hashlib.sha256(meta["uid"].encode()).digest()
        status = {"phase": phase, "conditions": conditions,
                  "hostIP": "10.224.0.4", "hostIPs": [{"ip": "10.224.0.4"}],
                  "podIP": f"10.244.{digest[0]}.{digest[1] % 250 + 2}", "startTime": timestamp(born),
                  "qosClass": _qos(pod), "containerStatuses": statuses}
        status["podIPs"] = [{"ip": status["podIP"]}]
        return status, events


def _every(start, period, t):
    at = start
    while at <= t:
        yield at
        at += period


def _qos(pod):
    resources = [c.get("resources") or {} for c in pod["spec"].get("containers", [])]
    return "Burstable" if any(r.get("requests") or r.get("limits") for r in resources) else "BestEffort"


def _with_times(state, born):
    """A state dict with its relative times turned into timestamps."""
    out = {}
    for key, value in state.items():
        inner = dict(value)
        for time_key in ("startedAt", "finishedAt"):
            if time_key in inner:
                inner[time_key] = timestamp(born + inner[time_key])
        out[key] = inner
    return out


def _container_status(container, moment, pod_uid, born, drift=False):
    image = container.get("image", "")
    status = {"name": container["name"], "image": image, "imageID": "", "ready": moment.ready,
              "started": moment.started, "restartCount": moment.restarts,
              "state": _with_times(moment.state, born), "lastState": _with_times(moment.last_state, born)}
    if moment.started or moment.restarts or "terminated" in moment.state:
        status["imageID"] = behaviours.image_id(image)
        if drift:
            status["imageID"] = behaviours.image_id(behaviours.repository(image) + ":drifted")
        status["containerID"] = behaviours.container_id(pod_uid, container["name"], moment.restarts)
    return status


def pod_logs(kubelet, pod, container_name, previous, tail_lines):
    """The text `GET pods/NAME/log` answers, or an ApiError like the kubelet's."""
    meta = pod["metadata"]
    containers = pod["spec"].get("containers", [])
    if not container_name:
        if len(containers) != 1:
            names = " ".join(c["name"] for c in containers)
            raise ApiError(400, "BadRequest",
                           f"a container name must be specified for pod {meta['name']}, choose one of: [{names}]")
        container_name = containers[0]["name"]
    container = next((c for c in containers if c["name"] == container_name), None)
    if container is None:
        raise ApiError(400, "BadRequest", f"container {container_name} is not valid for pod {meta['name']}")
    born = kubelet.births.get(meta["uid"])
    state = next((c["state"] for c in (pod.get("status") or {}).get("containerStatuses", [])
                  if c["name"] == container_name), {})
    moment = None
    if born is not None and pod["spec"].get("nodeName"):
        moment = behaviours.container_at(container, meta["name"], meta["namespace"], meta["uid"],
                                         time.time() - born, kubelet.scale, pod["spec"].get("restartPolicy", "Always"),
                                         pod["spec"].get("securityContext"))
    if previous:
        if moment is None or moment.previous_logs is None:
            raise ApiError(400, "BadRequest",
                           f'previous terminated container "{container_name}" in pod "{meta["name"]}" not found')
        lines = moment.previous_logs
    else:
        waiting = (state.get("waiting") or {}).get("reason")
        if moment is None or not moment.logs or (waiting and waiting != "CrashLoopBackOff"):
            reason = waiting or "ContainerCreating"
            if reason in ("ErrImagePull", "ImagePullBackOff"):
                reason = "trying and failing to pull image"
            raise ApiError(400, "BadRequest",
                           f'container "{container_name}" in pod "{meta["name"]}" is waiting to start: {reason}')
        lines = moment.logs
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    return "".join(line + "\n" for line in lines)
