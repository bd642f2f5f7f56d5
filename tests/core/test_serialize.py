"""Typed records become plain JSON data and come back equal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from poststelle.model import Channel, Envelope, Item, ItemState
from poststelle.serialize import from_jsonable, to_jsonable

ITEM = Item(
    id="4f1c",
    registry_number="2026-000042",
    channel=Channel.UPLOAD,
    received_at=datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
    sha256="ab" * 32,
    size=4096,
    envelope=Envelope(
        sender="buerger@example.org",
        recipients=("poststelle@amt.example",),
        metadata={"form": "Antrag", "note": "ümlaut"},
    ),
    state=ItemState.RECEIVED,
)


def test_a_record_becomes_plain_json_data_with_enums_as_their_values() -> None:
    data = to_jsonable(ITEM)

    assert json.loads(json.dumps(data)) == data
    assert type(data["channel"]) is str and data["channel"] == "upload"
    assert type(data["state"]) is str
    assert data["received_at"] == "2026-11-30T09:15:00+00:00"
    assert data["envelope"]["recipients"] == ["poststelle@amt.example"]


def test_a_record_comes_back_equal_from_its_json() -> None:
    assert from_jsonable(Item, json.loads(json.dumps(to_jsonable(ITEM)))) == ITEM
