"""CustomResourceDefinitions as the API server uses them: the real CRDs, and their schemas enforced.

The CRDs come from `../shared/specs/infra/crds/` (Flux helm-/source-controller, cert-manager,
External Secrets at the versions AKS runs today; `FAKE_CLUSTER_CRDS` points elsewhere). A
custom object written through the API is checked against its version's `openAPIV3Schema`
the way the real server treats a structural schema:

- unknown fields are **pruned** (dropped silently) unless a schema node says
  `x-kubernetes-preserve-unknown-fields: true`; `metadata` keeps only what ObjectMeta has;
- type, enum, required, pattern, length, bounds, min/maxItems and `x-kubernetes-int-or-string`
  are validated, and every violation is listed in one 422 Invalid, in the server's words
  (`spec.acme.email: Invalid value: 1: spec.acme.email in body must be of type string: "integer"`).

CEL rules (`x-kubernetes-validations`) and `format` are not evaluated.
"""

import copy
import os
import re

import yaml

from . import errors

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "..", "shared", "specs", "infra", "crds"))
_cache = {}


def directory():
    return os.environ.get("FAKE_CLUSTER_CRDS") or DEFAULT_DIR


def load(name):
    """The CRD called `name` (`certificates.cert-manager.io`) from the specs, or None."""
    if name not in _cache:
        plural, _, group = name.partition(".")
        path = os.path.join(directory(), f"{group}_{plural}.yaml")
        crd = None
        if os.path.isfile(path):
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            with open(path) as handle:
                crd = yaml.load(handle, Loader=loader)
            crd.pop("status", None)
            crd["status"] = {"acceptedNames": crd["spec"]["names"],
                             "conditions": [{"type": "Established", "status": "True",
                                             "reason": "InitialNamesAccepted"}],
                             "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]}
        _cache[name] = crd
    return copy.deepcopy(_cache[name])


def schema_of(crd, version):
    for v in (crd or {}).get("spec", {}).get("versions", []):
        if v.get("name") == version:
            return (v.get("schema") or {}).get("openAPIV3Schema")
    return None


METADATA_FIELDS = {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences",
                   "resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
                   "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}

_TYPES = {"string": str, "boolean": bool, "array": list, "object": dict}


def _type_ok(value, wanted):
    if wanted == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if wanted == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    python = _TYPES.get(wanted)
    return python is None or isinstance(value, python)


def _json_type(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _show(value):
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return f'"{_json_type(value)}"'
    return str(value)


def prune_and_validate(obj, schema):
    """(the object with unknown fields pruned, [violation messages])."""
    obj = copy.deepcopy(obj)
    problems = []
    if schema is None:
        return obj, problems
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in list(meta):
            if key not in METADATA_FIELDS:
                del meta[key]
    root = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    root_schema = dict(schema)
    props = dict(root_schema.get("properties") or {})
    for k in ("metadata", "apiVersion", "kind"):
        props.pop(k, None)
    root_schema["properties"] = props
    _walk(root, root_schema, "", problems)
    for key in list(obj):
        if key not in ("metadata", "apiVersion", "kind") and key not in root:
            del obj[key]
    obj.update(root)
    return obj, problems


def _walk(value, schema, path, problems):
    """Validate `value` against `schema`, pruning unknown fields in place."""
    if value is None:
        if not schema.get("nullable"):
            problems.append(f"{path or '<root>'}: Invalid value: \"null\": {path} in body must be of type "
                            f"{schema.get('type', 'object')}: \"null\"")
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            problems.append(f"{path}: Invalid value: {_show(value)}: {path} in body must be of type "
                            f"integer,string: \"{_json_type(value)}\"")
        return
    wanted = schema.get("type")
    if wanted and not _type_ok(value, wanted):
        problems.append(f"{path}: Invalid value: {_show(value)}: {path} in body must be of type {wanted}: "
                        f"\"{_json_type(value)}\"")
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_show(e) for e in schema["enum"])
        problems.append(f"{path}: Unsupported value: {_show(value)}: supported values: {supported}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: Too long: may not be more than {schema['maxLength']} bytes")
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{path}: Invalid value: {_show(value)}: {path} in body should be at least "
                            f"{schema['minLength']} chars long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: Invalid value: {_show(value)}: {path} in body should match "
                            f"'{schema['pattern']}'")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: Invalid value: {value}: {path} in body should be greater than or equal to "
                            f"{schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: Invalid value: {value}: {path} in body should be less than or equal to "
                            f"{schema['maximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: Too many: {len(value)}: must have at most {schema['maxItems']} items")
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{path}: Invalid value: {len(value)}: {path} in body should have at least "
                            f"{schema['minItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _walk(item, items, f"{path}[{i}]", problems)
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for name in schema.get("required") or []:
            if name not in value:
                problems.append(f"{_join(path, name)}: Required value")
        for key in list(value):
            child = _join(path, key)
            if props is not None and key in props:
                _walk(value[key], props[key], child, problems)
            elif isinstance(extra, dict):
                _walk(value[key], extra, child, problems)
            elif extra is True or schema.get("x-kubernetes-preserve-unknown-fields"):
                continue
            else:
                del value[key]


def _join(path, key):
    return f"{path}.{key}" if path else key


def admit(kind, crd, obj):
    """The object as the API server stores it (pruned), or 422 Invalid listing every violation."""
    schema = schema_of(crd, kind.version)
    pruned, problems = prune_and_validate(obj, schema)
    if problems:
        name = (obj.get("metadata") or {}).get("name", "")
        raise errors.ApiError(422, "Invalid",
                              f'{kind.kind}.{kind.group} "{name}" is invalid: [' + ", ".join(problems) + "]"
                              if len(problems) > 1 else
                              f'{kind.kind}.{kind.group} "{name}" is invalid: {problems[0]}',
                              {"name": name, "group": kind.group, "kind": kind.kind,
                               "causes": [{"reason": "FieldValueInvalid", "message": p,
                                           "field": p.split(":", 1)[0]} for p in problems]})
    return pruned
