"""Accounts: argon2 passwords, throttled logins, expiring sessions, hashed revocable tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from poststelle.accounts import AccountError, Accounts, Role, Scope
from poststelle.store.backends import SqliteBackend
from poststelle.store.sql import SqlStore

PASSWORD = "korrekt-pferd-batterie"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(tmp_path: Path, clock: Clock) -> Accounts:
    store = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"))
    store.migrate()
    a = Accounts(store, clock=clock)
    a.add_user("mueller", "Frau Müller", PASSWORD, Role.CLERK)
    return a


def test_the_right_password_logs_in_and_a_wrong_one_does_not(accounts: Accounts) -> None:
    user = accounts.authenticate("mueller", PASSWORD)
    assert user is not None and user.role is Role.CLERK
    assert accounts.authenticate("mueller", "falsch-falsch-falsch") is None
    assert accounts.authenticate("niemand", PASSWORD) is None


def test_passwords_are_stored_as_argon2_hashes(accounts: Accounts) -> None:
    with accounts.store.backend.read() as tx:
        (stored,) = tx.execute("SELECT password_hash FROM users WHERE username = 'mueller'")[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_repeated_failures_lock_the_account_for_a_while(accounts: Accounts, clock: Clock) -> None:
    for _ in range(5):
        accounts.authenticate("mueller", "falsch-falsch-falsch")
    assert accounts.authenticate("mueller", PASSWORD) is None
    assert accounts.is_throttled("mueller")
    clock.now += timedelta(minutes=16)
    assert accounts.authenticate("mueller", PASSWORD) is not None


def test_a_session_expires(accounts: Accounts, clock: Clock) -> None:
    user = accounts.user("mueller")
    assert user is not None
    secret, session = accounts.open_session(user)
    found = accounts.session(secret)
    assert found is not None and found.csrf_token == session.csrf_token
    clock.now += timedelta(hours=9)
    assert accounts.session(secret) is None


def test_a_closed_session_is_gone(accounts: Accounts) -> None:
    user = accounts.user("mueller")
    assert user is not None
    secret, _ = accounts.open_session(user)
    accounts.close_session(secret)
    assert accounts.session(secret) is None


def test_department_members_need_a_department(accounts: Accounts) -> None:
    with pytest.raises(AccountError):
        accounts.add_user("bau", "Bau", PASSWORD, Role.DEPARTMENT)
    member = accounts.add_user("bau", "Bau", PASSWORD, Role.DEPARTMENT, "bauamt")
    assert member.department == "bauamt"


def test_tokens_are_kept_only_as_hashes_and_can_be_revoked(accounts: Accounts) -> None:
    secret, token = accounts.create_token("Portal", frozenset({Scope.UPLOAD}))
    with accounts.store.backend.read() as tx:
        stored = tx.execute("SELECT token_hash FROM api_tokens")[0][0]
    assert secret not in stored
    found = accounts.token(secret)
    assert found is not None and found.scopes == frozenset({Scope.UPLOAD})
    assert accounts.revoke_token(token.id)
    assert accounts.token(secret) is None


def test_account_events_are_journaled_without_secrets(accounts: Accounts) -> None:
    secret, _ = accounts.create_token("Portal", frozenset({Scope.UPLOAD}))
    journal = [(e.event, str(e.data)) for e in accounts.store.journal()]
    assert [event for event, _ in journal] == ["account.created", "token.created"]
    assert all(secret not in data and PASSWORD not in data for _, data in journal)
