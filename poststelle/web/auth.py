"""Who is asking: API tokens for machines, server-side sessions with CSRF tokens for people."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from poststelle.accounts import ApiToken, Role, Scope, Session
from poststelle.web.context import WebContext
from poststelle.web.problems import Problem, ProblemType

SESSION_COOKIE = "poststelle_session"


async def api_token(request: Request, ctx: WebContext, scope: Scope) -> ApiToken:
    """The bearer token of the request, if it is valid and carries `scope`."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Problem(ProblemType.UNAUTHENTICATED, "send Authorization: Bearer <API token>")
    token = await run_in_threadpool(ctx.accounts.token, secret.strip())
    if token is None:
        raise Problem(ProblemType.UNAUTHENTICATED, "the API token is unknown or revoked")
    if scope not in token.scopes:
        raise Problem(ProblemType.FORBIDDEN, f"this token lacks the scope {scope.value!r}")
    return token


class LoginRequired(Exception):
    """No valid session: a browser is sent to the login page."""


class NotPermitted(Exception):
    """A session whose role may not see this page."""


async def session_of(request: Request, ctx: WebContext, *roles: Role) -> Session:
    """The caller's session; for POST requests its CSRF token must come with the form."""
    secret = request.cookies.get(SESSION_COOKIE, "")
    session = await run_in_threadpool(ctx.accounts.session, secret) if secret else None
    if session is None:
        raise LoginRequired
    if roles and session.user.role not in roles:
        raise NotPermitted
    if request.method == "POST":
        form = await request.form()
        sent = str(form.get("csrf", ""))
        if not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise NotPermitted
    return session


def start_session(response: Response, secret: str, *, secure: bool) -> Response:
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="strict", secure=secure, path="/"
    )
    return response


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/anmelden?weiter={request.url.path}", status_code=303)
