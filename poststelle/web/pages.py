"""Rendering the web pages: one template environment, German labels, common page context."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from poststelle.accounts import Session
from poststelle.decision.rules import Outcome
from poststelle.dossier import OUTCOME_DE
from poststelle.model import Channel, ItemState
from poststelle.verification.model import ItemVerdict
from poststelle.verification.protocol import when
from poststelle.web.context import WebContext

STATE_DE = {
    ItemState.RECEIVED: "eingegangen",
    ItemState.STAMPED: "Eingang gestempelt",
    ItemState.ANALYSED: "zerlegt",
    ItemState.VERIFIED: "geprüft",
    ItemState.DECIDED: "entschieden",
    ItemState.ROUTED: "zugewiesen",
    ItemState.DELIVERED: "zugestellt",
    ItemState.ACKNOWLEDGED: "Empfang bestätigt",
    ItemState.NEEDS_REVIEW: "zu prüfen",
    ItemState.REJECTED: "zurückgewiesen",
    ItemState.ATTACHED: "als Bestätigung abgelegt",
    ItemState.FAILED: "Fehler",
}
CHANNEL_DE = {Channel.SMTP: "E-Mail", Channel.UPLOAD: "Portal"}
VERDICT_DE = {
    ItemVerdict.PASSED: "alle Signaturen gültig",
    ItemVerdict.FAILED: "mindestens eine Signatur ungültig",
    ItemVerdict.INDETERMINATE: "unbestimmt",
    ItemVerdict.UNSIGNED: "nicht signiert",
}

_environment = Environment(
    loader=PackageLoader("poststelle.web", "templates"),
    autoescape=select_autoescape(["html"]),
)
_environment.globals.update(
    when=when,
    state_label={s.value: label for s, label in STATE_DE.items()},
    channel_label={c.value: label for c, label in CHANNEL_DE.items()},
    outcome_label={o.value: label for o, label in OUTCOME_DE.items()},
    verdict_label={v.value: label for v, label in VERDICT_DE.items()},
    states=[(s.value, label) for s, label in STATE_DE.items()],
    channels=[(c.value, label) for c, label in CHANNEL_DE.items()],
    outcomes=[(o.value, OUTCOME_DE[o]) for o in Outcome],
)


def render(
    request: Request,
    ctx: WebContext,
    template: str,
    session: Session | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    html = _environment.get_template(template).render(
        authority=ctx.config.authority,
        departments=ctx.config.departments,
        user=session.user if session else None,
        csrf=session.csrf_token if session else "",
        notice=request.query_params.get("hinweis", ""),
        **values,
    )
    return HTMLResponse(html, status_code=status_code)
