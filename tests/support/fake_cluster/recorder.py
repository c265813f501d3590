"""core/v1 Events, aggregated like the real event recorder does.

A repeat of the same (object, type, reason, message) bumps `count` and
`lastTimestamp` on the existing Event instead of creating a new one, which is
what `kubectl get events` and `kubectl describe` show.
"""

import hashlib

from .kinds import by_kind
from .store import timestamp

EVENT = by_kind("v1", "Event")
NODES = ("fake-node-1", "fake-node-2")
NODE = NODES[0]


class Recorder:
    def __init__(self, api):
        self.api = api

    def record(self, obj, event_type, reason, message, component, field_path=None, at=None):
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        if not self.api.store.namespace_exists(namespace):
            return
        identity = f"{meta['uid']}/{field_path}/{event_type}/{reason}/{message}"
        name = f"{meta['name']}.{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
        when = timestamp(at)
        existing = self.api.store.get(EVENT, namespace, name)
        if existing is not None:
            existing["count"] = existing.get("count", 1) + 1
            existing["lastTimestamp"] = when
            self.api.replace(EVENT, namespace, name, existing, component, check_version=False)
            return
        involved = {"kind": obj["kind"], "namespace": meta.get("namespace"), "name": meta["name"],
                    "uid": meta["uid"], "apiVersion": obj["apiVersion"], "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        source = {"component": component}
        if component == "kubelet":
            source["host"] = NODE
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": name, "namespace": namespace},
                 "involvedObject": involved, "reason": reason, "message": message, "type": event_type,
                 "source": source, "count": 1, "firstTimestamp": when, "lastTimestamp": when,
                 "reportingComponent": component, "reportingInstance": source.get("host", component)}
        self.api.create(EVENT, namespace, event, component)
