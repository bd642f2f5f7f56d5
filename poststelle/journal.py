"""The hash-chained journal: how entries are sealed and how a chain is checked."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from poststelle.model import JournalEntry

GENESIS_HASH = "0" * 64


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    item_id: str | None,
    event: str,
    data: Mapping[str, Any],
) -> str:
    """SHA-256 over the previous hash and a canonical JSON rendering of the entry."""
    body = json.dumps(
        [seq, at.isoformat(), item_id, event, data],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode("utf-8")).hexdigest()


class UnreadableEntry(Exception):
    """A stored entry cannot even be read back (a field no longer parses)."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"entry {seq}: {reason}")
        self.seq = seq
        self.reason = reason


@dataclass(frozen=True, slots=True)
class JournalProblem:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class JournalVerdict:
    entries: int
    head_hash: str
    problem: JournalProblem | None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_chain(
    entries: Iterable[JournalEntry], *, expected_head: tuple[int, str] | None = None
) -> JournalVerdict:
    """Check an ordered chain; name the first entry that was changed, reordered or removed.

    `expected_head` is the (seq, hash) the store recorded separately for its last entry, so that
    cutting entries off the end is noticed too.
    """
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    try:
        for entry in entries:
            problem = _check(entry, expected_seq, prev_hash)
            if problem is not None:
                return JournalVerdict(count, prev_hash, problem)
            prev_hash = entry.hash
            expected_seq += 1
            count += 1
    except UnreadableEntry as exc:
        return JournalVerdict(count, prev_hash, JournalProblem(exc.seq, exc.reason))
    if expected_head is not None and expected_head != (count, prev_hash):
        head_seq, _ = expected_head
        reason = f"the journal ends at entry {count} but its recorded head is entry {head_seq}"
        return JournalVerdict(count, prev_hash, JournalProblem(count + 1, reason))
    return JournalVerdict(count, prev_hash, None)


def _check(entry: JournalEntry, expected_seq: int, prev_hash: str) -> JournalProblem | None:
    if entry.seq != expected_seq:
        reason = (
            f"entry {expected_seq} is missing (next entry found is {entry.seq})"
            if entry.seq > expected_seq
            else f"entry {entry.seq} is out of order (expected {expected_seq})"
        )
        return JournalProblem(expected_seq, reason)
    if entry.prev_hash != prev_hash:
        reason = "does not link to the entry before it (reordered, or an earlier one changed)"
        return JournalProblem(entry.seq, reason)
    recomputed = entry_hash(
        entry.prev_hash, entry.seq, entry.at, entry.item_id, entry.event, entry.data
    )
    if recomputed != entry.hash:
        return JournalProblem(entry.seq, "content does not match its hash (the entry was changed)")
    return None
