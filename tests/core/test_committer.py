"""The link between an intake process and serve's committer: what one spools, the other makes
an item, and each side learns when the other is gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from poststelle.committer import LINE_LIMIT, CommitterGone, LinkEnd, RemoteIntake
from poststelle.intake import Intake
from poststelle.model import Channel, Envelope, Item
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore
from tests.support.acceptance import CountingStore, counting_store, spool_of, temp_files

ENVELOPE = Envelope(
    sender="buerger@example.org",
    recipients=("poststelle@amt.example", "bauamt@amt.example"),
    peer="127.0.0.1:40000",
    helo="client.example",
    tls=True,
    metadata={"note": "ümlaut"},
)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return counting_store(tmp_path / "db.sqlite3")


@dataclass
class Linked:
    remote: RemoteIntake
    handed_on: queue.Queue[Sequence[Item]]  # after the answer, by the committer thread
    ours: socket.socket  # serve's end, read by the committer thread


@asynccontextmanager
async def linked(store: SqlStore, blobs: BlobStore) -> AsyncIterator[Linked]:
    """serve's end (a committer over the real store) and an intake process's end, joined by
    a socket pair as serve joins them."""
    handed_on: queue.Queue[Sequence[Item]] = queue.Queue()
    intake = Intake(store, blobs, handed_on.put)
    ours, theirs = socket.socketpair()
    intake.attach(LinkEnd(ours, blobs))
    remote = await RemoteIntake.connect(blobs, theirs.detach())
    try:
        yield Linked(remote, handed_on, ours)
    finally:
        await remote.close()


def test_a_spool_sent_over_the_link_is_durable_and_registered_when_acceptance_returns(
    store: CountingStore, blobs: BlobStore
) -> None:
    async def accept() -> tuple[Item, queue.Queue[Sequence[Item]]]:
        async with linked(store, blobs) as ends:
            item = await ends.remote.accept_spool(spool_of(blobs, b"Hallo"), Channel.SMTP, ENVELOPE)
            return item, ends.handed_on

    item, handed_on = asyncio.run(accept())

    assert store.item(item.id) == item  # the intake process's view is the store's
    assert item.envelope == ENVELOPE
    assert blobs.read(item.sha256) == b"Hallo"
    assert temp_files(blobs) == []
    assert handed_on.get(timeout=10) == [item]


def test_a_request_for_a_file_that_is_no_spool_fails_alone(
    store: CountingStore, blobs: BlobStore
) -> None:
    store.hold_first.clear()  # both requests reach the committer before it commits

    async def two_sessions() -> list[Item | BaseException]:
        async with linked(store, blobs) as ends:
            vanished = spool_of(blobs, b"vanished")
            vanished.path.unlink()  # the name it will send names no file
            good = asyncio.ensure_future(
                ends.remote.accept_spool(spool_of(blobs, b"good"), Channel.SMTP, ENVELOPE)
            )
            bad = asyncio.ensure_future(ends.remote.accept_spool(vanished, Channel.SMTP, ENVELOPE))
            await asyncio.sleep(0.2)
            store.hold_first.set()
            return list(await asyncio.gather(good, bad, return_exceptions=True))

    good, bad = asyncio.run(two_sessions())

    assert isinstance(good, Item) and blobs.read(good.sha256) == b"good"
    assert isinstance(bad, OSError) and "no temp file" in str(bad)
    assert [item.id for item in store.items()] == [good.id]


def test_a_failed_commit_reaches_the_intake_process_and_leaves_no_file(
    store: CountingStore, blobs: BlobStore
) -> None:
    store.fail_next = True

    async def accept() -> None:
        async with linked(store, blobs) as ends:
            await ends.remote.accept_spool(spool_of(blobs, b"lost?"), Channel.SMTP, ENVELOPE)

    with pytest.raises(OSError, match="database unavailable"):
        asyncio.run(accept())

    assert temp_files(blobs) == []
    assert store.items() == []


def test_a_session_that_goes_away_still_has_its_item_accepted(
    store: CountingStore, blobs: BlobStore
) -> None:
    store.hold_first.clear()

    async def hang_up_then_send_another() -> Item:
        async with linked(store, blobs) as ends:
            session = asyncio.ensure_future(
                ends.remote.accept_spool(spool_of(blobs, b"bye"), Channel.SMTP, ENVELOPE)
            )
            await asyncio.to_thread(store.entered.wait, 10)
            session.cancel()
            store.hold_first.set()
            return await ends.remote.accept_spool(spool_of(blobs, b"next"), Channel.SMTP, ENVELOPE)

    after = asyncio.run(hang_up_then_send_another())

    assert sorted(blobs.read(item.sha256) for item in store.items()) == [b"bye", b"next"]
    assert store.item(after.id) == after


def test_when_the_committer_goes_away_the_intake_process_hears_it(
    store: CountingStore, blobs: BlobStore
) -> None:
    store.hold_first.clear()  # the first submission stays in the committer

    async def lose_the_committer() -> tuple[BaseException | Item, BaseException | Item, bool]:
        async with linked(store, blobs) as ends:
            waiting = asyncio.ensure_future(
                ends.remote.accept_spool(spool_of(blobs, b"pending"), Channel.SMTP, ENVELOPE)
            )
            await asyncio.to_thread(store.entered.wait, 10)
            ends.ours.shutdown(socket.SHUT_RDWR)  # serve's end closes
            await asyncio.wait_for(ends.remote.gone.wait(), 10)
            late = spool_of(blobs, b"late")
            after = await asyncio.gather(
                ends.remote.accept_spool(late, Channel.SMTP, ENVELOPE), return_exceptions=True
            )
            store.hold_first.set()
            pending = await asyncio.wait_for(asyncio.gather(waiting, return_exceptions=True), 10)
            return pending[0], after[0], late.path.exists()

    pending, after, late_file_left = asyncio.run(lose_the_committer())

    assert isinstance(pending, CommitterGone)
    assert isinstance(after, CommitterGone)
    assert not late_file_left


def _refused_requests(count: int) -> bytes:
    """Requests naming no spool: each is answered at once with an error, no commit needed."""
    return b"".join(
        b'{"n": %d, "file": "in-none-%d", "sha256": "00", "size": 1, "channel": "smtp",'
        b' "envelope": {}}\n' % (n, n)
        for n in range(count)
    )


def peer_of_a_link(store: SqlStore, blobs: BlobStore) -> socket.socket:
    """An intake process's end of a link to a committer, spoken by hand."""
    intake = Intake(store, blobs, lambda items: None)
    ours, theirs = socket.socketpair()
    intake.attach(LinkEnd(ours, blobs))
    theirs.settimeout(10)
    return theirs


def test_an_intake_process_that_stops_reading_its_answers_is_cut_off_and_stalls_no_one(
    store: CountingStore, blobs: BlobStore
) -> None:
    intake = Intake(store, blobs, lambda items: None)
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck = LinkEnd(ours, blobs)
    stuck.SEND_LIMIT = 16 * 1024
    intake.attach(stuck)

    theirs.sendall(_refused_requests(2000))  # about 150 KB of answers it never reads
    item = intake.accept_bytes(b"from an upload meanwhile", Channel.UPLOAD, ENVELOPE)

    assert store.item(item.id) == item
    theirs.settimeout(10)
    answers = b""
    with contextlib.suppress(ConnectionResetError):  # closed with requests still unread
        while chunk := theirs.recv(65536):
            answers += chunk
    assert 0 < answers.count(b"\n") < 2000
    assert b"no temp file" in answers.splitlines()[0]


def test_garbage_on_a_link_is_refused_and_the_next_request_still_answered(
    store: CountingStore, blobs: BlobStore
) -> None:
    theirs = peer_of_a_link(store, blobs)

    theirs.sendall(b"not json\n" + b'{"no": "number"}\n' + _refused_requests(1))
    answer = theirs.makefile("rb").readline()

    assert json.loads(answer) == {
        "n": 0,
        "error": "bad request: no temp file 'in-none-0' in the blob store",
    }


def test_a_request_longer_than_the_line_limit_closes_the_link(
    store: CountingStore, blobs: BlobStore
) -> None:
    theirs = peer_of_a_link(store, blobs)

    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        theirs.sendall(b"x" * (LINE_LIMIT + 2))

    assert theirs.recv(1) == b""
