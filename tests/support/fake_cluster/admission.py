"""Admission and authorization decisions the fake can be told to make.

A label or annotation `fake.aks-backend/reject: "<message>"` on a written object
makes it fail the way a validating admission webhook rejects it; `deny` rules
(set through `/_fake/faults`) make RBAC refuse a verb on a resource, both for
real requests and for SelfSubjectAccessReviews.
"""

from .errors import ApiError

REJECT_KEY = "fake.aks-backend/reject"
WEBHOOK_NAME = "validate.fake.aks-backend.io"
USER = "fake-user"


def check_reject(obj):
    meta = obj.get("metadata") or {}
    message = (meta.get("labels") or {}).get(REJECT_KEY) or (meta.get("annotations") or {}).get(REJECT_KEY)
    if message:
        raise ApiError(403, "Forbidden", f'admission webhook "{WEBHOOK_NAME}" denied the request: {message}')


def rule_matches(rule, verb, group, resource, namespace):
    return (rule.get("verb", "*") in ("*", verb)
            and rule.get("group", "*") in ("*", group)
            and rule.get("resource", "*") in ("*", resource)
            and rule.get("namespace", "*") in ("*", namespace or ""))


def is_denied(rules, verb, group, resource, namespace):
    return any(rule_matches(r, verb, group, resource, namespace) for r in rules)


def forbidden(verb, group, resource, name, namespace):
    target = f'{resource}.{group} "{name}"' if group else f'{resource} "{name}"'
    if not name:
        target = f"{resource}.{group}" if group else resource
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(403, "Forbidden",
                    f'{target} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '
                    f'in API group "{group}" {where}',
                    {"name": name, "group": group, "kind": resource})


def review(rules, body):
    """Answer a SelfSubjectAccessReview."""
    attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
    denied = is_denied(rules, attrs.get("verb", ""), attrs.get("group", ""), attrs.get("resource", ""),
                       attrs.get("namespace", ""))
    result = dict(body)
    result["status"] = {"allowed": not denied}
    if denied:
        result["status"]["reason"] = "denied by the fake cluster's deny rules"
    else:
        result["status"]["reason"] = 'RBAC: allowed by ClusterRoleBinding "fake-admin"'
    return result
