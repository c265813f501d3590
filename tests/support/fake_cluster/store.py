"""The object store: one resourceVersion counter, object metadata, and watch history.

Everything that changes an object goes through `Store.create/update/delete`, so
resourceVersion, uid, creationTimestamp and generation follow API server rules
in one place, and every change lands in the history watches replay from.
"""

import copy
import threading
import time
import uuid
from collections import deque

from . import errors
from .defaults import apply_uid_defaults
from .kinds import FLUX_CRDS, KINDS, by_kind, crd_object

# Namespaces that exist before anything is created, as in a fresh cluster.
INITIAL_NAMESPACES = ("default", "kube-system")


def timestamp(at=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at if at is not None else time.time()))


def spec_part(obj):
    """What a generation bump looks at: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    def __init__(self, history_limit=20000, bare=False):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.history_limit = history_limit
        self.bare = bare
        self.reset()

    def reset(self):
        with self.lock:
            self.objects = {}
            self.resource_version = 0
            self.history = deque()
            self.compacted_through = 0
            namespaces = by_kind("v1", "Namespace")
            for name in INITIAL_NAMESPACES:
                self.create(namespaces, namespace_object(name))
            # The operators `infra` installs: their CRDs are there until a test deletes them.
            # A `bare` cluster is one as ARM leaves it: the Flux extension only.
            crds = by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            for kind in KINDS:
                if kind.crd and (kind.key in FLUX_CRDS or not self.bare) \
                        and ("customresourcedefinitions.apiextensions.k8s.io", "", kind.key) not in self.objects:
                    self.create(crds, crd_object(kind))
            if self.bare:
                self.create(namespaces, namespace_object("flux-system"))
            self.changed.notify_all()

    # -- reads -----------------------------------------------------------------------------------

    def get(self, kind, namespace, name):
        with self.lock:
            obj = self.objects.get((kind.key, namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def peek(self, kind, namespace, name):
        """The stored object itself, not a copy: for read-only looks at big objects (CRDs)."""
        with self.lock:
            return self.objects.get((kind.key, namespace or "", name))

    def require(self, kind, namespace, name):
        obj = self.get(kind, namespace, name)
        if obj is None:
            raise errors.not_found(kind.plural, kind.group, name)
        return obj

    def list(self, kind, namespace=None):
        """(objects sorted by namespace/name, current resourceVersion)."""
        with self.lock:
            items = [copy.deepcopy(o) for (k, ns, _), o in self.objects.items()
                     if k == kind.key and (not namespace or ns == namespace)]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return items, self.resource_version

    def namespace_exists(self, name):
        with self.lock:
            return ("namespaces", "", name) in self.objects

    # -- writes ----------------------------------------------------------------------------------

    def prepare_create(self, kind, obj):
        """obj with the server-set metadata of a new object, without storing it (dry run)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace", "") if kind.namespaced else ""
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
            meta["name"] = name
        if not name:
            raise errors.invalid(kind.kind, kind.group, "", "metadata.name", "Required value: name or generateName is required")
        with self.lock:
            if kind.namespaced and not self.namespace_exists(namespace):
                raise errors.not_found("namespaces", "", namespace)
            if (kind.key, namespace, name) in self.objects:
                raise errors.already_exists(kind.plural, kind.group, name)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamp()
        apply_uid_defaults(kind.kind, obj)
        if kind.has_generation:
            meta["generation"] = 1
        return obj

    def create(self, kind, obj):
        with self.lock:
            obj = self.prepare_create(kind, obj)
            self._store(kind, obj, "ADDED", None)
            return copy.deepcopy(obj)

    def prepare_update(self, kind, new, old, check_version=True):
        """new with server-owned metadata carried over from old and generation bumped on spec change."""
        new = copy.deepcopy(new)
        meta = new.setdefault("metadata", {})
        sent_version = meta.get("resourceVersion")
        if check_version and sent_version and sent_version != old["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, old["metadata"]["name"],
                                  "the object has been modified; please apply your changes to the latest version and try again")
        for key in ("uid", "creationTimestamp", "name", "namespace", "generation", "deletionTimestamp"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
            else:
                meta.pop(key, None)
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        if kind.has_generation and spec_part(new) != spec_part(old):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        return new

    def update(self, kind, new, check_version=True):
        """Store new over the existing object; no-op writes keep the resourceVersion like the API server."""
        with self.lock:
            meta = new["metadata"]
            old = self.require(kind, meta.get("namespace"), meta["name"])
            new = self.prepare_update(kind, new, old, check_version)
            if without_managed_fields(new) == without_managed_fields(old):
                return old
            self._store(kind, new, "MODIFIED", old)
            return copy.deepcopy(new)

    def delete(self, kind, namespace, name):
        with self.lock:
            obj = self.require(kind, namespace, name)
            del self.objects[(kind.key, namespace or "", name)]
            self.resource_version += 1
            obj["metadata"]["resourceVersion"] = str(self.resource_version)
            self._remember("DELETED", kind, obj, obj)
            return obj

    def _store(self, kind, obj, event_type, old):
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        meta = obj["metadata"]
        self.objects[(kind.key, meta.get("namespace", "") if kind.namespaced else "", meta["name"])] = copy.deepcopy(obj)
        self._remember(event_type, kind, obj, old)

    def _remember(self, event_type, kind, obj, old):
        """Keep the change (and the object before it, for selector transitions) for watches."""
        self.history.append((self.resource_version, kind.key, event_type, copy.deepcopy(obj), old))
        while len(self.history) > self.history_limit:
            self.compacted_through = self.history.popleft()[0]
        self.changed.notify_all()

    # -- watch support ---------------------------------------------------------------------------

    def events_after(self, resource_version, kind):
        """[(rv, type, object, previous object)] of kind after resource_version.

        Raises 410 Gone when that part of the history was compacted away."""
        with self.lock:
            if resource_version < self.compacted_through:
                raise errors.gone(f"too old resource version: {resource_version} ({self.compacted_through + 1})")
            return [(rv, t, copy.deepcopy(o), old) for rv, k, t, o, old in self.history
                    if rv > resource_version and k == kind.key]

    def compact(self):
        """Forget all history, so that any watch from an older resourceVersion gets 410 Gone."""
        with self.lock:
            self.history.clear()
            self.compacted_through = self.resource_version

    def dump(self):
        with self.lock:
            return {"resourceVersion": str(self.resource_version),
                    "objects": [copy.deepcopy(o) for o in self.objects.values()]}


def without_managed_fields(obj):
    """obj minus managedFields: a write that changes only them is a no-op, as on the API server."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return dict(obj, metadata=meta)


def namespace_object(name):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
