"""Admission and authorization decisions the fake can be told to make.

A label or annotation `fake.aks-backend/reject: "<message>"` on a written object
makes it fail the way a validating admission webhook rejects it; `deny` rules
(set through `/_fake/faults`) make RBAC refuse a verb on a resource, both for
real requests and for SelfSubjectAccessReviews.

`rbac` bindings (also through `/_fake/faults`) replace the default "may do
everything" identity with what its bindings grant, as RBAC does: a list of
`{"role": "view"|"edit"|"admin"|"cluster-admin", "namespace": NS}` (a RoleBinding
in NS; without `namespace`, a ClusterRoleBinding). `"rbac": []` is an identity
with no rights at all. As in Kubernetes, every authenticated user may still create
SelfSubjectAccessReviews and SelfSubjectRulesReviews (`system:basic-user`), and a
request about a Namespace is scoped to that namespace's own name.
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


def review(rbac, body):
    """Answer a SelfSubjectAccessReview."""
    attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
    denied = not rbac.allows(attrs.get("verb", ""), attrs.get("group", ""), attrs.get("resource", ""),
                             attrs.get("namespace", ""), attrs.get("subresource", ""))
    result = dict(body)
    result["status"] = {"allowed": not denied}
    if denied:
        result["status"]["reason"] = "denied by the fake cluster's RBAC (deny rules or bindings)"
    else:
        result["status"]["reason"] = 'RBAC: allowed by ClusterRoleBinding "fake-admin"'
    return result


READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
# Kinds every authenticated user may create (the `system:basic-user` ClusterRole).
BASIC_USER = ("selfsubjectaccessreviews", "selfsubjectrulesreviews")
CLUSTER_SCOPED = ("namespaces", "customresourcedefinitions", "nodes", "clusterroles", "clusterrolebindings")
ROLES = ("view", "edit", "admin", "cluster-admin")


def role_allows(role, verb, resource, subresource=""):
    """What the default user-facing ClusterRoles allow (close enough for deploys)."""
    if role == "cluster-admin":
        return True
    if resource == "secrets" and role == "view":
        return False
    if verb in READ_VERBS:
        return not subresource or subresource in ("log", "status", "scale")
    if role in ("edit", "admin"):
        return resource not in CLUSTER_SCOPED and subresource in ("", "scale")
    return False


class Rbac:
    """Who may do what: everything unless `rbac` bindings are set, never what `deny` rules name."""

    def __init__(self, deny, bindings):
        self.deny = deny
        self.bindings = bindings

    def allows(self, verb, group, resource, namespace, subresource=""):
        if verb == "create" and resource in BASIC_USER:
            return True
        if is_denied(self.deny, verb, group, resource, namespace):
            return False
        if self.bindings is None:
            return True
        return any(role_allows(b["role"], verb, resource, subresource)
                   and (not b.get("namespace") or b["namespace"] == (namespace or ""))
                   for b in self.bindings)
