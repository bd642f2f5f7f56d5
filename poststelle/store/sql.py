"""The store: items, stage results, deliveries, sent mail and the journal, in one SQL database.

Every change and its journal entry are written in one transaction; a write returns only when the
database has made it durable.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from poststelle.journal import GENESIS_HASH, UnreadableEntry, entry_hash
from poststelle.model import (
    Channel,
    Delivery,
    Envelope,
    Item,
    ItemState,
    JournalEntry,
    StageResult,
)
from poststelle.serialize import from_jsonable, to_jsonable
from poststelle.store.backends import Backend, Row, Transaction
from poststelle.store.blobs import StoredBlob
from poststelle.store.schema import MIGRATIONS

Clock = Callable[[], datetime]

_ITEM_COLUMNS = (
    "id, registry_number, channel, received_at, sha256, size, envelope, state, department"
)


_SHA256 = re.compile(r"\b[0-9a-f]{64}\b")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _dumps(data: Any) -> str:
    return json.dumps(to_jsonable(data), sort_keys=True, ensure_ascii=False)


ROWS_PER_INSERT = 500  # 10 columns: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters


def _insert_rows(tx: Transaction, into: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """`INSERT INTO {into} VALUES (…), (…), …`: a batch in one statement (per 500 rows). For
    the intake's committer every statement is a release of the GIL, and getting it back waits
    for the SMTP event loop."""
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        values = ", ".join(["(" + ", ".join("?" * len(chunk[0])) + ")"] * len(chunk))
        tx.execute(f"INSERT INTO {into} VALUES {values}", [v for row in chunk for v in row])


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """A journal entry before it has its number and seal."""

    item_id: str | None
    event: str
    data: Mapping[str, Any]
    at: datetime


def _received(item: Item) -> dict[str, Any]:
    return {
        "registry_number": item.registry_number,
        "channel": item.channel.value,
        "sha256": item.sha256,
        "size": item.size,
        "sender": item.envelope.sender,
        "recipients": list(item.envelope.recipients),
    }


def _filters(
    states: Sequence[ItemState],
    department: str | None,
    channel: Channel | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if states:
        clauses.append(f"state IN ({', '.join('?' for _ in states)})")
        params += [s.value for s in states]
    for column, value in (("department", department), ("channel", channel)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("received_at >= ?")
        params.append(since.isoformat())
    if until is not None:
        clauses.append("received_at < ?")
        params.append(until.isoformat())
    return clauses, params


class SqlStore:
    """The single source of truth. Backend-neutral: SQLite or PostgreSQL underneath."""

    def __init__(self, backend: Backend, *, clock: Clock = utcnow) -> None:
        self.backend = backend
        self._clock = clock

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to the newest version; return that version. A current schema is
        only read, so that starting a process never waits for (or blocks) a writer."""
        newest = MIGRATIONS[-1][0]
        if self.backend.has_table("schema_version"):
            with self.backend.read() as tx:
                found = tx.execute("SELECT MAX(version) FROM schema_version")[0][0] or 0
            if found >= newest:
                return int(found)
        self.backend.executescript(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
        )
        with self.backend.write() as tx:
            rows = tx.execute("SELECT MAX(version) FROM schema_version")
            current = rows[0][0] or 0
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            statements = [s.strip() for s in script.split(";") if s.strip()]
            with self.backend.write() as tx:
                for statement in statements:
                    tx.execute(statement.replace("{genesis}", GENESIS_HASH))
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            current = version
        return int(current)

    # -- acceptance ----------------------------------------------------------------------

    def accept(self, *, channel: Channel, envelope: Envelope, blob: StoredBlob) -> Item:
        """Register a stored blob as a new item: registry number, receipt time, journal entry.
        When this returns, the item is durable and may be acknowledged to the sender."""
        (item,) = self.accept_many([(channel, envelope, blob)])
        return item

    def accept_many(
        self, submissions: Sequence[tuple[Channel, Envelope, StoredBlob]]
    ) -> list[Item]:
        """Register several submissions in one transaction (one durable commit for all), with
        one statement per table for the whole batch."""
        with self.backend.write() as tx:
            received_at = self._clock()
            year = received_at.year
            tx.execute(
                "INSERT INTO registry_counter (year, last) VALUES (?, 0) ON CONFLICT DO NOTHING",
                (year,),
            )
            (last,) = tx.execute(
                "UPDATE registry_counter SET last = last + ? WHERE year = ? RETURNING last",
                (len(submissions), year),
            )[0]
            first = last - len(submissions) + 1
            items = [
                Item(
                    id=uuid.uuid4().hex,
                    registry_number=f"{year}-{number:06d}",
                    channel=channel,
                    received_at=received_at,
                    sha256=blob.sha256,
                    size=blob.size,
                    envelope=envelope,
                    state=ItemState.RECEIVED,
                )
                for number, (channel, envelope, blob) in enumerate(submissions, start=first)
            ]
            _insert_rows(
                tx,
                f"items ({_ITEM_COLUMNS}, updated_at)",
                [
                    (
                        item.id,
                        item.registry_number,
                        item.channel.value,
                        received_at.isoformat(),
                        item.sha256,
                        item.size,
                        _dumps(item.envelope),
                        item.state.value,
                        None,
                        received_at.isoformat(),
                    )
                    for item in items
                ],
            )
            self._journal_many(
                tx,
                [
                    JournalRecord(item.id, "item.received", _received(item), received_at)
                    for item in items
                ],
            )
        return items

    # -- items -----------------------------------------------------------------------------

    def item(self, item_id: str) -> Item | None:
        with self.backend.read() as tx:
            rows = tx.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))
        return _item(rows[0]) if rows else None

    def item_by_registry_number(self, registry_number: str) -> Item | None:
        with self.backend.read() as tx:
            rows = tx.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE registry_number = ?",
                (registry_number,),
            )
        return _item(rows[0]) if rows else None

    def items_awaiting_pipeline(self, *, idle_since: datetime | None = None) -> list[Item]:
        """Items the pipeline still owes a step: neither terminal nor waiting for a person
        (and, if `idle_since` is given, unchanged since then)."""
        waiting: list[str] = [s.value for s in ItemState if s.awaits_pipeline]
        marks = ", ".join("?" for _ in waiting)
        idle = ""
        if idle_since is not None:
            idle = " AND updated_at < ?"
            waiting.append(idle_since.isoformat())
        with self.backend.read() as tx:
            rows = tx.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE state IN ({marks}){idle} "
                "ORDER BY received_at",
                waiting,
            )
        return [_item(r) for r in rows]

    def mark_redriven(self, item_id: str) -> None:
        """The reconciler handed the item on again: it counts as touched now, so that an item
        still waiting in a long queue is not handed on once more at every sweep."""
        with self.backend.write() as tx:
            tx.execute(
                "UPDATE items SET updated_at = ? WHERE id = ?",
                (self._clock().isoformat(), item_id),
            )

    def holders(self) -> set[str]:
        """The processes that last completed a stage of an item the pipeline still owes a
        step (until the item is handed on after they are gone)."""
        waiting = [s.value for s in ItemState if s.awaits_pipeline]
        marks = ", ".join("?" for _ in waiting)
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT DISTINCT holder FROM items "
                f"WHERE holder IS NOT NULL AND state IN ({marks})",
                waiting,
            )
        return {str(r[0]) for r in rows}

    def release_holder(self, holder: str) -> list[Item]:
        """The unfinished items `holder` (gone now) last completed a stage of; forgets it."""
        waiting = [s.value for s in ItemState if s.awaits_pipeline]
        marks = ", ".join("?" for _ in waiting)
        with self.backend.write() as tx:
            rows = tx.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE holder = ? AND state IN ({marks}) "
                "ORDER BY received_at",
                [holder, *waiting],
            )
            tx.execute(
                "UPDATE items SET holder = NULL WHERE holder = ?",
                (holder,),
            )
        return [_item(r) for r in rows]

    def items(
        self,
        *,
        states: Sequence[ItemState] = (),
        department: str | None = None,
        channel: Channel | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[Item]:
        """Items newest first, narrowed by any of the given facts."""
        clauses, params = _filters(states, department, channel, since, until)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.backend.read() as tx:
            rows = tx.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items {where} ORDER BY received_at DESC LIMIT ?",
                [*params, limit],
            )
        return [_item(r) for r in rows]

    def count_by_state(self, *, department: str | None = None) -> dict[ItemState, int]:
        clauses, params = _filters((), department, None, None, None)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.backend.read() as tx:
            rows = tx.execute(f"SELECT state, COUNT(*) FROM items {where} GROUP BY state", params)
        return {ItemState(state): count for state, count in rows}

    def transition(
        self,
        item_id: str,
        allowed: Sequence[ItemState],
        state: ItemState,
        event: str,
        data: Mapping[str, Any],
    ) -> bool:
        """Move the item to `state` and journal `event`, only if it is in one of the `allowed`
        states now; atomic, so of two concurrent calls one wins and the other changes nothing."""
        marks = ", ".join("?" for _ in allowed)
        with self.backend.write() as tx:
            now = self._clock()
            tx.execute(
                f"UPDATE items SET state = ?, updated_at = ? WHERE id = ? AND state IN ({marks})",
                [state.value, now.isoformat(), item_id, *(s.value for s in allowed)],
            )
            if tx.rowcount() == 0:
                return False
            self._journal(tx, item_id, event, dict(data), at=now)
        return True

    def items_owing(self, state: ItemState, key_prefix: str, limit: int = 100) -> list[Item]:
        """Items in `state` with no outbound record under `key_prefix` + registry number."""
        with self.backend.read() as tx:
            rows = tx.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE state = ? AND NOT EXISTS "
                "(SELECT 1 FROM outbound WHERE outbound.key = ? || items.registry_number) "
                "ORDER BY received_at LIMIT ?",
                (state.value, key_prefix, limit),
            )
        return [_item(r) for r in rows]

    # -- message ids ----------------------------------------------------------------------

    def remember_message_id(self, message_id: str, item_id: str) -> None:
        """Note that `message_id` (e.g. an X-de-mail-message-id) names this item; first wins."""
        with self.backend.write() as tx:
            if not tx.execute("SELECT 1 FROM message_ids WHERE message_id = ?", (message_id,)):
                tx.execute(
                    "INSERT INTO message_ids (message_id, item_id) VALUES (?, ?)",
                    (message_id, item_id),
                )

    def item_by_message_id(self, message_id: str) -> Item | None:
        with self.backend.read() as tx:
            rows = tx.execute("SELECT item_id FROM message_ids WHERE message_id = ?", (message_id,))
        return self.item(rows[0][0]) if rows else None

    # -- idempotent submissions ------------------------------------------------------------

    def idempotent_item(self, token_id: str, key: str) -> tuple[str, Item] | None:
        """The request hash and item an earlier submission with this key created."""
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT request_hash, item_id FROM idempotency WHERE token_id = ? AND key = ?",
                (token_id, key),
            )
        if not rows:
            return None
        item = self.item(rows[0][1])
        return None if item is None else (rows[0][0], item)

    def remember_idempotency(self, token_id: str, key: str, request_hash: str, item: Item) -> None:
        with self.backend.write() as tx:
            tx.execute(
                "INSERT INTO idempotency (token_id, key, request_hash, item_id, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_id, key, request_hash, item.id, self._clock().isoformat()),
            )

    # -- eID assertions ----------------------------------------------------------------------

    def remember_assertion(self, issuer: str, assertion_id: str, expires_at: datetime) -> bool:
        """Record a SAML assertion ID as used; False when it was used before (a replay).
        IDs whose `expires_at` has passed are forgotten: such assertions are refused as expired."""
        with self.backend.write() as tx:
            now = self._clock().astimezone(UTC)
            tx.execute("DELETE FROM assertion_ids WHERE expires_at < ?", (now.isoformat(),))
            tx.execute(
                "INSERT INTO assertion_ids (id, issuer, seen_at, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (assertion_id, issuer, now.isoformat(), expires_at.astimezone(UTC).isoformat()),
            )
            if tx.rowcount() == 0:
                return False
        return True

    # -- stage results ---------------------------------------------------------------------

    def stage_result(self, item_id: str, stage: str) -> StageResult | None:
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT item_id, stage, completed_at, data FROM stage_results "
                "WHERE item_id = ? AND stage = ?",
                (item_id, stage),
            )
        return _stage_result(rows[0]) if rows else None

    def stage_results(self, item_id: str) -> list[StageResult]:
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT item_id, stage, completed_at, data FROM stage_results "
                "WHERE item_id = ? ORDER BY completed_at",
                (item_id,),
            )
        return [_stage_result(r) for r in rows]

    def complete_stage(
        self,
        item_id: str,
        stage: str,
        result: Any,
        *,
        state: ItemState | None,
        summary: Mapping[str, Any],
        department: str | None = None,
        holder: str | None = None,
    ) -> bool:
        """Store a stage's result, the item's new state and the journal entry together, and
        `holder`, the process that will hand the item on (`processes.this_process`).
        Returns False (and changes nothing) when the stage had already completed."""
        data = _dumps(result)
        with self.backend.write() as tx:
            now = self._clock()
            tx.execute(
                "INSERT INTO stage_results (item_id, stage, completed_at, data) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (item_id, stage, now.isoformat(), data),
            )
            if tx.rowcount() == 0:
                return False
            self._update_item(tx, item_id, state, department, now)
            tx.execute("UPDATE items SET holder = ? WHERE id = ?", (holder, item_id))
            self._journal(tx, item_id, f"stage.{stage}", dict(summary), at=now)
        return True

    def reset_stages(
        self,
        item_id: str,
        stages: Sequence[str],
        state: ItemState,
        event: str,
        data: Mapping[str, Any],
        *,
        department: str | None = None,
    ) -> None:
        """Undo stage results so the stages run again (a re-verification, a reassignment); the
        old results are kept in `superseded_results`; the journal says who asked and why."""
        marks = ", ".join("?" for _ in stages)
        with self.backend.write() as tx:
            now = self._clock()
            tx.execute(
                "INSERT INTO superseded_results "
                "(item_id, stage, completed_at, superseded_at, data) "
                "SELECT item_id, stage, completed_at, ?, data FROM stage_results "
                f"WHERE item_id = ? AND stage IN ({marks})",
                (now.isoformat(), item_id, *stages),
            )
            tx.execute(
                f"DELETE FROM stage_results WHERE item_id = ? AND stage IN ({marks})",
                (item_id, *stages),
            )
            self._update_item(tx, item_id, state, department, now)
            self._journal(tx, item_id, event, {**data, "reset": list(stages)}, at=now)

    def change_state(
        self,
        item_id: str,
        state: ItemState,
        event: str,
        data: Mapping[str, Any],
        *,
        department: str | None = None,
    ) -> None:
        """A state change outside the pipeline (a clerk's action, retries exhausted …)."""
        with self.backend.write() as tx:
            now = self._clock()
            self._update_item(tx, item_id, state, department, now)
            self._journal(tx, item_id, event, dict(data), at=now)

    def _update_item(
        self,
        tx: Transaction,
        item_id: str,
        state: ItemState | None,
        department: str | None,
        now: datetime,
    ) -> None:
        tx.execute("UPDATE items SET updated_at = ? WHERE id = ?", (now.isoformat(), item_id))
        if state is not None:
            tx.execute("UPDATE items SET state = ? WHERE id = ?", (state.value, item_id))
        if department is not None:
            tx.execute("UPDATE items SET department = ? WHERE id = ?", (department, item_id))

    # -- deliveries and outbound mail --------------------------------------------------------

    def delivery(self, item_id: str, department: str) -> Delivery | None:
        with self.backend.read() as tx:
            rows = tx.execute(
                "SELECT item_id, department, delivered_at, location FROM deliveries "
                "WHERE item_id = ? AND department = ?",
                (item_id, department),
            )
        if not rows:
            return None
        r = rows[0]
        return Delivery(r[0], r[1], datetime.fromisoformat(r[2]), r[3])

    def record_delivery(self, item_id: str, department: str, location: str) -> bool:
        with self.backend.write() as tx:
            now = self._clock()
            tx.execute(
                "INSERT INTO deliveries (item_id, department, delivered_at, location) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (item_id, department, now.isoformat(), location),
            )
            if tx.rowcount() == 0:
                return False
            self._journal(
                tx,
                item_id,
                "delivery.made",
                {"department": department, "location": location},
                at=now,
            )
        return True

    def outbound_location(self, key: str) -> str | None:
        with self.backend.read() as tx:
            rows = tx.execute("SELECT location FROM outbound WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def claim_outbound(
        self, key: str, claimant: str, stale_after: timedelta, *, replacing: str = ""
    ) -> bool:
        """Claim the sending of `key`: True if there was no claim, only one older than
        `stale_after`, or one of `replacing` (a claimant known to be gone); atomic, so of two
        concurrent claims one wins."""
        with self.backend.write() as tx:
            now = self._clock()
            tx.execute(
                "INSERT INTO outbound_claims (key, claimant, claimed_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET claimant = excluded.claimant, "
                "claimed_at = excluded.claimed_at "
                "WHERE outbound_claims.claimed_at < ? OR outbound_claims.claimant = ?",
                (key, claimant, now.isoformat(), (now - stale_after).isoformat(), replacing),
            )
            claimed: bool = tx.rowcount() == 1
        return claimed

    def release_outbound_claim(self, key: str, claimant: str) -> None:
        with self.backend.write() as tx:
            tx.execute(
                "DELETE FROM outbound_claims WHERE key = ? AND claimant = ?", (key, claimant)
            )

    def outbound_claimant(self, key: str) -> str | None:
        with self.backend.read() as tx:
            rows = tx.execute("SELECT claimant FROM outbound_claims WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def record_outbound(
        self, key: str, item_id: str | None, location: str, *, event: str = "mail.sent"
    ) -> bool:
        """Record that what `key` names was sent (or, with another `event`, settled without
        sending); False if it was recorded before."""
        with self.backend.write() as tx:
            now = self._clock()
            tx.execute(
                "INSERT INTO outbound (key, item_id, sent_at, location) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (key, item_id, now.isoformat(), location),
            )
            if tx.rowcount() == 0:
                return False
            self._journal(tx, item_id, event, {"key": key, "location": location}, at=now)
        return True

    # -- journal -----------------------------------------------------------------------------

    def note(self, item_id: str | None, event: str, data: Mapping[str, Any]) -> None:
        """Journal an event that changes nothing else."""
        with self.backend.write() as tx:
            self._journal(tx, item_id, event, dict(data), at=self._clock())

    def _journal(
        self,
        tx: Transaction,
        item_id: str | None,
        event: str,
        data: dict[str, Any],
        *,
        at: datetime,
    ) -> None:
        self._journal_many(tx, [JournalRecord(item_id, event, data, at)])

    def _journal_many(self, tx: Transaction, records: Sequence[JournalRecord]) -> None:
        """Append entries to the chain: their numbers taken at once, each sealed over the one
        before, all inserted by one statement."""
        (last, prev_hash) = tx.execute(
            "UPDATE journal_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash",
            (len(records),),
        )[0]
        rows = []
        for seq, record in enumerate(records, start=last - len(records) + 1):
            data = to_jsonable(record.data)
            digest = entry_hash(prev_hash, seq, record.at, record.item_id, record.event, data)
            rows.append(
                (
                    seq,
                    record.at.isoformat(),
                    record.item_id,
                    record.event,
                    json.dumps(data, sort_keys=True, ensure_ascii=False),
                    prev_hash,
                    digest,
                )
            )
            prev_hash = digest
        _insert_rows(tx, "journal (seq, at, item_id, event, data, prev_hash, hash)", rows)
        tx.execute("UPDATE journal_head SET hash = ? WHERE id = 1", (prev_hash,))

    def journal(self, *, item_id: str | None = None, batch: int = 5000) -> Iterator[JournalEntry]:
        """The journal in order (or one item's entries), read in batches."""
        after = 0
        while True:
            with self.backend.read() as tx:
                if item_id is None:
                    rows = tx.execute(
                        "SELECT seq, at, item_id, event, data, prev_hash, hash FROM journal "
                        "WHERE seq > ? ORDER BY seq LIMIT ?",
                        (after, batch),
                    )
                else:
                    rows = tx.execute(
                        "SELECT seq, at, item_id, event, data, prev_hash, hash FROM journal "
                        "WHERE item_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (item_id, after, batch),
                    )
            if not rows:
                return
            for r in rows:
                yield _journal_entry(r)
            after = int(rows[-1][0])

    def journal_head(self) -> tuple[int, str]:
        with self.backend.read() as tx:
            seq, digest = tx.execute("SELECT seq, hash FROM journal_head WHERE id = 1")[0]
        return int(seq), str(digest)

    def blob_references(self) -> set[str]:
        """Every SHA-256 a record names: items and their envelopes (an eID assertion), stage
        results (documents), superseded results and journal entries (confirmations)."""
        sources = (
            "SELECT sha256 || ' ' || envelope FROM items",
            "SELECT data FROM stage_results",
            "SELECT data FROM superseded_results",
            "SELECT data FROM journal",
        )
        found: set[str] = set()
        with self.backend.read() as tx:
            for query in sources:
                for (text,) in tx.execute(query):
                    found.update(_SHA256.findall(str(text)))
        return found

    def close(self) -> None:
        self.backend.close()


def _item(row: Row) -> Item:
    return Item(
        id=row[0],
        registry_number=row[1],
        channel=Channel(row[2]),
        received_at=datetime.fromisoformat(row[3]),
        sha256=row[4],
        size=int(row[5]),
        envelope=from_jsonable(Envelope, json.loads(row[6])),
        state=ItemState(row[7]),
        department=row[8],
    )


def _journal_entry(row: Row) -> JournalEntry:
    try:
        return JournalEntry(
            seq=int(row[0]),
            at=datetime.fromisoformat(row[1]),
            item_id=row[2],
            event=row[3],
            data=json.loads(row[4]),
            prev_hash=row[5],
            hash=row[6],
        )
    except (ValueError, TypeError) as exc:
        raise UnreadableEntry(int(row[0]), f"cannot be read ({exc}); it was changed") from exc


def _stage_result(row: Row) -> StageResult:
    return StageResult(
        item_id=row[0],
        stage=row[1],
        completed_at=datetime.fromisoformat(row[2]),
        data=json.loads(row[3]),
    )
