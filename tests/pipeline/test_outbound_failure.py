"""A receipt the relay refuses for good sends its item to the clerk's queue with the reason;
a relay that is only busy is tried again until it takes the receipt, once; a relay that hangs
does not hold a stopping worker past its shutdown time."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from poststelle.daemon import embedded_worker
from poststelle.model import Channel, Envelope, ItemState
from tests.connectors.test_smtp_relay import Recorder
from tests.e2e.conftest import free_port, wait_for
from tests.pipeline.conftest import trusting
from tests.support.testpki import GeneratedPki
from tests.web.conftest import Site, Template, open_site

MAIL = b"From: erika@example.org\r\nTo: bauamt@amt.test\r\nSubject: Antrag\r\n\r\nText\r\n"


@pytest.fixture
def relay() -> Iterator[tuple[Recorder, int]]:
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.fixture
def relaying_site(
    template: Template, pki: GeneratedPki, tmp_path: Path, relay: tuple[Recorder, int]
) -> Iterator[Site]:
    trust = trusting(pki, tmp_path)
    outbox = (
        '[outbox]\nkind = "relay"\n\n[outbox.relay]\nhost = "127.0.0.1"\n'
        f'port = {relay[1]}\nstarttls = "off"\ntimeout_seconds = 5\n'
    )

    def edit(text: str) -> str:
        return trust(text).replace('[outbox]\nkind = "maildir"\nmaildir = "data/outbox"\n', outbox)

    with open_site(template, tmp_path / "poststelle", edit) as opened:
        assert opened.mailroom.config.outbox.kind == "relay"
        yield opened


def test_a_permanently_refused_receipt_sends_the_item_to_the_clerk(
    relaying_site: Site, relay: tuple[Recorder, int]
) -> None:
    recorder, _ = relay
    recorder.refuse = "550 5.1.1 No such user"
    mailroom = relaying_site.mailroom
    with embedded_worker(mailroom):
        item = mailroom.intake.accept_bytes(
            MAIL, Channel.SMTP, Envelope("erika@example.org", ("bauamt@amt.test",))
        )

        def failed() -> bool:
            current = relaying_site.store.item(item.id)
            return current is not None and current.state is ItemState.FAILED

        wait_for(failed, 30, "the item to fail")
    entry = [e for e in relaying_site.store.journal(item_id=item.id) if e.event == "item.failed"]
    assert len(entry) == 1
    assert entry[0].data["stage"] == "confirm"
    assert "550" in str(entry[0].data["reason"]) and "1 attempt" in str(entry[0].data["reason"])
    assert recorder.received == []


def test_a_busy_relay_is_tried_again_and_gets_the_receipt_once(
    relaying_site: Site, relay: tuple[Recorder, int]
) -> None:
    recorder, _ = relay
    recorder.refuse = "451 4.3.0 Try again later"
    mailroom = relaying_site.mailroom
    with embedded_worker(mailroom):
        item = mailroom.intake.accept_bytes(
            MAIL, Channel.SMTP, Envelope("erika@example.org", ("bauamt@amt.test",))
        )
        wait_for(
            lambda: any(
                e.event == "stage.decide" for e in relaying_site.store.journal(item_id=item.id)
            ),
            30,
            "the item to reach the confirm stage",
        )
        threading.Timer(1.0, lambda: setattr(recorder, "refuse", "")).start()

        def delivered() -> bool:
            current = relaying_site.store.item(item.id)
            return current is not None and current.state is ItemState.DELIVERED

        wait_for(delivered, 60, "the item to be delivered after the relay recovered")
    receipts = [r for r in recorder.received if b"Eingangsbest" in r[2]]
    assert len(receipts) == 1
    assert receipts[0][1] == ["erika@example.org"]


def test_a_stage_hanging_on_the_relay_holds_a_stopping_worker_only_for_its_shutdown_time(
    relaying_site: Site, relay: tuple[Recorder, int]
) -> None:
    recorder, _ = relay
    recorder.stall_seconds = 30  # the relay client gives up after 5 s (timeout_seconds)
    config = relaying_site.mailroom.config
    mailroom = dataclasses.replace(
        relaying_site.mailroom,
        config=dataclasses.replace(
            config, broker=dataclasses.replace(config.broker, shutdown_seconds=0.5)
        ),
    )
    with embedded_worker(mailroom):
        item = mailroom.intake.accept_bytes(
            MAIL, Channel.SMTP, Envelope("erika@example.org", ("bauamt@amt.test",))
        )
        assert recorder.data_started.wait(30), "the receipt never reached the relay"
        stopping = time.monotonic()
    stopped_after = time.monotonic() - stopping
    assert stopped_after < 2.5, f"the worker took {stopped_after:.1f} s to stop"
    current = relaying_site.store.item(item.id)
    assert current is not None and current.state.awaits_pipeline  # the reconciler's to re-drive
    assert relaying_site.store.stage_result(item.id, "confirm") is None
