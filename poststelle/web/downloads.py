"""An item's files as responses: the original message, one document, the Prüfprotokoll."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

from poststelle.dossier import Dossier
from poststelle.store.blobs import BlobStore

INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg", "text/plain"}


def original(blobs: BlobStore, dossier: Dossier) -> Response:
    item = dossier.item
    return FileResponse(
        blobs.path(item.sha256),
        media_type="message/rfc822",
        filename=f"{item.registry_number}.eml",
    )


def document(blobs: BlobStore, dossier: Dossier, sha256: str) -> Response:
    """A document of this item only (a blob of another item's is not reachable this way)."""
    found = dossier.document(sha256)
    if found is None:
        raise HTTPException(404)
    inline = found.content_type in INLINE_TYPES
    return FileResponse(
        blobs.path(found.sha256),
        media_type=found.content_type if inline else "application/octet-stream",
        filename=found.safe_name,
        content_disposition_type="inline" if inline else "attachment",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


def protocol(dossier: Dossier) -> Response:
    html = dossier.protocol_html()
    if html is None:
        raise HTTPException(404)
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})
