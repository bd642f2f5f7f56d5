"""The Schriftformersatz decision across procedures and means, and § 3a (3) suitability."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from poststelle.decision.procedures import Means, ProcedurePolicy, load_procedure_policy
from poststelle.decision.rules import (
    ChannelFacts,
    DocumentFacts,
    Outcome,
    Unsuitability,
    UnsuitableCause,
    decide,
)
from poststelle.tomlfile import TomlError
from poststelle.verification.model import (
    CertificateInfo,
    DocumentReport,
    Indication,
    ItemVerdict,
    Qualification,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    VerificationReport,
)

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "procedures.toml"
NOW = datetime(2026, 11, 25, tzinfo=UTC)
PDF = DocumentFacts("antrag.pdf", "application/pdf", 1000)


@pytest.fixture(scope="module")
def policy() -> ProcedurePolicy:
    return load_procedure_policy(SHIPPED)


def report(
    indication: Indication,
    qualification: Qualification,
    sub: SubIndication | None = None,
) -> VerificationReport:
    signer = CertificateInfo("CN=Erika Mustermann", "CN=QCA", "01", NOW, NOW, "ab")
    signature = SignatureReport(
        SignatureFormat.PADES, indication, sub, (), signer=signer, qualification=qualification
    )
    return VerificationReport(
        "1",
        NOW,
        NOW,
        ItemVerdict.PASSED,
        (DocumentReport("antrag.pdf", "ab", "application/pdf", (signature,)),),
    )


BAU = ("bauamt@amt.example",)
GEWERBE = ("gewerbe@amt.example",)


@pytest.mark.parametrize(
    ("recipients", "verification", "channel", "outcome", "means"),
    [
        (
            BAU,
            report(Indication.TOTAL_PASSED, Qualification.QESIG),
            ChannelFacts(),
            Outcome.YES,
            Means.QES,
        ),
        (
            BAU,
            report(Indication.TOTAL_PASSED, Qualification.ADESIG),
            ChannelFacts(),
            Outcome.NO,
            None,
        ),
        (
            BAU,
            report(Indication.TOTAL_PASSED, Qualification.QESEAL),
            ChannelFacts(),
            Outcome.NO,
            None,
        ),
        (
            GEWERBE,
            report(Indication.TOTAL_PASSED, Qualification.QESEAL),
            ChannelFacts(),
            Outcome.YES,
            Means.QUALIFIED_SEAL,
        ),
        (
            BAU,
            report(Indication.TOTAL_FAILED, Qualification.QESIG, SubIndication.HASH_FAILURE),
            ChannelFacts(),
            Outcome.NO,
            None,
        ),
        (
            BAU,
            report(Indication.INDETERMINATE, Qualification.INDETERMINATE, SubIndication.TRY_LATER),
            ChannelFacts(),
            Outcome.UNDETERMINED,
            None,
        ),
        (BAU, None, ChannelFacts(demail_absenderbestaetigt=True), Outcome.YES, Means.DEMAIL),
        (
            BAU,
            None,
            ChannelFacts(demail_absenderbestaetigt=False, demail_problem_de="FC-04"),
            Outcome.NO,
            None,
        ),
        (BAU, None, ChannelFacts(eid_level_hoch=True), Outcome.YES, Means.EID_FORM),
        (BAU, None, ChannelFacts(eid_level_hoch=False), Outcome.NO, None),
        (BAU, None, ChannelFacts(), Outcome.NO, None),
        (("info@amt.example",), None, ChannelFacts(), Outcome.NOT_REQUIRED, None),
    ],
    ids=[
        "qes-replaces-schriftform",
        "advanced-signature-does-not",
        "seal-not-admitted-for-bauantrag",
        "seal-admitted-for-gewerbe",
        "broken-qes-does-not",
        "indeterminate-qes-is-undetermined",
        "absenderbestaetigte-demail",
        "demail-without-confirmation",
        "eid-level-hoch",
        "eid-level-too-low",
        "plain-mail",
        "default-procedure-needs-no-form",
    ],
)
def test_the_decision_matrix(
    policy: ProcedurePolicy,
    recipients: tuple[str, ...],
    verification: VerificationReport | None,
    channel: ChannelFacts,
    outcome: Outcome,
    means: Means | None,
) -> None:
    procedure = policy.for_recipients(recipients)
    decision = decide(procedure, verification, channel, [PDF])
    assert (decision.outcome, decision.means) == (outcome, means)
    assert decision.rule.startswith("procedures.toml:")
    assert decision.reasons_de


def test_a_qes_decision_names_the_signer_in_german(policy: ProcedurePolicy) -> None:
    decision = decide(
        policy.for_recipients(BAU),
        report(Indication.TOTAL_PASSED, Qualification.QESIG),
        ChannelFacts(),
        [PDF],
    )
    assert any(
        "Erika Mustermann" in r and "ersetzt die Schriftform" in r for r in decision.reasons_de
    )


def test_undetermined_goes_to_the_clerk(policy: ProcedurePolicy) -> None:
    decision = decide(
        policy.for_recipients(BAU),
        report(Indication.INDETERMINATE, Qualification.INDETERMINATE, SubIndication.TRY_LATER),
        ChannelFacts(),
        [PDF],
    )
    assert decision.needs_review


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        (DocumentFacts("x.exe", "application/x-msdownload", 10), Unsuitability.TYPE_NOT_ACCEPTED),
        (DocumentFacts("big.pdf", "application/pdf", 60 * 1024 * 1024), Unsuitability.TOO_LARGE),
    ],
)
def test_documents_outside_the_policy_make_the_item_unsuitable(
    policy: ProcedurePolicy, document: DocumentFacts, kind: Unsuitability
) -> None:
    decision = decide(policy.for_recipients(BAU), None, ChannelFacts(), [PDF, document])
    assert [c.kind for c in decision.unsuitable] == [kind]
    assert not decision.suitable and decision.needs_review


def test_causes_found_by_other_stages_are_kept(policy: ProcedurePolicy) -> None:
    malware = UnsuitableCause(Unsuitability.MALWARE, "a.pdf", "Schadsoftware gefunden")
    decision = decide(policy.for_recipients(BAU), None, ChannelFacts(), [PDF], [malware])
    assert decision.unsuitable == (malware,)


def test_a_schriftform_procedure_without_means_is_refused_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "procedures.toml"
    broken.write_text(
        SHIPPED.read_text().replace(
            'means = ["qes", "demail_absenderbestaetigt", "eid_form"]\n', ""
        )
    )
    with pytest.raises(TomlError) as caught:
        load_procedure_policy(broken)
    assert caught.value.key == "procedure[0].means"
    assert caught.value.line is not None


def test_an_unknown_means_is_refused_with_its_position(tmp_path: Path) -> None:
    broken = tmp_path / "procedures.toml"
    broken.write_text(SHIPPED.read_text().replace('"qes", "demail', '"fax", "demail', 1))
    with pytest.raises(TomlError) as caught:
        load_procedure_policy(broken)
    assert caught.value.key == "procedure[0].means[0]"
    assert "fax" in caught.value.message
