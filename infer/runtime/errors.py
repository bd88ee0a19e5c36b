"""Errors that carry their HTTP status; the handler turns them into {"error": message}."""


class InferError(Exception):
    """A request the function cannot serve. `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, status: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(InferError):
    status = 400


class NotFound(InferError):
    status = 404


class MethodNotAllowed(InferError):
    status = 405

    def __init__(self, method: str, path: str, allowed: list[str]):
        super().__init__(
            f"method {method} is not allowed on {path}; use {' or '.join(allowed)}",
            headers={"allow": ", ".join(allowed)},
        )


class PayloadTooLarge(InferError):
    status = 413


class ModelUnavailable(InferError):
    """The model could not be loaded; the next request tries again."""

    status = 503
