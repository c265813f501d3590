"""The HTTP front: routing, verbs, LIST pagination, WATCH streaming, logs and the /_fake control API.

Control endpoints (not Kubernetes API):
  GET  /_fake/state     every stored object, tokens seen, recent requests, request counts by verb
  POST /_fake/reset     back to a fresh cluster (faults cleared)
  GET|POST|DELETE /_fake/faults   see `faults.py` for the JSON shape
  POST /_fake/compact   forget watch history: older resourceVersions get 410 Gone
"""

import base64
import collections
import itertools
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import admission, errors, kinds, tables
from .api import Api
from .controller import ControllerLoop
from .faults import Faults
from .kubelet import pod_logs
from .selection import field_matcher, label_matcher
from .store import Store

BOOKMARK_EVERY = 1.0
DEFAULT_WATCH_SECONDS = 1800
log = logging.getLogger("fake_cluster.http")


def _protobuf_string(field, text):
    data = text.encode()
    return bytes([field << 3 | 2, len(data)]) + data


# openapi_v2.Document{swagger: "2.0", info: {title: "Kubernetes", version: ...}}
_OPENAPI_PROTOBUF = _protobuf_string(1, "2.0") + bytes([2 << 3 | 2]) + bytes(
    [len(_protobuf_string(1, "Kubernetes") + _protobuf_string(2, kinds.VERSION_INFO["gitVersion"]))]
) + _protobuf_string(1, "Kubernetes") + _protobuf_string(2, kinds.VERSION_INFO["gitVersion"])


class Cluster:
    """Everything one fake cluster holds; shared by all request handler threads."""

    def __init__(self, scale, bare=False):
        self.store = Store(bare=bare)
        self.api = Api(self.store)
        self.faults = Faults()
        self.controllers = ControllerLoop(self.api, scale, self.faults)
        self.tokens = collections.Counter()
        self.requests = collections.deque(maxlen=500)
        self.started_lock = threading.Lock()
        # Every Kubernetes API request by (method, watch?) since the last reset (the bench counts them).
        self.request_counts = collections.Counter()
        # Numbers requests in the order they arrive (a record is written when the request
        # ends, so a watch from an earlier process can be recorded after a later request
        # began): a test counts "requests since" by this number, not by position.
        self.started = itertools.count()
        self.next_started = 0
        self.server_address = ""

    def start_request(self):
        with self.started_lock:
            self.next_started = next(self.started) + 1
            return self.next_started - 1

    def reset(self):
        self.faults.clear()
        self.store.reset()
        self.controllers.reset()
        self.tokens.clear()
        self.requests.clear()
        self.request_counts.clear()

    def served(self):
        """The kinds served right now (CRDs installed, group/versions not switched off)."""
        return kinds.Served(self.store, self.faults.unserved_versions())

    def state(self):
        dump = self.store.dump()
        dump["tokens"] = dict(self.tokens)
        dump["requests"] = list(self.requests)
        dump["requestCounts"] = dict(self.request_counts)
        dump["nextRequest"] = self.next_started
        dump["faults"] = self.faults.describe()
        return dump


class Route:
    """A parsed Kubernetes API path."""

    def __init__(self, kind, namespace, name, subresource):
        self.kind, self.namespace, self.name, self.subresource = kind, namespace, name, subresource


class NotServed(Exception):
    """A path no API group serves: the real server's mux answers a plain-text 404, no Status."""


def parse_resource_path(parts, served=None):
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    kind = kinds.find(group, version, rest[0], served)
    if kind is None:
        raise NotServed()
    if len(rest) > 3:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    if namespace is not None and not kind.namespaced:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in kind.subresources:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    return Route(kind, namespace, name, subresource)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: Cluster = None

    def log_message(self, fmt, *args):
        log.debug(fmt, *args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # -- plumbing --------------------------------------------------------------------------------

    def _handle(self, method):
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.status_sent = None
        path = url.path.rstrip("/") or "/"
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip() or "anonymous"
        started = None if path.startswith("/_fake/") else self.cluster.start_request()
        try:
            if path.startswith("/_fake/"):
                self._control(method, path)
                return
            self.cluster.tokens[token] += 1
            is_watch = self.query.get("watch") in ("1", "true")
            fault = self.cluster.faults.error_for(method, path, is_watch)
            if fault is not None:
                raise fault
            self._serve(method, path, is_watch)
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.status(), exc.headers)
        except NotServed:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bug in the fake answers 500, as a broken apiserver would
            log.exception("internal error serving %s %s", method, self.path)
            self._send_json(500, errors.ApiError(500, "InternalError", f"fake cluster bug: {exc!r}").status())
        finally:
            if not path.startswith("/_fake/"):
                watching = self.query.get("watch") in ("1", "true")
                self.cluster.request_counts[f"{method} watch" if watching else method] += 1
                self.cluster.requests.append({"method": method, "path": path, "query": self.query,
                                              "token": token, "userAgent": self.headers.get("User-Agent", ""),
                                              "status": self.status_sent, "started": started})

    def _send_json(self, code, body, headers=None):
        self._send(code, json.dumps(body).encode(), "application/json", headers)

    def _send(self, code, data, content_type, headers=None):
        self.status_sent = code
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _json_body(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise errors.bad_request(f"error decoding request body: {exc}")

    def _manager(self):
        agent = self.headers.get("User-Agent") or "unknown"
        return self.query.get("fieldManager") or agent.split("/", 1)[0]

    # -- control API -----------------------------------------------------------------------------

    def _control(self, method, path):
        cluster = self.cluster
        if path == "/_fake/state" and method == "GET":
            self._send_json(200, cluster.state())
        elif path == "/_fake/reset" and method == "POST":
            cluster.reset()
            self._send_json(200, {"reset": True})
        elif path == "/_fake/compact" and method == "POST":
            cluster.store.compact()
            self._send_json(200, {"compactedThrough": cluster.store.compacted_through})
        elif path == "/_fake/faults":
            if method == "POST":
                try:
                    cluster.faults.add(self._json_body())
                except (ValueError, TypeError, KeyError) as exc:
                    raise errors.bad_request(f"bad fault spec: {exc}")
            elif method == "DELETE":
                cluster.faults.clear()
            self._send_json(200, cluster.faults.describe())
        else:
            raise errors.ApiError(404, "NotFound", f"no control endpoint {method} {path}")

    # -- Kubernetes API --------------------------------------------------------------------------

    def _serve(self, method, path, is_watch):
        if method == "GET" and self._discovery(path):
            return
        parts = path.strip("/").split("/")
        route = parse_resource_path(parts, self.cluster.served()) if parts[0] in ("api", "apis") else None
        if route is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        verb = self._verb(method, route, is_watch)
        kind = route.kind
        # RBAC sees a namespace's own name as its namespace (as the API server's request info
        # does), so a RoleBinding in `web` decides who may read namespace `web`.
        scope = route.name if kind.kind == "Namespace" and route.name else route.namespace
        if not self.cluster.faults.rbac.allows(verb, kind.group, kind.plural, scope, route.subresource):
            raise admission.forbidden(verb, kind.group, kind.plural, route.name or "", scope)
        stall = self.cluster.faults.stall_for(method, path)
        if stall is not None:
            self._stall(stall)
            return
        getattr(self, "_" + verb)(route)

    def _stall(self, seconds):
        """Accept the request and never answer (a kubelet that takes the connection and hangs)."""
        self.close_connection = True
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.2)

    def _verb(self, method, route, is_watch):
        if method == "GET":
            if route.name:
                return "get"
            return "watch" if is_watch else "list"
        verbs = {"POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete" if route.name else "deletecollection"}
        verb = verbs[method]
        if (verb == "create") == bool(route.name):
            raise errors.ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")
        return verb

    def _discovery(self, path):
        doc = None
        parts = path.strip("/").split("/")
        if path in ("/healthz", "/readyz", "/livez"):
            self._send(200, b"ok", "text/plain")
            return True
        if path == "/openapi/v2":
            self._openapi()
            return True
        if path == "/version":
            doc = kinds.VERSION_INFO
        elif path == "/api":
            doc = kinds.core_versions(self.cluster.server_address)
        elif path == "/apis":
            doc = kinds.group_list(self.cluster.served())
        elif parts[0] == "api" and len(parts) == 2:
            doc = kinds.resource_list("", parts[1], self.cluster.served())
        elif parts[0] == "apis" and len(parts) == 2:
            doc = kinds.api_group(parts[1], self.cluster.served())
        elif parts[0] == "apis" and len(parts) == 3:
            doc = kinds.resource_list(parts[1], parts[2], self.cluster.served())
        else:
            return False
        if doc is None:
            raise NotServed()
        self._send_json(200, doc)
        return True

    def _openapi(self):
        """An OpenAPI v2 document without definitions.

        kubectl 1.20 validates manifests against /openapi/v2 and refuses to apply when it
        is missing (404 there and on the legacy swagger path); with no definitions it skips
        validation of every kind, which is what we want from a fake.
        """
        if "protobuf" in (self.headers.get("Accept") or ""):
            self._send(200, _OPENAPI_PROTOBUF, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        else:
            self._send_json(200, {"swagger": "2.0", "info": {"title": "Kubernetes", "version": kinds.VERSION_INFO["gitVersion"]},
                                  "paths": {}, "definitions": {}})

    def _dry_run(self):
        return self.query.get("dryRun") == "All"

    def _get(self, route):
        if route.subresource == "log":
            self._logs(route)
            return
        if route.subresource == "scale":
            self._send_json(200, self.cluster.api.scale(route.kind, route.namespace, route.name))
            return
        obj = self.cluster.store.require(route.kind, route.namespace, route.name)
        if tables.wants_table(self.headers.get("Accept")):
            self._send_json(200, tables.table(route.kind.kind, [obj], obj["metadata"]["resourceVersion"],
                                              self.query.get("includeObject", "Metadata")))
        else:
            self._send_json(200, obj)

    def _logs(self, route):
        pod = self.cluster.store.require(route.kind, route.namespace, route.name)
        tail = self.query.get("tailLines")
        text = pod_logs(self.cluster.controllers.kubelet, pod, self.query.get("container"),
                        self.query.get("previous") in ("true", "1"), int(tail) if tail else None)
        self._send(200, text.encode(), "text/plain")

    def _matching(self, route):
        labels = label_matcher(self.query.get("labelSelector"))
        fields = field_matcher(self.query.get("fieldSelector"))
        return lambda obj: labels(obj["metadata"].get("labels")) and fields(obj)

    def _list(self, route):
        matches = self._matching(route)
        items, resource_version = self.cluster.store.list(route.kind, route.namespace)
        items = [o for o in items if matches(o)]
        start = 0
        if self.query.get("continue"):
            try:
                start = json.loads(base64.b64decode(self.query["continue"]))["start"]
            except (ValueError, KeyError):
                raise errors.bad_request("invalid continue token")
        limit = int(self.query.get("limit") or 0)
        page = items[start:start + limit] if limit else items[start:]
        metadata = {"resourceVersion": str(resource_version)}
        cont = None
        if limit and start + limit < len(items):
            cont = base64.b64encode(json.dumps({"start": start + limit}).encode()).decode()
            metadata["continue"] = cont
            metadata["remainingItemCount"] = len(items) - start - limit
        if tables.wants_table(self.headers.get("Accept")):
            self._send_json(200, tables.table(route.kind.kind, page, resource_version,
                                              self.query.get("includeObject", "Metadata"), cont))
            return
        self._send_json(200, {"kind": route.kind.kind + "List", "apiVersion": route.kind.api_version,
                              "metadata": metadata, "items": page})

    def _create(self, route):
        body = self._json_body()
        if route.kind.kind == "SelfSubjectAccessReview":
            self._send_json(201, admission.review(self.cluster.faults.rbac, body))
            return
        obj = self.cluster.api.create(route.kind, route.namespace, body, self._manager(), self._dry_run())
        self._send_json(201, obj)

    def _update(self, route):
        obj = self.cluster.api.replace(route.kind, route.namespace, route.name, self._json_body(), self._manager(),
                                       route.subresource, self._dry_run())
        self._send_json(200, obj)

    def _patch(self, route):
        content_type = self.headers.get("Content-Type", "")
        force = self.query.get("force") in ("true", "1")
        manager = self.query.get("fieldManager") if "apply-patch" in content_type else self._manager()
        obj, created = self._patch_or_apply(route, content_type, manager, force)
        self._send_json(201 if created else 200, obj)

    def _patch_or_apply(self, route, content_type, manager, force):
        store = self.cluster.store
        with store.lock:
            existed = store.get(route.kind, route.namespace, route.name) is not None
            obj = self.cluster.api.patch(route.kind, route.namespace, route.name, self.body, content_type,
                                         manager, route.subresource, self._dry_run(), force)
        return obj, not existed

    def _delete(self, route):
        options = self._json_body() if self.body else {}
        propagation = self.query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
        dry_run = self._dry_run() or options.get("dryRun") == ["All"]
        obj = self.cluster.api.delete(route.kind, route.namespace, route.name, propagation, dry_run)
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": {"name": route.name, "group": route.kind.group, "kind": route.kind.plural,
                                          "uid": obj["metadata"]["uid"]}})

    def _deletecollection(self, route):
        matches = self._matching(route)
        items, _ = self.cluster.store.list(route.kind, route.namespace)
        for obj in items:
            if matches(obj):
                self.cluster.api.delete(route.kind, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    # -- watch -----------------------------------------------------------------------------------

    def _watch(self, route):
        WatchStream(self, route).run()


class WatchStream:
    """One WATCH response: replay or initial events, then live changes, as chunked JSON lines."""

    def __init__(self, handler, route):
        self.handler = handler
        self.route = route
        self.store = handler.cluster.store
        query = handler.query
        self.matches = handler._matching(route)
        self.bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        self.as_table = tables.wants_table(handler.headers.get("Accept"))
        self.include_object = query.get("includeObject", "Metadata")
        timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        self.deadline = time.monotonic() + timeout
        self.drop = handler.cluster.faults.watch_drop(urlsplit(handler.path).path)
        self.sent = 0

    def _in_scope(self, obj):
        return not self.route.namespace or obj["metadata"].get("namespace") == self.route.namespace

    def _write(self, event_type, obj):
        if self.as_table and event_type in ("ADDED", "MODIFIED", "DELETED"):
            obj = tables.table(self.route.kind.kind, [obj], obj["metadata"]["resourceVersion"], self.include_object)
        elif self.as_table:
            return
        data = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
        self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.handler.wfile.flush()
        self.sent += 1

    def _bookmark(self, resource_version, annotations=None):
        meta = {"resourceVersion": str(resource_version)}
        if annotations:
            meta["annotations"] = annotations
        self._write("BOOKMARK", {"kind": self.route.kind.kind, "apiVersion": self.route.kind.api_version,
                                 "metadata": meta})

    def _should_drop(self, started):
        if not self.drop:
            return False
        if "afterEvents" in self.drop and self.sent >= int(self.drop["afterEvents"]):
            return True
        return "afterSeconds" in self.drop and time.monotonic() - started >= float(self.drop["afterSeconds"])

    def run(self):
        handler, query = self.handler, self.handler.query
        requested = query.get("resourceVersion", "")
        send_initial = query.get("sendInitialEvents") in ("true", "1")
        with self.store.lock:
            if requested in ("", "0") or send_initial:
                initial, last = self.store.list(self.route.kind, self.route.namespace)
                initial = [o for o in initial if self.matches(o)]
            else:
                initial, last = [], int(requested)
                try:
                    self.store.events_after(last, self.route.kind)
                except errors.ApiError as exc:
                    initial = exc
        handler.status_sent = 200
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Cache-Control", "no-cache, private")
        handler.end_headers()
        handler.close_connection = True
        if isinstance(initial, errors.ApiError):
            self._write("ERROR", initial.status())
            self._finish()
            return
        for obj in initial:
            self._write("ADDED", obj)
        if send_initial and self.bookmarks:
            self._bookmark(last, {"k8s.io/initial-events-end": "true"})
        self._follow(last)

    def _follow(self, last):
        started = time.monotonic()
        next_bookmark = time.monotonic() + BOOKMARK_EVERY
        while time.monotonic() < self.deadline:
            if self._should_drop(started):
                return  # no closing chunk: the client sees the connection cut
            try:
                pending = self._pending(last)
            except errors.ApiError as exc:
                self._write("ERROR", exc.status())
                break
            for resource_version, event_type, obj, previous in pending:
                last = resource_version
                translated = self._translate(event_type, obj, previous)
                if translated:
                    self._write(translated, obj)
                    if self._should_drop(started):
                        return
            if self.bookmarks and time.monotonic() >= next_bookmark:
                with self.store.lock:
                    if not self.store.events_after(last, self.route.kind):
                        last = self.store.resource_version
                self._bookmark(last)
                next_bookmark = time.monotonic() + BOOKMARK_EVERY
        self._finish()

    def _pending(self, last):
        """Changes after `last`, waiting briefly for some when there are none yet."""
        with self.store.lock:
            pending = self.store.events_after(last, self.route.kind)
            if not pending:
                self.store.changed.wait(min(0.5, max(0.0, self.deadline - time.monotonic())))
                pending = self.store.events_after(last, self.route.kind)
            return pending

    def _translate(self, event_type, obj, previous):
        """The event type this watcher sees, given its namespace and selectors (None: not at all)."""
        now_in = self._in_scope(obj) and self.matches(obj) and event_type != "DELETED"
        was_in = previous is not None and self._in_scope(previous) and self.matches(previous)
        if event_type == "DELETED":
            return "DELETED" if was_in else None
        if now_in and was_in:
            return "MODIFIED"
        if now_in:
            return "ADDED"
        if was_in:
            return "DELETED"
        return None

    def _finish(self):
        try:
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def serve(cluster, host, port, tls_context=None):
    handler = type("BoundHandler", (Handler,), {"cluster": cluster})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    cluster.server_address = f"{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return server
