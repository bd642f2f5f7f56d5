"""What the channel establishes decides the written form: an absenderbestätigte De-Mail, an
eID-identified portal submission; provider confirmations are filed, not registered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poststelle.decision.procedures import Means
from poststelle.decision.rules import Decision, Outcome
from poststelle.model import Channel, Envelope, ItemState
from poststelle.pipeline.stage import stored_record
from poststelle.stages.channel import ChannelRecord
from poststelle.verification.model import Indication, SignatureFormat, VerificationReport
from tests.pipeline.conftest import trusting
from tests.support.demail import confirmation_of_receipt, normal_fields, provider_key, seal
from tests.support.saml import AssertionSpec, SamlIdp, signed_assertion, to_bytes
from tests.support.testpki import GeneratedPki
from tests.web.conftest import Site, Template, open_site

AFTER_ANALYSIS = ("analyse", "scan", "channel", "verify", "decide", "confirm", "route")
SP = "https://poststelle.amt.test/saml"


@pytest.fixture
def demail_site(template: Template, pki: GeneratedPki, tmp_path: Path) -> Iterator[Site]:
    with open_site(template, tmp_path / "poststelle", trusting(pki, tmp_path)) as opened:
        yield opened


def _accept(site: Site, raw: bytes, to: str = "bauamt@amt.test") -> str:
    item = site.mailroom.intake.accept_bytes(
        raw, Channel.SMTP, Envelope("max.mustermann@provider.de-mail.de", (to,))
    )
    site.run(item.id, *AFTER_ANALYSIS)
    return item.id


def test_a_sender_confirmed_demail_replaces_the_written_form(
    demail_site: Site, pki: GeneratedPki
) -> None:
    item_id = _accept(demail_site, seal(normal_fields(), provider=provider_key(pki)))

    store = demail_site.store
    decision = stored_record(store, item_id, "decide", Decision)
    assert decision is not None
    assert (decision.outcome, decision.means) == (Outcome.YES, Means.DEMAIL)
    report = stored_record(store, item_id, "verify", VerificationReport)
    assert report is not None
    demail = [
        s for d in report.documents for s in d.signatures if s.format is SignatureFormat.DEMAIL
    ]
    assert [s.indication for s in demail] == [Indication.TOTAL_PASSED]
    item = store.item(item_id)
    assert item is not None and item.state is ItemState.ROUTED


def test_authoritative_without_a_signature_is_fc04_and_does_not_replace_it(
    demail_site: Site,
) -> None:
    item_id = _accept(demail_site, seal(normal_fields(), algorithm="sha256"))

    channel = stored_record(demail_site.store, item_id, "channel", ChannelRecord)
    assert channel is not None and channel.demail is not None
    assert channel.demail.errors == ("FC-04",)
    decision = stored_record(demail_site.store, item_id, "decide", Decision)
    assert decision is not None
    assert decision.outcome is Outcome.NO
    assert any("FC-04" in reason or "Signatur" in reason for reason in decision.reasons_de)


def test_a_provider_confirmation_is_filed_with_the_message_it_concerns(
    demail_site: Site, pki: GeneratedPki
) -> None:
    fields = normal_fields()
    original = seal(fields, provider=provider_key(pki))
    original_id = _accept(demail_site, original)
    integrity = original.split(b"X-de-mail-integrity: ", 1)[1].split(b"\r\nX-de-mail-sig")[0]
    confirmation_fields, body = confirmation_of_receipt(fields, integrity.decode())
    confirmation_id = _accept(
        demail_site, seal(confirmation_fields, body, provider=provider_key(pki))
    )

    store = demail_site.store
    confirmation = store.item(confirmation_id)
    assert confirmation is not None
    assert (confirmation.state, confirmation.department) == (ItemState.ATTACHED, None)
    notes = [e for e in store.journal(item_id=original_id) if e.event == "demail.provider_message"]
    assert [n.data["item"] for n in notes] == [confirmation.registry_number]
    assert store.outbound_location(f"receipt/{confirmation.registry_number}") is None


@pytest.fixture
def eid_site(
    template: Template, pki: GeneratedPki, tmp_path: Path
) -> Iterator[tuple[Site, SamlIdp]]:
    idp = SamlIdp.generate()
    certificate = idp.write_certificate(tmp_path / "idp.pem")
    config = (
        f'\n[eid]\nidp_entity_id = "{idp.entity_id}"\nidp_certificate = "{certificate}"\n'
        f'sp_entity_id = "{SP}"\n'
    )
    trust = trusting(pki, tmp_path)
    with open_site(template, tmp_path / "poststelle", lambda text: trust(text) + config) as opened:
        yield opened, idp


def _upload(site: Site, assertion: bytes) -> tuple[int, dict[str, object]]:
    answer = site.client.post(
        "/api/v1/submissions",
        data={
            "procedure": "bauantrag",
            "reply_to": "erika@example.org",
            "assertion": assertion.decode(),
        },
        files=[("document", ("bauantrag.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"))],
        headers={"Authorization": f"Bearer {site.upload_token}"},
    )
    return answer.status_code, answer.json()


def test_an_eid_identified_submission_replaces_the_written_form(
    eid_site: tuple[Site, SamlIdp],
) -> None:
    site, idp = eid_site
    assertion = to_bytes(signed_assertion(AssertionSpec(idp.entity_id, SP, datetime.now(UTC)), idp))
    status, body = _upload(site, assertion)
    assert status == 201, body
    item = site.store.item_by_registry_number(str(body["registry_number"]))
    assert item is not None
    site.run(item.id, *AFTER_ANALYSIS)

    decision = stored_record(site.store, item.id, "decide", Decision)
    assert decision is not None
    assert (decision.outcome, decision.means) == (Outcome.YES, Means.EID_FORM)
    channel = stored_record(site.store, item.id, "channel", ChannelRecord)
    assert channel is not None and channel.eid is not None
    assert (channel.eid.issuer, channel.eid.level) == (idp.entity_id, "high")
    assert json.loads(item.envelope.metadata["eid"])["subject"] == channel.eid.subject


def test_a_replayed_or_foreign_assertion_is_refused_with_a_problem(
    eid_site: tuple[Site, SamlIdp],
) -> None:
    site, idp = eid_site
    assertion = to_bytes(signed_assertion(AssertionSpec(idp.entity_id, SP, datetime.now(UTC)), idp))
    assert _upload(site, assertion)[0] == 201
    replayed = _upload(site, assertion)
    assert replayed[0] == 422 and replayed[1]["type"] == "/problems/bad-assertion"
    stranger = SamlIdp.generate()
    forged = to_bytes(
        signed_assertion(AssertionSpec(idp.entity_id, SP, datetime.now(UTC)), stranger)
    )
    refused = _upload(site, forged)
    assert refused[0] == 422 and refused[1]["type"] == "/problems/bad-assertion"
    assert len(site.store.items(channel=Channel.UPLOAD)) == 1
