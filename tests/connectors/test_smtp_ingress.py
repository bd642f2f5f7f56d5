"""SMTP ingress internals that a client cannot time: spool files made off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from email._header_value_parser import get_angle_addr
from email.errors import HeaderParseError
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.smtp_ingress import SmtpIngress, simple_address
from poststelle.config import SmtpSettings
from poststelle.intake import Intake
from poststelle.store.backends import SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.spool import Spool
from poststelle.store.sql import SqlStore


@pytest.fixture
def ingress(tmp_path: Path) -> SmtpIngress:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=0,
        hostname="poststelle.test",
        starttls="off",
        tls_certificate=tmp_path / "none.crt",
        tls_key=tmp_path / "none.key",
        max_message_bytes=1 << 20,
        timeout_seconds=30,
    )
    store = SqlStore(SqliteBackend(tmp_path / "db.sqlite3"))
    store.migrate()
    intake = Intake(store, BlobStore(tmp_path / "blobs"), lambda item: None)
    return SmtpIngress(settings, intake, lambda address: True)


def test_the_event_loop_goes_on_while_a_spool_file_is_created(
    ingress: SmtpIngress, monkeypatch: pytest.MonkeyPatch
) -> None:
    created_in: list[str] = []
    real_open = Spool.open

    def slow_open(blobs: BlobStore) -> Spool:
        created_in.append(threading.current_thread().name)
        time.sleep(0.3)  # a file system committing its journal
        return real_open(blobs)

    monkeypatch.setattr(Spool, "open", slow_open)

    async def meanwhile() -> tuple[Spool, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(tick())
        spool = await ingress.open_spool()
        ticking.cancel()
        return spool, ticks

    spool, ticks = asyncio.run(meanwhile())

    assert created_in == ["spool-open_0"]
    assert ticks >= 10  # the loop served other work during the 0.3 s
    assert spool.path.exists()
    spool.discard()


def test_a_session_gone_while_its_spool_is_created_leaves_no_file(
    ingress: SmtpIngress, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = Spool.open
    made: list[Spool] = []

    def slow_open(blobs: BlobStore) -> Spool:
        time.sleep(0.3)
        made.append(real_open(blobs))
        return made[-1]

    monkeypatch.setattr(Spool, "open", slow_open)

    async def hang_up() -> None:
        session = asyncio.ensure_future(ingress.open_spool())
        await asyncio.sleep(0.05)
        session.cancel()
        while not made:  # the file is made after the session has gone
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # and the loop runs the clean-up

    asyncio.run(hang_up())

    (spool,) = made
    assert not spool.path.exists()


ATEXT = st.text(alphabet="aZ09!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=6)
LABEL = st.text(alphabet="aZ09-", min_size=1, max_size=6)
PATHS = st.text(alphabet='ab.@<>-+_ \t()"[]:;,\\', max_size=30) | st.builds(
    lambda local, domain, rest: f"<{'.'.join(local)}@{'.'.join(domain)}>{rest}",
    st.lists(ATEXT, min_size=1, max_size=3),
    st.lists(LABEL, min_size=1, max_size=3),
    st.sampled_from(["", " SIZE=10", "  BODY=8BITMIME", " (c) X", "\tX", "x", " "]),
)


@settings(max_examples=1000)
@given(arg=PATHS)
def test_the_shortcut_reads_a_path_as_the_email_parser_does_or_leaves_it(arg: str) -> None:
    try:
        address, rest = get_angle_addr(arg)
        parsed: tuple[str, str] | None = (address.addr_spec, rest)
    except (HeaderParseError, IndexError, AttributeError):  # the parser cannot read it
        parsed = None

    assert simple_address(arg) in (None, parsed)


def test_plain_paths_take_the_shortcut() -> None:
    assert simple_address("<a.b+c@amt.example> SIZE=10") == ("a.b+c@amt.example", "SIZE=10")
    assert simple_address("<Erika_M@x-y.example>") == ("Erika_M@x-y.example", "")


def test_paths_the_shortcut_leaves_alone_go_to_the_parser() -> None:
    for arg in ['<"quoted"@example.org>', "<a@[192.0.2.1]>", "<a@b> (comment)", "a@b", "<a@b.>"]:
        assert simple_address(arg) is None
