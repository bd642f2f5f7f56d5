"""Signing in and out of the web interface."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from poststelle.accounts import Role
from poststelle.web.auth import SESSION_COOKIE, session_of, start_session
from poststelle.web.context import WebContext
from poststelle.web.pages import render


def _landing(role: Role) -> str:
    return "/abteilung" if role is Role.DEPARTMENT else "/posteingang"


def _safe_next(target: str) -> str:
    """Only paths on this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else ""


def login_routes(ctx: WebContext) -> list[Route]:
    async def form(request: Request) -> Response:
        return render(request, ctx, "login.html", None, next=request.query_params.get("weiter", ""))

    async def submit(request: Request) -> Response:
        data = await request.form()
        username = str(data.get("benutzer", ""))
        password = str(data.get("kennwort", ""))
        user = await run_in_threadpool(ctx.accounts.authenticate, username, password)
        if user is None:
            throttled = await run_in_threadpool(ctx.accounts.is_throttled, username)
            error = (
                "Zu viele Fehlversuche. Bitte versuchen Sie es in 15 Minuten erneut."
                if throttled
                else "Benutzername oder Kennwort ist falsch."
            )
            return render(
                request, ctx, "login.html", None, 401, error=error, next=data.get("weiter", "")
            )
        secret, _ = await run_in_threadpool(ctx.accounts.open_session, user)
        await run_in_threadpool(ctx.store.note, None, "web.login", {"username": user.username})
        target = _safe_next(str(data.get("weiter", ""))) or _landing(user.role)
        response = RedirectResponse(target, status_code=303)
        return start_session(response, secret, secure=ctx.config.http.secure_cookies)

    async def logout(request: Request) -> Response:
        await session_of(request, ctx)
        await run_in_threadpool(ctx.accounts.close_session, request.cookies[SESSION_COOKIE])
        response = RedirectResponse(f"/anmelden?hinweis={quote('Sie sind abgemeldet.')}", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return [
        Route("/anmelden", form, methods=["GET"]),
        Route("/anmelden", submit, methods=["POST"]),
        Route("/abmelden", logout, methods=["POST"]),
    ]
