"""Whether a De-Mail is "absenderbestätigt" (§ 5 (5) De-Mail-Gesetz), and the whole finding."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from poststelle.demail.headers import (
    AuthLevel,
    ConfirmationReference,
    DemailHeaders,
    confirmation_reference,
    parse_headers,
)
from poststelle.demail.integrity import IntegrityResult, Protection, verify_integrity
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import (
    Indication,
    Qualification,
    SignatureReport,
    SubIndication,
)

QUALIFIED = frozenset({Qualification.QESEAL, Qualification.QESIG})
PSEUDONYM_PREFIX = "pn_"  # local part of pseudonym addresses (TR DM ACM FU 2.1.1)


class SpecError(enum.StrEnum):
    """Error cases of the recipient's integrity check (TR DM PVD FU, steps 48 and 83)."""

    FC_01 = "FC-01"
    FC_02 = "FC-02"
    FC_03 = "FC-03"
    FC_04 = "FC-04"

    @property
    def text_de(self) -> str:
        return {
            SpecError.FC_01: "Integritätsverletzung",
            SpecError.FC_02: "Zertifikat ungültig",
            SpecError.FC_03: "Der Status des Zertifikates konnte nicht online geprüft werden",
            SpecError.FC_04: "Keine Signatur bei einer Nachricht mit Versandoption "
            "„Absenderbestätigt“",
        }[self]


@dataclass(frozen=True, slots=True)
class SenderConfirmation:
    """`confirmed` only when the sender chose "absenderbestätigt", logged in at level "high"
    without a pseudonym, and the provider's qualified signature over those headers holds."""

    requested: bool  # X-de-mail-authoritative: yes
    confirmed: bool
    errors: tuple[SpecError, ...]
    reasons_de: tuple[str, ...]


def _spec_error(result: IntegrityResult) -> SpecError | None:
    report = result.report
    if report is None or result.protection is Protection.HASH:
        return SpecError.FC_04
    if report.indication is Indication.TOTAL_PASSED:
        return None
    if report.sub_indication in (
        SubIndication.FORMAT_FAILURE,
        SubIndication.HASH_FAILURE,
        SubIndication.SIG_CRYPTO_FAILURE,
    ):
        return SpecError.FC_01
    if report.sub_indication is SubIndication.TRY_LATER:
        return SpecError.FC_03
    return SpecError.FC_02


def assess_sender_confirmation(
    headers: DemailHeaders, result: IntegrityResult
) -> SenderConfirmation:
    if not headers.authoritative:
        return SenderConfirmation(
            False,
            False,
            (),
            ("Die Versandoption „Absenderbestätigt“ ist nicht gesetzt.",),
        )
    errors: list[SpecError] = []
    reasons: list[str] = []
    error = _spec_error(result)
    if error is not None:
        errors.append(error)
        reasons.append(f"{error.value}: {error.text_de}.")
    report = result.report
    if error is None and report is not None and report.qualification not in QUALIFIED:
        errors.append(SpecError.FC_02)
        reasons.append(
            f"{SpecError.FC_02.value}: Das Zertifikat des Diensteanbieters ist nicht "
            f"qualifiziert ({report.qualification.value})."
        )
    if headers.auth_level is not AuthLevel.HIGH:
        level = headers.auth_level.value if headers.auth_level else "fehlt"
        reasons.append(
            f"Der Absender war nicht mit Authentisierungsniveau „hoch“ angemeldet "
            f"(X-de-mail-auth-level: {level})."
        )
    if headers.sender.lower().startswith(PSEUDONYM_PREFIX):
        reasons.append(
            f"Die Absenderadresse {headers.sender} ist eine Pseudonym-Adresse; "
            "„Absenderbestätigt“ ist damit nicht zulässig."
        )
    if reasons:
        return SenderConfirmation(True, False, tuple(errors), tuple(reasons))
    signer = report.signer.subject if report is not None and report.signer else ""
    return SenderConfirmation(
        True,
        True,
        (),
        (
            f"Absenderbestätigt: {headers.sender} war mit Authentisierungsniveau „hoch“ "
            f"angemeldet; qualifiziert signiert vom Diensteanbieter {signer}.",
        ),
    )


@dataclass(frozen=True, slots=True)
class DemailFinding:
    headers: DemailHeaders
    integrity: IntegrityResult
    sender_confirmation: SenderConfirmation
    confirmation: ConfirmationReference | None  # what a provider's confirmation refers to

    @property
    def report(self) -> SignatureReport | None:
        """The verification report of X-de-mail-integrity; None when the field is missing."""
        return self.integrity.report


async def verify_demail(raw: bytes, context: VerificationContext) -> DemailFinding:
    """Headers, integrity and sender confirmation of a raw De-Mail; never raises for bad input."""
    headers = parse_headers(raw)
    result = await verify_integrity(raw, context)
    return DemailFinding(
        headers=headers,
        integrity=result,
        sender_confirmation=assess_sender_confirmation(headers, result),
        confirmation=confirmation_reference(raw, headers),
    )
