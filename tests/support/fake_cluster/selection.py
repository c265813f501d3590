"""Label and field selectors, as LIST and WATCH accept them.

Label selectors support `=`, `==`, `!=`, `in`, `notin`, `key` and `!key`;
field selectors support `=`, `==` and `!=` on dotted paths such as
`metadata.name` and `involvedObject.uid`.
"""

import re

from .errors import bad_request

_SET_EXPR = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(text):
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def label_matcher(text):
    """A predicate over a labels dict."""
    checks = []
    for term in _split_terms(text or ""):
        match = _SET_EXPR.match(term)
        if match:
            key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif term.startswith("!"):
            checks.append(lambda labels, k=term[1:].strip(): k not in labels)
        elif re.match(r"^[\w./-]+$", term):
            checks.append(lambda labels, k=term: k in labels)
        else:
            raise bad_request(f"unable to parse requirement: {term}")
    return lambda labels: all(check(labels or {}) for check in checks)


def _field_value(obj, dotted):
    node = obj
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    return str(node)


def field_matcher(text):
    """A predicate over a whole object."""
    checks = []
    for term in _split_terms(text or ""):
        if "!=" in term:
            path, value = (s.strip() for s in term.split("!=", 1))
            checks.append(lambda obj, p=path, v=value: _field_value(obj, p) != v)
        elif "=" in term:
            path, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            checks.append(lambda obj, p=path, v=value: _field_value(obj, p) == v)
        else:
            raise bad_request(f"invalid field selector: {term}")
    return lambda obj: all(check(obj) for check in checks)


def selector_to_string(selector):
    """A Deployment/ReplicaSet `spec.selector` as label selector text."""
    terms = [f"{k}={v}" for k, v in (selector or {}).get("matchLabels", {}).items()]
    for expr in (selector or {}).get("matchExpressions", []):
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values", [])
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)
