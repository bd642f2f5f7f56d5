"""The bounds within which a message is analysed; beyond them it goes to the clerk."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MimeLimits:
    max_bytes: int = 64 * 1024 * 1024  # the whole message
    max_depth: int = 30  # nested multiparts
    max_parts: int = 2_000  # MIME entities in all
    max_header_bytes: int = 256 * 1024  # one entity's header block
    max_header_value_bytes: int = 16 * 1024  # one header parsed structurally; longer ones raw
