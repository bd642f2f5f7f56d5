"""Each outbound message goes out once: claimed in the store before it is sent, recorded after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from poststelle.processes import holder_is_gone, this_process
from poststelle.store.sql import SqlStore

# A claim older than this is taken to belong to a sender that died mid-send; it is longer than
# building, sealing and sending one message may take (relay and TSA time-outs included).
CLAIM_STALE = timedelta(minutes=2)


class SendingElsewhere(Exception):
    """Another run claimed this message a moment ago and is sending it (a duplicate queue
    message, or the reconciler and a person's action at once); this run must not send it too."""


def _claim(store: SqlStore, key: str) -> str | None:
    """Where `key` went, if it went out before; None when the caller now holds the claim and
    sends it (then `store.record_outbound`). Raises SendingElsewhere while a fresh claim of a
    process that still runs stands: two runs never send the same message at once. A claim of
    a process of this host that is gone is taken over at once, anyone's after CLAIM_STALE."""
    location = store.outbound_location(key)
    if location is not None:
        return location
    me = this_process()
    if not store.claim_outbound(key, me, CLAIM_STALE):
        claimant = store.outbound_claimant(key) or ""
        gone = claimant != me and holder_is_gone(claimant)
        if not (gone and store.claim_outbound(key, me, CLAIM_STALE, replacing=claimant)):
            raise SendingElsewhere(key)
    return store.outbound_location(key)  # recorded between the look and the claim


@contextmanager
def sending_once(store: SqlStore, key: str) -> Iterator[str | None]:
    """`_claim` around the caller's sending: yields where `key` went before, or None
    when the caller is to send it now; if that fails, the claim is given up again, so that a
    retry (a relay's 4xx) may send at once."""
    location = _claim(store, key)
    if location is not None:
        yield location
        return
    try:
        yield None
    except BaseException:
        store.release_outbound_claim(key, this_process())
        raise
