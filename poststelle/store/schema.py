"""The store's schema as an ordered list of migrations, valid for SQLite and PostgreSQL."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE registry_counter (
            year INTEGER PRIMARY KEY,
            last INTEGER NOT NULL
        );
        CREATE TABLE items (
            id TEXT PRIMARY KEY,
            registry_number TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL,
            received_at TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size BIGINT NOT NULL,
            envelope TEXT NOT NULL,
            state TEXT NOT NULL,
            department TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX items_state ON items (state);
        CREATE INDEX items_department ON items (department);
        CREATE TABLE stage_results (
            item_id TEXT NOT NULL REFERENCES items (id),
            stage TEXT NOT NULL,
            completed_at TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (item_id, stage)
        );
        CREATE TABLE deliveries (
            item_id TEXT NOT NULL REFERENCES items (id),
            department TEXT NOT NULL,
            delivered_at TEXT NOT NULL,
            location TEXT NOT NULL,
            PRIMARY KEY (item_id, department)
        );
        CREATE TABLE outbound (
            key TEXT PRIMARY KEY,
            item_id TEXT REFERENCES items (id),
            sent_at TEXT NOT NULL,
            location TEXT NOT NULL
        );
        CREATE TABLE journal (
            seq BIGINT PRIMARY KEY,
            at TEXT NOT NULL,
            item_id TEXT,
            event TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX journal_item ON journal (item_id);
        CREATE TABLE journal_head (
            id INTEGER PRIMARY KEY,
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL
        );
        INSERT INTO journal_head (id, seq, hash) VALUES (1, 0, '{genesis}');
        """,
    ),
    (
        2,
        """
        CREATE TABLE superseded_results (
            item_id TEXT NOT NULL REFERENCES items (id),
            stage TEXT NOT NULL,
            completed_at TEXT NOT NULL,
            superseded_at TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX superseded_item ON superseded_results (item_id)
        """,
    ),
    (
        3,
        """
        CREATE TABLE users (
            username TEXT PRIMARY KEY,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            department TEXT,
            created_at TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users (username),
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,
            department TEXT,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE login_failures (
            username TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX login_failures_user ON login_failures (username, at);
        CREATE TABLE idempotency (
            token_id TEXT NOT NULL,
            key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            item_id TEXT NOT NULL REFERENCES items (id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (token_id, key)
        )
        """,
    ),
    (
        4,
        """
        CREATE TABLE assertion_ids (
            id TEXT PRIMARY KEY,
            issuer TEXT,
            seen_at TEXT,
            expires_at TEXT
        );
        CREATE INDEX assertion_ids_expiry ON assertion_ids (expires_at)
        """,
    ),
    (
        5,
        """
        CREATE TABLE message_ids (
            message_id TEXT PRIMARY KEY,
            item_id TEXT NOT NULL REFERENCES items (id)
        )
        """,
    ),
    (
        6,
        """
        ALTER TABLE items ADD COLUMN holder TEXT
        """,
    ),
    (
        7,
        """
        CREATE TABLE outbound_claims (
            key TEXT PRIMARY KEY,
            claimant TEXT NOT NULL,
            claimed_at TEXT NOT NULL
        )
        """,
    ),
)
