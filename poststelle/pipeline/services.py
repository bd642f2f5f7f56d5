"""What stages may use: the store, the blobs and the ports, assembled by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.config import Config
from poststelle.decision.procedures import ProcedurePolicy
from poststelle.ports import DepartmentInbox, MalwareScanner, Outbox, Timestamper
from poststelle.routing import RoutingPolicy
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore
from poststelle.verification.verifier import Verifier


@dataclass(frozen=True)
class Services:
    config: Config
    store: SqlStore
    blobs: BlobStore
    timestamper: Timestamper
    inbox: DepartmentInbox
    outbox: Outbox
    routing: RoutingPolicy
    procedures: ProcedurePolicy
    verifier: Verifier
    scanner: MalwareScanner | None = None  # None: documents are recorded as not scanned


_current: Services | None = None


def install(services: Services) -> None:
    """Make `services` what this process's actors use."""
    global _current
    _current = services


def current() -> Services:
    if _current is None:
        raise RuntimeError("no services installed: start through `poststelle serve` or `worker`")
    return _current
