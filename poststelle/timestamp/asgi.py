"""The built-in TSA over HTTP: `POST /tsa` with application/timestamp-query (RFC 3161 3.4)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from poststelle.timestamp.authority import TimeStampAuthority

MAX_REQUEST_BYTES = 16 * 1024


def tsa_routes(authority: TimeStampAuthority) -> list[Route]:
    async def stamp(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != (
            "application/timestamp-query"
        ):
            return Response("expected application/timestamp-query\n", status_code=415)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST_BYTES:
                return Response("request too large\n", status_code=413)
        reply = await asyncio.get_running_loop().run_in_executor(
            None, authority.respond, bytes(body)
        )
        return Response(reply, media_type="application/timestamp-reply")

    return [Route("/tsa", stamp, methods=["POST"])]
