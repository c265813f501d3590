"""The operators `infra` installs, played at their real pace: Flux's helm-controller, cert-manager, ESO.

- **Flux** (the AKS extension; always there): a HelmRelease's chart is looked up in the fake
  chart repositories (`CHARTS`; an unknown chart or version fails as source-controller says
  it), then "installed": its CRDs (the real ones, `crds.py`), ServiceAccount (values
  `serviceAccount.annotations`) and Deployments (values `podLabels`) are written as
  helm-controller would, and the release turns Ready once those Deployments are Available
  (the kubelet simulation runs their pods), as `helm install --wait` does. A new chart
  version upgrades the Deployments' images.
- **cert-manager**: a ClusterIssuer's ACME account is registered (Ready) unless the
  `acme-refused` operator fault is set; a Certificate is issued through its issuer's solver
  (DNS-01 for wildcards or a matching `dnsZones` selector, else HTTP-01) into its TLS Secret,
  unless `dns01-forbidden` is set (the Azure DNS 403 as a Warning event).
- **ESO**: a ClusterSecretStore is validated (Ready; `keyvault-forbidden` makes Key Vault
  answer 403); an ExternalSecret is synced into its target Secret from the fake Key Vault or
  from another namespace's Secret (the Kubernetes provider), and re-synced when the source
  changes (a renewed certificate reaches every copy).

A cluster started without `--bare` stands for one `infra` already set up: Certificates and
ExternalSecrets whose issuer or store is not stored are treated as if they were there.
"""

import base64
import hashlib
import re
import time

from . import crds
from .kinds import CRD, by_kind
from .store import timestamp

HELM_RELEASE = by_kind("helm.toolkit.fluxcd.io/v2", "HelmRelease")
HELM_REPOSITORY = by_kind("source.toolkit.fluxcd.io/v1", "HelmRepository")
HELM_CHART = by_kind("source.toolkit.fluxcd.io/v1", "HelmChart")
CLUSTER_ISSUER = by_kind("cert-manager.io/v1", "ClusterIssuer")
CERTIFICATE = by_kind("cert-manager.io/v1", "Certificate")
CLUSTER_SECRET_STORE = by_kind("external-secrets.io/v1", "ClusterSecretStore")
EXTERNAL_SECRET = by_kind("external-secrets.io/v1", "ExternalSecret")
SECRET = by_kind("v1", "Secret")
NAMESPACE = by_kind("v1", "Namespace")
SERVICE_ACCOUNT = by_kind("v1", "ServiceAccount")
DEPLOYMENT = by_kind("apps/v1", "Deployment")

# Nominal seconds (times the cluster's time scale).
FETCH, REGISTER, VALIDATE, SYNC = 1.0, 1.5, 1.0, 0.5
ISSUE_HTTP01, ISSUE_DNS01 = 2.0, 4.0

CERT_MANAGER = {"crds": ("certificates.cert-manager.io", "clusterissuers.cert-manager.io",
                         "issuers.cert-manager.io"),
                "crd_values": (("crds", "enabled"), False),
                "service_account": "cert-manager",
                "deployments": (("cert-manager", "quay.io/jetstack/cert-manager-controller", True),
                                ("cert-manager-cainjector", "quay.io/jetstack/cert-manager-cainjector", False),
                                ("cert-manager-webhook", "quay.io/jetstack/cert-manager-webhook", False))}
EXTERNAL_SECRETS = {"crds": ("externalsecrets.external-secrets.io", "clustersecretstores.external-secrets.io"),
                    "crd_values": (("installCRDs",), True),
                    "service_account": "external-secrets",
                    "deployments": (("external-secrets", "oci.external-secrets.io/external-secrets/external-secrets", True),
                                    ("external-secrets-cert-controller",
                                     "oci.external-secrets.io/external-secrets/external-secrets", False),
                                    ("external-secrets-webhook",
                                     "oci.external-secrets.io/external-secrets/external-secrets", False))}
# (repository URL, chart) -> (versions the repository has, what the chart installs)
CHARTS = {
    ("oci://quay.io/jetstack/charts", "cert-manager"): ({"v1.20.2", "v1.21.0", "v1.21.1"}, CERT_MANAGER),
    ("https://charts.jetstack.io", "cert-manager"): ({"v1.20.2", "v1.21.0", "v1.21.1"}, CERT_MANAGER),
    ("https://charts.external-secrets.io", "external-secrets"): ({"2.8.0", "2.8.1", "2.9.0"}, EXTERNAL_SECRETS),
}
# The fake Key Vault: secret name -> value (anything else reads as `fake-<name>`).
KEY_VAULT = {"mysql-admin-password": "fake-mysql-admin-password"}
ACME_REFUSED = ("Failed to register ACME account: 400 urn:ietf:params:acme:error:invalidContact: Error creating new "
                "account :: contact email has forbidden domain \"example.com\"")


def chart_digest(url, chart, version):
    """The digest of a fake chart archive: sha256 of `url/chart:version`, the same on every run (a test can pin it)."""
    return "sha256:" + hashlib.sha256(f"{url}/{chart}:{version}".encode()).hexdigest()


def _selects(selector, labels):
    """A metav1.LabelSelector against a label set (matchLabels and matchExpressions, ANDed)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


def _conditions(obj):
    return (obj.get("status") or {}).get("conditions") or []


def is_ready(obj):
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in _conditions(obj))


def _get(values, path):
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


class Operators:
    def __init__(self, api, recorder, scale, faults=None):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.faults = faults
        self.first_seen = {}

    def _fault(self, name):
        return self.faults is not None and self.faults.operator(name)

    def _since(self, obj, tag=""):
        """Real seconds since this object (at this generation) was first seen, scaled back to nominal."""
        key = (obj["metadata"]["uid"], obj["metadata"].get("generation", 1), tag)
        seen = self.first_seen.setdefault(key, time.time())
        return (time.time() - seen) / max(self.scale, 1e-6)

    def _served(self, crd_name):
        return self.api.store.peek(CRD, None, crd_name) is not None

    def sync(self):
        if self._served(HELM_CHART.key):
            for chart_obj in self.api.store.list(HELM_CHART)[0]:
                self._helm_chart(chart_obj)
        if self._served(HELM_RELEASE.key):
            for release in self.api.store.list(HELM_RELEASE)[0]:
                self._helm_release(release)
        if self._served(CLUSTER_ISSUER.key):
            for issuer in self.api.store.list(CLUSTER_ISSUER)[0]:
                self._cluster_issuer(issuer)
        if self._served(CERTIFICATE.key):
            for cert in self.api.store.list(CERTIFICATE)[0]:
                self._certificate(cert)
        if self._served(CLUSTER_SECRET_STORE.key):
            for store in self.api.store.list(CLUSTER_SECRET_STORE)[0]:
                self._secret_store(store)
        if self._served(EXTERNAL_SECRET.key):
            for external in self.api.store.list(EXTERNAL_SECRET)[0]:
                self._external_secret(external)

    # -- shared ----------------------------------------------------------------------------------

    def _condition(self, obj, type_, status, reason, message):
        current = next((c for c in _conditions(obj) if c.get("type") == type_), None)
        since = current["lastTransitionTime"] if current and current.get("status") == status else timestamp()
        return {"type": type_, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": since, "observedGeneration": obj["metadata"].get("generation", 1)}

    def _set_status(self, kind, obj, status, manager):
        merged = dict(obj.get("status") or {}, **status)
        if obj.get("status") != merged:
            meta = obj["metadata"]
            obj["status"] = merged
            self.api.replace(kind, meta.get("namespace"), meta["name"], obj, manager, subresource="status",
                             check_version=False)

    def _ready(self, kind, obj, status, reason, message, manager, extra=None):
        conditions = [self._condition(obj, "Ready", status, reason, message)]
        self._set_status(kind, obj, dict(extra or {}, conditions=conditions,
                                         observedGeneration=obj["metadata"].get("generation", 1)), manager)

    def _warn_once(self, obj, reason, message, component):
        key = (obj["metadata"]["uid"], reason, message)
        if key not in self.first_seen:
            self.first_seen[key] = time.time()
            self.recorder.record(obj, "Warning", reason, message, component)

    def _upsert(self, kind, namespace, body, manager):
        live = self.api.store.get(kind, namespace, body["metadata"]["name"])
        if live is None:
            return self.api.create(kind, namespace, body, manager)
        merged = dict(live, **{k: v for k, v in body.items() if k != "metadata"})
        meta = dict(live["metadata"])
        for key in ("labels", "annotations"):
            if key in body["metadata"]:
                meta[key] = dict(meta.get(key) or {}, **body["metadata"][key])
        merged["metadata"] = meta
        return self.api.replace(kind, namespace, meta["name"], merged, manager, check_version=False)

    # -- Flux ------------------------------------------------------------------------------------

    def _helm_chart(self, chart_obj):
        """source-controller: fetch the chart at `spec.version` from its HelmRepository into an artifact."""
        meta, spec = chart_obj["metadata"], chart_obj.get("spec") or {}
        generation = meta.get("generation", 1)
        status = chart_obj.get("status") or {}
        if status.get("observedGeneration") == generation and _conditions(chart_obj) \
                and _conditions(chart_obj)[0].get("status") != "Unknown":
            return
        if self._since(chart_obj) < FETCH:
            return self._ready(HELM_CHART, chart_obj, "Unknown", "Progressing", "reconciliation in progress",
                               "source-controller")
        chart, version = spec.get("chart", ""), spec.get("version", "*")
        source = spec.get("sourceRef") or {}
        repo = self.api.store.get(HELM_REPOSITORY, meta["namespace"], source.get("name", ""))
        if repo is None:
            return self._chart_failed(chart_obj, "SourceUnavailable",
                                      f"failed to get source: HelmRepository.source.toolkit.fluxcd.io "
                                      f"\"{source.get('name')}\" not found")
        if not is_ready(repo):
            self._ready(HELM_REPOSITORY, repo, "True", "Succeeded",
                        "Helm repository is Ready" if (repo.get("spec") or {}).get("type") == "oci"
                        else f"stored artifact: revision 'sha256:{abs(hash(repo['spec'].get('url'))):x}'",
                        "source-controller")
        url = ((repo.get("spec") or {}).get("url") or "").rstrip("/")
        versions, contents = CHARTS.get((url, chart), (set(), None))
        if contents is None:
            return self._chart_failed(chart_obj, "InvalidChartReference",
                                      f"invalid chart reference: failed to get chart version for remote "
                                      f"reference: chart \"{chart}\" not found in {url} repository")
        if version not in versions:
            return self._chart_failed(chart_obj, "InvalidChartReference",
                                      f"invalid chart reference: failed to get chart version for remote "
                                      f"reference: no '{chart}' chart with version matching '{version}' found")
        digest = chart_digest(url, chart, version)
        path = f"helmchart/{meta['namespace']}/{meta['name']}/{chart}-{version}.tgz"
        artifact = {"digest": digest, "revision": version, "path": path, "size": 1024,
                    "url": f"http://source-controller.flux-system.svc.cluster.local./{path}",
                    "lastUpdateTime": timestamp()}
        self._ready(HELM_CHART, chart_obj, "True", "ChartPullSucceeded",
                    f"pulled '{chart}' chart with version '{version}'", "source-controller",
                    {"artifact": artifact, "observedChartName": chart, "url": artifact["url"],
                     "observedSourceArtifactRevision": (repo.get("status") or {}).get("artifact", {}).get("revision",
                                                                                                         "")})

    def _chart_failed(self, chart_obj, reason, message):
        self._ready(HELM_CHART, chart_obj, "False", reason, message, "source-controller")
        self._warn_once(chart_obj, reason, message, "source-controller")

    def _release_chart(self, release):
        """The HelmChart a release installs: `spec.chartRef` (kind HelmChart), or the one helm-controller makes
        for `spec.chart` (`<source namespace>-<release name>`). (HelmChart object, error message or None)."""
        meta, spec = release["metadata"], release.get("spec") or {}
        ref = spec.get("chartRef")
        if ref is not None:
            ns = ref.get("namespace") or meta["namespace"]
            if ref.get("kind") != "HelmChart":
                return None, f"chartRef kind {ref.get('kind')} is not simulated"
            chart_obj = self.api.store.get(HELM_CHART, ns, ref.get("name", ""))
            if chart_obj is None:
                return None, (f"could not get HelmChart object: helmcharts.source.toolkit.fluxcd.io "
                              f"\"{ref.get('name')}\" not found")
            return chart_obj, None
        chart_spec = ((spec.get("chart") or {}).get("spec")) or {}
        source = chart_spec.get("sourceRef") or {}
        source_ns = source.get("namespace") or meta["namespace"]
        name = f"{source_ns}-{meta['name']}"
        self._upsert(HELM_CHART, source_ns,
                     {"apiVersion": HELM_CHART.api_version, "kind": "HelmChart",
                      "metadata": {"name": name, "namespace": source_ns},
                      "spec": {"chart": chart_spec.get("chart", ""), "version": chart_spec.get("version", "*"),
                               "interval": spec.get("interval", "10m"),
                               "sourceRef": {"kind": "HelmRepository", "name": source.get("name")}}},
                     "helm-controller")
        chart_obj = self.api.store.get(HELM_CHART, source_ns, name)
        if chart_obj is not None and _conditions(chart_obj) == []:
            self._helm_chart(chart_obj)
        return self.api.store.get(HELM_CHART, source_ns, name), None

    def _helm_release(self, release):
        meta, spec = release["metadata"], release.get("spec") or {}
        target_ns = spec.get("targetNamespace") or meta["namespace"]
        generation = meta.get("generation", 1)
        status = release.get("status") or {}
        if status.get("observedGeneration") == generation and is_ready(release):
            return
        if self._since(release) < FETCH:
            self._ready(HELM_RELEASE, release, "Unknown", "Progressing", "Reconciliation in progress",
                        "helm-controller")
            return
        chart_obj, error = self._release_chart(release)
        if error is not None:
            return self._release_failed(release, "ArtifactFailed", error)
        chart_meta = chart_obj["metadata"]
        chart_ready = next((c for c in _conditions(chart_obj) if c.get("type") == "Ready"), None)
        if chart_ready is None or chart_ready.get("status") == "Unknown":
            return
        if chart_ready.get("status") != "True":
            return self._release_failed(release, "ArtifactFailed",
                                        f"HelmChart '{chart_meta['namespace']}/{chart_meta['name']}' is not ready: "
                                        f"{chart_ready.get('message', '')}")
        # The release installs the artifact the HelmChart holds, nothing else.
        artifact = (chart_obj.get("status") or {}).get("artifact") or {}
        chart, version = (chart_obj.get("spec") or {}).get("chart", ""), artifact.get("revision", "")
        repo = self.api.store.get(HELM_REPOSITORY, chart_meta["namespace"],
                                  ((chart_obj.get("spec") or {}).get("sourceRef") or {}).get("name", ""))
        url = (((repo or {}).get("spec") or {}).get("url") or "").rstrip("/")
        _, contents = CHARTS.get((url, chart), (set(), None))
        if contents is None:
            return
        history = status.get("history") or []
        upgrading = bool(history)
        installed_key = (meta["uid"], generation, "installed", artifact.get("digest"))
        if installed_key not in self.first_seen:
            if not self.api.store.namespace_exists(target_ns):
                if not (spec.get("install") or {}).get("createNamespace"):
                    return self._release_failed(release, "InstallFailed",
                                                f"Helm install failed for release {target_ns}/"
                                                f"{spec.get('releaseName') or meta['name']} with chart "
                                                f"{chart}@{version}: create: failed to create: namespaces "
                                                f"\"{target_ns}\" not found")
                self.api.create(NAMESPACE, None, {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": target_ns,
                                                               "labels": {"kubernetes.io/metadata.name": target_ns}}},
                                "helm-controller")
            self._install(release, contents, chart, version, target_ns)
            self.first_seen[installed_key] = time.time()
            self._ready(HELM_RELEASE, release, "Unknown", "Progressing",
                        "Running 'upgrade' action with timeout of 5m0s" if upgrading
                        else "Running 'install' action with timeout of 5m0s", "helm-controller",
                        {"lastAttemptedRevision": version, "lastAttemptedGeneration": generation,
                         "lastAttemptedRevisionDigest": artifact.get("digest", "")})
            return
        pending = [name for name, _, _ in contents["deployments"]
                   if not self._available(target_ns, name)]
        if pending:
            return
        release_name = spec.get("releaseName") or meta["name"]
        number = len(history) + 1
        action = "upgrade" if upgrading else "install"
        message = (f"Helm {action} succeeded for release {target_ns}/{release_name}.v{number} "
                   f"with chart {chart}@{version}")
        history = [{"chartName": chart, "chartVersion": version, "name": release_name, "namespace": target_ns,
                    "status": "deployed", "version": number, "digest": f"sha256:{abs(hash((chart, version))):x}",
                    "firstDeployed": timestamp(), "lastDeployed": timestamp(), "appVersion": version}] + history
        self._ready(HELM_RELEASE, release, "True", "UpgradeSucceeded" if upgrading else "InstallSucceeded",
                    message, "helm-controller",
                    {"history": history[:5], "lastAttemptedRevision": version,
                     "lastAttemptedRevisionDigest": artifact.get("digest", ""),
                     "lastAttemptedGeneration": generation, "lastAttemptedReleaseAction": action})
        self.recorder.record(release, "Normal", "UpgradeSucceeded" if upgrading else "InstallSucceeded", message,
                             "helm-controller")

    def _release_failed(self, release, reason, message):
        self._ready(HELM_RELEASE, release, "False", reason, message, "helm-controller")
        self._warn_once(release, reason, message, "helm-controller")

    def _available(self, namespace, name):
        d = self.api.store.get(DEPLOYMENT, namespace, name)
        if d is None:
            return False
        status = d.get("status") or {}
        return (status.get("observedGeneration") == d["metadata"].get("generation")
                and status.get("updatedReplicas", 0) == d["spec"].get("replicas", 1)
                and status.get("availableReplicas", 0) == d["spec"].get("replicas", 1))

    def _install(self, release, contents, chart, version, namespace):
        values = (release.get("spec") or {}).get("values") or {}
        crd_path, crd_default = contents["crd_values"]
        wanted = _get(values, crd_path)
        if wanted if wanted is not None else crd_default:
            for name in contents["crds"]:
                if self.api.store.peek(CRD, None, name) is None:
                    crd = crds.load(name)
                    if crd is not None:
                        crd.pop("status", None)
                        self.api.create(CRD, None, crd, "helm-controller")
        labels = {"app.kubernetes.io/instance": chart, "app.kubernetes.io/managed-by": "Helm",
                  "helm.sh/chart": f"{chart}-{version}"}
        sa = contents["service_account"]
        self._upsert(SERVICE_ACCOUNT, namespace,
                     {"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": sa, "namespace": namespace, "labels": labels,
                                   "annotations": dict(_get(values, ("serviceAccount", "annotations")) or {})}},
                     "helm-controller")
        pod_labels = dict(_get(values, ("podLabels",)) or {})
        tag = version if version.startswith("v") else f"v{version}"
        for name, image, main in contents["deployments"]:
            template_labels = dict({"app.kubernetes.io/name": name, "app.kubernetes.io/instance": chart},
                                   **(pod_labels if main else {}))
            body = {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": namespace, "labels": labels},
                    "spec": {"replicas": 1,
                             "selector": {"matchLabels": {"app.kubernetes.io/name": name,
                                                          "app.kubernetes.io/instance": chart}},
                             "template": {"metadata": {"labels": template_labels},
                                          "spec": {"serviceAccountName": sa,
                                                   "containers": [{"name": name, "image": self._image(image, main, tag)}]}}}}
            self._upsert(DEPLOYMENT, namespace, body, "helm-controller")

    def _image(self, image, main, tag):
        """The chart's image; a main controller's plays `crashes` under the `controller-crashes` fault."""
        if main and self._fault("controller-crashes"):
            image = image.rsplit("/", 1)[0] + "/crashes"
        return f"{image}:{tag}"

    # -- cert-manager ----------------------------------------------------------------------------

    def _cluster_issuer(self, issuer):
        acme = (issuer.get("spec") or {}).get("acme")
        generation = issuer["metadata"].get("generation", 1)
        if (issuer.get("status") or {}).get("observedGeneration") == generation and _conditions(issuer) \
                and _conditions(issuer)[0].get("status") != "Unknown":
            return
        if acme is None:
            return self._ready(CLUSTER_ISSUER, issuer, "True", "IsReady", "", "cert-manager-issuers")
        if self._since(issuer) < REGISTER:
            return
        if self._fault("acme-refused"):
            self._ready(CLUSTER_ISSUER, issuer, "False", "ErrRegisterACMEAccount", ACME_REFUSED,
                        "cert-manager-clusterissuers")
            self._warn_once(issuer, "ErrInitIssuer", f"Error initializing issuer: {ACME_REFUSED}",
                            "cert-manager-clusterissuers")
            return
        key = (acme.get("privateKeySecretRef") or {}).get("name")
        if key and self.api.store.namespace_exists("cert-manager") \
                and self.api.store.get(SECRET, "cert-manager", key) is None:
            self.api.create(SECRET, "cert-manager",
                            {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                             "metadata": {"name": key, "namespace": "cert-manager"},
                             "data": {"tls.key": base64.b64encode(b"fake account key").decode()}},
                            "cert-manager-clusterissuers")
        server = acme.get("server", "")
        account = server.replace("/directory", "") + f"/acme/acct/{abs(hash(issuer['metadata']['uid'])) % 10**9}"
        self._ready(CLUSTER_ISSUER, issuer, "True", "ACMEAccountRegistered",
                    "The ACME account was registered with the ACME server", "cert-manager-clusterissuers",
                    {"acme": {"uri": account, "lastRegisteredEmail": acme.get("email", ""),
                              "lastPrivateKeyHash": "fake"}})

    def _solver(self, issuer, names):
        """'dns01', 'http01' or None: which solver cert-manager would pick for these names."""
        solvers = ((issuer.get("spec") or {}).get("acme") or {}).get("solvers") or []
        wildcard = any(n.startswith("*.") for n in names)
        for solver in solvers:
            zones = ((solver.get("selector") or {}).get("dnsZones")) or []
            matches = not zones or all(any(n.lstrip("*.") == z or n.endswith("." + z) for z in zones) for n in names)
            if "dns01" in solver and matches and (zones or wildcard):
                return "dns01"
        for solver in solvers:
            if "http01" in solver and not wildcard:
                return "http01"
        return "dns01" if any("dns01" in s for s in solvers) else None

    def _certificate(self, cert):
        meta, spec = cert["metadata"], cert.get("spec") or {}
        generation = meta.get("generation", 1)
        if (cert.get("status") or {}).get("observedGeneration") == generation and is_ready(cert):
            return
        ref = spec.get("issuerRef") or {}
        issuer = None
        if ref.get("kind") == "ClusterIssuer":
            issuer = self.api.store.get(CLUSTER_ISSUER, None, ref.get("name", ""))
        names = list(spec.get("dnsNames") or [])
        solver = "http01"
        if issuer is not None:
            if not is_ready(issuer):
                return self._ready(CERTIFICATE, cert, "False", "DoesNotExist",
                                   "Issuing certificate as Secret does not exist", "cert-manager-certificates-readiness")
            solver = self._solver(issuer, names)
            if solver is None:
                message = (f"Failed to determine a valid solver configuration for the set of domains on the Order: "
                           f"no configured challenge solvers can be used for this challenge")
                self._ready(CERTIFICATE, cert, "False", "Failed", message, "cert-manager-certificates-readiness")
                self._warn_once(cert, "Failed", message, "cert-manager-orders")
                return
        elif self.api.store.bare:
            return self._ready(CERTIFICATE, cert, "False", "DoesNotExist",
                               f"Referenced \"{ref.get('kind')}\" not found: clusterissuer.cert-manager.io "
                               f"\"{ref.get('name')}\" not found", "cert-manager-certificates-readiness")
        elapsed = self._since(cert)
        if elapsed < (ISSUE_DNS01 if solver == "dns01" else ISSUE_HTTP01) * (1 if issuer is not None else 0.25):
            return self._ready(CERTIFICATE, cert, "False", "DoesNotExist",
                               "Issuing certificate as Secret does not exist", "cert-manager-certificates-readiness")
        if solver == "dns01" and self._fault("dns01-forbidden"):
            dns = (next((s["dns01"] for s in issuer["spec"]["acme"]["solvers"] if "dns01" in s), {})
                   .get("azureDNS") or {})
            zone = dns.get("hostedZoneName", names[0].lstrip("*.") if names else "")
            scope = (f"/subscriptions/{dns.get('subscriptionID')}/resourceGroups/{dns.get('resourceGroupName')}"
                     f"/providers/Microsoft.Network/dnszones/{zone}")
            message = (f"Error presenting challenge: GET https://management.azure.com{scope}/TXT/_acme-challenge\n"
                       f"RESPONSE 403: 403 Forbidden\nERROR CODE: AuthorizationFailed\n"
                       f"The client '{(dns.get('managedIdentity') or {}).get('clientID', '')}' does not have "
                       f"authorization to perform action 'Microsoft.Network/dnszones/TXT/read' over scope "
                       f"'{scope}/TXT/_acme-challenge' or the scope is invalid. (DNS Zone Contributor on the zone "
                       f"grants it)")
            self._ready(CERTIFICATE, cert, "False", "DoesNotExist", "Issuing certificate as Secret does not exist",
                        "cert-manager-certificates-readiness")
            self._warn_once(cert, "PresentError", message, "cert-manager-challenges")
            return
        revision = (cert.get("status") or {}).get("revision", 0) + 1
        pem = "-----BEGIN CERTIFICATE-----\n" + base64.b64encode(
            f"fake certificate for {','.join(names)} revision {revision}".encode()).decode() + \
            "\n-----END CERTIFICATE-----\n"
        self._upsert(SECRET, meta["namespace"],
                     {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                      "metadata": {"name": spec.get("secretName", meta["name"]), "namespace": meta["namespace"],
                                   "annotations": {"cert-manager.io/certificate-name": meta["name"],
                                                   "cert-manager.io/alt-names": ",".join(names),
                                                   "cert-manager.io/issuer-name": ref.get("name", ""),
                                                   "cert-manager.io/issuer-kind": ref.get("kind", "")}},
                      "data": {"tls.crt": base64.b64encode(pem.encode()).decode(),
                               "tls.key": base64.b64encode(b"fake key").decode()}},
                     "cert-manager-certificates-issuing")
        self._ready(CERTIFICATE, cert, "True", "Ready", "Certificate is up to date and has not expired",
                    "cert-manager-certificates-readiness",
                    {"revision": revision, "notAfter": timestamp(time.time() + 90 * 86400),
                     "notBefore": timestamp(), "renewalTime": timestamp(time.time() + 60 * 86400)})

    # -- External Secrets ------------------------------------------------------------------------

    def _secret_store(self, store):
        meta, provider = store["metadata"], ((store.get("spec") or {}).get("provider")) or {}
        generation = meta.get("generation", 1)
        if (store.get("status") or {}).get("observedGeneration") == generation and is_ready(store):
            return
        if self._since(store) < VALIDATE:
            return
        if "azurekv" in provider:
            kv = provider["azurekv"]
            sa = kv.get("serviceAccountRef") or {}
            if sa and self.api.store.get(SERVICE_ACCOUNT, sa.get("namespace"), sa.get("name", "")) is None:
                message = (f"unable to validate store: unable to create token: serviceaccounts "
                           f"\"{sa.get('name')}\" not found")
                self._ready(CLUSTER_SECRET_STORE, store, "False", "ValidationFailed", message, "external-secrets")
                return self._warn_once(store, "ValidationFailed", message, "external-secrets")
            if self._fault("keyvault-forbidden"):
                message = ("unable to validate store: GET " + kv.get("vaultUrl", "").rstrip("/") +
                           "/secrets\nRESPONSE 403: 403 Forbidden\nERROR CODE: Forbidden\n"
                           "Caller is not authorized to perform action on resource. If role assignments, deny "
                           "assignments or role definitions were changed recently, please observe propagation "
                           "time. Action: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action' "
                           "(Key Vault Secrets User grants it) InnerError={\"code\":\"ForbiddenByRbac\"}")
                self._ready(CLUSTER_SECRET_STORE, store, "False", "ValidationFailed", message, "external-secrets")
                return self._warn_once(store, "ValidationFailed", message, "external-secrets")
        self._ready(CLUSTER_SECRET_STORE, store, "True", "Valid", "store validated", "external-secrets",
                    {"capabilities": "ReadOnly" if "azurekv" in provider else "ReadWrite"})

    def _external_secret(self, external):
        meta, spec = external["metadata"], external.get("spec") or {}
        if self._since(external, "sync") < SYNC:
            return
        ref = spec.get("secretStoreRef") or {}
        store = None
        if ref.get("kind", "SecretStore") == "ClusterSecretStore":
            store = self.api.store.get(CLUSTER_SECRET_STORE, None, ref.get("name", ""))
        if store is None and self.api.store.bare:
            return self._es_failed(external, f"could not get ClusterSecretStore \"{ref.get('name')}\", "
                                             f"ClusterSecretStore.external-secrets.io \"{ref.get('name')}\" not found")
        if store is not None and not self._store_admits(store, meta["namespace"]):
            return self._es_failed(external, f"using cluster store \"{ref.get('name')}\" is not allowed from "
                                             f"namespace \"{meta['namespace']}\": denied by spec.condition")
        if store is not None and not is_ready(store):
            return self._es_failed(external, f"could not get provider client: ClusterSecretStore "
                                             f"\"{ref.get('name')}\" is not ready")
        provider = ((store or {}).get("spec") or {}).get("provider") or {}
        try:
            data = self._read(provider, spec)
        except LookupError as exc:
            return self._es_failed(external, f"error processing spec.data, err: {exc}")
        target = spec.get("target") or {}
        name = target.get("name") or meta["name"]
        secret_type = ((target.get("template") or {}).get("type")) or "Opaque"
        body = {"apiVersion": "v1", "kind": "Secret", "type": secret_type,
                "metadata": {"name": name, "namespace": meta["namespace"],
                             "labels": {"reconcile.external-secrets.io/managed": "true"},
                             "ownerReferences": [{"apiVersion": external["apiVersion"], "kind": "ExternalSecret",
                                                  "name": meta["name"], "uid": meta["uid"], "controller": True}]},
                "data": data}
        live = self.api.store.get(SECRET, meta["namespace"], name)
        if live is None:
            self.api.create(SECRET, meta["namespace"], body, "external-secrets")
        elif live.get("data") != data or live.get("type") != secret_type:
            if live.get("type") != secret_type:
                self.api.delete(SECRET, meta["namespace"], name)
                self.api.create(SECRET, meta["namespace"], body, "external-secrets")
            else:
                live["data"] = data
                self.api.replace(SECRET, meta["namespace"], name, live, "external-secrets", check_version=False)
        ready = self._condition(external, "Ready", "True", "SecretSynced", "secret synced")
        status = {"binding": {"name": name}, "conditions": [ready],
                  "syncedResourceVersion": f"{meta.get('generation', 1)}-fake"}
        if (external.get("status") or {}).get("conditions") != [ready] or \
                (external.get("status") or {}).get("binding") != status["binding"]:
            status["refreshTime"] = timestamp()
        self._set_status(EXTERNAL_SECRET, external, status, "external-secrets")

    def _store_admits(self, store, namespace):
        """ESO's ClusterSecretStore `spec.conditions`: none admits every namespace; else any condition whose
        namespaceSelector matches the namespace's labels, or that names it, or whose regex matches it."""
        conditions = (store.get("spec") or {}).get("conditions")
        if not conditions:
            return True
        ns = self.api.store.get(NAMESPACE, None, namespace) or {}
        labels = (ns.get("metadata") or {}).get("labels") or {}
        for condition in conditions:
            selector = condition.get("namespaceSelector")
            if selector is not None and _selects(selector, labels):
                return True
            if namespace in (condition.get("namespaces") or []):
                return True
            if any(re.search(r, namespace) for r in condition.get("namespaceRegexes") or []):
                return True
        return False

    def _es_failed(self, external, message):
        self._set_status(EXTERNAL_SECRET, external,
                         {"conditions": [self._condition(external, "Ready", "False", "SecretSyncedError", message)]},
                         "external-secrets")
        self._warn_once(external, "UpdateFailed", message, "external-secrets")

    def _read(self, provider, spec):
        """The target Secret's data (base64) read from the store's provider."""
        out = {}
        if "kubernetes" in provider:
            remote_ns = provider["kubernetes"].get("remoteNamespace") or "default"

            def source(key):
                secret = self.api.store.get(SECRET, remote_ns, key)
                if secret is None:
                    raise LookupError(f"Secret \"{key}\" not found")
                return secret.get("data") or {}

            for item in spec.get("dataFrom") or []:
                extract = item.get("extract") or {}
                if extract.get("key"):
                    out.update(source(extract["key"]))
            for item in spec.get("data") or []:
                remote = item.get("remoteRef") or {}
                values = source(remote.get("key", ""))
                if remote.get("property"):
                    if remote["property"] not in values:
                        raise LookupError(f"property {remote['property']} does not exist in key {remote.get('key')}")
                    out[item["secretKey"]] = values[remote["property"]]
            return out
        for item in spec.get("data") or []:
            key = ((item.get("remoteRef") or {}).get("key") or "").removeprefix("secret/")
            value = KEY_VAULT.get(key, f"fake-{item.get('secretKey', key)}")
            out[item["secretKey"]] = base64.b64encode(value.encode()).decode()
        return out
