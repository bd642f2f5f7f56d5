"""RFC 7807 problem documents: one stable type per cause, each documented at its own URL."""

from __future__ import annotations

import enum
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

MEDIA_TYPE = "application/problem+json"


class ProblemType(enum.Enum):
    """(slug, HTTP status, title) of every problem the API reports."""

    TOO_LARGE = ("too-large", 413, "The submission is larger than accepted")
    TYPE_NOT_ACCEPTED = ("type-not-accepted", 415, "A document's type is not accepted")
    MISSING_DOCUMENT = ("missing-document", 422, "The submission holds no document")
    INVALID_FIELD = ("invalid-field", 422, "A field is missing or malformed")
    UNKNOWN_PROCEDURE = ("unknown-procedure", 422, "No such procedure")
    BAD_ASSERTION = ("bad-assertion", 422, "The eID assertion is not acceptable")
    MALFORMED = ("malformed-request", 400, "The request body cannot be read")
    IDEMPOTENCY_CONFLICT = (
        "idempotency-conflict",
        409,
        "The Idempotency-Key was used before for a different request",
    )
    UNAUTHENTICATED = ("unauthenticated", 401, "Authentication is required")
    FORBIDDEN = ("forbidden", 403, "This credential may not do that")
    NOT_FOUND = ("not-found", 404, "No such resource")
    NOT_ALLOWED = ("method-not-allowed", 405, "Method not allowed")
    UNAVAILABLE = ("unavailable", 503, "Temporarily unable to store the submission")

    @property
    def slug(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]

    @property
    def title(self) -> str:
        return self.value[2]

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


_BY_STATUS = {p.status: p for p in reversed(ProblemType)}


class Problem(Exception):
    """Raised anywhere in a request handler; answered as a problem document."""

    def __init__(self, kind: ProblemType, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.extra = extra


def problem_response(problem: Problem, instance: str = "") -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem.kind.uri,
        "title": problem.kind.title,
        "status": problem.kind.status,
        "detail": problem.detail,
        **problem.extra,
    }
    if instance:
        body["instance"] = instance
    headers = {
        401: {"WWW-Authenticate": 'Bearer realm="poststelle"'},
        503: {"Retry-After": "60"},
    }.get(problem.kind.status, {})
    return JSONResponse(
        body, status_code=problem.kind.status, media_type=MEDIA_TYPE, headers=headers
    )


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as problem documents on the API, as plain pages elsewhere."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/api/"):
        return HTMLResponse(
            f"<h1>{exc.status_code}</h1>", status_code=exc.status_code, headers=exc.headers
        )
    kind = _BY_STATUS.get(exc.status_code, ProblemType.MALFORMED)
    response = problem_response(Problem(kind, str(exc.detail)), request.url.path)
    response.headers.update(exc.headers or {})
    return response


async def describe(request: Request) -> Response:
    """GET /problems/{slug}: what a problem type means."""
    slug = request.path_params["slug"]
    kind = next((p for p in ProblemType if p.slug == slug), None)
    if kind is None:
        raise HTTPException(404)
    return HTMLResponse(
        f"<!doctype html><html lang='en'><title>{kind.title}</title><main>"
        f"<h1>{kind.title}</h1><p>HTTP status {kind.status}. Type URI "
        f"<code>{kind.uri}</code>.</p></main></html>"
    )
