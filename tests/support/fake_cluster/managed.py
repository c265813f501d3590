"""Server-side apply and `metadata.managedFields` bookkeeping.

Apply merges the applied configuration into the live object, answers 409 when
another manager owns a field that would change (unless forced), and prunes
fields the manager stopped applying. Plain updates (PUT, PATCH, controller
writes) move ownership of the fields they change to their manager, as the API
server does; that is what later makes an apply conflict with them.
"""

import copy
import json

from . import fieldsets
from .errors import ApiError
from .patches import item_key, list_keys


def entries_of(obj):
    """managedFields of obj as a list of (entry-without-fields, path set)."""
    entries = []
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        fields = fieldsets.from_fields_v1(entry.get("fieldsV1") or {})
        header = {k: v for k, v in entry.items() if k != "fieldsV1"}
        entries.append((header, fields))
    return entries


def _identity(header):
    return (header.get("manager"), header.get("operation"), header.get("subresource", ""))


def _write(obj, entries):
    """Store entries in obj's managedFields, dropping ownership of fields obj no longer has."""
    managed = []
    for header, fields in entries:
        fields = {p for p in fields if fieldsets.lookup(obj, p)[0]}
        if not fields:
            continue
        entry = dict(header)
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = fieldsets.to_fields_v1(fields)
        managed.append(entry)
    obj.setdefault("metadata", {})["managedFields"] = managed


def record_update(old, new, manager, api_version, timestamp, subresource=""):
    """Give `manager` (operation Update) the fields that changed from old to new."""
    entries = entries_of(old) if old else []
    changed = fieldsets.changed_fields(old, new, include_status=subresource == "status")
    if not changed:
        new.setdefault("metadata", {})["managedFields"] = (old or {}).get("metadata", {}).get("managedFields", [])
        return
    header = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": timestamp}
    if subresource:
        header["subresource"] = subresource
    for _, fields in entries:
        fields -= changed
    for existing, fields in entries:
        if _identity(existing) == _identity(header):
            fields |= changed
            existing.update(header)
            break
    else:
        entries.append((header, changed))
    _write(new, entries)


def apply(live, applied, manager, force, api_version, timestamp):
    """Return the object after `manager` applies `applied` over `live` (None when creating)."""
    applied_fields = fieldsets.object_fields(applied)
    header = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": timestamp}
    if live is None:
        result = copy.deepcopy(applied)
        _write(result, [(header, applied_fields)])
        return result

    entries = entries_of(live)
    conflicts = []
    for other, fields in entries:
        if _identity(other) == _identity(header):
            continue
        for path in sorted(fields & applied_fields, key=fieldsets.path_string):
            if not fieldsets.is_leaf(applied_fields, path):
                continue
            if fieldsets.lookup(live, path) != fieldsets.lookup(applied, path):
                conflicts.append((other, path))
    if conflicts and not force:
        raise conflict_error(conflicts)
    for other, path in conflicts:
        for header_other, fields in entries:
            if header_other is other:
                fields.discard(path)

    previous = next((f for h, f in entries if _identity(h) == _identity(header)), set())
    result = merge_applied(live, applied)
    owned_by_others = set().union(*[f for h, f in entries if _identity(h) != _identity(header)] or [set()])
    for path in sorted(previous - applied_fields, key=len, reverse=True):
        if path not in owned_by_others and not any(p[:len(path)] == path for p in owned_by_others):
            fieldsets.remove(result, path)

    entries = [(h, f) for h, f in entries if _identity(h) != _identity(header)]
    entries.append((header, applied_fields))
    _write(result, entries)
    return result


def merge_applied(live, applied, name=None):
    """Applied values over live ones; keyed lists merged by key, other lists replaced."""
    if isinstance(applied, dict) and isinstance(live, dict):
        result = copy.deepcopy(live)
        for key, value in applied.items():
            if key == "managedFields":
                continue
            result[key] = merge_applied(live.get(key), value, key) if key in live else copy.deepcopy(value)
        return result
    if isinstance(applied, list) and isinstance(live, list) and list_keys(name, applied + live):
        keys = list_keys(name, applied + live)
        result = copy.deepcopy(live)
        for item in applied:
            index = next((i for i, cur in enumerate(result) if item_key(keys, cur) == item_key(keys, item)), None)
            if index is None:
                result.append(copy.deepcopy(item))
            else:
                result[index] = merge_applied(result[index], item)
        return result
    return copy.deepcopy(applied)


def _print_manager(header):
    text = json.dumps(header.get("manager"))
    if header.get("subresource"):
        text += f" with subresource {json.dumps(header['subresource'])}"
    if header.get("operation") == "Update":
        text += f" using {header.get('apiVersion')}"
    return text


def conflict_error(conflicts):
    """The 409 the API server answers, worded like structured-merge-diff words it."""
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {_print_manager(h)}",
               "field": fieldsets.path_string(p)} for h, p in conflicts]
    if len(conflicts) == 1:
        header, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(header)}: {fieldsets.path_string(path)}"
    else:
        by_manager = {}
        for header, path in conflicts:
            by_manager.setdefault(_print_manager(header), []).append(fieldsets.path_string(path))
        lines = []
        for manager in sorted(by_manager):
            lines.append(f"conflicts with {manager}:")
            lines.extend(f"- {p}" for p in by_manager[manager])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})
