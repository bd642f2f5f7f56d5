"""Portal upload API: a submission streamed to disk, durable before the 201, retried safely."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from connectors.multipart import Form, FormError, UploadedFile, read_form
from poststelle.accounts import ApiToken, Scope
from poststelle.decision.procedures import Procedure
from poststelle.eid.saml import verify_assertion
from poststelle.model import Channel, Envelope, Item
from poststelle.serialize import to_jsonable
from poststelle.stages.channel import EID_METADATA
from poststelle.stages.confirm import made_confirmation
from poststelle.store.spool import Spool
from poststelle.web.auth import api_token
from poststelle.web.context import WebContext
from poststelle.web.openapi import EMAIL_PATTERN, IDEMPOTENCY_KEY_PATTERN, ONE_LINE
from poststelle.web.problems import Problem, ProblemType

log = structlog.get_logger("poststelle.upload")

_MEDIA_TYPE_PART = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"^{_MEDIA_TYPE_PART}/{_MEDIA_TYPE_PART}$")
_BASE64_LINE = 57  # bytes per 76-character base64 line
DOCUMENT_FIELD = "document"
ASSERTION_FIELD = "assertion"


def _media_type(declared: str) -> str:
    kind = declared.split(";", 1)[0].strip().lower()
    return kind if _MEDIA_TYPE.match(kind) else "application/octet-stream"


def _printable(name: str) -> str:
    """A sender's file name as a header can carry it: line breaks and controls become U+FFFD."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", "\ufffd", name)


def _headers(message: EmailMessage) -> bytes:
    return b"".join(SMTP.fold_binary(name, value) for name, value in message.items())


def _base64_lines(spool: Spool) -> Iterator[bytes]:
    with open(spool.path, "rb") as source:
        while block := source.read(_BASE64_LINE * 1024):
            for start in range(0, len(block), _BASE64_LINE):
                yield base64.b64encode(block[start : start + _BASE64_LINE]) + b"\r\n"


def compose_message(
    form: Form, procedure: Procedure, reply_to: str, domain: str, out: Spool
) -> None:
    """Write the submission as one MIME message: a text part with what the sender stated,
    then every document, base64-encoded, read back from its spool."""
    boundary = f"=_poststelle_{uuid.uuid4().hex}"
    sender_name = form.first("sender_name")
    reference = form.first("reference")
    head = EmailMessage(policy=SMTP)
    head["MIME-Version"] = "1.0"
    head["From"] = Address(display_name=sender_name, addr_spec=reply_to)
    head["Subject"] = " ".join(
        p for p in (f"Portal: {procedure.title}", reference and f"({reference})") if p
    )
    head["Date"] = format_datetime(datetime.now(UTC))
    head["Message-ID"] = f"<{uuid.uuid4().hex}@{domain}>"
    head["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
    out.write(_headers(head) + b"\r\n")
    statement = EmailMessage(policy=SMTP)
    statement["Content-Type"] = "text/plain; charset=utf-8"
    statement["Content-Transfer-Encoding"] = "base64"
    text = (
        f"Verfahren: {procedure.title}\r\nAbsender: {sender_name}\r\n"
        f"Antwortadresse: {reply_to}\r\nAktenzeichen: {reference or '–'}\r\n"
    )
    out.write(f"--{boundary}\r\n".encode() + _headers(statement) + b"\r\n")
    out.write(base64.encodebytes(text.encode()).replace(b"\n", b"\r\n"))
    for uploaded in form.files:
        part = EmailMessage(policy=SMTP)
        part["Content-Type"] = _media_type(uploaded.content_type)
        part.add_header("Content-Disposition", "attachment", filename=_printable(uploaded.filename))
        part["Content-Transfer-Encoding"] = "base64"
        out.write(f"--{boundary}\r\n".encode() + _headers(part) + b"\r\n")
        for line in _base64_lines(uploaded.spool):
            out.write(line)
    out.write(f"--{boundary}--\r\n".encode())


def _check(form: Form, ctx: WebContext) -> tuple[Procedure, str]:
    key = form.first("procedure")
    procedure = ctx.procedures.by_key(key)
    if procedure is None:
        known = ", ".join(p.key for p in ctx.procedures.procedures)
        raise Problem(ProblemType.UNKNOWN_PROCEDURE, f"no procedure {key!r}; known: {known}")
    reply_to = form.first("reply_to")
    if not re.match(EMAIL_PATTERN, reply_to):
        raise Problem(ProblemType.INVALID_FIELD, "reply_to must be an e-mail address")
    for name in ("sender_name", "reference"):
        value = form.first(name)
        if len(value) > 200 or not re.match(ONE_LINE, value):
            raise Problem(
                ProblemType.INVALID_FIELD, f"{name} takes up to 200 characters on one line"
            )
    documents = [f for f in form.files if f.field_name == DOCUMENT_FIELD]
    if not documents:
        raise Problem(ProblemType.MISSING_DOCUMENT, f"attach at least one {DOCUMENT_FIELD!r}")
    for uploaded in form.files:
        _check_document(uploaded, procedure)
    return procedure, reply_to


def _check_document(uploaded: UploadedFile, procedure: Procedure) -> None:
    if uploaded.field_name != DOCUMENT_FIELD:
        raise Problem(ProblemType.INVALID_FIELD, f"unexpected file field {uploaded.field_name!r}")
    kind = _media_type(uploaded.content_type)
    if not procedure.accepts_type(kind):
        raise Problem(
            ProblemType.TYPE_NOT_ACCEPTED,
            f"{uploaded.filename!r} is {kind}; {procedure.title} accepts "
            f"{', '.join(procedure.accepted_types)}",
            document=uploaded.filename,
        )
    if uploaded.spool.size > procedure.max_document_bytes:
        raise Problem(
            ProblemType.TOO_LARGE,
            f"{uploaded.filename!r} has {uploaded.spool.size} bytes; {procedure.title} accepts "
            f"{procedure.max_document_bytes} per document",
            document=uploaded.filename,
        )


def created(item: Item) -> JSONResponse:
    location = f"/api/v1/submissions/{item.registry_number}"
    return JSONResponse(
        {
            "registry_number": item.registry_number,
            "received_at": item.received_at.isoformat(),
            "sha256": item.sha256,
            "status": location,
            "receipt": f"{location}/receipt",
        },
        status_code=201,
        headers={"Location": location},
    )


class KeyedLocks:
    """One asyncio lock per key, forgotten when no one holds or awaits it: two concurrent
    requests with the same Idempotency-Key are handled one after the other."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class UploadEndpoint:
    """POST /api/v1/submissions."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self._locks = KeyedLocks()

    async def post(self, request: Request) -> Response:
        token = await api_token(request, self.ctx, Scope.UPLOAD)
        key = request.headers.get("idempotency-key")
        if key is None:
            return await self._submit(request, token, "")
        if not re.match(IDEMPOTENCY_KEY_PATTERN, key):
            raise Problem(
                ProblemType.INVALID_FIELD, "Idempotency-Key takes 1 to 255 visible ASCII characters"
            )
        async with self._locks.hold((token.id, key)):
            return await self._submit(request, token, key)

    async def _submit(self, request: Request, token: ApiToken, key: str) -> Response:
        limits = self.ctx.config.http
        try:
            form = await read_form(
                request.headers.get("content-type", ""),
                request.stream(),
                lambda: Spool.open(self.ctx.blobs),
                max_file_bytes=limits.max_document_bytes,
                max_total_bytes=limits.max_request_bytes,
            )
        except FormError as exc:
            kind = ProblemType.TOO_LARGE if exc.too_large else ProblemType.MALFORMED
            raise Problem(kind, str(exc)) from exc
        except OSError as exc:
            log.error("upload.spool_failed", error=str(exc))
            raise Problem(ProblemType.UNAVAILABLE, "the submission could not be stored") from exc
        try:
            if key:
                earlier = await run_in_threadpool(self.ctx.store.idempotent_item, token.id, key)
                if earlier is not None:
                    if earlier[0] != form.fingerprint():
                        raise Problem(
                            ProblemType.IDEMPOTENCY_CONFLICT,
                            "this Idempotency-Key came with a different request before",
                        )
                    return created(earlier[1])
            procedure, reply_to = _check(form, self.ctx)
            eid = await run_in_threadpool(self._identify, form)
            item = await run_in_threadpool(
                self._accept, form, procedure, reply_to, token, request, eid
            )
        finally:
            form.discard()
        if key:
            await run_in_threadpool(
                self.ctx.store.remember_idempotency, token.id, key, form.fingerprint(), item
            )
        return created(item)

    def _identify(self, form: Form) -> dict[str, str]:
        """Verify the eID assertion, if the submission carries one; its finding and the
        assertion itself are kept with the item. A bad assertion refuses the submission."""
        assertion = form.first(ASSERTION_FIELD)
        if not assertion:
            return {}
        settings = self.ctx.config.eid
        if settings is None:
            raise Problem(ProblemType.BAD_ASSERTION, "this authority accepts no eID assertions")
        xml = assertion.encode("utf-8")
        finding = verify_assertion(
            xml, settings, self.ctx.store.remember_assertion, datetime.now(UTC)
        )
        if not finding.valid:
            raise Problem(ProblemType.BAD_ASSERTION, finding.problem)
        blob = self.ctx.blobs.put(xml)
        return {
            EID_METADATA: json.dumps(to_jsonable(finding), ensure_ascii=False),
            "eid_assertion_sha256": blob.sha256,
        }

    def _accept(
        self,
        form: Form,
        procedure: Procedure,
        reply_to: str,
        token: ApiToken,
        request: Request,
        eid: dict[str, str],
    ) -> Item:
        spool = Spool.open(self.ctx.blobs)
        try:
            compose_message(form, procedure, reply_to, self.ctx.config.domains[0], spool)
        except OSError as exc:
            spool.discard()
            raise Problem(ProblemType.UNAVAILABLE, "the submission could not be stored") from exc
        metadata: dict[str, Any] = {
            "procedure": procedure.key,
            "sender_name": form.first("sender_name"),
            "reference": form.first("reference"),
            "token": token.id,
            **eid,
        }
        envelope = Envelope(
            sender=reply_to,
            recipients=(),
            peer=request.client.host if request.client else "",
            tls=request.url.scheme == "https",
            metadata=metadata,
        )
        try:
            return self.ctx.intake.accept_spool_blocking(spool, Channel.UPLOAD, envelope)
        except OSError as exc:
            raise Problem(ProblemType.UNAVAILABLE, "the submission could not be stored") from exc


def upload_routes(ctx: WebContext) -> list[Route]:
    async def own_item(request: Request) -> Item:
        token = await api_token(request, ctx, Scope.UPLOAD)
        number = request.path_params["registry_number"]
        item = await run_in_threadpool(ctx.store.item_by_registry_number, number)
        if item is None or item.envelope.metadata.get("token") != token.id:
            raise Problem(ProblemType.NOT_FOUND, f"no submission {number} from this token")
        return item

    async def status(request: Request) -> Response:
        item = await own_item(request)
        return JSONResponse(
            {
                "registry_number": item.registry_number,
                "received_at": item.received_at.isoformat(),
                "sha256": item.sha256,
                "state": item.state.value,
                "procedure": item.envelope.metadata.get("procedure", ""),
            }
        )

    async def receipt(request: Request) -> Response:
        item = await own_item(request)
        sha256 = await run_in_threadpool(
            made_confirmation, ctx.store, item, f"receipt/{item.registry_number}"
        )
        if sha256 is None:
            raise Problem(ProblemType.NOT_FOUND, "the receipt is not made yet; try again shortly")
        return FileResponse(
            ctx.blobs.path(sha256),
            media_type="message/rfc822",
            filename=f"Eingangsbestaetigung-{item.registry_number}.eml",
        )

    return [
        Route("/api/v1/submissions", UploadEndpoint(ctx).post, methods=["POST"]),
        Route("/api/v1/submissions/{registry_number}", status, methods=["GET"]),
        Route("/api/v1/submissions/{registry_number}/receipt", receipt, methods=["GET"]),
    ]
