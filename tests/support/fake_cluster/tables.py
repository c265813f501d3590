"""Server-side printing: `meta.k8s.io/v1` Tables for `kubectl get`.

kubectl asks for Tables and prints whatever columns the server sends; without
them it falls back to NAME/AGE only. Columns follow the real API server's.
"""

import calendar
import time


def age(stamp):
    if not stamp:
        return "<unknown>"
    seconds = int(time.time() - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


def _pod_status(pod):
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    for container in status.get("containerStatuses", []):
        state = container.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            reason = state["terminated"].get("reason") or "Error"
    return reason


def _pod_row(pod):
    statuses = (pod.get("status") or {}).get("containerStatuses", [])
    ready = sum(1 for c in statuses if c.get("ready"))
    total = len(pod["spec"].get("containers", []))
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    status = pod.get("status") or {}
    return [pod["metadata"]["name"], f"{ready}/{total}", _pod_status(pod), restarts,
            age(pod["metadata"].get("creationTimestamp")), status.get("podIP", "<none>"),
            pod["spec"].get("nodeName", "<none>")]


def _deployment_row(d):
    status = d.get("status") or {}
    return [d["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{d['spec'].get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            age(d["metadata"].get("creationTimestamp"))]


def _replicaset_row(rs):
    status = rs.get("status") or {}
    return [rs["metadata"]["name"], rs["spec"].get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), age(rs["metadata"].get("creationTimestamp"))]


def _event_row(event):
    involved = event.get("involvedObject", {})
    return [age(event.get("lastTimestamp")), event.get("type", ""), event.get("reason", ""),
            f"{involved.get('kind', '').lower()}/{involved.get('name', '')}", event.get("message", "")]


def _service_row(svc):
    spec = svc.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", [])) or "<none>"
    return [svc["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), "<none>",
            ports, age(svc["metadata"].get("creationTimestamp"))]


def _namespace_row(ns):
    return [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", "Active"),
            age(ns["metadata"].get("creationTimestamp"))]


def _statefulset_row(sts):
    status = sts.get("status") or {}
    return [sts["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{sts['spec'].get('replicas', 1)}",
            age(sts["metadata"].get("creationTimestamp"))]


def _daemonset_row(ds):
    status = ds.get("status") or {}
    selector = ",".join(f"{k}={v}" for k, v in
                        ((ds["spec"].get("template") or {}).get("spec", {}).get("nodeSelector") or {}).items())
    return [ds["metadata"]["name"], status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            selector or "<none>", age(ds["metadata"].get("creationTimestamp"))]


def _job_row(job):
    status = job.get("status") or {}
    duration = ""
    if status.get("startTime"):
        start = calendar.timegm(time.strptime(status["startTime"], "%Y-%m-%dT%H:%M:%SZ"))
        end = (calendar.timegm(time.strptime(status["completionTime"], "%Y-%m-%dT%H:%M:%SZ"))
               if status.get("completionTime") else time.time())
        duration = f"{max(int(end - start), 0)}s"
    return [job["metadata"]["name"], f"{status.get('succeeded', 0)}/{job['spec'].get('completions', 1)}", duration,
            age(job["metadata"].get("creationTimestamp"))]


def _revision_row(rev):
    owner = next((r for r in rev["metadata"].get("ownerReferences", []) if r.get("controller")), None)
    controller = f"{owner['kind'].lower()}.apps/{owner['name']}" if owner else "<none>"
    return [rev["metadata"]["name"], controller, rev.get("revision", 0), age(rev["metadata"].get("creationTimestamp"))]


def _default_row(obj):
    return [obj["metadata"]["name"], age(obj["metadata"].get("creationTimestamp"))]


NAME = ("Name", "string", "name")
AGE = ("Age", "string", "")
LAYOUTS = {
    "Pod": ([NAME, ("Ready", "string", ""), ("Status", "string", ""), ("Restarts", "integer", ""), AGE,
             ("IP", "string", "", 1), ("Node", "string", "", 1)], _pod_row),
    "Deployment": ([NAME, ("Ready", "string", ""), ("Up-to-date", "integer", ""), ("Available", "integer", ""), AGE],
                   _deployment_row),
    "ReplicaSet": ([NAME, ("Desired", "integer", ""), ("Current", "integer", ""), ("Ready", "integer", ""), AGE],
                   _replicaset_row),
    "Event": ([("Last Seen", "string", ""), ("Type", "string", ""), ("Reason", "string", ""),
               ("Object", "string", ""), ("Message", "string", "")], _event_row),
    "Service": ([NAME, ("Type", "string", ""), ("Cluster-IP", "string", ""), ("External-IP", "string", ""),
                 ("Port(s)", "string", ""), AGE], _service_row),
    "Namespace": ([NAME, ("Status", "string", ""), AGE], _namespace_row),
    "StatefulSet": ([NAME, ("Ready", "string", ""), AGE], _statefulset_row),
    "DaemonSet": ([NAME, ("Desired", "integer", ""), ("Current", "integer", ""), ("Ready", "integer", ""),
                   ("Up-to-date", "integer", ""), ("Available", "integer", ""), ("Node Selector", "string", ""), AGE],
                  _daemonset_row),
    "Job": ([NAME, ("Completions", "string", ""), ("Duration", "string", ""), AGE], _job_row),
    "ControllerRevision": ([NAME, ("Controller", "string", ""), ("Revision", "integer", ""), AGE], _revision_row),
}


def wants_table(accept):
    return "as=Table" in (accept or "")


def table(kind_name, objects, resource_version, include_object="Metadata", cont=None):
    columns, row = LAYOUTS.get(kind_name, ([NAME, AGE], _default_row))
    definitions = [{"name": c[0], "type": c[1], "format": c[2], "description": "", "priority": c[3] if len(c) > 3 else 0}
                   for c in columns]
    rows = []
    for obj in objects:
        entry = {"cells": row(obj)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": obj["metadata"]}
        rows.append(entry)
    metadata = {"resourceVersion": str(resource_version)}
    if cont:
        metadata["continue"] = cont
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": definitions, "rows": rows}
