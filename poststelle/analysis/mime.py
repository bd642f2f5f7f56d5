"""MIME analysis: header facts and the documents of a message, never an exception for any input."""

from __future__ import annotations

import base64
import binascii
import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.message import Message

from poststelle.analysis.limits import MimeLimits
from poststelle.analysis.names import safe_filename

_BOUNDARY_LINE = re.compile(rb"^--", re.M)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_TEXT_BODIES = ("text/plain", "text/html")
PARSE_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Document:
    index: int
    role: str  # "body", "attachment" or "inline"
    original_name: str
    safe_name: str
    content_type: str
    size: int
    sha256: str
    part_path: str  # "1.2": second child of the first child of the root


@dataclass(frozen=True, slots=True)
class MessageAnalysis:
    parseable: bool
    problem: str
    defects: tuple[str, ...]
    from_address: str
    to: str
    subject: str
    date: str
    message_id: str
    documents: tuple[Document, ...]


@dataclass(frozen=True, slots=True)
class Analysed:
    """The analysis and, in the same order as its documents, their decoded bytes."""

    analysis: MessageAnalysis
    payloads: tuple[bytes, ...]


def _unparseable(problem: str) -> Analysed:
    return Analysed(MessageAnalysis(False, problem, (), "", "", "", "", "", ()), ())


def _prescan(raw: bytes, limits: MimeLimits) -> str:
    """Refuse, before parsing, what would make the parser itself the attack surface."""
    if len(raw) > limits.max_bytes:
        return f"the message is larger than {limits.max_bytes} bytes"
    end = _HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    if end is None and len(raw) > limits.max_header_bytes:
        return f"the header block is longer than {limits.max_header_bytes} bytes"
    if len(_BOUNDARY_LINE.findall(raw)) > 2 * limits.max_parts + 2:
        return f"the message has more than {limits.max_parts} MIME parts"
    return ""


def _unescaped(text: str) -> str:
    """Raw 8-bit bytes in a header (not RFC 2047) reach us as surrogate escapes: read them
    as UTF-8, and what is not UTF-8 as U+FFFD, so that the value can be stored and shown."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _header(message: Message, name: str, limits: MimeLimits) -> str:
    """A header's decoded value; structural parsing only for values of bounded length."""
    raw = next(
        (_unescaped(str(v)) for k, v in message.raw_items() if k.lower() == name.lower()), ""
    )
    if not raw:
        return ""
    if len(raw) > limits.max_header_value_bytes:
        return raw[: limits.max_header_value_bytes]
    try:
        return str(make_header(decode_header(raw))).strip()
    except (ValueError, LookupError, UnicodeError):
        return raw.strip()


def _filename(part: Message, limits: MimeLimits) -> str:
    for header in ("content-disposition", "content-type"):
        value = _header(part, header, limits)
        if len(value) >= limits.max_header_value_bytes:
            return ""
    try:
        return _unescaped(str(part.get_filename() or ""))
    except (ValueError, LookupError, UnicodeError, TypeError):
        return ""


def _role(part: Message, name: str, content_type: str) -> str:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment" or (name and disposition != "inline"):
        return "attachment"
    if disposition == "inline" and name:
        return "inline"
    return "body" if content_type in _TEXT_BODIES else "attachment"


def _base64(part: Message) -> bytes | None:
    """A base64 body decoded in one step, or None where that fails (bad padding) and the email
    package's repairs are wanted. Its own decoding splits the text into lines and joins them
    again first: for a large attachment that alone held three times its size."""
    payload = part.get_payload()
    if str(part.get("content-transfer-encoding", "")).strip().lower() != "base64":
        return None
    if not isinstance(payload, str):
        return None
    try:
        return base64.b64decode(payload.encode("ascii", "surrogateescape"))
    except (binascii.Error, ValueError):
        return None


def _payload(part: Message, defects: list[str], path: str) -> bytes:
    if part.get_content_type() == "message/rfc822" or isinstance(part.get_payload(), list):
        return part.as_bytes(policy=email.policy.compat32)
    decoded = _base64(part)
    if decoded is not None:
        return decoded
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError) as exc:
        defects.append(f"{path}: payload cannot be decoded ({exc})")
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return bytes(data)


def _walk(root: Message, limits: MimeLimits) -> tuple[list[Document], list[bytes], list[str], str]:
    documents: list[Document] = []
    payloads: list[bytes] = []
    defects: list[str] = [f"message: {type(d).__name__}" for d in root.defects]
    stack: list[tuple[Message, str, int]] = [(root, "1", 0)]
    seen = 0
    while stack:
        part, path, depth = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            return documents, payloads, defects, f"more than {limits.max_parts} MIME parts"
        if depth > limits.max_depth:
            return documents, payloads, defects, f"MIME nesting deeper than {limits.max_depth}"
        defects += [f"{path}: {type(d).__name__}" for d in part.defects if part is not root]
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            children = part.get_payload()
            assert isinstance(children, list)
            stack += [
                (child, f"{path}.{i}", depth + 1)
                for i, child in reversed(list(enumerate(children, start=1)))
            ]
            continue
        content_type = part.get_content_type()
        name = _filename(part, limits)
        data = _payload(part, defects, path)
        index = len(documents) + 1
        documents.append(
            Document(
                index=index,
                role=_role(part, name, content_type),
                original_name=name,
                safe_name=safe_filename(name, index, content_type),
                content_type=content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                part_path=path,
            )
        )
        payloads.append(data)
    return documents, payloads, defects, ""


def _parse(raw: bytes) -> Message:
    """The email package's parse, fed in chunks: given the whole message at once it first
    makes one string of it and a list of all its lines (seven times the message at the peak)."""
    parser = BytesFeedParser(policy=email.policy.compat32)
    view = memoryview(raw)
    for start in range(0, len(view), PARSE_CHUNK):
        parser.feed(bytes(view[start : start + PARSE_CHUNK]))
    return parser.close()


def analyse_message(raw: bytes, limits: MimeLimits) -> Analysed:
    """Analyse a message; anything it cannot handle is reported as a problem, never raised."""
    problem = _prescan(raw, limits)
    if problem:
        return _unparseable(problem)
    try:
        message = _parse(raw)
        documents, payloads, defects, problem = _walk(message, limits)
        analysis = MessageAnalysis(
            parseable=not problem,
            problem=problem,
            defects=tuple(defects),
            from_address=_header(message, "From", limits),
            to=_header(message, "To", limits),
            subject=_header(message, "Subject", limits),
            date=_header(message, "Date", limits),
            message_id=_header(message, "Message-ID", limits),
            documents=tuple(documents) if not problem else (),
        )
        return Analysed(analysis, tuple(payloads) if not problem else ())
    except RecursionError:
        return _unparseable(f"MIME nesting deeper than {limits.max_depth}")
    except Exception as exc:  # the boundary: no input may crash the stage
        return _unparseable(f"the message cannot be parsed: {type(exc).__name__}: {exc}")
