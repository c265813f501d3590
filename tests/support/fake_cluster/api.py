"""The write and read verbs on stored objects, independent of HTTP.

The HTTP handler and the controller both write through here, so admission,
defaulting, status-subresource rules, managedFields and dry-run behave the
same whoever writes.
"""

import copy
import json

import yaml

from . import admission, crds, errors, kinds, managed, patches
from .defaults import apply_defaults, drop_nulls
from .selection import selector_to_string
from .store import timestamp

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class Api:
    def __init__(self, store):
        self.store = store

    # -- create ----------------------------------------------------------------------------------

    def create(self, kind, namespace, body, manager, dry_run=False):
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        if kind.kind == "SelfSubjectAccessReview":
            raise errors.bad_request("access reviews are answered, not stored")
        admission.check_reject(obj)
        if kind.kind == "Pod":
            namespaces = kinds.by_kind("v1", "Namespace")
            admission.check_pod_security(obj, self.store.get(namespaces, None, namespace))
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            meta.pop(key, None)
        if kind.has_status and kind.kind != "Namespace":
            obj.pop("status", None)
        obj = self._admit_custom(kind, obj)
        apply_defaults(kind.kind, obj)
        managed.record_update(None, obj, manager, kind.api_version, timestamp())
        with self.store.lock:
            if dry_run:
                return self.store.prepare_create(kind, obj)
            return self.store.create(kind, obj)

    def _admit_custom(self, kind, obj):
        """A custom object pruned and validated against its CRD's schema (`crds.py`)."""
        if not kind.crd:
            return obj
        # Status is the controllers' (written through /status); a write to the object
        # itself is checked without it, as on the API server.
        status = obj.get("status")
        body = {k: v for k, v in obj.items() if k != "status"}
        admitted = crds.admit(kind, self.store.peek(kinds.CRD, None, kind.key), body)
        if status is not None:
            admitted["status"] = status
        return admitted

    # -- update ----------------------------------------------------------------------------------

    def replace(self, kind, namespace, name, body, manager, subresource="", dry_run=False, check_version=True):
        if subresource == "scale":
            return self.write_scale(kind, namespace, name, body, manager, dry_run)
        with self.store.lock:
            old = self.store.require(kind, namespace, name)
            new = copy.deepcopy(body)
            if new.get("metadata", {}).get("name", name) != name:
                raise errors.bad_request(f'the name of the object ({new["metadata"]["name"]}) does not match the name on the URL ({name})')
            return self._write(kind, old, new, manager, subresource, dry_run, check_version)

    def _write(self, kind, old, new, manager, subresource, dry_run, check_version=True):
        new.setdefault("metadata", {})
        new["metadata"]["namespace"] = old["metadata"].get("namespace")
        if kind.kind == "Namespace":
            new["status"] = old.get("status")
        if subresource == "status":
            status = drop_nulls(new.get("status"))
            new = copy.deepcopy(old)
            new["status"] = status
        else:
            admission.check_reject(new)
            if kind.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            new = self._admit_custom(kind, new)
            apply_defaults(kind.kind, new)
        if "managedFields" not in new["metadata"] or subresource == "status":
            new["metadata"]["managedFields"] = old["metadata"].get("managedFields", [])
        managed.record_update(old, new, manager, kind.api_version, timestamp(), subresource)
        prepared = self.store.prepare_update(kind, new, old, check_version)
        if dry_run:
            return prepared
        return self.store.update(kind, prepared, check_version=False)

    def scale(self, kind, namespace, name):
        """The autoscaling/v1 Scale view of a Deployment or ReplicaSet (what `kubectl scale` edits)."""
        obj = self.store.require(kind, namespace, name)
        meta = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": selector_to_string(obj["spec"].get("selector"))}}

    def write_scale(self, kind, namespace, name, scale, manager, dry_run):
        with self.store.lock:
            obj = self.store.require(kind, namespace, name)
            sent_version = (scale.get("metadata") or {}).get("resourceVersion")
            if sent_version:
                obj["metadata"]["resourceVersion"] = sent_version
            obj["spec"]["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
            self.replace(kind, namespace, name, obj, manager, dry_run=dry_run)
            return self.scale(kind, namespace, name) if not dry_run else scale

    def patch(self, kind, namespace, name, raw_body, content_type, manager, subresource="",
              dry_run=False, force=False):
        content_type = (content_type or "").split(";")[0].strip()
        if content_type == APPLY_PATCH:
            return self.apply(kind, namespace, name, raw_body, manager, force, dry_run)
        try:
            patch = json.loads(raw_body or b"null")
        except ValueError as exc:
            raise errors.bad_request(f"error decoding patch: {exc}")
        with self.store.lock:
            old = self.scale(kind, namespace, name) if subresource == "scale" else self.store.require(kind, namespace, name)
            if content_type == MERGE_PATCH:
                new = patches.merge_patch(old, patch)
            elif content_type == STRATEGIC_PATCH:
                new = patches.strategic_merge_patch(old, patch)
            elif content_type == JSON_PATCH:
                new = patches.json_patch(old, patch)
            else:
                raise errors.ApiError(415, "UnsupportedMediaType",
                                      f"the body of the request was in an unknown format - accepted media types include: "
                                      f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}, {STRATEGIC_PATCH}")
            if subresource == "scale":
                return self.write_scale(kind, namespace, name, new, manager, dry_run)
            return self._write(kind, old, new, manager, subresource, dry_run)

    def apply(self, kind, namespace, name, raw_body, manager, force, dry_run):
        if not manager:
            raise errors.bad_request("PATCH requests for server-side apply need a fieldManager query parameter "
                                     "(fieldManager is required for apply requests)")
        try:
            applied = yaml.safe_load(raw_body or b"")
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}")
        if not isinstance(applied, dict):
            raise errors.bad_request("the applied configuration must be an object")
        if applied.get("apiVersion") != kind.api_version or applied.get("kind") != kind.kind:
            raise errors.bad_request(f"apply configuration is for {applied.get('apiVersion')}, Kind={applied.get('kind')}, "
                                     f"but the URL is for {kind.api_version}, Kind={kind.kind}")
        meta = applied.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        meta["name"] = name
        if kind.namespaced:
            meta["namespace"] = namespace
        admission.check_reject(applied)
        with self.store.lock:
            live = self.store.get(kind, namespace, name)
            result = managed.apply(live, applied, manager, force, kind.api_version, timestamp())
            result = self._admit_custom(kind, result)
            if live is None:
                if kind.has_status and kind.kind != "Namespace":
                    result.pop("status", None)
                apply_defaults(kind.kind, result)
                if dry_run:
                    return self.store.prepare_create(kind, result)
                return self.store.create(kind, result)
            if kind.has_status and kind.kind != "Namespace":
                result["status"] = live.get("status")
            if "resourceVersion" not in meta:
                result["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            apply_defaults(kind.kind, result)
            prepared = self.store.prepare_update(kind, result, live)
            if dry_run:
                return prepared
            return self.store.update(kind, prepared, check_version=False)

    # -- delete ----------------------------------------------------------------------------------

    def delete(self, kind, namespace, name, propagation="Background", dry_run=False):
        with self.store.lock:
            obj = self.store.require(kind, namespace, name)
            if dry_run:
                return obj
            if propagation == "Orphan":
                self._orphan(obj)
            else:
                self._delete_dependents(obj)
            if kind.kind == "Namespace":
                self._empty_namespace(name)
            if kind.kind == "CustomResourceDefinition":
                self._drop_custom_resources(name)
            return self.store.delete(kind, namespace, name)

    def _drop_custom_resources(self, crd_name):
        """Deleting a CRD deletes every object of its kind, as the API server does."""
        for kind in kinds.KINDS:
            if kind.crd and kind.key == crd_name:
                for obj in self.store.list(kind)[0]:
                    self.store.delete(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])

    def _dependents(self, owner):
        uid = owner["metadata"]["uid"]
        for kind in kinds.KINDS:
            if not kind.namespaced:
                continue
            for obj in self.store.list(kind, owner["metadata"].get("namespace"))[0]:
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", [])):
                    yield kind, obj

    def _delete_dependents(self, owner):
        for kind, obj in list(self._dependents(owner)):
            self.delete(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])

    def _orphan(self, owner):
        uid = owner["metadata"]["uid"]
        for kind, obj in list(self._dependents(owner)):
            obj["metadata"]["ownerReferences"] = [r for r in obj["metadata"]["ownerReferences"] if r.get("uid") != uid]
            self.store.update(kind, obj, check_version=False)

    def _empty_namespace(self, namespace):
        for kind in kinds.KINDS:
            if kind.namespaced:
                for obj in self.store.list(kind, namespace)[0]:
                    if self.store.get(kind, namespace, obj["metadata"]["name"]) is not None:
                        self.store.delete(kind, namespace, obj["metadata"]["name"])
