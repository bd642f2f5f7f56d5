"""Verify a signed SAML 2.0 assertion from the configured eID identity provider (BundID style)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from poststelle import xmlsafe
from poststelle.eid.settings import LEVELS, EidSettings
from poststelle.verification.model import Check, CheckOutcome

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
DS = "http://www.w3.org/2000/09/xmldsig#"
AKDB = "https://www.akdb.de/request/2018/09"  # BundID's namespace for per-attribute trust levels
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
MAX_ASSERTION_BYTES = 512 * 1024

# Levels of assurance as identity providers state them, normalised to LEVELS. Keys are compared
# case-insensitively: BundID writes its trust levels in capitals, eID servers in lower case.
_LEVEL_NAMES = {
    "http://eidas.europa.eu/loa/low": "low",
    "http://eidas.europa.eu/loa/substantial": "substantial",
    "http://eidas.europa.eu/loa/high": "high",
    "http://bsi.bund.de/eid/loa/normal": "low",
    "http://bsi.bund.de/eid/loa/substantiell": "substantial",
    "http://bsi.bund.de/eid/loa/hoch": "high",
    "stork-qaa-level-1": "none",
    "stork-qaa-level-2": "low",
    "stork-qaa-level-3": "substantial",
    "stork-qaa-level-4": "high",
    "untergeordnet": "none",
    "normal": "low",
    "substantiell": "substantial",
    "hoch": "high",
}
# Conditions whose meaning we know; any other condition makes the assertion unusable (SAML core
# 2.5.1.1: an unknown condition is Indeterminate).
_KNOWN_CONDITIONS = {f"{{{SAML}}}AudienceRestriction", f"{{{SAML}}}OneTimeUse"}


def normalise_level(stated: str) -> str:
    """The LEVELS name of a level of assurance as an IdP states it; "" when unknown."""
    return _LEVEL_NAMES.get(stated.strip().lower(), "")


@dataclass(frozen=True, slots=True)
class EidAttribute:
    """One attribute the identity provider asserted, with its trust level where it states one."""

    name: str
    friendly_name: str
    values: tuple[str, ...]
    trust_level: str  # as stated (BundID: UNTERGEORDNET|NORMAL|SUBSTANTIELL|HOCH); "" if none
    level: str  # trust_level normalised to LEVELS; "" if none or unknown


@dataclass(frozen=True, slots=True)
class EidFinding:
    """Who asserted what about whom, and whether Poststelle accepts it; everything but `checks`
    and `problem` is read from the signed assertion only (empty when the signature failed)."""

    valid: bool
    level: str  # normalised level of assurance of the authentication (LEVELS), "" if unknown
    level_stated: str  # the AuthnContextClassRef as the IdP wrote it
    issuer: str
    subject: str  # the NameID
    subject_format: str
    attributes: tuple[EidAttribute, ...]
    assertion_id: str
    issue_instant: datetime | None
    signer_sha256: str  # SHA-256 of the pinned IdP certificate whose key verified the signature
    checks: tuple[Check, ...]
    problem: str  # the first failed check in English; "" when valid

    def attribute(self, name: str) -> EidAttribute | None:
        """The attribute with this Name (or FriendlyName), if the IdP asserted it."""
        for attribute in self.attributes:
            if name in (attribute.name, attribute.friendly_name):
                return attribute
        return None


class _Refused(Exception):
    def __init__(self, name: str, detail: str, detail_de: str) -> None:
        super().__init__(detail)
        self.check = Check(name, CheckOutcome.FAILED, detail, detail_de)


def _passed(name: str, detail: str, detail_de: str) -> Check:
    return Check(name, CheckOutcome.PASSED, detail, detail_de)


def _failed(name: str, detail: str, detail_de: str) -> Check:
    return Check(name, CheckOutcome.FAILED, detail, detail_de)


def verify_assertion(
    xml: bytes,
    settings: EidSettings,
    seen: Callable[[str, str, datetime], bool],
    now: datetime,
) -> EidFinding:
    """Verify a SAML assertion (bare, or the one assertion of a samlp:Response) at `now`.

    `seen(issuer, assertion_id, expires_at)` records the assertion ID as used and returns False
    when it was used before (`SqlStore.remember_assertion`); it is called only for an assertion
    that passed every other check. Never raises for bad input: the finding says what failed."""
    try:
        certificate = _load_certificate(settings)
        assertion = _structure(_parse(xml))
        signed = _verify_signature(assertion, certificate, now)
    except _Refused as refused:
        return _finding(None, "", [refused.check])
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    checks = [
        _passed(
            "signature",
            f"signed by the key of the pinned IdP certificate (SHA-256 {fingerprint})",
            "Die Signatur wurde mit dem Schlüssel des hinterlegten Zertifikats des "
            "Identitätsanbieters geprüft und ist gültig.",
        ),
        _check_version(signed),
        _check_issuer(signed, settings),
    ]
    skew = timedelta(seconds=settings.clock_skew_seconds)
    validity, expires = _check_validity(signed, now.astimezone(UTC), skew)
    checks += [validity, _check_audience(signed, settings), _check_level(signed, settings)]
    if expires is None or any(c.outcome is not CheckOutcome.PASSED for c in checks):
        checks.append(
            Check(
                "one_time_use",
                CheckOutcome.NOT_APPLICABLE,
                "the assertion ID was not consumed because another check failed",
                "Die Kennung der Zusicherung wurde nicht verbraucht, weil eine andere Prüfung "
                "fehlschlug.",
            )
        )
    else:
        checks.append(_check_replay(signed, seen, expires + skew))
    return _finding(signed, fingerprint, checks)


def _load_certificate(settings: EidSettings) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(settings.idp_certificate.read_bytes())
    except (OSError, ValueError) as exc:
        raise _Refused(
            "configuration",
            f"the IdP certificate {settings.idp_certificate} cannot be read: {exc}",
            "Das hinterlegte Zertifikat des Identitätsanbieters kann nicht gelesen werden.",
        ) from exc


def _parse(xml: bytes) -> etree._Element:
    try:
        return xmlsafe.parse(xml, max_bytes=MAX_ASSERTION_BYTES)
    except xmlsafe.UnsafeXml as exc:
        raise _Refused(
            "parse",
            str(exc),
            "Die Zusicherung ist kein sicher lesbares XML (zu groß, nicht wohlgeformt oder "
            "mit DTD/Entitäten) und wird ungelesen abgewiesen.",
        ) from exc


def _structure(root: etree._Element) -> etree._Element:
    """The one Assertion of the document; anything that could hide a second one is refused."""
    if root.tag not in (f"{{{SAML}}}Assertion", f"{{{SAMLP}}}Response"):
        raise _Refused(
            "structure",
            f"neither a SAML Assertion nor a SAML Response but {root.tag}",
            "Das Dokument ist weder eine SAML-Zusicherung noch eine SAML-Antwort.",
        )
    if any(True for _ in root.iter(f"{{{SAML}}}EncryptedAssertion")):
        raise _Refused(
            "structure",
            "holds an encrypted assertion; only decrypted assertions are accepted",
            "Die Antwort enthält eine verschlüsselte Zusicherung; angenommen werden nur "
            "entschlüsselte Zusicherungen.",
        )
    assertions = list(root.iter(f"{{{SAML}}}Assertion"))
    if len(assertions) != 1:
        raise _Refused(
            "structure",
            f"holds {len(assertions)} assertions, not exactly one (signature wrapping?)",
            f"Das Dokument enthält {len(assertions)} Zusicherungen statt genau einer "
            "(möglicher Signatur-Wrapping-Angriff).",
        )
    (assertion,) = assertions
    if root.tag == f"{{{SAMLP}}}Response":
        if assertion.getparent() is not root:
            raise _Refused(
                "structure",
                "the assertion is not a direct child of the response",
                "Die Zusicherung steht nicht unmittelbar in der SAML-Antwort.",
            )
        status = root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
        if status is None or status.get("Value") != SUCCESS:
            code = "" if status is None else status.get("Value", "")
            raise _Refused(
                "structure",
                f"the response status is not Success but {code or 'missing'}",
                "Die SAML-Antwort meldet keinen Erfolg.",
            )
    return assertion


def _verify_signature(
    assertion: etree._Element, certificate: x509.Certificate, now: datetime
) -> etree._Element:
    """The assertion as signed (re-parsed from what the signature covers, never the input)."""
    signatures = assertion.findall(f"{{{DS}}}Signature")
    if len(signatures) != 1:
        raise _Refused(
            "signature",
            f"the assertion carries {len(signatures)} enveloped signatures, not exactly one",
            "Die Zusicherung trägt keine (oder mehr als eine) eingebettete Signatur.",
        )
    assertion_id = assertion.get("ID", "")
    root = assertion.getroottree().getroot()
    location = "./" if root is assertion else f"./{{{SAML}}}Assertion/"
    config = SignatureConfiguration(location=location, expect_references=1, verification_time=now)
    try:
        result = XMLVerifier().verify(
            root, x509_cert=certificate, id_attribute="ID", expect_config=config
        )
    except (SignXMLException, etree.LxmlError, ValueError, TypeError) as exc:
        raise _Refused(
            "signature",
            f"the signature does not verify with the pinned IdP certificate: {exc}",
            "Die Signatur ist mit dem hinterlegten Zertifikat des Identitätsanbieters nicht "
            "gültig.",
        ) from exc
    assert isinstance(result, VerifyResult)  # expect_references=1: exactly one reference
    references = result.signature_xml.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    signed = result.signed_xml
    if (
        not assertion_id
        or signed is None
        or signed.tag != f"{{{SAML}}}Assertion"
        or signed.get("ID") != assertion_id
        or [r.get("URI") for r in references] != [f"#{assertion_id}"]
    ):
        raise _Refused(
            "signature",
            "the signature does not cover the assertion itself (by its ID)",
            "Die Signatur erfasst nicht die Zusicherung selbst.",
        )
    return signed


def _find(element: etree._Element, path: str) -> etree._Element | None:
    return element.find(path, {"saml": SAML})


def _findall(element: etree._Element, path: str) -> list[etree._Element]:
    return list(element.findall(path, {"saml": SAML}))


def _text(element: etree._Element | None) -> str:
    return "" if element is None else "".join(element.itertext()).strip()


def _time(element: etree._Element, attribute: str) -> datetime | None:
    """An xs:dateTime attribute (UTC when no zone is given); None when absent."""
    raw = element.get(attribute)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise _Refused(
            "validity",
            f"{attribute} is not a date and time: {raw!r}",
            f"{attribute} ist keine gültige Zeitangabe.",
        ) from exc
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_version(signed: etree._Element) -> Check:
    if signed.get("Version") != "2.0":
        return _failed(
            "version",
            f"not a SAML 2.0 assertion (Version {signed.get('Version')!r})",
            "Die Zusicherung ist keine SAML-2.0-Zusicherung.",
        )
    return _passed("version", "SAML 2.0", "SAML 2.0")


def _check_issuer(signed: etree._Element, settings: EidSettings) -> Check:
    issuer = _text(_find(signed, "saml:Issuer"))
    if issuer != settings.idp_entity_id:
        return _failed(
            "issuer",
            f"issued by {issuer!r}, not by the configured IdP {settings.idp_entity_id!r}",
            f"Ausgestellt von „{issuer}“, nicht vom eingerichteten Identitätsanbieter "
            f"„{settings.idp_entity_id}“.",
        )
    return _passed(
        "issuer",
        f"issued by the configured IdP {issuer}",
        f"Ausgestellt vom eingerichteten Identitätsanbieter „{issuer}“.",
    )


def _check_validity(
    signed: etree._Element, now: datetime, skew: timedelta
) -> tuple[Check, datetime | None]:
    """The validity window (Conditions, bearer SubjectConfirmationData, IssueInstant) and the
    moment after which the assertion is no longer usable anyway (None if it cannot be read)."""
    try:
        return _window(signed, now, skew)
    except _Refused as refused:
        return refused.check, None


def _window(signed: etree._Element, now: datetime, skew: timedelta) -> tuple[Check, datetime]:
    conditions = _find(signed, "saml:Conditions")
    confirmation_data = [
        c.find(f"{{{SAML}}}SubjectConfirmationData")
        for c in _findall(signed, "saml:Subject/saml:SubjectConfirmation")
        if c.get("Method") == BEARER
    ]
    issued = _time(signed, "IssueInstant")
    if conditions is None or not confirmation_data or confirmation_data[0] is None:
        raise _Refused(
            "validity",
            "Conditions or a bearer SubjectConfirmationData are missing",
            "Der Zusicherung fehlen Gültigkeitsbedingungen oder die Bestätigung des Subjekts.",
        )
    unknown = sorted(
        {c.tag for c in conditions.iterchildren("{*}*") if c.tag not in _KNOWN_CONDITIONS}
    )
    not_before = _time(conditions, "NotBefore")
    limits = [_time(conditions, "NotOnOrAfter"), _time(confirmation_data[0], "NotOnOrAfter")]
    if issued is None or limits[1] is None:
        raise _Refused(
            "validity",
            "IssueInstant or SubjectConfirmationData NotOnOrAfter is missing",
            "Der Zusicherung fehlen Ausstellungszeit oder Ablaufzeit.",
        )
    expires = min(limit for limit in limits if limit is not None)
    if unknown:
        return _failed(
            "validity",
            f"conditions Poststelle does not understand: {', '.join(unknown)}",
            "Die Zusicherung enthält unbekannte Bedingungen.",
        ), expires
    if (not_before is not None and now + skew < not_before) or now + skew < issued:
        return _failed(
            "validity",
            f"not yet valid at {now.isoformat()} (from {(not_before or issued).isoformat()})",
            f"Die Zusicherung ist erst ab {(not_before or issued).isoformat()} gültig.",
        ), expires
    if now - skew >= expires:
        return _failed(
            "validity",
            f"expired at {expires.isoformat()}",
            f"Die Zusicherung ist seit {expires.isoformat()} abgelaufen.",
        ), expires
    return _passed(
        "validity",
        f"valid at {now.isoformat()} (until {expires.isoformat()})",
        f"Die Zusicherung ist gültig (bis {expires.isoformat()}).",
    ), expires


def _check_audience(signed: etree._Element, settings: EidSettings) -> Check:
    restrictions = _findall(signed, "saml:Conditions/saml:AudienceRestriction")
    audiences = [[_text(a) for a in _findall(r, "saml:Audience")] for r in restrictions]
    if not audiences or any(settings.sp_entity_id not in group for group in audiences):
        named = ", ".join(a for group in audiences for a in group) or "none"
        return _failed(
            "audience",
            f"not meant for {settings.sp_entity_id!r} (audiences: {named})",
            f"Die Zusicherung ist nicht für diese Behörde bestimmt (Empfänger: {named}).",
        )
    return _passed(
        "audience",
        f"meant for {settings.sp_entity_id}",
        f"Die Zusicherung ist für „{settings.sp_entity_id}“ bestimmt.",
    )


def _stated_levels(signed: etree._Element) -> list[str]:
    return [
        _text(ref)
        for ref in _findall(
            signed, "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef"
        )
    ]


def _lowest(levels: Iterable[str]) -> str:
    """The lowest of these normalised levels ("" when any is unknown or there are none)."""
    known = list(levels)
    if not known or "" in known:
        return ""
    return min(known, key=LEVELS.index)


def _check_level(signed: etree._Element, settings: EidSettings) -> Check:
    stated = _stated_levels(signed)
    level = _lowest(normalise_level(s) for s in stated)
    named = ", ".join(stated) or "none"
    if not level:
        return _failed(
            "level",
            f"level of assurance unknown (AuthnContextClassRef: {named})",
            f"Das Vertrauensniveau ist unbekannt ({named}).",
        )
    if LEVELS.index(level) < LEVELS.index(settings.required_level):
        return _failed(
            "level",
            f"level of assurance {level} ({named}) is below the required {settings.required_level}",
            f"Das Vertrauensniveau „{level}“ ({named}) genügt nicht; verlangt ist "
            f"„{settings.required_level}“.",
        )
    return _passed(
        "level",
        f"level of assurance {level} ({named})",
        f"Vertrauensniveau „{level}“ ({named}).",
    )


def _check_replay(
    signed: etree._Element, seen: Callable[[str, str, datetime], bool], until: datetime
) -> Check:
    issuer = _text(_find(signed, "saml:Issuer"))
    assertion_id = signed.get("ID", "")
    if not seen(issuer, assertion_id, until):
        return _failed(
            "one_time_use",
            f"assertion {assertion_id} was used before (replay)",
            "Die Zusicherung wurde bereits verwendet (Wiedereinspielung).",
        )
    return _passed(
        "one_time_use",
        f"assertion {assertion_id} used for the first time",
        "Die Zusicherung wird zum ersten Mal verwendet.",
    )


def _attributes(signed: etree._Element) -> tuple[EidAttribute, ...]:
    result = []
    for attribute in _findall(signed, "saml:AttributeStatement/saml:Attribute"):
        trust = attribute.get(f"{{{AKDB}}}TrustLevel", "").strip()
        result.append(
            EidAttribute(
                name=attribute.get("Name", ""),
                friendly_name=attribute.get("FriendlyName", ""),
                values=tuple(_text(v) for v in _findall(attribute, "saml:AttributeValue")),
                trust_level=trust,
                level=normalise_level(trust) if trust else "",
            )
        )
    return tuple(result)


def _finding(signed: etree._Element | None, fingerprint: str, checks: list[Check]) -> EidFinding:
    failed = [c for c in checks if c.outcome is CheckOutcome.FAILED]
    if signed is None:
        return EidFinding(
            valid=False,
            level="",
            level_stated="",
            issuer="",
            subject="",
            subject_format="",
            attributes=(),
            assertion_id="",
            issue_instant=None,
            signer_sha256="",
            checks=tuple(checks),
            problem=failed[0].detail,
        )
    name_id = _find(signed, "saml:Subject/saml:NameID")
    stated = _stated_levels(signed)
    try:
        issued = _time(signed, "IssueInstant")
    except _Refused:
        issued = None
    return EidFinding(
        valid=all(c.outcome is CheckOutcome.PASSED for c in checks),
        level=_lowest(normalise_level(s) for s in stated),
        level_stated=" ".join(stated),
        issuer=_text(_find(signed, "saml:Issuer")),
        subject=_text(name_id),
        subject_format="" if name_id is None else name_id.get("Format", ""),
        attributes=_attributes(signed),
        assertion_id=signed.get("ID", ""),
        issue_instant=issued,
        signer_sha256=fingerprint,
        checks=tuple(checks),
        problem=failed[0].detail if failed else "",
    )
