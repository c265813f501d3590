"""Start the fake cluster: `python3 -m fake_cluster [options]` (see scripts/fake-cluster).

Prints the kubeconfig path as the first stdout line, then serves until SIGTERM/SIGINT.
"""

import argparse
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading

from . import kubeconfig
from .server import Cluster, serve


def parse_args(argv):
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="fake-cluster", description=__doc__)
    parser.add_argument("--port", type=int, default=int(env("FAKE_CLUSTER_PORT", "0")),
                        help="loopback port (default: a free one)")
    parser.add_argument("--kubeconfig", default=env("FAKE_CLUSTER_KUBECONFIG"),
                        help="where to write the kubeconfig (default: a new temp file)")
    parser.add_argument("--time-scale", type=float, default=float(env("FAKE_CLUSTER_TIME_SCALE", "1.0")),
                        help="multiply every scenario time (pull, readiness, back-off, progress deadline)")
    parser.add_argument("--tls", action="store_true", default=env("FAKE_CLUSTER_TLS") == "1",
                        help="serve HTTPS with a fresh self-signed certificate (needs openssl); kubectl only "
                             "sends the kubeconfig's bearer token over TLS")
    parser.add_argument("--state-dump", default=env("FAKE_CLUSTER_STATE_DUMP"),
                        help="write every stored object here (JSON) on exit")
    parser.add_argument("--fault", action="append", default=[], metavar="JSON",
                        help="a fault spec as POST /_fake/faults takes (repeatable)")
    parser.add_argument("--bare", action="store_true", default=env("FAKE_CLUSTER_BARE") == "1",
                        help="a cluster as the ARM deployment leaves it: the Flux extension's CRDs and "
                             "controllers, no cert-manager or External Secrets until their HelmReleases install them")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return parser.parse_args(argv)


def self_signed_certificate():
    """(cert path, key path) of a new certificate for 127.0.0.1, made with the openssl CLI."""
    directory = tempfile.mkdtemp(prefix="fake-cluster-tls-")
    cert, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7",
                    "-subj", "/CN=fake-cluster", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="fake-cluster %(name)s: %(message)s")
    cluster = Cluster(args.time_scale, args.bare)
    for spec in args.fault:
        cluster.faults.add(json.loads(spec))
    context, certificate = None, None
    if args.tls:
        certificate, key = self_signed_certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
    server = serve(cluster, "127.0.0.1", args.port, context)
    scheme = "https" if args.tls else "http"
    cluster.controllers.start()
    path = args.kubeconfig
    if not path:
        handle, path = tempfile.mkstemp(prefix="fake-cluster-", suffix=".kubeconfig")
        os.close(handle)
    kubeconfig.write(path, f"{scheme}://{cluster.server_address}", certificate)
    print(os.path.abspath(path), flush=True)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    cluster.controllers.stop()
    server.shutdown()
    if args.state_dump:
        with open(args.state_dump, "w") as out:
            json.dump(cluster.state(), out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
