"""Department inboxes, in the browser and over the API: only the department's own items."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from poststelle.accounts import Role, Scope
from poststelle.dossier import Dossier, gather
from poststelle.inboxes import NotYours
from poststelle.serialize import to_jsonable
from poststelle.web import downloads
from poststelle.web.auth import api_token, session_of
from poststelle.web.context import WebContext
from poststelle.web.followups import settle_followups
from poststelle.web.pages import render
from poststelle.web.problems import Problem, ProblemType


def _dossier(ctx: WebContext, department: str, item_id: str) -> Dossier:
    try:
        return gather(ctx.store, ctx.inboxes.item(department, item_id))
    except NotYours:
        raise HTTPException(404) from None


def _listing(ctx: WebContext, department: str) -> list[Dossier]:
    return [gather(ctx.store, item, with_journal=False) for item in ctx.inboxes.items(department)]


def item_json(dossier: Dossier) -> dict[str, Any]:
    item = dossier.item
    base = f"/api/v1/inbox/items/{item.id}"
    return {
        "id": item.id,
        "registry_number": item.registry_number,
        "channel": item.channel.value,
        "received_at": item.received_at.isoformat(),
        "sender": item.envelope.sender,
        "subject": dossier.subject,
        "state": item.state.value,
        "sha256": item.sha256,
        "size": item.size,
        "decision": to_jsonable(dossier.decision) if dossier.decision else None,
        "verdict": dossier.report.verdict.value if dossier.report else None,
        "documents": [
            {
                "name": d.name or d.safe_name,
                "content_type": d.content_type,
                "size": d.size,
                "sha256": d.sha256,
                "href": f"{base}/documents/{d.sha256}",
            }
            for d in dossier.documents
        ],
        "original": f"{base}/original",
    }


def inbox_routes(ctx: WebContext) -> list[Route]:
    async def page(request: Request) -> Response:
        session = await session_of(request, ctx, Role.DEPARTMENT)
        department = session.user.department or ""
        rows = await run_in_threadpool(_listing, ctx, department)
        return render(
            request,
            ctx,
            "inbox.html",
            session,
            rows=rows,
            department=ctx.config.departments[department],
        )

    async def detail(request: Request) -> Response:
        session = await session_of(request, ctx, Role.DEPARTMENT)
        dossier = await run_in_threadpool(
            _dossier, ctx, session.user.department or "", request.path_params["item_id"]
        )
        return render(
            request,
            ctx,
            "inbox_item.html",
            session,
            d=dossier,
            base=f"/abteilung/{dossier.item.id}",
        )

    async def department_dossier(request: Request) -> Dossier:
        session = await session_of(request, ctx, Role.DEPARTMENT)
        return await run_in_threadpool(
            _dossier, ctx, session.user.department or "", request.path_params["item_id"]
        )

    async def acknowledge(request: Request) -> Response:
        session = await session_of(request, ctx, Role.DEPARTMENT)
        item_id = request.path_params["item_id"]
        try:
            await run_in_threadpool(
                ctx.inboxes.acknowledge,
                session.user.department or "",
                item_id,
                session.user.username,
            )
        except NotYours:
            raise HTTPException(404) from None
        notice = quote("Der Empfang ist bestätigt." + await settle_followups(ctx, item_id))
        return RedirectResponse(f"/abteilung/{item_id}?hinweis={notice}", status_code=303)

    return [
        Route("/abteilung", page, methods=["GET"]),
        Route("/abteilung/{item_id}", detail, methods=["GET"]),
        *downloads.file_routes("/abteilung/{item_id}", department_dossier, ctx.blobs, ctx.config),
        Route("/abteilung/{item_id}/bestaetigen", acknowledge, methods=["POST"]),
    ]


def inbox_api_routes(ctx: WebContext) -> list[Route]:
    async def department_of(request: Request) -> str:
        token = await api_token(request, ctx, Scope.DEPARTMENT)
        return token.department or ""

    async def dossier_of(request: Request) -> Dossier:
        department = await department_of(request)
        return await _department_dossier(request, department)

    async def _department_dossier(request: Request, department: str) -> Dossier:
        try:
            item = await run_in_threadpool(
                ctx.inboxes.item, department, request.path_params["item_id"]
            )
        except NotYours:
            raise Problem(ProblemType.NOT_FOUND, "no such item in this inbox") from None
        return await run_in_threadpool(gather, ctx.store, item)

    async def listing(request: Request) -> Response:
        department = await department_of(request)
        rows = await run_in_threadpool(_listing, ctx, department)
        return JSONResponse({"department": department, "items": [item_json(d) for d in rows]})

    async def detail(request: Request) -> Response:
        return JSONResponse(item_json(await dossier_of(request)))

    async def original(request: Request) -> Response:
        return downloads.original(ctx.blobs, await dossier_of(request))

    async def document(request: Request) -> Response:
        dossier = await dossier_of(request)
        if dossier.document(request.path_params["sha256"]) is None:
            raise Problem(ProblemType.NOT_FOUND, "no such document in this item")
        return downloads.document(ctx.blobs, dossier, request.path_params["sha256"])

    async def xdomea(request: Request) -> Response:
        dossier = await dossier_of(request)
        title = ctx.config.departments[dossier.item.department or ""].title
        return downloads.xdomea(ctx.blobs, dossier, ctx.config.authority, title)

    async def acknowledge(request: Request) -> Response:
        token = await api_token(request, ctx, Scope.DEPARTMENT)
        dossier = await _department_dossier(request, token.department or "")
        first = await run_in_threadpool(
            ctx.inboxes.acknowledge,
            dossier.item.department or "",
            dossier.item.id,
            f"API-Token {token.name} ({token.id})",
        )
        deferred = await settle_followups(ctx, dossier.item.id)
        return JSONResponse(
            {"acknowledged": True, "first": first, "record_deferred": bool(deferred)}
        )

    base = "/api/v1/inbox/items"
    return [
        Route(base, listing, methods=["GET"]),
        Route(f"{base}/{{item_id}}", detail, methods=["GET"]),
        Route(f"{base}/{{item_id}}/original", original, methods=["GET"]),
        Route(f"{base}/{{item_id}}/documents/{{sha256}}", document, methods=["GET"]),
        Route(f"{base}/{{item_id}}/xdomea", xdomea, methods=["GET"]),
        Route(f"{base}/{{item_id}}/acknowledge", acknowledge, methods=["POST"]),
    ]
