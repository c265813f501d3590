"""The Job controller: pods run to completion, failures retried up to backoffLimit.

Keeps `parallelism` pods active until `completions` pods Succeeded; a Failed pod (and,
under restartPolicy OnFailure, a container restart) counts against `backoffLimit`,
with the real controller's exponential delay (10 s doubling, scaled) before the next
pod. Ends with the Complete condition, or Failed with BackoffLimitExceeded or
DeadlineExceeded (`activeDeadlineSeconds`), deleting the pods still active, and the
events the real controller records.
"""

import random
import time

from .kinds import by_kind
from .store import timestamp
from .workloads import MANAGER, _encode, condition, controlled_by, owner_reference

JOB = by_kind("batch/v1", "Job")
POD = by_kind("v1", "Pod")
BACKOFF_FIRST, BACKOFF_MAX = 10.0, 360.0


def _finished(job):
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
               for c in (job.get("status") or {}).get("conditions", []))


class JobController:
    def __init__(self, api, recorder, scale):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.started = {}
        self.failures = {}

    def sync(self):
        for job in self.api.store.list(JOB)[0]:
            if not _finished(job):
                self._sync(job)

    def _sync(self, job):
        meta, spec = job["metadata"], job["spec"]
        namespace, uid = meta["namespace"], meta["uid"]
        started = self.started.setdefault(uid, time.time())
        pods = [p for p in self.api.store.list(POD, namespace)[0] if controlled_by(p, job)]
        phase = {p["metadata"]["name"]: (p.get("status") or {}).get("phase", "Pending") for p in pods}
        succeeded = sum(1 for p in pods if phase[p["metadata"]["name"]] == "Succeeded")
        failed_pods = [p for p in pods if phase[p["metadata"]["name"]] == "Failed"]
        restarts = sum(c.get("restartCount", 0) for p in pods
                       for c in (p.get("status") or {}).get("containerStatuses", []))
        failed = len(failed_pods) + (restarts if spec["template"]["spec"].get("restartPolicy") == "OnFailure" else 0)
        active = [p for p in pods if phase[p["metadata"]["name"]] not in ("Succeeded", "Failed")]
        status = dict(job.get("status") or {})
        status.setdefault("startTime", timestamp(started))
        now = timestamp()
        completions = spec.get("completions", 1)
        deadline = spec.get("activeDeadlineSeconds")
        end = None
        if succeeded >= completions:
            end = ("Complete", None, None)
        elif failed > spec.get("backoffLimit", 6):
            end = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and time.time() - started > deadline * self.scale:
            end = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        if end:
            kind, reason, message = end
            for p in active:
                self.api.delete(POD, namespace, p["metadata"]["name"])
            active = []
            if kind == "Complete":
                status["completionTime"] = now
                self.recorder.record(job, "Normal", "Completed", "Job completed", "job-controller")
            else:
                self.recorder.record(job, "Warning", reason, message, "job-controller")
            condition(status, kind, "True", reason, message, now)
            for c in status["conditions"]:
                c["lastProbeTime"] = c.pop("lastUpdateTime")
                if c["reason"] is None:
                    c.pop("reason")
                    c.pop("message")
        else:
            wanted = min(spec.get("parallelism", 1), completions - succeeded)
            seen = self.failures.get(uid)
            if seen is None or seen[0] != failed:
                self.failures[uid] = seen = (failed, time.time())
            delay = min(BACKOFF_FIRST * 2 ** (failed - 1), BACKOFF_MAX) * self.scale if failed else 0
            if time.time() - seen[1] >= delay:
                for _ in range(max(0, wanted - len(active))):
                    active.append(self._create(job))
        status.update(active=len(active), succeeded=succeeded, failed=len(failed_pods),
                      ready=sum(1 for p in active if _ready(p)), uncountedTerminatedPods={})
        for field in ("active", "succeeded", "failed"):
            if not status[field]:
                status.pop(field)
        if status != job.get("status"):
            job["status"] = status
            self.api.replace(JOB, namespace, meta["name"], job, MANAGER, subresource="status", check_version=False)

    def _create(self, job):
        meta, template = job["metadata"], job["spec"]["template"]
        name = f"{meta['name']}-{_encode(random.randbytes(8), 5)}"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": meta["namespace"],
                            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                            "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                            "ownerReferences": [owner_reference(job)]},
               "spec": dict(template["spec"])}
        created = self.api.create(POD, meta["namespace"], pod, MANAGER)
        self.recorder.record(job, "Normal", "SuccessfulCreate", f"Created pod: {name}", "job-controller")
        return created


def _ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions", []))

