"""The human-readable confirmation: a German PDF, PAdES-sealed (B-T) with the seal key."""

from __future__ import annotations

import asyncio
import functools
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from asn1crypto import cms, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from poststelle.confirmations.seal import Seal
from poststelle.confirmations.wording import Row, Sheet
from poststelle.ports import Timestamper

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SIGNATURE_FIELD = "Siegel"
_FONTS = {
    "DejaVuSans": "DejaVuSans.ttf",
    "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
    "DejaVuSansMono": "DejaVuSansMono.ttf",
}


@functools.cache
def _register_fonts() -> None:
    for name, file in _FONTS.items():
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / file)))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName="DejaVuSans", fontSize=9.5, leading=13)
    return {
        "title": ParagraphStyle("title", base, fontName="DejaVuSans-Bold", fontSize=17, leading=22),
        "authority": ParagraphStyle("authority", base, fontSize=11, leading=15),
        "heading": ParagraphStyle(
            "heading", base, fontName="DejaVuSans-Bold", fontSize=11, leading=15, spaceBefore=8
        ),
        "body": ParagraphStyle("body2", base, spaceAfter=4),
        "label": ParagraphStyle("label", base, fontName="DejaVuSans-Bold", fontSize=8.5),
        "value": ParagraphStyle("value", base, fontSize=8.5, leading=11),
        "mono": ParagraphStyle("mono", base, fontName="DejaVuSansMono", fontSize=7.5, leading=10),
    }


def _text(value: str) -> str:
    return escape(value).replace("\n", "<br/>")


def _table(rows: tuple[Row, ...], styles: dict[str, ParagraphStyle]) -> Table:
    data = [
        [
            Paragraph(_text(row.label), styles["label"]),
            Paragraph(_text(row.value), styles["mono" if row.mono else "value"]),
        ]
        for row in rows
    ]
    table = Table(data, colWidths=[48 * mm, 122 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def render_pdf(sheet: Sheet) -> bytes:
    """Lay the sheet out on A4 pages (DejaVu fonts, so that every umlaut prints)."""
    _register_fonts()
    styles = _styles()
    story: list[Flowable] = [
        Paragraph(_text(sheet.authority), styles["authority"]),
        Spacer(1, 3 * mm),
        Paragraph(_text(sheet.title), styles["title"]),
        Spacer(1, 4 * mm),
    ]
    story += [Paragraph(_text(line), styles["body"]) for line in sheet.intro if line]
    for section in sheet.sections:
        story.append(Paragraph(_text(section.heading), styles["heading"]))
        if section.rows:
            story.append(_table(section.rows, styles))
        story += [Paragraph(_text(line), styles["body"]) for line in section.paragraphs]
    story.append(Spacer(1, 4 * mm))
    story += [Paragraph(_text(line), styles["body"]) for line in sheet.closing if line]

    def footer(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("DejaVuSans", 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(
            20 * mm,
            12 * mm,
            f"{sheet.authority} · {sheet.title} · elektronisch gesiegelt · Seite {document.page}",
        )
        canvas.restoreState()

    out = BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=20 * mm,
        title=sheet.title,
        author=sheet.authority,
        lang="de-DE",
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


SIGNATURE_BYTES = 32 * 1024  # the CMS with the seal's chain and the time-stamp token fits


class PortTimeStamper(TimeStamper):
    """pyHanko's TimeStamper over the mailroom's `Timestamper` port (SHA-256 only)."""

    def __init__(self, port: Timestamper) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._port = port

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        if md_algorithm != "sha256":
            raise ValueError(f"the time-stamp service takes SHA-256 digests, not {md_algorithm}")
        token = await asyncio.to_thread(self._port.timestamp, message_digest)
        return cms.ContentInfo.load(token.token_der)


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _simple_signer(seal: Seal) -> signers.SimpleSigner:
    key = keys.PrivateKeyInfo.load(
        seal.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return signers.SimpleSigner(
        signing_cert=_asn1(seal.certificate),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1(c) for c in seal.chain]
        ),
    )


def seal_pdf(
    pdf: bytes, seal: Seal, timestamper: Timestamper, *, reason: str, location: str
) -> bytes:
    """PAdES B-T: a PAdES signature with the seal key and a signature time-stamp from the TSA."""
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location,
    )
    signer = signers.PdfSigner(
        metadata, _simple_signer(seal), timestamper=PortTimeStamper(timestamper)
    )
    out = BytesIO()
    # A fixed reservation: pyHanko's own estimate signs a second time (with a dummy
    # time-stamp) only to measure the size.
    signer.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)), output=out, bytes_reserved=SIGNATURE_BYTES
    )
    return out.getvalue()
