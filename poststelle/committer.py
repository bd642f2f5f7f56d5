"""The link between intake processes and serve's committer, which makes their spools items.

With `[smtp] processes` above one, serve speaks no SMTP itself: it starts that many intake
processes on the shared port and hands each one end of a socket pair. An intake process
spools and closes each message and sends its temp file's name over the link; serve's one
committer thread (`poststelle.intake.GroupCommit`) makes the files of all intake processes
durable together and registers them, and the link carries back each registry number. The
intake processes hold no database connection and no GIL shared with commits; there is one
writer, so no SQLite write lock taken in turns. One JSON document per line, each way:

    {"n": 7, "file": "in-host-4242-17", "sha256": "…", "size": 4096, "channel": "smtp",
     "envelope": {…}}
    {"n": 7, "id": "…", "registry_number": "2026-000042", "received_at": "…"}
    {"n": 7, "error": "…"}

The file belongs to the committer once its line is sent: adopted, or removed if it cannot be.
serve's committer thread reads and answers the links itself (`LinkEnd`), beside the
submissions of serve's own channels.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog

from poststelle.intake import Outcome, Reply, Submission
from poststelle.model import Channel, Envelope, Item, ItemState
from poststelle.serialize import from_jsonable, to_jsonable
from poststelle.store.blobs import BlobStore, StoredBlob
from poststelle.store.spool import Spool, SpooledFile

log = structlog.get_logger("poststelle.committer")

LINE_LIMIT = 1024 * 1024  # an envelope of 100 recipients of 256 characters is ~30 KB
RECEIVE_SIZE = 64 * 1024  # recv(2) at a time: a buffer of LINE_LIMIT would be mapped anew each call


class CommitterGone(ConnectionError):
    """The link to serve's committer is closed: nothing more can be accepted here."""


def _line(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


class RemoteIntake:
    """An intake process's acceptance (`poststelle.intake.Acceptance`): spools are written
    here and committed by serve. `gone` is set when the link closes; the process should then
    end, and serve starts a new one with a new link."""

    def __init__(
        self, blobs: BlobStore, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.blobs = blobs
        self.gone = asyncio.Event()
        self._writer = writer
        self._numbers = itertools.count()
        self._pending: dict[int, tuple[asyncio.Future[Item], SpooledFile, Channel, Envelope]] = {}
        self._replies = asyncio.create_task(self._read_replies(reader))

    @classmethod
    async def connect(cls, blobs: BlobStore, fd: int) -> RemoteIntake:
        """Over the socket serve handed this process as descriptor `fd`."""
        reader, writer = await asyncio.open_unix_connection(
            sock=socket.socket(fileno=fd), limit=LINE_LIMIT
        )
        return cls(blobs, reader, writer)

    async def accept_spool(self, spool: Spool, channel: Channel, envelope: Envelope) -> Item:
        if self.gone.is_set():
            spool.discard()
            raise CommitterGone("the link to the committer is closed")
        try:
            spooled = SpooledFile(spool.path, spool.finish())
        except OSError:
            spool.discard()
            raise
        number = next(self._numbers)
        future: asyncio.Future[Item] = asyncio.get_running_loop().create_future()
        self._pending[number] = (future, spooled, channel, envelope)
        self._writer.write(
            _line(
                {
                    "n": number,
                    "file": spooled.path.name,
                    "sha256": spooled.blob.sha256,
                    "size": spooled.blob.size,
                    "channel": channel.value,
                    "envelope": to_jsonable(envelope),
                }
            )
        )
        await self._writer.drain()
        return await future

    async def close(self) -> None:
        self._writer.close()
        await self._replies

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                self._settle(json.loads(line))
        except (OSError, ValueError) as exc:
            log.error("committer.link_broken", error=str(exc))
        finally:
            self.gone.set()
            for future, *_ in self._pending.values():
                if not future.done():
                    future.set_exception(CommitterGone("the committer went away"))
            self._pending.clear()

    def _settle(self, reply: Mapping[str, Any]) -> None:
        pending = self._pending.pop(reply.get("n", -1), None)
        if pending is None:
            log.error("committer.unexpected_reply", reply=reply)
            return
        future, spooled, channel, envelope = pending
        if future.done():  # the session went away meanwhile; its item stands all the same
            return
        if "error" in reply:
            future.set_exception(OSError(reply["error"]))
            return
        future.set_result(
            Item(
                id=reply["id"],
                registry_number=reply["registry_number"],
                channel=channel,
                received_at=datetime.fromisoformat(reply["received_at"]),
                sha256=spooled.blob.sha256,
                size=spooled.blob.size,
                envelope=envelope,
                state=ItemState.RECEIVED,
            )
        )


class LinkEnd:
    """serve's end of one intake process's link, read and answered by the committer thread
    (`poststelle.intake.GroupCommit.attach`) without blocking: answers the intake process does
    not take wait, and one that leaves `SEND_LIMIT` of them untaken is cut off (it ends, and
    serve starts another)."""

    SEND_LIMIT = 1024 * 1024

    def __init__(self, link: socket.socket, blobs: BlobStore) -> None:
        link.setblocking(False)
        self._link = link
        self._blobs = blobs
        self._received = bytearray()
        self._unsent = bytearray()
        self._closed = False

    def fileno(self) -> int:
        return self._link.fileno()

    @property
    def sending(self) -> bool:
        return bool(self._unsent) and not self._closed

    def receive(self) -> list[tuple[Submission, Reply]] | None:
        try:
            data = self._link.recv(RECEIVE_SIZE)
        except BlockingIOError:
            return []
        except OSError as exc:
            log.error("committer.link_broken", error=str(exc))
            return None
        if not data:
            return None
        self._received += data
        *lines, rest = self._received.split(b"\n")
        if len(rest) > LINE_LIMIT:
            log.error("committer.link_broken", error="a request over the line limit")
            return None
        self._received = bytearray(rest)
        return [submission for line in lines if (submission := self._request(line))]

    def send(self) -> bool:
        if self._closed:
            return True
        try:
            sent = self._link.send(self._unsent)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            log.error("committer.link_broken", error=str(exc))
            return False
        del self._unsent[:sent]
        if len(self._unsent) > self.SEND_LIMIT:
            log.error("committer.link_stuck", unsent=len(self._unsent))
            return False
        return True

    def close(self) -> None:
        self._closed = True
        self._link.close()

    def _request(self, line: bytes | bytearray) -> tuple[Submission, Reply] | None:
        try:
            request = json.loads(line)
            number = request["n"]
        except (ValueError, KeyError, TypeError) as exc:
            log.error("committer.bad_request", error=str(exc))
            return None
        try:
            spooled = SpooledFile(
                self._blobs.temp_path(request["file"]),
                StoredBlob(str(request["sha256"]), int(request["size"])),
            )
            self._blobs.path(spooled.blob.sha256)  # a malformed name would fail the whole batch
            channel = Channel(request["channel"])
            envelope = from_jsonable(Envelope, request["envelope"])
        except (ValueError, KeyError, TypeError) as exc:
            self._answer(number, {"error": f"bad request: {exc}"})
            return None
        return Submission(spooled, channel, envelope), functools.partial(self._reply, number)

    def _reply(self, number: int, outcome: Outcome) -> None:
        if isinstance(outcome, Exception):
            log.error("committer.accept_failed", error=str(outcome))
            self._answer(number, {"error": str(outcome) or type(outcome).__name__})
            return
        self._answer(
            number,
            {
                "id": outcome.id,
                "registry_number": outcome.registry_number,
                "received_at": outcome.received_at.isoformat(),
            },
        )

    def _answer(self, number: int, reply: Mapping[str, Any]) -> None:
        if not self._closed:
            self._unsent += _line({"n": number, **reply})
