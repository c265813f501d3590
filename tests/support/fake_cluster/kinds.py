"""The resource types the fake serves, and the discovery documents built from them.

One table drives routing, storage keys and discovery, so a kind added here is
reachable by kubectl (which discovers before it acts) and stored the same way
as every other kind.

Kinds marked `crd` (cert-manager, External Secrets) are served only while their
CustomResourceDefinition is stored, as on a real cluster: a fresh fake has them
installed (as `infra` would), and deleting the CRD takes the type away. A
group/version can also be switched off with the `unserve` fault (an older
cluster without `autoscaling/v2`). Paths of types that are not served answer a
plain-text `404 page not found`, like the real API server's mux.
"""

from dataclasses import dataclass

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple = ()
    has_status: bool = False
    has_generation: bool = False
    subresources: tuple = ()
    verbs: tuple = tuple(ALL_VERBS)
    categories: tuple = ()
    crd: bool = False

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self):
        """Storage key: one per kind, independent of the request's version."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self):
        return self.kind.lower()


KINDS = [
    Kind("", "v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",), has_status=True,
         subresources=("status",)),
    Kind("", "v1", "Pod", "pods", short_names=("po",), has_status=True, subresources=("status", "log"),
         categories=("all",)),
    Kind("", "v1", "Service", "services", short_names=("svc",), has_status=True, subresources=("status",),
         categories=("all",)),
    Kind("", "v1", "Event", "events", short_names=("ev",)),
    Kind("", "v1", "Secret", "secrets"),
    Kind("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    Kind("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    Kind("apps", "v1", "Deployment", "deployments", short_names=("deploy",), has_status=True,
         has_generation=True, subresources=("status", "scale"), categories=("all",)),
    Kind("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), has_status=True,
         has_generation=True, subresources=("status", "scale"), categories=("all",)),
    Kind("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",), has_status=True,
         has_generation=True, subresources=("status", "scale"), categories=("all",)),
    Kind("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), has_status=True,
         has_generation=True, subresources=("status",), categories=("all",)),
    Kind("apps", "v1", "ControllerRevision", "controllerrevisions"),
    Kind("batch", "v1", "Job", "jobs", has_status=True, has_generation=True, subresources=("status",),
         categories=("all",)),
    Kind("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",), has_status=True,
         has_generation=True, subresources=("status",)),
    Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    Kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",),
         has_status=True, subresources=("status",), categories=("all",)),
    Kind("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
         namespaced=False, verbs=("create",)),
    Kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
         namespaced=False, short_names=("crd", "crds"), has_status=True, has_generation=True,
         subresources=("status",), categories=("api-extensions",)),
    Kind("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    # Custom resources: the CRDs in ../shared/specs/infra/crds (see `crds.py`). A kind is
    # listed once per version its CRD has; which versions are served is the CRD's say.
    Kind("external-secrets.io", "v1", "ExternalSecret", "externalsecrets", short_names=("es",),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("external-secrets",)),
    Kind("external-secrets.io", "v1beta1", "ExternalSecret", "externalsecrets", short_names=("es",),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("external-secrets",)),
    Kind("external-secrets.io", "v1", "ClusterSecretStore", "clustersecretstores", namespaced=False,
         short_names=("css",), has_status=True, has_generation=True, subresources=("status",), crd=True,
         categories=("external-secrets",)),
    Kind("cert-manager.io", "v1", "Certificate", "certificates", short_names=("cert", "certs"),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("cert-manager",)),
    Kind("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", namespaced=False, short_names=("ciss",),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("cert-manager",)),
    Kind("cert-manager.io", "v1", "Issuer", "issuers", short_names=("iss",),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("cert-manager",)),
    Kind("source.toolkit.fluxcd.io", "v1", "HelmRepository", "helmrepositories", short_names=("helmrepo",),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("flux",)),
    Kind("source.toolkit.fluxcd.io", "v1", "HelmChart", "helmcharts", short_names=("hc",),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("flux",)),
    Kind("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases", short_names=("hr",),
         has_status=True, has_generation=True, subresources=("status",), crd=True, categories=("flux",)),
]

# What each operator's chart installs (and a fresh fake has unless started `--bare`): the
# Flux extension comes with the cluster (ARM installs it); cert-manager and ESO come from
# their HelmReleases.
FLUX_CRDS = ("helmrepositories.source.toolkit.fluxcd.io", "helmcharts.source.toolkit.fluxcd.io",
             "helmreleases.helm.toolkit.fluxcd.io")
CERT_MANAGER_CRDS = ("certificates.cert-manager.io", "clusterissuers.cert-manager.io", "issuers.cert-manager.io")
ESO_CRDS = ("externalsecrets.external-secrets.io", "clustersecretstores.external-secrets.io")

CRD = next(k for k in KINDS if k.kind == "CustomResourceDefinition")


def crd_object(kind):
    """The CustomResourceDefinition that makes `kind` served (what its operator's chart installs):
    the real one from the specs when it is there, else a schemaless stand-in."""
    from . import crds
    real = crds.load(kind.key)
    if real is not None:
        return real
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": kind.key},
            "spec": {"group": kind.group, "scope": "Namespaced" if kind.namespaced else "Cluster",
                     "names": {"plural": kind.plural, "singular": kind.singular, "kind": kind.kind,
                               "shortNames": list(kind.short_names)},
                     "versions": [{"name": kind.version, "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]},
            "status": {"acceptedNames": {"plural": kind.plural, "kind": kind.kind},
                       "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}]}}


def crd_kinds(crd_name):
    return [k for k in KINDS if k.crd and k.key == crd_name]


class Served:
    """Which kinds the server serves right now: built-ins unless their group/version is
    switched off, CRD-backed kinds while their CRD is stored."""

    def __init__(self, store, unserved=()):
        self.store = store
        self.unserved = set(unserved)

    def __call__(self, kind):
        if kind.api_version in self.unserved:
            return False
        if not kind.crd:
            return True
        crd = self.store.peek(CRD, None, kind.key)
        return crd is not None and any(v.get("name") == kind.version and v.get("served", True)
                                       for v in (crd.get("spec") or {}).get("versions", []))

    def kinds(self):
        return [k for k in KINDS if self(k)]


def find(group, version, plural, served=None):
    for kind in (served.kinds() if served else KINDS):
        if (kind.group, kind.version, kind.plural) == (group, version, plural):
            return kind
    return None


def by_kind(api_version, kind_name):
    for kind in KINDS:
        if kind.api_version == api_version and kind.kind == kind_name:
            return kind
    return None


def group_versions(served=None):
    """[(group, version)] in discovery order, core group first."""
    seen = []
    for kind in (served.kinds() if served else KINDS):
        if (kind.group, kind.version) not in seen:
            seen.append((kind.group, kind.version))
    return seen


def resource_list(group, version, served=None):
    kinds = [k for k in (served.kinds() if served else KINDS) if (k.group, k.version) == (group, version)]
    if not kinds:
        return None
    resources = []
    for k in kinds:
        entry = {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
                 "kind": k.kind, "verbs": list(k.verbs)}
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.categories:
            entry["categories"] = list(k.categories)
        resources.append(entry)
        for sub in k.subresources:
            verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
            entry = {"name": f"{k.plural}/{sub}", "singularName": "", "namespaced": k.namespaced,
                     "kind": k.kind, "verbs": verbs}
            if sub == "scale":
                entry.update(kind="Scale", group="autoscaling", version="v1")
            resources.append(entry)
    api_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources}


def core_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def group_list(served=None):
    groups = []
    for group, version in group_versions(served):
        if not group:
            continue
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group, served=None):
    versions = [{"groupVersion": f"{g}/{v}", "version": v} for g, v in group_versions(served) if g == group]
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


VERSION_INFO = {
    "major": "1", "minor": "30", "gitVersion": "v1.30.6", "gitCommit": "fake",
    "gitTreeState": "clean", "buildDate": "2024-10-22T00:00:00Z", "goVersion": "go1.22.8",
    "compiler": "gc", "platform": "linux/amd64",
}
