"""Injected API faults: error answers, dropped watches, RBAC denials.

Set with `POST /_fake/faults` (JSON below) or the launcher's `--fault JSON`;
`GET /_fake/faults` shows what is left, `DELETE /_fake/faults` clears all.

    {"faults": [
       {"path": "/deployments", "method": "PATCH", "status": 429, "retryAfter": 2, "count": 3},
       {"path": "/apis/apps/v1/namespaces/web/deployments$", "status": 500, "count": 1, "watch": false},
       {"path": "/pods", "dropWatch": {"afterEvents": 2}, "count": 1},
       {"path": "/events", "dropWatch": {"afterSeconds": 1.5}}
     ],
     "deny": [{"verb": "create", "group": "apps", "resource": "deployments", "namespace": "web"}],
     "rbac": [{"role": "edit", "namespace": "other"}],
     "unserve": ["autoscaling/v2"],
     "operators": ["acme-refused", "dns01-forbidden", "keyvault-forbidden", "controller-crashes"]}

A fault with `"stall": SECONDS` (instead of `status`) accepts the matching request and
never answers within that time, as the API server does when it proxies to a kubelet
that takes the connection and hangs (`{"path": "/log$", "stall": 600, "count": -1}`).
A kubelet that cannot be reached at all is a `500` on `/log$` with the server's words
in `message`.

`path` is a regular expression searched in the request path; `method` and
`watch` (is it a watch request?) narrow the match. `count` (default 1) is how
many matching requests the fault applies to, `-1` for every one. `deny` rules
(fields default to "*") answer 403 Forbidden and make access reviews say no;
`rbac` bindings are described in `admission.py`. `unserve` switches built-in
group/versions off (an older cluster); CRD-backed kinds go away by deleting
their CustomResourceDefinition.

`operators` makes the simulated operators (`operators.py`) fail the way the real ones do
when Azure or Let's Encrypt says no: `acme-refused` (Let's Encrypt refuses the ACME
account), `dns01-forbidden` (cert-manager's identity lacks DNS Zone Contributor),
`keyvault-forbidden` (ESO's identity lacks Key Vault Secrets User), `controller-crashes`
(the charts' main controllers crash-loop: their images play `crashes`). A chart version the
fake chart repositories do not have fails by itself (see `operators.CHARTS`).
"""

OPERATOR_FAULTS = ("acme-refused", "dns01-forbidden", "keyvault-forbidden", "controller-crashes")

import re
import threading

from .admission import ROLES, Rbac
from .errors import ApiError

MESSAGES = {429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
            500: ("InternalError", "Internal error occurred: injected by the fake cluster"),
            503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
            504: ("Timeout", "the server was unable to return a response in the time allotted")}


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.deny = []
        self.bindings = None
        self.unserved = []
        self.operators = set()

    def add(self, spec):
        with self.lock:
            for fault in spec.get("faults", []):
                re.compile(fault.get("path", ""))
                if "status" not in fault and "dropWatch" not in fault and "stall" not in fault:
                    raise ValueError("a fault needs `status`, `stall` or `dropWatch`")
                self.rules.append(dict(fault, count=fault.get("count", 1)))
            self.deny.extend(spec.get("deny", []))
            if "rbac" in spec:
                for binding in spec["rbac"]:
                    if binding.get("role") not in ROLES:
                        raise ValueError(f"rbac role must be one of {ROLES}")
                self.bindings = list(spec["rbac"])
            self.unserved.extend(spec.get("unserve", []))
            for name in spec.get("operators", []):
                if name not in OPERATOR_FAULTS:
                    raise ValueError(f"operator faults are {OPERATOR_FAULTS}")
                self.operators.add(name)

    def clear(self):
        with self.lock:
            self.rules, self.deny, self.bindings, self.unserved = [], [], None, []
            self.operators = set()

    def describe(self):
        with self.lock:
            return {"faults": [dict(r) for r in self.rules], "deny": list(self.deny), "rbac": self.bindings,
                    "unserve": list(self.unserved), "operators": sorted(self.operators)}

    def operator(self, name):
        """Is the operator fault `name` set?"""
        with self.lock:
            return name in self.operators

    @property
    def rbac(self):
        with self.lock:
            return Rbac(list(self.deny), None if self.bindings is None else list(self.bindings))

    def unserved_versions(self):
        with self.lock:
            return list(self.unserved)

    def _take(self, method, path, is_watch, wants_drop, wants_stall=False):
        with self.lock:
            for rule in self.rules:
                if ("dropWatch" in rule) != wants_drop or ("stall" in rule) != wants_stall:
                    continue
                if rule.get("method", method).upper() != method or not re.search(rule.get("path", ""), path):
                    continue
                if "watch" in rule and bool(rule["watch"]) != is_watch:
                    continue
                if rule["count"] > 0:
                    rule["count"] -= 1
                    if rule["count"] == 0:
                        self.rules.remove(rule)
                return rule
        return None

    def error_for(self, method, path, is_watch):
        """The ApiError to answer instead of serving the request, if a fault matches."""
        rule = self._take(method, path, is_watch, wants_drop=False)
        if rule is None:
            return None
        code = int(rule["status"])
        reason, message = MESSAGES.get(code, ("InternalError", f"injected status {code}"))
        headers = {}
        details = None
        if code == 429:
            retry = int(rule.get("retryAfter", 1))
            headers["Retry-After"] = str(retry)
            details = {"retryAfterSeconds": retry}
        return ApiError(code, reason, rule.get("message", message), details, headers)

    def stall_for(self, method, path):
        """Seconds to hold a matching request unanswered, if a stall fault matches."""
        rule = self._take(method, path, False, wants_drop=False, wants_stall=True)
        return float(rule["stall"]) if rule else None

    def watch_drop(self, path):
        """{"afterEvents": N} or {"afterSeconds": T} for a watch on path, if one should be dropped."""
        rule = self._take("GET", path, True, wants_drop=True)
        return rule["dropWatch"] if rule else None
