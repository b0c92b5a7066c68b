"""Every error tiergate raises on purpose, and how each one reaches the caller.

::

    TiergateError                 base; carries an HTTP status and OpenAI error fields
    ├── ConfigError               the YAML file or the environment is wrong (at start)
    ├── StartupError              the ledger store or Redis cannot be reached (at start)
    ├── RequestError              the caller's request is wrong (4xx, never retried)
    │   ├── InvalidJSON           400 body is not JSON
    │   ├── InvalidRequest        400 body is JSON but not a valid chat request
    │   ├── BodyTooLarge          413 body over ``limits.max_body_bytes``
    │   ├── UnsupportedMediaType  415 not JSON, or a compressed body
    │   ├── AuthError             401 missing or unknown gateway key
    │   ├── Forbidden             403 the key may not use that tier or model
    │   ├── UnknownModel          404 ``model`` is no catalog model, tier or ``auto``
    │   └── Unroutable            400 no allowed model can serve the request
    └── UpstreamError             a provider failed; raised by ``upstream`` only
        ├── UpstreamConnectError  could not connect (retriable)
        ├── UpstreamTimeout       a deadline passed (retriable)
        ├── UpstreamStatus        the provider answered with an error status
        └── StreamInterrupted     the provider's stream ended before it was complete

``UpstreamError`` is translated from aiohttp's exceptions exactly once, at the upstream
boundary, with the cause chained. ``NoDeploymentAvailable`` (503) is what the caller
sees when every attempt failed; its message lists what was tried.
"""

from __future__ import annotations

from typing import Any

import orjson


class TiergateError(Exception):
    """Base class. ``status``, ``type`` and ``code`` fill OpenAI's error body."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.body())

    def headers(self) -> dict[str, str]:
        """Extra response headers for this error (``Retry-After`` and the like)."""
        return {}


class ConfigError(TiergateError):
    """The configuration is invalid; the message names the field path."""

    type = "config_error"


class StartupError(TiergateError):
    """Something the config names cannot be reached at start (the ledger store,
    Redis); the message says which and which field to check."""

    type = "startup_error"


class RequestError(TiergateError):
    status = 400
    type = "invalid_request_error"


class InvalidJSON(RequestError):
    code = "invalid_json"


class InvalidRequest(RequestError):
    code = "invalid_request"


class BodyTooLarge(RequestError):
    status = 413
    code = "request_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class AuthError(RequestError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(RequestError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class UnknownModel(RequestError):
    status = 404
    code = "model_not_found"


class Unroutable(RequestError):
    code = "unroutable"


class UpstreamError(TiergateError):
    """A provider failed. ``retriable`` says whether another attempt may help."""

    status = 502
    type = "upstream_error"
    retriable = True

    def __init__(self, message: str, *, deployment: str, code: str | None = None):
        super().__init__(message, code=code)
        self.deployment = deployment


class UpstreamConnectError(UpstreamError):
    code = "upstream_connect_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamStatus(UpstreamError):
    """The provider answered with ``upstream_status``; ``body`` is its raw answer."""

    RETRIABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})

    def __init__(
        self,
        message: str,
        *,
        deployment: str,
        upstream_status: int,
        body: bytes,
        retry_after_s: float | None = None,
    ):
        super().__init__(
            message, deployment=deployment, code=f"upstream_{upstream_status}"
        )
        self.upstream_status = upstream_status
        self.raw_body = body
        self.retry_after_s = retry_after_s
        self.retriable = upstream_status in self.RETRIABLE


class StreamInterrupted(UpstreamError):
    code = "stream_interrupted"


class NoDeploymentAvailable(TiergateError):
    """Every candidate deployment failed or was unavailable (503)."""

    status = 503
    type = "service_unavailable"
    code = "no_deployment_available"

    def __init__(
        self, message: str, *, tried: list[str], retry_after_s: float | None = None
    ):
        super().__init__(message)
        self.tried = tried
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["tried"] = self.tried
        return body

    def headers(self) -> dict[str, str]:
        if self.retry_after_s is None:
            return {}
        return {"retry-after": str(max(1, round(self.retry_after_s)))}
