"""The web application: upload API, department API, review desk and inboxes in one ASGI app."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.upload import upload_routes
from poststelle.web import problems
from poststelle.web.auth import LoginRequired, NotPermitted, to_login
from poststelle.web.context import WebContext
from poststelle.web.desk import desk_routes
from poststelle.web.inbox import inbox_api_routes, inbox_routes
from poststelle.web.login import login_routes
from poststelle.web.openapi import openapi_routes
from poststelle.web.pages import render

SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
PAGE_POLICY = (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """Headers every answer carries; pages get a strict content security policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                if PAGE_POLICY[0] not in present:
                    headers.append(PAGE_POLICY)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def build_app(ctx: WebContext, extra: list[BaseRoute]) -> Starlette:
    async def home(request: Request) -> Response:
        return RedirectResponse("/anmelden", status_code=303)

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            raise exc
        return to_login(request)

    async def not_permitted(request: Request, exc: Exception) -> Response:
        return render(
            request,
            ctx,
            "message.html",
            None,
            403,
            heading="Keine Berechtigung",
            text="Diese Seite steht Ihrer Rolle nicht offen, oder das Formular war abgelaufen.",
        )

    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET"]),
        Route("/problems/{slug}", problems.describe, methods=["GET"]),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        *openapi_routes(ctx.procedures),
        *upload_routes(ctx),
        *inbox_api_routes(ctx),
        *login_routes(ctx),
        *desk_routes(ctx),
        *inbox_routes(ctx),
        *extra,
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            problems.Problem: problems.on_problem,
            HTTPException: problems.on_http_exception,
            LoginRequired: login_required,
            NotPermitted: not_permitted,
        },
    )
