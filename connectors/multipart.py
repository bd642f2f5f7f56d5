"""Read a multipart/form-data body as it streams: fields into bounded memory, files to spools."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from poststelle.store.spool import Spool

MAX_FIELD_BYTES = 1024 * 1024  # an eID assertion is the largest field we take
MAX_PARTS = 64


class FormError(ValueError):
    """The body is not well-formed multipart, or a part breaks a limit."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass
class UploadedFile:
    field_name: str
    filename: str
    content_type: str
    spool: Spool


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def first(self, name: str) -> str:
        values = self.fields.get(name, [])
        return values[0].strip() if values else ""

    def fingerprint(self) -> str:
        """What the form says, independent of its encoding (boundary, part order of fields),
        to recognise a retried request."""
        stated = {
            "fields": sorted(self.fields.items()),
            "files": [
                (f.field_name, f.filename, f.content_type, f.spool.digest.hexdigest())
                for f in self.files
            ],
        }
        return hashlib.sha256(json.dumps(stated, sort_keys=True).encode()).hexdigest()

    def discard(self) -> None:
        for uploaded in self.files:
            uploaded.spool.discard()


def boundary_of(content_type: str) -> bytes:
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary", b"")
    if kind != b"multipart/form-data" or not boundary:
        raise FormError("expected multipart/form-data with a boundary")
    return boundary


async def read_form(
    content_type: str,
    body: AsyncIterator[bytes],
    open_spool: Callable[[], Spool],
    *,
    max_file_bytes: int,
    max_total_bytes: int,
) -> Form:
    """Parse the whole body; on any error every spool opened so far is discarded."""
    form = Form()
    state = _PartState()
    received = 0

    def on_part_begin() -> None:
        if len(form.fields) + len(form.files) >= MAX_PARTS:
            raise FormError(f"more than {MAX_PARTS} parts")
        state.reset()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_name += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        state.headers[bytes(state.header_name).lower()] = bytes(state.header_value)
        state.header_name.clear()
        state.header_value.clear()

    def on_headers_finished() -> None:
        disposition, params = parse_options_header(state.headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise FormError("a part without Content-Disposition: form-data; name=…")
        state.name = params[b"name"].decode("utf-8", "replace")
        if b"filename" in params:
            ctype = state.headers.get(b"content-type", b"application/octet-stream")
            spool = open_spool()
            form.files.append(
                UploadedFile(
                    state.name,
                    params[b"filename"].decode("utf-8", "replace"),
                    ctype.decode("latin-1").strip(),
                    spool,
                )
            )
            state.spool = spool

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if state.spool is not None:
            if state.spool.size + len(chunk) > max_file_bytes:
                raise FormError(f"a document is larger than {max_file_bytes} bytes", too_large=True)
            state.spool.write(chunk)
        else:
            if len(state.value) + len(chunk) > MAX_FIELD_BYTES:
                raise FormError(f"field {state.name!r} is too long", too_large=True)
            state.value += chunk

    def on_part_end() -> None:
        if state.spool is not None:
            state.spool.flush()
        else:
            text = bytes(state.value).decode("utf-8", "replace")
            form.fields.setdefault(state.name, []).append(text)

    parser = MultipartParser(
        boundary_of(content_type),
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in body:
            received += len(chunk)
            if received > max_total_bytes:
                raise FormError(
                    f"the request is larger than {max_total_bytes} bytes", too_large=True
                )
            parser.write(chunk)
        parser.finalize()
    except (FormError, OSError):  # OSError: the spool could not be written (disk full …)
        form.discard()
        raise
    except Exception as exc:  # python-multipart's own parse errors
        form.discard()
        raise FormError(f"malformed multipart body: {exc}") from exc
    return form


@dataclass
class _PartState:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    name: str = ""
    value: bytearray = field(default_factory=bytearray)
    spool: Spool | None = None

    def reset(self) -> None:
        self.headers = {}
        self.name = ""
        self.value = bytearray()
        self.spool = None
