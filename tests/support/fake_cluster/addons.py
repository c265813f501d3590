"""The cluster add-ons the deploy tool waits on: the ingress controller and cert-manager's ingress-shim.

cert-manager's ingress-shim is played too: an Ingress annotated with
`cert-manager.io/cluster-issuer` gets a Certificate per TLS entry, named after its
secretName, as the real one does.

An Ingress gets a load-balancer IP once it has existed for a moment. Certificates,
issuers, secret stores and ExternalSecrets are the operators' (`operators.py`).
"""

import base64
import time

from .kinds import CRD, by_kind
from .store import timestamp

INGRESS = by_kind("networking.k8s.io/v1", "Ingress")
CERTIFICATE = by_kind("cert-manager.io/v1", "Certificate")
SECRET = by_kind("v1", "Secret")
GATEWAY_IP = "20.50.60.70"
SETTLE = 0.5


class Addons:
    def __init__(self, api, recorder, scale):
        self.api = api
        self.recorder = recorder
        self.scale = scale
        self.first_seen = {}

    def _settled(self, obj):
        seen = self.first_seen.setdefault(obj["metadata"]["uid"], time.time())
        return time.time() - seen >= SETTLE * self.scale

    def sync(self):
        # Without its CRD, cert-manager is not installed: no ingress-shim either.
        cert_manager = self.api.store.peek(CRD, None, CERTIFICATE.key) is not None
        for ingress in self.api.store.list(INGRESS)[0]:
            if cert_manager:
                self._ingress_shim(ingress)
            if self._settled(ingress):
                self._set_status(INGRESS, ingress, {"loadBalancer": {"ingress": [{"ip": GATEWAY_IP}]}},
                                 "ingress-appgw")

    def _ingress_shim(self, ingress):
        meta = ingress["metadata"]
        issuer = (meta.get("annotations") or {}).get("cert-manager.io/cluster-issuer")
        if not issuer:
            return
        for tls in (ingress.get("spec") or {}).get("tls") or []:
            name = tls.get("secretName")
            if not name or self.api.store.get(CERTIFICATE, meta["namespace"], name) is not None:
                continue
            cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                    "metadata": {"name": name, "namespace": meta["namespace"],
                                 "ownerReferences": [{"apiVersion": ingress["apiVersion"], "kind": "Ingress",
                                                      "name": meta["name"], "uid": meta["uid"],
                                                      "controller": True, "blockOwnerDeletion": True}]},
                    "spec": {"secretName": name, "dnsNames": list(tls.get("hosts") or []),
                             "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
                             "usages": ["digital signature", "key encipherment"]}}
            self.api.create(CERTIFICATE, meta["namespace"], cert, "cert-manager-ingress-shim")

    def _keep_time(self, obj, wanted):
        current = next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == wanted["type"]), None)
        wanted["lastTransitionTime"] = current["lastTransitionTime"] if current else timestamp()
        return wanted

    def _set_status(self, kind, obj, status, manager):
        if obj.get("status") != status:
            obj["status"] = status
            meta = obj["metadata"]
            self.api.replace(kind, meta["namespace"], meta["name"], obj, manager, subresource="status",
                             check_version=False)
