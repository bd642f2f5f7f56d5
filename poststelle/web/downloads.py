"""An item's files as responses: the original message, one document, the Prüfprotokoll."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from poststelle.config import Config
from poststelle.dossier import Dossier
from poststelle.export.xdomea import Party, geschaeftsgang_zip
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


def delivery_record(blobs: BlobStore, dossier: Dossier, part: str) -> Response:
    """The sealed Zustellnachweis: `part` "xml" (the record) or "p7s" (its CMS signature)."""
    made = dossier.delivery_record
    if made is None or part not in ("xml", "p7s"):
        raise HTTPException(404)
    sha256 = made[0] if part == "xml" else made[1]
    return FileResponse(
        blobs.path(sha256),
        media_type="application/xml" if part == "xml" else "application/pkcs7-signature",
        filename=f"Zustellnachweis-{dossier.item.registry_number}.{part}",
    )


def xdomea(blobs: BlobStore, dossier: Dossier, authority: str, department_title: str) -> Response:
    """The item as an xdomea 3.1.0 Geschaeftsgang.0201 message for the e-file system."""
    data = geschaeftsgang_zip(
        dossier,
        sender=Party(authority, "Poststelle"),
        recipient=Party(authority, department_title),
        read=blobs.read,
        now=datetime.now(UTC),
    )
    name = f"{dossier.item.registry_number}_Geschaeftsgang.0201.zip"
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def protocol(dossier: Dossier) -> Response:
    html = dossier.protocol_html()
    if html is None:
        raise HTTPException(404)
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


DossierOf = Callable[[Request], Awaitable[Dossier]]


def file_routes(
    prefix: str, dossier_of: DossierOf, blobs: BlobStore, config: Config
) -> list[Route]:
    """GET routes under `prefix` for an item's files; `dossier_of` checks who may see it."""

    def route(path: str, serve: Callable[[Dossier, Request], Response]) -> Route:
        async def endpoint(request: Request) -> Response:
            return serve(await dossier_of(request), request)

        return Route(prefix + path, endpoint, methods=["GET"])

    def department_title(dossier: Dossier) -> str:
        department = config.departments.get(dossier.item.department or "")
        return department.title if department else "Poststelle"

    return [
        route("/original", lambda d, r: original(blobs, d)),
        route("/dokumente/{sha256}", lambda d, r: document(blobs, d, r.path_params["sha256"])),
        route("/pruefprotokoll", lambda d, r: protocol(d)),
        route(
            "/zustellnachweis.{part}",
            lambda d, r: delivery_record(blobs, d, r.path_params["part"]),
        ),
        route("/xdomea", lambda d, r: xdomea(blobs, d, config.authority, department_title(d))),
    ]
