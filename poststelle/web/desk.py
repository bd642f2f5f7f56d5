"""The registry clerk's review desk: the intake queue, an item's dossier, and the actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from poststelle.accounts import Role, Session
from poststelle.decision.rules import Outcome
from poststelle.dossier import Dossier, gather
from poststelle.model import Channel, ItemState
from poststelle.review import ActionRefused
from poststelle.web import downloads
from poststelle.web.auth import session_of
from poststelle.web.context import WebContext
from poststelle.web.followups import settle_followups
from poststelle.web.pages import render

DESK_ROLES = (Role.CLERK, Role.ADMINISTRATOR)


def _day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC) if text else None
    except ValueError:
        return None


E = TypeVar("E", ItemState, Channel, Outcome)


def _choice(kind: type[E], text: str) -> E | None:
    return next((member for member in kind if member.value == text), None)


def _queue(ctx: WebContext, params: dict[str, str]) -> list[Dossier]:
    state = _choice(ItemState, params.get("zustand", ""))
    until = _day(params.get("bis", ""))
    items = ctx.store.items(
        states=(state,) if state else (),
        channel=_choice(Channel, params.get("kanal", "")),
        department=params.get("abteilung") or None,
        since=_day(params.get("von", "")),
        until=until + timedelta(days=1) if until else None,
    )
    dossiers = [gather(ctx.store, item, with_journal=False) for item in items]
    outcome = _choice(Outcome, params.get("entscheidung", ""))
    if outcome is not None:
        dossiers = [d for d in dossiers if d.decision and d.decision.outcome is outcome]
    return dossiers


def _dossier(ctx: WebContext, item_id: str) -> Dossier:
    item = ctx.store.item(item_id)
    if item is None:
        raise HTTPException(404)
    return gather(ctx.store, item)


Action = Callable[[WebContext, str, Session, dict[str, str]], None]


def _assign(ctx: WebContext, item_id: str, session: Session, form: dict[str, str]) -> None:
    ctx.desk.assign(item_id, form.get("abteilung", ""), session.user.username)


def _reverify(ctx: WebContext, item_id: str, session: Session, form: dict[str, str]) -> None:
    ctx.desk.reverify(item_id, session.user.username)


def _reject(ctx: WebContext, item_id: str, session: Session, form: dict[str, str]) -> None:
    reason = form.get("begruendung", "").strip()
    if not reason:
        raise ActionRefused("a rejection needs the text of the notice")
    ctx.desk.reject(
        item_id, session.user.username, reason, form.get("rahmenbedingungen", "").strip()
    )


def _not_an_application(
    ctx: WebContext, item_id: str, session: Session, form: dict[str, str]
) -> None:
    ctx.desk.mark_not_an_application(item_id, session.user.username)


ACTIONS: dict[str, tuple[Action, str]] = {
    "zuweisen": (_assign, "Der Eingang ist zugewiesen."),
    "erneut-pruefen": (_reverify, "Der Eingang wird erneut geprüft."),
    "zurueckweisen": (_reject, "Der Eingang ist zurückgewiesen; der Absender erhält den Hinweis."),
    "kein-antrag": (_not_an_application, "Der Eingang ist als kein Antrag markiert."),
}


def desk_routes(ctx: WebContext) -> list[Route]:
    async def queue(request: Request) -> Response:
        session = await session_of(request, ctx, *DESK_ROLES)
        params = dict(request.query_params)
        rows = await run_in_threadpool(_queue, ctx, params)
        counts = await run_in_threadpool(ctx.store.count_by_state)
        return render(
            request,
            ctx,
            "queue.html",
            session,
            rows=rows,
            counts={state.value: n for state, n in counts.items()},
            filters={
                k: params.get(k, "")
                for k in ("zustand", "kanal", "entscheidung", "abteilung", "von", "bis")
            },
        )

    async def detail(request: Request) -> Response:
        session = await session_of(request, ctx, *DESK_ROLES)
        dossier = await run_in_threadpool(_dossier, ctx, request.path_params["item_id"])
        return render(
            request,
            ctx,
            "desk_item.html",
            session,
            d=dossier,
            base=f"/posteingang/{dossier.item.id}",
            requirements=ctx.procedures.for_envelope(dossier.item.envelope).requirements,
        )

    async def desk_dossier(request: Request) -> Dossier:
        await session_of(request, ctx, *DESK_ROLES)
        return await run_in_threadpool(_dossier, ctx, request.path_params["item_id"])

    def action_route(name: str, action: Action, done: str) -> Route:
        async def act(request: Request) -> Response:
            session = await session_of(request, ctx, *DESK_ROLES)
            item_id = request.path_params["item_id"]
            form = {k: str(v) for k, v in (await request.form()).items()}
            await run_in_threadpool(_dossier, ctx, item_id)
            answer = done
            try:
                await run_in_threadpool(action, ctx, item_id, session, form)
            except ActionRefused as refused:
                answer = f"Nicht möglich: {refused}"
            else:
                answer += await settle_followups(ctx, item_id)
            target = f"/posteingang/{item_id}?hinweis={quote(answer)}"
            return RedirectResponse(target, status_code=303)

        return Route(f"/posteingang/{{item_id}}/{name}", act, methods=["POST"])

    return [
        Route("/posteingang", queue, methods=["GET"]),
        Route("/posteingang/{item_id}", detail, methods=["GET"]),
        *downloads.file_routes("/posteingang/{item_id}", desk_dossier, ctx.blobs, ctx.config),
        *(action_route(name, action, done) for name, (action, done) in ACTIONS.items()),
    ]
