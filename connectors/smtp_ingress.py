"""SMTP ingress: accept mail for the authority's domains, durable before the 250."""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import re
import ssl
from collections.abc import Callable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from pathlib import Path
from typing import Any

import aiosmtpd.smtp
import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from connectors.smtp_data import Block, DataReader
from poststelle.config import SmtpSettings
from poststelle.intake import Acceptance
from poststelle.model import Channel
from poststelle.model import Envelope as ItemEnvelope
from poststelle.store.spool import Spool

log = structlog.get_logger("poststelle.smtp")

MAX_RECIPIENTS = 100
TIMER_RESET_SECONDS = 1.0


class _Data(enum.Enum):
    NOMINAL = enum.auto()
    TOO_LONG = enum.auto()
    TOO_MUCH = enum.auto()
    WRITE_FAILED = enum.auto()


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(
    rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?: +(?=[^ (])|$)"
)


def simple_address(arg: str) -> tuple[str, str] | None:
    """`<local@domain> PARAMS` with a dot-atom local part and a plain domain, as the email
    package's parser would read it, without its token tree (three quarters of a MAIL or RCPT
    command's CPU); None for anything else, which the parser reads."""
    match = _SIMPLE_PATH.match(arg)
    return None if match is None else (match.group(1), arg[match.end() :])


_CLASS_NAMES: dict[type, tuple[str, ...]] = {}
_LOOKED_FOR = ("auth_", "handle_", "smtp_")


def _class_names(cls: type) -> tuple[str, ...]:
    names = _CLASS_NAMES.get(cls)
    if names is None:
        names = _CLASS_NAMES[cls] = tuple(n for n in dir(cls) if n.startswith(_LOOKED_FOR))
    return names


def _class_dir(obj: object) -> list[str]:
    """`dir(obj)` as far as aiosmtpd looks: its `auth_*`, `handle_*` and `smtp_*` methods,
    which are class attributes."""
    return list(_class_names(type(obj)))


@functools.cache
def _signature(function: Callable[..., Any], bound: bool) -> inspect.Signature:
    signature = inspect.signature(function)
    return signature.replace(parameters=list(signature.parameters.values())[bound:])


class _ClassLevelInspect:
    """aiosmtpd's SMTP.__init__ introspects the protocol and the handler on every connection
    (dir() four times, inspect.getmembers, inspect.signature) to find its methods: most of a
    connection's set-up CPU under load. This stand-in for the `inspect` module and `dir`, used by
    aiosmtpd.smtp alone, answers from a cache per class."""

    @staticmethod
    def getmembers(obj: object) -> list[tuple[str, Any]]:
        """Only the `auth_*` members: the only ones aiosmtpd asks getmembers for."""
        names = _class_names(type(obj))
        return [(name, getattr(obj, name)) for name in names if name.startswith("auth_")]

    @staticmethod
    def signature(method: Callable[..., Any]) -> inspect.Signature:
        function = getattr(method, "__func__", method)
        return _signature(function, function is not method)


vars(aiosmtpd.smtp)["inspect"] = _ClassLevelInspect
vars(aiosmtpd.smtp)["dir"] = _class_dir


class StreamingSMTP(SMTP):
    """aiosmtpd's SMTP with DATA streamed to disk instead of collected in memory.

    End of data is only CR LF . CR LF: a lone LF or CR around a dot is content, never an end.
    """

    def __init__(self, handler: SmtpIngress, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._ingress = handler
        self._in_data = False
        self._timer_reset = 0.0

    def data_received(self, data: bytes) -> None:
        """In DATA the session timeout bounds silence, not the whole transfer (RFC 5321
        4.5.3.2.5: the data block timeout runs between chunks): a large message on a slow line
        goes on. aiosmtpd itself resets it per command line only."""
        if self._in_data and self.loop.time() - self._timer_reset > TIMER_RESET_SECONDS:
            self._timer_reset = self.loop.time()
            self._reset_timeout()
        super().data_received(data)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parsing, without the typing.Protocol class it defines on every
        call (two thirds of its cost, twice per message)."""
        if not arg:
            return "", ""
        simple = simple_address(arg)
        if simple is not None:
            addr, rest = simple
        else:
            parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
            try:
                address, rest = parse(arg)
                addr = address.addr_spec
            except (HeaderParseError, IndexError, AttributeError):  # `<`, `<a@[`: the email
                return None, None  # package's private parser fails in more ways than it says
        local_part = addr.rpartition("@")[0]
        if self.local_part_limit and len(local_part) > self.local_part_limit:
            return None, None
        return addr, rest

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        try:
            # In the loop: a new file costs ~0.1 ms here, less than a helper thread's GIL hand-offs.
            spool = Spool.open(self._ingress.intake.blobs)
        except OSError as exc:
            log.error("smtp.spool_unavailable", error=str(exc))
            await self.push("451 4.3.0 Temporarily unable to store the message; try again later")
            return
        state = _Data.NOMINAL
        body = DataReader(self._reader)
        self._in_data, self._timer_reset = True, self.loop.time()
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")  # may be cancelled: hang-up
            while True:
                block = await body.next_block()
                if state is _Data.NOMINAL:
                    state = self._spool_block(spool, block)
                if block.last:
                    break
        except BaseException:
            spool.discard()
            raise
        finally:
            self._in_data = False
        if state is not _Data.NOMINAL:
            spool.discard()
            await self.push(
                {
                    _Data.TOO_LONG: "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)",
                    _Data.TOO_MUCH: "552 5.3.4 Message exceeds the size limit",
                    _Data.WRITE_FAILED: "451 4.3.0 Temporarily unable to store the message",
                }[state]
            )
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        assert self.session is not None
        status = await self._ingress.finish_data(self.session, self.envelope, spool)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    def _spool_block(self, spool: Spool, block: Block) -> _Data:
        if block.longest_line > self.line_length_limit:
            return _Data.TOO_LONG
        if self.data_size_limit and spool.size + len(block.content) > self.data_size_limit:
            return _Data.TOO_MUCH
        try:
            spool.write(block.content)
        except OSError as exc:
            log.error("smtp.spool_write_failed", error=str(exc))
            return _Data.WRITE_FAILED
        return _Data.NOMINAL


class SmtpIngress:
    """The aiosmtpd handler: policy checks per command, durable acceptance at end of data."""

    def __init__(
        self,
        settings: SmtpSettings,
        intake: Acceptance,
        accepts_recipient: Callable[[str], bool],
    ) -> None:
        self.settings = settings
        self.intake = intake
        self.accepts_recipient = accepts_recipient

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        # One reply of several lines, written at once: aiosmtpd writes (and sends) each item.
        return ["\r\n".join(r for r in responses if not r.startswith("250-AUTH"))]

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if not address.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 Non-ASCII sender address requires SMTPUTF8"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not address.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8"
        if not self.accepts_recipient(address):
            return "550 5.7.1 Relaying denied: this server accepts mail only for its own domains"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def finish_data(self, session: Session, envelope: Envelope, spool: Spool) -> str:
        """Make the spooled message durable as an item; only then answer 250. The spool now
        belongs to the intake: a session that goes away meanwhile leaves nothing stranded."""
        peer = session.peer
        item_envelope = ItemEnvelope(
            sender=envelope.mail_from or "",
            recipients=tuple(envelope.rcpt_tos),
            peer=f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or ""),
            helo=session.host_name or "",
            tls=session.ssl is not None,
        )
        try:
            item = await self.intake.accept_spool(spool, Channel.SMTP, item_envelope)
        except Exception as exc:
            log.error("smtp.accept_failed", error=str(exc), exc_info=True)
            return "451 4.3.0 Temporarily unable to store the message; try again later"
        return f"250 2.0.0 Accepted, registry number {item.registry_number}"


def tls_context(certificate: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    return context


async def start_smtp(
    settings: SmtpSettings,
    ingress: SmtpIngress,
    context: ssl.SSLContext | None,
    *,
    reuse_port: bool = False,
) -> asyncio.Server:
    """Listen for SMTP on the configured address in the running event loop."""

    def protocol() -> StreamingSMTP:
        return StreamingSMTP(
            ingress,
            hostname=settings.hostname,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            tls_context=context if settings.starttls != "off" else None,
            require_starttls=settings.starttls == "required",
            timeout=settings.timeout_seconds,
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(
        protocol, host=settings.host, port=settings.port, reuse_port=reuse_port
    )
