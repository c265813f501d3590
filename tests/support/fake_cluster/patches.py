"""The three PATCH flavours kubectl and kube-rs send, applied to plain dicts.

JSON merge patch (RFC 7386), JSON patch (RFC 6902), and a strategic merge patch
that merges the lists Kubernetes declares as keyed (containers by name, ...),
which is what `kubectl rollout restart`, `annotate` and `edit` rely on.
"""

import copy
import json

from .errors import ApiError, bad_request

# Lists Kubernetes merges element-wise in strategic merge patch (and server-side
# apply), with their merge keys. Other lists are replaced whole.
LIST_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "ports": ("containerPort", "protocol"),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
}

SERVICE_PORT_KEYS = ("port", "protocol")


def list_keys(field_name, items):
    """Merge key tuple for a list field, or None when the list is atomic."""
    keys = LIST_KEYS.get(field_name)
    if field_name == "ports" and items and isinstance(items[0], dict) and "port" in items[0]:
        keys = SERVICE_PORT_KEYS
    if keys is None or not all(isinstance(i, dict) for i in items):
        return None
    return keys


def item_key(keys, item):
    """The identity of a keyed list element; a missing protocol defaults to TCP like the API server."""
    values = []
    for k in keys:
        value = item.get(k)
        if value is None and k == "protocol":
            value = "TCP"
        values.append((k, value))
    return tuple(values)


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key.startswith("$retainKeys") or key == "$patch":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name, []) if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list) and list_keys(key, value + result[key]):
            result[key] = _merge_keyed_list(key, result[key], value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_keyed_list(field_name, live, patch_items):
    keys = list_keys(field_name, live + patch_items)
    merged = copy.deepcopy(live)
    for item in patch_items:
        identity = item_key(keys, item)
        index = next((i for i, cur in enumerate(merged) if item_key(keys, cur) == identity), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def json_patch(target, operations):
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind = op.get("op")
        path = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _put(doc, path, copy.deepcopy(op["value"]), insert=True)
        elif kind == "remove":
            _get(doc, path)
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc = _put(doc, path, copy.deepcopy(op["value"]), insert=False)
        elif kind in ("move", "copy"):
            source = _pointer(op["from"])
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _put(doc, path, value, insert=True)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                               f"testing value {json.dumps(op.get('value'))} failed")
        else:
            raise bad_request(f"unexpected json patch operation {kind!r}")
    return doc


def _pointer(text):
    if text == "":
        return []
    if not text.startswith("/"):
        raise bad_request(f"invalid json pointer {text!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]


def _get(doc, path):
    node = doc
    for part in path:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                           f"doc is missing path: /{'/'.join(path)}")
    return node


def _put(doc, path, value, insert):
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"doc is missing path: /{'/'.join(path)}")
    return doc


def _remove(doc, path):
    parent = _get(doc, path[:-1])
    if isinstance(parent, list):
        parent.pop(int(path[-1]))
    else:
        parent.pop(path[-1])
    return doc
