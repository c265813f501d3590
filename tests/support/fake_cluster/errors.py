"""Kubernetes `Status` error objects.

Clients such as kubectl and kube-rs branch on `reason` and `code`, and print
`message`, so every failure the fake answers must be a real `Status` body.
"""


class ApiError(Exception):
    """An error answered to the client as a `Status` object."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(kind, group, name):
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(404, "NotFound", f'{qualified} "{name}" not found',
                    {"name": name, "group": group, "kind": kind})


def already_exists(kind, group, name):
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(409, "AlreadyExists", f'{qualified} "{name}" already exists',
                    {"name": name, "group": group, "kind": kind})


def conflict(kind, group, name, why):
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified} "{name}": {why}',
                    {"name": name, "group": group, "kind": kind})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(kind, group, name, field, message):
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {field}: {message}',
                    {"name": name, "group": group, "kind": kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]})


def gone(message):
    return ApiError(410, "Expired", message)
