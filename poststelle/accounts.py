"""Who may act: local accounts (argon2), server-side sessions, login throttling, API tokens."""

from __future__ import annotations

import enum
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from poststelle.store.sql import SqlStore

SESSION_LIFETIME = timedelta(hours=8)
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_FAILURES = 5


class Role(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    CLERK = "clerk"
    DEPARTMENT = "department"


class Scope(enum.StrEnum):
    """What an API token may do."""

    UPLOAD = "upload"  # submit through the portal channel
    DEPARTMENT = "department"  # read and acknowledge its department's items


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    role: Role
    department: str | None


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    name: str
    scopes: frozenset[Scope]
    department: str | None


class AccountError(Exception):
    pass


def _digest(secret: str) -> str:
    """Sessions and tokens are long random secrets: a plain SHA-256 is enough at rest."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class Accounts:
    def __init__(
        self, store: SqlStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self._clock = clock
        self._hasher = PasswordHasher()

    # -- users -------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        display_name: str,
        password: str,
        role: Role,
        department: str | None = None,
    ) -> User:
        if (role is Role.DEPARTMENT) != (department is not None):
            raise AccountError("a department member needs a department; other roles have none")
        if len(password) < 12:
            raise AccountError("passwords need at least 12 characters")
        with self.store.backend.write() as tx:
            if tx.execute("SELECT 1 FROM users WHERE username = ?", (username,)):
                raise AccountError(f"user {username!r} exists already")
            tx.execute(
                "INSERT INTO users (username, display_name, password_hash, role, department, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    username,
                    display_name,
                    self._hasher.hash(password),
                    role.value,
                    department,
                    self._clock().isoformat(),
                ),
            )
        self.store.note(
            None,
            "account.created",
            {"username": username, "role": role.value, "department": department},
        )
        return User(username, display_name, role, department)

    def user(self, username: str) -> User | None:
        with self.store.backend.read() as tx:
            rows = tx.execute(
                "SELECT username, display_name, role, department FROM users "
                "WHERE username = ? AND disabled = 0",
                (username,),
            )
        return User(rows[0][0], rows[0][1], Role(rows[0][2]), rows[0][3]) if rows else None

    def authenticate(self, username: str, password: str) -> User | None:
        """The user, if the password is right and the account is not throttled."""
        now = self._clock()
        with self.store.backend.read() as tx:
            failures = tx.execute(
                "SELECT COUNT(*) FROM login_failures WHERE username = ? AND at > ?",
                (username, (now - THROTTLE_WINDOW).isoformat()),
            )[0][0]
            rows = tx.execute(
                "SELECT password_hash FROM users WHERE username = ? AND disabled = 0", (username,)
            )
        if failures >= THROTTLE_FAILURES:
            return None
        stored = rows[0][0] if rows else None
        try:
            ok = stored is not None and self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            with self.store.backend.write() as tx:
                tx.execute(
                    "INSERT INTO login_failures (username, at) VALUES (?, ?)",
                    (username, now.isoformat()),
                )
            return None
        with self.store.backend.write() as tx:
            tx.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        return self.user(username)

    def is_throttled(self, username: str) -> bool:
        with self.store.backend.read() as tx:
            failures = tx.execute(
                "SELECT COUNT(*) FROM login_failures WHERE username = ? AND at > ?",
                (username, (self._clock() - THROTTLE_WINDOW).isoformat()),
            )[0][0]
        return bool(failures >= THROTTLE_FAILURES)

    # -- sessions ----------------------------------------------------------------------------

    def open_session(self, user: User) -> tuple[str, Session]:
        """A new session; returns its secret id (for the cookie) and the session."""
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(user, secrets.token_urlsafe(32), now + SESSION_LIFETIME)
        with self.store.backend.write() as tx:
            tx.execute(
                "INSERT INTO sessions (id_hash, username, csrf_token, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    _digest(secret),
                    user.username,
                    session.csrf_token,
                    now.isoformat(),
                    session.expires_at.isoformat(),
                ),
            )
        return secret, session

    def session(self, secret: str) -> Session | None:
        with self.store.backend.read() as tx:
            rows = tx.execute(
                "SELECT username, csrf_token, expires_at FROM sessions WHERE id_hash = ?",
                (_digest(secret),),
            )
        if not rows:
            return None
        username, csrf, expires = rows[0]
        expires_at = datetime.fromisoformat(expires)
        user = self.user(username)
        if user is None or expires_at <= self._clock():
            return None
        return Session(user, csrf, expires_at)

    def close_session(self, secret: str) -> None:
        with self.store.backend.write() as tx:
            tx.execute("DELETE FROM sessions WHERE id_hash = ?", (_digest(secret),))

    # -- API tokens --------------------------------------------------------------------------

    def create_token(
        self, name: str, scopes: frozenset[Scope], department: str | None = None
    ) -> tuple[str, ApiToken]:
        """A new token; the secret is returned once and only its hash is kept."""
        if (Scope.DEPARTMENT in scopes) != (department is not None):
            raise AccountError("a department-scoped token needs a department, and only it")
        token = ApiToken(uuid.uuid4().hex, name, scopes, department)
        secret = f"pst_{secrets.token_urlsafe(32)}"
        with self.store.backend.write() as tx:
            tx.execute(
                "INSERT INTO api_tokens (id, token_hash, name, scopes, department, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    _digest(secret),
                    name,
                    json.dumps(sorted(s.value for s in scopes)),
                    department,
                    self._clock().isoformat(),
                ),
            )
        self.store.note(
            None,
            "token.created",
            {"id": token.id, "name": name, "scopes": sorted(s.value for s in scopes)},
        )
        return secret, token

    def token(self, secret: str) -> ApiToken | None:
        if not secret.isascii():
            return None
        with self.store.backend.read() as tx:
            rows = tx.execute(
                "SELECT id, name, scopes, department FROM api_tokens "
                "WHERE token_hash = ? AND revoked_at IS NULL",
                (_digest(secret),),
            )
        if not rows:
            return None
        token_id, name, scopes, department = rows[0]
        return ApiToken(token_id, name, frozenset(Scope(s) for s in json.loads(scopes)), department)

    def revoke_token(self, token_id: str) -> bool:
        with self.store.backend.write() as tx:
            tx.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (self._clock().isoformat(), token_id),
            )
            revoked: bool = tx.rowcount() > 0
        if revoked:
            self.store.note(None, "token.revoked", {"id": token_id})
        return revoked
