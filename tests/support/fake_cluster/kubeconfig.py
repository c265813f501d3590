"""The kubeconfig that points kubectl and kube-rs at the fake cluster."""

import yaml

CLUSTER = "fake-aks"
USER = "fake-user"
TOKEN = "fake-token"


def write(path, server_url, certificate_authority=None):
    cluster = {"server": server_url}
    if certificate_authority:
        cluster["certificate-authority"] = certificate_authority
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CLUSTER, "cluster": cluster}],
        "users": [{"name": USER, "user": {"token": TOKEN}}],
        "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": USER, "namespace": "default"}}],
        "current-context": CLUSTER,
    }
    with open(path, "w") as out:
        yaml.safe_dump(config, out, sort_keys=False)
