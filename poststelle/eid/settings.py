"""Settings for eID-identified submissions: which identity provider is trusted, and how far."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Normalised levels of assurance, lowest first (eIDAS names; "none" is below eIDAS low).
LEVELS = ("none", "low", "substantial", "high")
REQUIRABLE_LEVELS = LEVELS[1:]


@dataclass(frozen=True, slots=True)
class EidSettings:
    idp_entity_id: str  # the Issuer the identity provider's assertions must name
    idp_certificate: Path  # PEM certificate whose key must sign the assertions (pinned)
    sp_entity_id: str  # our entity id: the audience assertions must be meant for
    clock_skew_seconds: int = 120
    required_level: str = "high"  # one of REQUIRABLE_LEVELS
