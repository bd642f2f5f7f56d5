"""The Schriftformersatz decision and the § 3a (3) suitability check, as pure functions."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from poststelle.decision.procedures import Form, Means, Procedure
from poststelle.verification.model import (
    Indication,
    Qualification,
    SignatureFormat,
    SignatureReport,
    VerificationReport,
)


class Outcome(enum.StrEnum):
    YES = "yes"
    NO = "no"
    UNDETERMINED = "undetermined"
    NOT_REQUIRED = "not_required"


class Unsuitability(enum.StrEnum):
    TYPE_NOT_ACCEPTED = "type_not_accepted"
    TOO_LARGE = "too_large"
    UNDECRYPTABLE = "undecryptable"
    CORRUPT = "corrupt"
    MALWARE = "malware"


@dataclass(frozen=True, slots=True)
class UnsuitableCause:
    kind: Unsuitability
    document: str
    detail_de: str


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    name: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What the channel established about the sender; None where the channel says nothing."""

    demail_absenderbestaetigt: bool | None = None
    demail_problem_de: str = ""
    eid_level_hoch: bool | None = None
    eid_problem_de: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    means: Means | None
    procedure: str
    rule: str  # where the deciding procedure is written (file:line)
    reasons_de: tuple[str, ...]
    unsuitable: tuple[UnsuitableCause, ...]

    @property
    def suitable(self) -> bool:
        return not self.unsuitable

    @property
    def needs_review(self) -> bool:
        """The clerk must look: undetermined, or unsuitable for processing."""
        return self.outcome is Outcome.UNDETERMINED or not self.suitable


def suitability(
    procedure: Procedure, documents: Sequence[DocumentFacts], found: Sequence[UnsuitableCause]
) -> tuple[UnsuitableCause, ...]:
    """Causes that make the item unsuitable: what was found elsewhere, plus the policy's limits."""
    causes = list(found)
    for doc in documents:
        if not procedure.accepts_type(doc.content_type):
            causes.append(
                UnsuitableCause(
                    Unsuitability.TYPE_NOT_ACCEPTED,
                    doc.name,
                    f"Das Dateiformat {doc.content_type} von „{doc.name}“ wird für "
                    f"{procedure.title} nicht angenommen.",
                )
            )
        if doc.size > procedure.max_document_bytes:
            causes.append(
                UnsuitableCause(
                    Unsuitability.TOO_LARGE,
                    doc.name,
                    f"„{doc.name}“ ist {doc.size} Bytes groß; zulässig sind höchstens "
                    f"{procedure.max_document_bytes} Bytes.",
                )
            )
    return tuple(causes)


def _signatures(report: VerificationReport | None) -> list[tuple[str, SignatureReport]]:
    if report is None:
        return []
    return [(d.name, s) for d in report.documents for s in d.signatures]


_QUALIFICATION_FOR = {Means.QES: Qualification.QESIG, Means.QUALIFIED_SEAL: Qualification.QESEAL}
_MEANS_DE = {
    Means.QES: "qualifizierte elektronische Signatur",
    Means.QUALIFIED_SEAL: "qualifiziertes elektronisches Siegel",
    Means.DEMAIL: "absenderbestätigte De-Mail",
    Means.EID_FORM: "Formular mit eID-Identifizierung (Vertrauensniveau hoch)",
}


def decide(
    procedure: Procedure,
    report: VerificationReport | None,
    channel: ChannelFacts,
    documents: Sequence[DocumentFacts],
    found: Sequence[UnsuitableCause] = (),
) -> Decision:
    unsuitable = suitability(procedure, documents, found)
    reasons: list[str] = [f"Verfahren: {procedure.title} ({procedure.source})."]
    reasons += [c.detail_de for c in unsuitable]

    def decision(outcome: Outcome, means: Means | None = None) -> Decision:
        return Decision(outcome, means, procedure.key, procedure.source, tuple(reasons), unsuitable)

    if procedure.form is Form.NONE:
        reasons.append("Für dieses Verfahren ist keine Form vorgeschrieben.")
        return decision(Outcome.NOT_REQUIRED)
    if procedure.form is Form.TEXTFORM:
        reasons.append("Textform ist vorgeschrieben; eine elektronische Nachricht genügt ihr.")
        return decision(Outcome.NOT_REQUIRED)

    signatures = _signatures(report)
    undetermined = False
    for means in procedure.means:
        if means in _QUALIFICATION_FOR:
            wanted = _QUALIFICATION_FOR[means]
            for name, sig in signatures:
                if sig.format is SignatureFormat.DEMAIL:
                    continue
                if sig.indication is Indication.TOTAL_PASSED and sig.qualification is wanted:
                    signer = sig.signer.subject if sig.signer else "unbekannt"
                    reasons.append(
                        f"„{name}“ trägt eine gültige {_MEANS_DE[means]} von {signer}; "
                        "sie ersetzt die Schriftform."
                    )
                    return decision(Outcome.YES, means)
                if sig.indication is Indication.INDETERMINATE:
                    undetermined = True
                    reasons.append(
                        f"Die Signatur in „{name}“ ist unbestimmt ({sig.sub_indication}); "
                        "sie kann die Schriftform ersetzen, sobald ihre Prüfung gelingt."
                    )
        elif means is Means.DEMAIL and channel.demail_absenderbestaetigt is not None:
            if channel.demail_absenderbestaetigt:
                reasons.append("Die Nachricht ist eine gültige absenderbestätigte De-Mail.")
                return decision(Outcome.YES, means)
            reasons.append(channel.demail_problem_de or "Die De-Mail ist nicht absenderbestätigt.")
        elif means is Means.EID_FORM and channel.eid_level_hoch is not None:
            if channel.eid_level_hoch:
                reasons.append(
                    "Der Absender wurde über das Formular mit der Online-Ausweisfunktion "
                    "auf dem Vertrauensniveau hoch identifiziert."
                )
                return decision(Outcome.YES, means)
            reasons.append(channel.eid_problem_de or "Die eID-Identifizierung genügt nicht.")
    if undetermined:
        reasons.append(
            "Ob die Schriftform ersetzt ist, kann erst nach erneuter Prüfung gesagt werden."
        )
        return decision(Outcome.UNDETERMINED)
    admitted = ", ".join(_MEANS_DE[m] for m in procedure.means)
    reasons.append(f"Keines der zugelassenen Mittel liegt vor ({admitted}).")
    return decision(Outcome.NO)
