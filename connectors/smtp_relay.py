"""SMTP relay egress: outbound mail through the authority's relay (STARTTLS, AUTH)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import aiosmtplib

from poststelle.ports import OutboundMessage, SendError


@dataclass(frozen=True, slots=True)
class RelaySettings:
    host: str
    port: int
    starttls: str  # "required", "opportunistic" or "off"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    timeout: float = 30.0


class SmtpRelay:
    """The `Outbox` port through an SMTP relay. A 4xx or a broken connection is temporary (the
    pipeline retries with backoff); a 5xx is permanent. The relay cannot promise exactly-once;
    the store records the key once sent, and the Message-ID is stable for the recipient."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings

    def _tls(self) -> ssl.SSLContext | None:
        if self.settings.starttls == "off":
            return None
        context = ssl.create_default_context(cafile=self.settings.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def _send(self, message: OutboundMessage) -> str:
        s = self.settings
        responses, text = await aiosmtplib.send(
            message.content,
            sender=message.sender,
            recipients=list(message.recipients),
            hostname=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password or None,
            start_tls=None if s.starttls == "opportunistic" else s.starttls == "required",
            tls_context=self._tls(),
            timeout=s.timeout,
        )
        refused = {r: v for r, v in responses.items() if v.code >= 400}
        if refused:
            permanent = all(v.code >= 500 for v in refused.values())
            raise SendError(f"recipients refused: {refused}", permanent=permanent)
        return f"relay {s.host}:{s.port}: {text}"

    def send(self, message: OutboundMessage) -> str:
        try:
            return asyncio.run(self._send(message))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise SendError(reason, permanent=all(c >= 500 for c in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendError(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendError(f"relay unavailable: {exc}", permanent=False) from exc
