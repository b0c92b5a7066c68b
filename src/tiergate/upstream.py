"""One pooled HTTP client per deployment, and the translation of its failures.

This is the only module that touches aiohttp's client. Everything it raises is one
of ``tiergate.errors``' upstream classes, with the aiohttp error chained as the
cause, so the layers above reason about "timeout", "connect error", "status 429"
and "stream cut", never about library exceptions.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import aiohttp
import yarl

from tiergate.config import Deployment, Provider, Timeouts, api_key_for
from tiergate.errors import (
    StreamInterrupted,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
)

logger = logging.getLogger(__name__)

MAX_ERROR_BODY = 64 * 1024
_NO_ROUNDING = float("inf")


@dataclass(slots=True)
class Deadline:
    """Absolute end of the caller's request (monotonic seconds) plus per-attempt
    limits. Attempts never outlive ``end``."""

    end: float
    connect_s: float
    first_byte_s: float
    idle_s: float

    def remaining(self) -> float:
        return self.end - time.monotonic()

    @classmethod
    def for_attempt(cls, end: float, timeouts: Timeouts) -> Deadline:
        """The request's end with one deployment's per-attempt limits."""
        return cls(end, timeouts.connect_s, timeouts.first_byte_s, timeouts.idle_s)


class Upstream:
    """A deployment: its identity, model name map and keep-alive connection pool."""

    def __init__(
        self,
        provider_name: str,
        provider: Provider,
        dep: Deployment,
        defaults: Timeouts | None = None,
    ):
        self.id = dep.id
        self.provider = provider_name
        self.region = dep.region
        self.models = dict(dep.models)
        self.weight = dep.weight
        self.simulated = provider.simulated
        self.timeouts: Timeouts = (
            dep.timeouts or provider.timeouts or defaults or Timeouts()
        )
        # Parsed once: aiohttp would otherwise parse the string on every request.
        self._url = yarl.URL(dep.base_url.rstrip("/") + "/chat/completions")
        key = api_key_for(provider, dep)
        self._headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
        }
        self._key = key.encode()
        self._max_connections = dep.max_connections
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        # Never show the key: the headers are left out on purpose.
        return f"Upstream({self.id!r}, {str(self._url)!r})"

    def redact(self, raw: bytes) -> bytes:
        """``raw`` with this deployment's API key removed: providers sometimes echo
        the Authorization header in their error messages."""
        if len(self._key) >= 8 and self._key in raw:
            return raw.replace(self._key, b"[redacted]")
        return raw

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            ttl_dns_cache=300,
            keepalive_timeout=30,
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=("User-Agent",),
            auto_decompress=False,
            # Providers set no cookies worth keeping; the jar costs time per request.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, body: bytes, deadline: Deadline) -> aiohttp.ClientResponse:
        """POST ``body`` and wait for a 2xx status line and headers.

        Raises ``UpstreamStatus`` for an error status (its body read, bounded),
        ``UpstreamTimeout`` when the first byte does not come in time and
        ``UpstreamConnectError`` when no connection can be made.
        """
        assert self._session is not None, "Upstream.start() was not awaited"
        remaining = deadline.remaining()
        if remaining <= 0:
            raise UpstreamTimeout(f"{self.id}: no time left", deployment=self.id)
        # aiohttp enforces these limits itself. sock_read bounds the wait for the
        # status line and then every later read, so it is the larger of the first-
        # byte and idle limits; a shorter first-byte limit gets a timer of its own
        # (the default config has both equal, so the common path has no extra timer).
        first_byte = min(deadline.first_byte_s, remaining)
        sock_read = max(first_byte, min(deadline.idle_s, remaining))
        timeout = aiohttp.ClientTimeout(
            total=remaining,
            sock_connect=min(deadline.connect_s, remaining),
            sock_read=sock_read,
            # aiohttp rounds timeouts over ceil_threshold up to whole seconds, which
            # would let a request outlive the caller's deadline by up to a second.
            ceil_threshold=_NO_ROUNDING,
        )
        try:
            if first_byte < sock_read:
                async with asyncio.timeout(first_byte):
                    response = await self._session.post(
                        self._url, data=body, timeout=timeout
                    )
            else:
                response = await self._session.post(
                    self._url, data=body, timeout=timeout
                )
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise UpstreamTimeout(
                f"{self.id}: no response within {first_byte:.2f}s",
                deployment=self.id,
            ) from error
        except aiohttp.ClientConnectorError as error:
            raise UpstreamConnectError(
                f"{self.id}: cannot connect ({error.os_error.strerror or error})",
                deployment=self.id,
            ) from error
        except aiohttp.ClientError as error:
            raise UpstreamConnectError(
                f"{self.id}: {type(error).__name__}: {error}", deployment=self.id
            ) from error

        if response.status >= 400:
            raise await self._status_error(response)
        return response

    async def _status_error(self, response: aiohttp.ClientResponse) -> UpstreamStatus:
        try:
            async with asyncio.timeout(2.0):
                raw = await response.content.read(MAX_ERROR_BODY)
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        finally:
            response.release()
        return UpstreamStatus(
            f"{self.id}: upstream answered {response.status}",
            deployment=self.id,
            upstream_status=response.status,
            body=self.redact(raw),
            retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
        )

    async def read_all(
        self, response: aiohttp.ClientResponse, deadline: Deadline
    ) -> bytes:
        """The whole body of a non-streaming answer, within the deadline (aiohttp's
        total and sock_read limits set in ``send`` still apply)."""
        try:
            return await response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise UpstreamTimeout(
                f"{self.id}: body not complete", deployment=self.id
            ) from error
        except aiohttp.ClientError as error:
            raise StreamInterrupted(
                f"{self.id}: body cut ({type(error).__name__})", deployment=self.id
            ) from error
        finally:
            response.release()


async def iter_chunks(
    upstream: Upstream, response: aiohttp.ClientResponse, deadline: Deadline
) -> AsyncGenerator[bytes, None]:
    """Raw body chunks as they arrive, each within the idle gap and the deadline.

    Raises ``UpstreamTimeout`` on a gap longer than ``idle_s`` or when the deadline
    passes, and ``StreamInterrupted`` when the connection breaks.
    """
    reader = response.content
    try:
        while True:
            wait = min(deadline.idle_s, deadline.remaining())
            if wait <= 0:
                raise UpstreamTimeout(
                    f"{upstream.id}: stream deadline", deployment=upstream.id
                )
            try:
                async with asyncio.timeout(wait):
                    chunk = await reader.readany()
            except TimeoutError as error:
                raise UpstreamTimeout(
                    f"{upstream.id}: no stream data for {wait:.2f}s",
                    deployment=upstream.id,
                ) from error
            except aiohttp.ClientError as error:
                raise StreamInterrupted(
                    f"{upstream.id}: stream cut ({type(error).__name__})",
                    deployment=upstream.id,
                ) from error
            if not chunk:
                return
            yield chunk
    finally:
        response.release()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header, given as seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_retriable(error: UpstreamError) -> bool:
    return error.retriable
