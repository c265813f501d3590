"""Admission and authorization decisions the fake can be told to make.

A label or annotation `fake.aks-backend/reject: "<message>"` on a written object
makes it fail the way a validating admission webhook rejects it; `deny` rules
(set through `/_fake/faults`) make RBAC refuse a verb on a resource, both for
real requests and for SelfSubjectAccessReviews.

PodSecurity: a Pod created in a namespace labelled
`pod-security.kubernetes.io/enforce: baseline|restricted` is refused, as the
built-in PodSecurity admission does, when it fails a control of that level
(the controls of kubernetes.io's "Pod Security Standards", the admission's words).

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


# --- PodSecurity ---------------------------------------------------------------------------------

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(spec):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            yield c.get("name", ""), c.get("securityContext") or {}, c


def _who(names):
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"container {quoted}" if len(names) == 1 else f"containers {quoted}"


# The admission lists failures sorted by its check IDs; these are the IDs by message start.
CHECK_IDS = [("allowPrivilegeEscalation", "allowPrivilegeEscalation"), ("forbidden AppArmor", "appArmorProfile"),
             ("non-default capabilities", "capabilities_baseline"),
             ("unrestricted capabilities", "capabilities_restricted"), ("host namespaces", "hostNamespaces"),
             ("hostPath volumes", "hostPathVolumes"), ("hostPort", "hostPorts"), ("hostProcess", "hostProcess"),
             ("privileged", "privileged"), ("procMount", "procMount"), ("restricted volume types", "restrictedVolumes"),
             ("runAsNonRoot", "runAsNonRoot"), ("runAsUser", "runAsUser"), ("seLinuxOptions", "seLinuxOptions"),
             ("seccompProfile (pod or", "seccompProfile_restricted"), ("seccompProfile", "seccompProfile_baseline"),
             ("forbidden sysctls", "sysctls")]


def _check_id(message):
    return next(i for prefix, i in CHECK_IDS if message.startswith(prefix + " ") or message.startswith(prefix))


def pod_security_violations(pod, level):
    """The failed controls of `level` (and the baseline ones it includes), worded and
    ordered as the PodSecurity admission words and orders them."""
    return sorted(_violations(pod, level), key=_check_id)


def _violations(pod, level):
    if level not in ("baseline", "restricted"):
        return []
    spec = pod.get("spec") or {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    psc = spec.get("securityContext") or {}
    cs = list(_containers(spec))
    out = []
    # baseline
    if (psc.get("windowsOptions") or {}).get("hostProcess") or any(
            (sc.get("windowsOptions") or {}).get("hostProcess") for _, sc, _ in cs):
        out.append("hostProcess (pod and containers must not set securityContext.windowsOptions.hostProcess=true)")
    host = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if host:
        out.append(f"host namespaces ({', '.join(host)})")
    priv = [n for n, sc, _ in cs if sc.get("privileged")]
    if priv:
        out.append(f"privileged ({_who(priv)} must not set securityContext.privileged=true)")
    added = [(n, cap) for n, sc, _ in cs for cap in (sc.get("capabilities") or {}).get("add") or []]
    bad = [f'container "{n}" must not include "{cap}" in securityContext.capabilities.add'
           for n, cap in added if cap not in BASELINE_CAPABILITIES]
    if bad:
        out.append(f"non-default capabilities ({'; '.join(bad)})")
    volumes = spec.get("volumes") or []
    host_paths = [f'"{v.get("name", "")}"' for v in volumes if "hostPath" in v]
    if host_paths:
        out.append(f"hostPath volumes (volume{'s' if len(host_paths) > 1 else ''} {', '.join(host_paths)})")
    ports = [f'container "{n}" uses hostPort {p["hostPort"]}' for n, _, c in cs for p in c.get("ports") or []
             if p.get("hostPort")]
    if ports:
        out.append(f"hostPort ({', '.join(ports)})")
    armor = []
    if (psc.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        armor.append('pod must not set securityContext.appArmorProfile.type to "Unconfined"')
    armor += [f'container "{n}" must not set securityContext.appArmorProfile.type to "Unconfined"'
              for n, sc, _ in cs if (sc.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost")]
    armor += [f'container "{k.split("/", 1)[1]}" must not use the profile "{v}"' for k, v in annotations.items()
              if k.startswith("container.apparmor.security.beta.kubernetes.io/")
              and v != "runtime/default" and not str(v).startswith("localhost/")]
    if armor:
        out.append(f"forbidden AppArmor profile ({'; '.join(armor)})")
    selinux = []
    for who, sc in [("pod", psc)] + [(f'container "{n}"', sc) for n, sc, _ in cs]:
        opts = sc.get("seLinuxOptions") or {}
        if opts.get("type", "") not in SELINUX_TYPES:
            selinux.append(f'{who} set forbidden securityContext.seLinuxOptions: type "{opts["type"]}"')
        selinux += [f"{who} set forbidden securityContext.seLinuxOptions: {k}" for k in ("user", "role") if opts.get(k)]
    if selinux:
        out.append(f"seLinuxOptions ({'; '.join(selinux)})")
    proc = [n for n, sc, _ in cs if sc.get("procMount", "Default") != "Default"]
    if proc:
        out.append(f'procMount ({_who(proc)} must not set securityContext.procMount to "Unmasked")')
    unconfined = lambda sc: (sc.get("seccompProfile") or {}).get("type") == "Unconfined"  # noqa: E731
    if unconfined(psc) or any(unconfined(sc) for _, sc, _ in cs):
        who = "pod" if unconfined(psc) else _who([n for n, sc, _ in cs if unconfined(sc)])
        out.append(f'seccompProfile ({who} must not set securityContext.seccompProfile.type to "Unconfined")')
    sysctls = [s.get("name", "") for s in psc.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    if sysctls:
        out.append(f"forbidden sysctls ({', '.join(sysctls)})")
    if level == "baseline":
        return out
    # restricted
    restricted = [f'volume "{v.get("name", "")}" uses restricted volume type "{k}"'
                  for v in volumes for k in v if k != "name" and k not in RESTRICTED_VOLUMES]
    if restricted:
        out.append(f"restricted volume types ({', '.join(restricted)})")
    escalating = [n for n, sc, _ in cs if sc.get("allowPrivilegeEscalation") is not False]
    if escalating:
        out.append(f"allowPrivilegeEscalation != false ({_who(escalating)} must set "
                   f"securityContext.allowPrivilegeEscalation=false)")
    explicit = [n for n, sc, _ in cs if sc.get("runAsNonRoot") is False]
    unset = [n for n, sc, _ in cs if "runAsNonRoot" not in sc]
    if psc.get("runAsNonRoot") is False or explicit:
        who = "pod" if psc.get("runAsNonRoot") is False else _who(explicit)
        out.append(f"runAsNonRoot != true ({who} must not set securityContext.runAsNonRoot=false)")
    elif psc.get("runAsNonRoot") is not True and unset:
        out.append(f"runAsNonRoot != true (pod or {_who(unset)} must set securityContext.runAsNonRoot=true)")
    root = [n for n, sc, _ in cs if sc.get("runAsUser") == 0]
    if psc.get("runAsUser") == 0 or root:
        who = "pod" if psc.get("runAsUser") == 0 else _who(root)
        out.append(f"runAsUser=0 ({who} must not set runAsUser=0)")
    allowed = lambda sc: (sc.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")  # noqa: E731
    missing = [n for n, sc, _ in cs if not allowed(sc) and (not allowed(psc) or "seccompProfile" in sc)]
    if missing:
        out.append(f'seccompProfile (pod or {_who(missing)} must set securityContext.seccompProfile.type to '
                   f'"RuntimeDefault" or "Localhost")')
    caps = []
    no_drop = [n for n, sc, _ in cs if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or [])]
    if no_drop:
        caps.append(f'{_who(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    caps += [f'container "{n}" must not include "{cap}" in securityContext.capabilities.add'
             for n, cap in added if cap != "NET_BIND_SERVICE"]
    if caps:
        out.append(f"unrestricted capabilities ({'; '.join(caps)})")
    return out


def check_pod_security(pod, namespace_obj):
    """Refuse a Pod its namespace's `enforce` level does not allow, as the real server does."""
    labels = ((namespace_obj or {}).get("metadata") or {}).get("labels") or {}
    level = labels.get(ENFORCE_LABEL)
    if level not in LEVELS:
        return
    violations = pod_security_violations(pod, level)
    if violations:
        name = (pod.get("metadata") or {}).get("name", "")
        raise ApiError(403, "Forbidden",
                       f'pods "{name}" is forbidden: violates PodSecurity "{level}:latest": {", ".join(violations)}',
                       {"name": name, "kind": "pods"})


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
