"""A constant-time connection pool for one ``httpx.AsyncClient`` to one loopback server.

httpcore 1.0's ``AsyncConnectionPool`` rescans every connection (and polls its socket)
for every request and every response closed: with 50 keep-alive connections a request
costs the *client* about 5 ms of CPU and caps it near 200 requests/s on this machine,
so a /healthz baseline measures httpx, not the server (encode/httpx#3215,
encode/httpcore#1035). This transport keeps the same model (HTTP/1.1 keep-alive
connections, at most ``max_connections`` of them, one request per connection at a
time) with a LIFO list of idle connections and a semaphore: O(1) per request.

    client = httpx.AsyncClient(base_url=url, transport=LoopbackPool(max_connections=54))
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager

import httpcore
import httpx

__all__ = ["LoopbackPool"]

#: Below uvicorn's 5 s keep-alive timeout, so the server never closes a connection we reuse.
KEEPALIVE_SECONDS = 4.0


@contextmanager
def _httpx_errors(request: httpx.Request) -> Iterator[None]:
    """httpcore's exceptions as httpx's, as httpx's own transport does."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise httpx.TimeoutException(str(exc) or type(exc).__name__, request=request) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise httpx.TransportError(str(exc) or type(exc).__name__) from exc


class _Body(httpx.AsyncByteStream):
    """A response body; closing it hands the connection back to the pool."""

    def __init__(
        self,
        pool: LoopbackPool,
        connection: httpcore.AsyncHTTPConnection,
        stream: AsyncIterable[bytes],
        request: httpx.Request,
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._stream = stream
        self._request = request
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(self._request):
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                with _httpx_errors(self._request):
                    await close()
        finally:
            await self._pool.release(self._connection)


class LoopbackPool(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive connections, at most ``max_connections``, reused LIFO in O(1)."""

    def __init__(self, max_connections: int) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[httpcore.AsyncHTTPConnection] = []
        self._open: set[httpcore.AsyncHTTPConnection] = set()

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            self._open.discard(connection)
            await connection.aclose()
        connection = httpcore.AsyncHTTPConnection(origin, keepalive_expiry=KEEPALIVE_SECONDS)
        self._open.add(connection)
        return connection

    async def release(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """Take a connection back once its response is closed (reused if still open)."""
        try:
            if connection.is_idle():
                self._idle.append(connection)
            else:
                self._open.discard(connection)
                await connection.aclose()
        finally:
            self._slots.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_url = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        await self._slots.acquire()
        try:
            connection = await self._checkout(
                httpcore.Origin(url.raw_scheme, url.raw_host, url.port or 80)
            )
        except BaseException:
            self._slots.release()
            raise
        try:
            with _httpx_errors(request):
                response = await connection.handle_async_request(
                    httpcore.Request(
                        method=request.method,
                        url=core_url,
                        headers=request.headers.raw,
                        content=request.stream,
                        extensions=request.extensions,
                    )
                )
        except BaseException:
            self._open.discard(connection)
            await connection.aclose()
            self._slots.release()
            raise
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(self, connection, response.stream, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        connections, self._open, self._idle = list(self._open), set(), []
        for connection in connections:
            await connection.aclose()
