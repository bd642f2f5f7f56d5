"""What every web handler works with, built once by the daemon."""

from __future__ import annotations

from dataclasses import dataclass

from poststelle.accounts import Accounts
from poststelle.config import Config
from poststelle.decision.procedures import ProcedurePolicy
from poststelle.inboxes import DepartmentInboxes
from poststelle.intake import Intake
from poststelle.pipeline.services import Services
from poststelle.review import ReviewDesk
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore


@dataclass(frozen=True)
class WebContext:
    services: Services  # for confirmations owed after a person's action
    config: Config
    store: SqlStore
    blobs: BlobStore
    accounts: Accounts
    intake: Intake
    procedures: ProcedurePolicy
    desk: ReviewDesk
    inboxes: DepartmentInboxes
