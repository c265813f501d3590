"""Field ownership for server-side apply: sets of field paths, and managedFields.

A path is a tuple of elements: ("f", "replicas") for a map field, or
("k", (("name", "app"),)) for the element of a keyed list. The same sets are
written to `metadata.managedFields` in the `FieldsV1` format kubectl reads, and
printed in conflict messages the way the API server prints them
(`.spec.template.spec.containers[name="app"].image`).
"""

import json

from .patches import item_key, list_keys

# metadata fields a manager can own; the rest are the server's.
OWNED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


def object_fields(obj, include_status=False):
    """The set of paths an object (an applied configuration, or a change) sets."""
    paths = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            for mkey in OWNED_METADATA:
                if mkey in value:
                    _collect(value[mkey], (("f", "metadata"), ("f", mkey)), mkey, paths)
            continue
        if key == "status" and not include_status:
            continue
        _collect(value, (("f", key),), key, paths)
    return paths


def _collect(value, path, name, paths):
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _collect(child, path + (("f", key),), key, paths)
    elif isinstance(value, list) and value and list_keys(name, value):
        keys = list_keys(name, value)
        for item in value:
            item_path = path + (("k", item_key(keys, item)),)
            paths.add(item_path)
            for key, child in item.items():
                _collect(child, item_path + (("f", key),), key, paths)
    else:
        paths.add(path)


def is_leaf(path_set, path):
    return not any(len(p) > len(path) and p[:len(path)] == path for p in path_set)


def lookup(obj, path):
    """(found, value) at path."""
    node = obj
    for kind, name in path:
        if kind == "f":
            if not isinstance(node, dict) or name not in node:
                return False, None
            node = node[name]
        else:
            if not isinstance(node, list):
                return False, None
            keys = tuple(k for k, _ in name)
            node = next((i for i in node if isinstance(i, dict) and item_key(keys, i) == name), None)
            if node is None:
                return False, None
    return True, node


def remove(obj, path):
    """Delete the field or list element at path, if present."""
    found, parent = lookup(obj, path[:-1])
    if not found:
        return
    kind, name = path[-1]
    if kind == "f" and isinstance(parent, dict):
        parent.pop(name, None)
    elif kind == "k" and isinstance(parent, list):
        keys = tuple(k for k, _ in name)
        parent[:] = [i for i in parent if not (isinstance(i, dict) and item_key(keys, i) == name)]


def path_string(path):
    out = ""
    for kind, name in path:
        if kind == "f":
            out += "." + name
        else:
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in name) + "]"
    return out


def to_fields_v1(paths):
    tree = {}
    for path in sorted(paths, key=len):
        node = tree
        for kind, name in path:
            token = f"f:{name}" if kind == "f" else "k:" + json.dumps(dict(name), separators=(",", ":"))
            node = node.setdefault(token, {})
        if path and path[-1][0] == "k":
            node.setdefault(".", {})
    return tree


def from_fields_v1(tree, prefix=()):
    paths = set()
    for token, child in tree.items():
        if token == ".":
            paths.add(prefix)
            continue
        if token.startswith("f:"):
            element = ("f", token[2:])
        elif token.startswith("k:"):
            element = ("k", tuple(json.loads(token[2:]).items()))
        else:
            continue
        path = prefix + (element,)
        if child:
            paths |= from_fields_v1(child, path)
        else:
            paths.add(path)
    return paths


def changed_fields(old, new, include_status):
    """Paths set in `new` whose value differs from `old` (what an Update takes ownership of)."""
    old = old or {}
    return {p for p in object_fields(new, include_status)
            if lookup(old, p) != lookup(new, p)}
