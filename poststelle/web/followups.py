"""After a person's action in the web interface: make the confirmation it owes right away."""

from __future__ import annotations

import structlog
from starlette.concurrency import run_in_threadpool

from poststelle.followups import settle_item
from poststelle.web.context import WebContext

log = structlog.get_logger("poststelle.web")


async def settle_followups(ctx: WebContext, item_id: str) -> str:
    """ "" on success; else a sentence for the person (the reconciler tries again)."""
    try:
        await run_in_threadpool(settle_item, item_id, ctx.services)
    except Exception as exc:
        log.warning("followup.deferred", item_id=item_id, error=str(exc))
        return " Die Bestätigung an den Absender wird nachgeholt."
    return ""
