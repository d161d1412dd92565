"""ASGI middleware of the API: the request size limit, HEAD, conditional GET."""

from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RequestTooLarge, problem_response


class RequestSizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is answered before the body is read; a body
    streamed without one (chunked) is counted as it arrives and refused when it passes the
    limit, through the app's :class:`~api.errors.RequestTooLarge` handler.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared size, then count the body as the app reads it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = problem_response(
                413,
                RequestTooLarge.code,
                "Request too large",
                f"the request body has {declared} bytes; the limit is {self.max_bytes}",
                scope.get("path", ""),
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge(
                        f"the request body passed the limit of {self.max_bytes} bytes"
                    )
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class HeadAsGet:
    """Answer ``HEAD`` as the ``GET`` of the same URL would be answered, without its body.

    HTTP clients (GDAL, QGIS, link checkers) send ``HEAD`` to learn a resource's type and
    size; the routes are declared for ``GET`` only, so without this every ``HEAD`` was 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a ``HEAD`` as ``GET`` and send its status and headers only."""
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class ConditionalGet:
    """An ``ETag`` on every successful JSON answer to ``GET``; ``304`` when it still matches.

    The tag is the route's own where it set one (a feature's version, which writes check),
    else a digest of the body (made in memory anyway), so it changes exactly when what the
    client would receive changes, whoever changed the registry. A request whose
    ``If-None-Match`` holds the tag gets ``304 Not Modified`` and no body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer a JSON ``GET`` answer, tag it, and answer ``304`` when the client has it."""
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def tagged(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] != 200 or not _is_json(message) or _attachment(message):
                    start = None
                    await send(message)
                    return
                start = message
                return
            if start is None:  # passed through untagged
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            own = [v.decode("latin-1") for k, v in start["headers"] if k == b"etag"]
            etag = own[0] if own else f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            headers = [(k, v) for k, v in start["headers"] if k != b"etag"]
            headers.append((b"etag", etag.encode()))
            matches = _if_none_match(scope)
            if etag.removeprefix("W/") in matches or "*" in matches:
                kept = [(k, v) for k, v in headers if k not in (b"content-length", b"content-type")]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, tagged)


def _attachment(start: Message) -> bool:
    """A download: streamed, never buffered to be tagged."""
    return any(name == b"content-disposition" for name, _ in start.get("headers", ()))


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", ()):
        if name == b"content-type":
            kind = value.split(b";")[0].strip()
            return kind in (b"application/json", b"application/geo+json")
    return False


def _if_none_match(scope: Scope) -> set[str]:
    for name, value in scope.get("headers", ()):
        if name == b"if-none-match":
            # weak comparison (RFC 9110): W/"x" matches "x"
            return {tag.strip().removeprefix("W/") for tag in value.decode("latin-1").split(",")}
    return set()
