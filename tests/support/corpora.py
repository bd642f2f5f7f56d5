"""Where the shared public test corpora are: `$POSTSTELLE_CORPORA`, else `../shared/corpora`
next to the checkout, else the workplace's `/work/shared/corpora`."""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    Path(os.environ["POSTSTELLE_CORPORA"]) if os.environ.get("POSTSTELLE_CORPORA") else None,
    Path(__file__).resolve().parents[3] / "shared" / "corpora",
    Path("/work/shared/corpora"),
]
CORPORA = next((p for p in _CANDIDATES if p is not None and p.is_dir()), _CANDIDATES[1])
