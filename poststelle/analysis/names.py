"""Safe storage names for documents whose original names are kept only as data."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 120
_UNSAFE = re.compile(r"[^\w.\- ]", re.UNICODE)


def safe_filename(original: str, index: int, content_type: str = "") -> str:
    """A name without path separators, control characters or leading dots; never empty."""
    name = unicodedata.normalize("NFC", original or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _UNSAFE.sub("_", name).strip(" .")
    if not name:
        name = f"dokument-{index}{_extension_for(content_type)}"
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:10] if dot and len(ext) <= 10 else ""
        name = (stem if dot else name)[: MAX_NAME - len(ext) - 1] + (f".{ext}" if ext else "")
    return name


def _extension_for(content_type: str) -> str:
    return {
        "text/plain": ".txt",
        "text/html": ".html",
        "application/pdf": ".pdf",
        "image/jpeg": ".jpg",
        "image/png": ".png",
        "message/rfc822": ".eml",
        "application/pkcs7-signature": ".p7s",
        "application/pkcs7-mime": ".p7m",
    }.get(content_type, ".bin")
