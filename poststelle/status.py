"""What `poststelle status` shows: an item, its stages with times, and its journal."""

from __future__ import annotations

import json
from collections.abc import Sequence

from poststelle.model import Item
from poststelle.serialize import to_jsonable
from poststelle.store.sql import SqlStore


def status_data(store: SqlStore, item: Item, pipeline: Sequence[str]) -> dict[str, object]:
    results = {r.stage: r for r in store.stage_results(item.id)}
    return {
        "item": to_jsonable(item),
        "stages": [
            {
                "stage": name,
                "completed_at": results[name].completed_at.isoformat() if name in results else None,
                "result": results[name].data if name in results else None,
            }
            for name in pipeline
        ],
        "journal": [to_jsonable(e) for e in store.journal(item_id=item.id)],
    }


def render_status(
    store: SqlStore, item: Item, pipeline: Sequence[str], *, as_json: bool = False
) -> str:
    if as_json:
        return json.dumps(status_data(store, item, pipeline), indent=2, ensure_ascii=False)
    lines = [
        f"{item.registry_number}  {item.state.value}"
        + (f"  → {item.department}" if item.department else ""),
        f"  received  {item.received_at.isoformat()}  via {item.channel.value}",
        f"  from      {item.envelope.sender or '<>'}",
        f"  to        {', '.join(item.envelope.recipients)}",
        f"  sha256    {item.sha256}  ({item.size} bytes)",
        "",
        "Stages:",
    ]
    done = {r.stage: r.completed_at.isoformat() for r in store.stage_results(item.id)}
    lines += [f"  {stage:<9} {done.get(stage, 'pending')}" for stage in pipeline]
    lines += ["", "Journal:"]
    for entry in store.journal(item_id=item.id):
        details = ", ".join(f"{k}={v}" for k, v in entry.data.items())
        lines.append(f"  #{entry.seq:<6} {entry.at.isoformat()}  {entry.event}  {details}")
    return "\n".join(lines)
