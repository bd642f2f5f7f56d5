"""Acceptance: make a submission durable as a new item before anyone is told it arrived."""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import structlog

from poststelle.model import Channel, Envelope, Item
from poststelle.store.blobs import BlobStore, StoredBlob
from poststelle.store.spool import Spool, SpooledFile
from poststelle.store.sql import SqlStore

log = structlog.get_logger("poststelle.intake")


@dataclass(frozen=True, slots=True)
class Submission:
    # a spool still open, a spool closed (here or by an intake process), or a stored blob
    content: Spool | SpooledFile | StoredBlob
    channel: Channel
    envelope: Envelope


class Acceptance(Protocol):
    """What an ingress needs: a blob store to spool into, and a spool made an item."""

    blobs: BlobStore

    async def accept_spool(self, spool: Spool, channel: Channel, envelope: Envelope) -> Item: ...


Outcome = Item | Exception
AsyncWaiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Item]"]
Reply = Callable[[Outcome], None]  # called in the committer thread
Waiter = Future[Item] | AsyncWaiter | Reply


class Link(Protocol):
    """Another process's submissions, read and answered by the committer thread itself
    (`poststelle.committer.LinkEnd`); non-blocking both ways."""

    def fileno(self) -> int: ...

    def receive(self) -> list[tuple[Submission, Reply]] | None:
        """What has arrived (answering malformed requests itself); None once it is closed."""

    def send(self) -> bool:
        """Send what answers are waiting, as far as the peer takes them; False if it is gone."""

    @property
    def sending(self) -> bool:
        """Answers are still waiting to be sent."""

    def close(self) -> None: ...


def _resolve(future: Future[Item] | asyncio.Future[Item], outcome: Outcome) -> None:
    if future.done():  # the submitter went away meanwhile; its item is accepted all the same
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle(settled: list[tuple[asyncio.Future[Item], Outcome]]) -> None:
    for future, outcome in settled:
        _resolve(future, outcome)


class GroupCommit:
    """A committer thread makes concurrent submissions durable together.

    It takes everything pending as one batch (`commit`: the files flushed to disk together, one
    database commit), tells each submitter, hands the batch's items on together (`after`), and
    waits for the next. Submitters in this process queue theirs (an event loop is woken once per
    batch, and its thread never waits for a disk); links to intake processes (`attach`) are
    read and answered by the thread itself, in one select(2) with its wake-up pipe, so their
    traffic passes through no event loop and no other thread. The thread starts with the first
    submission or link and stays: the store keeps a connection per thread, and a thread per idle
    spell would leave one connection behind each time.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[Submission]], list[Outcome]],
        after: Callable[[Sequence[Item]], None],
    ) -> None:
        self._commit = commit
        self._after = after
        self._lock = threading.Lock()
        self._pending: list[tuple[Submission, Waiter]] = []
        self._attached: list[Link] = []
        self._woken = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._links: set[Link] = set()
        self._thread: threading.Thread | None = None

    def submit(self, submission: Submission) -> Future[Item]:
        future: Future[Item] = Future()
        self._enqueue(submission, future)
        return future

    def submit_async(self, submission: Submission) -> asyncio.Future[Item]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Item] = loop.create_future()
        self._enqueue(submission, (loop, future))
        return future

    def attach(self, link: Link) -> None:
        """Commit what `link` sends from now on, until its peer hangs up."""
        with self._lock:
            self._attached.append(link)
            self._wake()

    def _enqueue(self, submission: Submission, waiter: Waiter) -> None:
        with self._lock:
            self._pending.append((submission, waiter))
            self._wake()

    def _wake(self) -> None:
        """Under the lock: one byte in the pipe per wait of the thread, not per submission."""
        if not self._woken:
            self._woken = True
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"\0")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="intake-commit", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._gather()
            submissions = [submission for submission, _ in batch]
            try:
                outcomes = self._commit(submissions)
            except Exception as exc:  # every submitter hears of it
                outcomes = [exc] * len(batch)
            _tell([waiter for _, waiter in batch], outcomes)
            self._answer_links()
            items = [outcome for outcome in outcomes if isinstance(outcome, Item)]
            if items:
                self._hand_on(items)

    def _gather(self) -> list[tuple[Submission, Waiter]]:
        """Wait for submissions; take all that have arrived, from this process and the links."""
        batch: list[tuple[Submission, Waiter]] = []
        while not batch:
            for key, events in self._selector.select():
                link: Link | None = key.data
                if link is None:
                    _drain(self._wake_r)
                    continue
                if events & selectors.EVENT_WRITE:
                    self._answer(link)
                if events & selectors.EVENT_READ and link in self._links:
                    received = self._receive(link)
                    if received is None:
                        self._detach(link)
                    else:
                        batch += received
            with self._lock:
                batch += self._pending
                self._pending, self._woken = [], False
                attached, self._attached = self._attached, []
            for link in attached:
                self._links.add(link)
                self._selector.register(link, selectors.EVENT_READ, link)
            self._answer_links()  # malformed requests are answered at once
        return batch

    def _receive(self, link: Link) -> list[tuple[Submission, Reply]] | None:
        """What a link sent; None to close it, also if reading it fails in a way it did not
        foresee: that link ends, the thread and every other link go on."""
        try:
            return link.receive()
        except Exception:
            log.exception("committer.link_failed")
            return None

    def _answer_links(self) -> None:
        for link in [link for link in self._links if link.sending]:
            self._answer(link)

    def _answer(self, link: Link) -> None:
        """Send a link's answers without waiting for it: what it does not take now waits
        for it to become writable, and a peer that takes nothing more is cut off."""
        if link not in self._links:
            return
        if not link.send():
            self._detach(link)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if link.sending else 0)
        if self._selector.get_key(link).events != events:
            self._selector.modify(link, events, link)

    def _detach(self, link: Link) -> None:
        self._links.discard(link)
        self._selector.unregister(link)
        link.close()

    def _hand_on(self, items: Sequence[Item]) -> None:
        """Never lets an error end the thread: acceptance would stop for good. The items are
        stored; the reconciler re-drives what was not handed on."""
        try:
            self._after(items)
        except Exception:
            log.exception("intake.hand_on_failed", registry_numbers=_numbers(items))


def _drain(fd: int) -> None:
    """Empty the wake-up pipe: it holds at most the one byte of the current wait."""
    with contextlib.suppress(BlockingIOError):
        os.read(fd, 4096)


def _tell(waiters: list[Waiter], outcomes: list[Outcome]) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Item], Outcome]]]
    by_loop = defaultdict(list)
    for waiter, outcome in zip(waiters, outcomes, strict=True):
        if isinstance(waiter, Future):
            _resolve(waiter, outcome)
        elif isinstance(waiter, tuple):
            loop, future = waiter
            by_loop[loop].append((future, outcome))
        else:
            waiter(outcome)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            continue


class Intake:
    """Store the bytes, register the item, then hand it to the pipeline.

    When an `accept_*` call returns, bytes and item are on disk. Handing on may fail (a broker
    that is down); the item is then re-driven by the reconciler, so acceptance still succeeds.
    A spool handed to `accept_spool` belongs to the intake: it is made durable and adopted,
    or discarded if that fails.
    """

    def __init__(
        self,
        store: SqlStore,
        blobs: BlobStore,
        on_accepted: Callable[[Sequence[Item]], None],
    ) -> None:
        self.store = store
        self.blobs = blobs
        self._on_accepted = on_accepted
        self._group = GroupCommit(self._commit, self._hand_on)

    async def accept_spool(self, spool: Spool, channel: Channel, envelope: Envelope) -> Item:
        """From an event loop: adopt and register a spool in the committer thread."""
        return await self._group.submit_async(Submission(spool, channel, envelope))

    def attach(self, link: Link) -> None:
        """Adopt and register the files an intake process spools, as it sends them over
        `link` (`poststelle.committer`)."""
        self._group.attach(link)

    def accept_spool_blocking(self, spool: Spool, channel: Channel, envelope: Envelope) -> Item:
        return self._group.submit(Submission(spool, channel, envelope)).result()

    def accept_bytes(self, data: bytes, channel: Channel, envelope: Envelope) -> Item:
        submission = Submission(self.blobs.put(data), channel, envelope)
        return self._group.submit(submission).result()

    def _commit(self, batch: Sequence[Submission]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        stored: list[tuple[int, StoredBlob]] = []
        files: list[SpooledFile] = []
        for index, submission in enumerate(batch):
            content = submission.content
            if isinstance(content, StoredBlob):
                stored.append((index, content))
                continue
            if isinstance(content, Spool):
                try:
                    content = SpooledFile(content.path, content.finish())
                except OSError as exc:
                    content.discard()
                    outcomes[index] = exc
                    continue
            files.append(content)
            stored.append((index, content.blob))
        if not stored:
            return [outcomes[index] for index in range(len(batch))]
        try:
            self.blobs.adopt_many([(file.path, file.blob) for file in files])
            items = self.store.accept_many(
                [(batch[i].channel, batch[i].envelope, blob) for i, blob in stored]
            )
        except Exception:
            for file in files:
                file.discard()
            raise
        for (index, _), item in zip(stored, items, strict=True):
            outcomes[index] = item
        return [outcomes[index] for index in range(len(batch))]

    def _hand_on(self, items: Sequence[Item]) -> None:
        for item in items:
            log.info(
                "item.accepted",
                registry_number=item.registry_number,
                channel=item.channel.value,
                size=item.size,
                sha256=item.sha256,
            )
        try:
            self._on_accepted(items)
        except Exception as exc:  # the reconciler re-drives them
            log.warning("item.enqueue_failed", registry_numbers=_numbers(items), error=str(exc))


def _numbers(items: Sequence[Item]) -> list[str]:
    return [item.registry_number for item in items]
