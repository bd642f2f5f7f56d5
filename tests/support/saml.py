"""SAML 2.0 assertions signed at test time by a generated identity provider (BundID style)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod
from signxml.signer import XMLSigner

from poststelle.eid.saml import AKDB, BEARER, DS, SAML, SAMLP, SUCCESS

EIDAS_HIGH = "http://eidas.europa.eu/LoA/high"
EIDAS_SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
NSMAP = {"saml": SAML, "samlp": SAMLP, "ds": DS, "akdb": AKDB}


@dataclass(frozen=True)
class SamlIdp:
    """An identity provider's signing key and its self-signed certificate."""

    entity_id: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, entity_id: str = "https://idp.bund.example/idp") -> SamlIdp:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test IdP signing")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        return cls(entity_id, key, cert)

    def write_certificate(self, path: Path) -> Path:
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path


@dataclass(frozen=True)
class Attr:
    name: str
    values: tuple[str, ...]
    trust_level: str = ""  # akdb:TrustLevel, e.g. "HOCH"; "" = none stated
    friendly_name: str = ""


@dataclass(frozen=True)
class AssertionSpec:
    """What the assertion says; times default to a window around `issued`."""

    issuer: str
    audience: str
    issued: datetime
    level: str = EIDAS_HIGH
    subject: str = "bPK2-0123456789abcdef"
    attributes: tuple[Attr, ...] = (
        Attr("urn:oid:2.5.4.42", ("Erika",), "HOCH", "givenName"),
        Attr("urn:oid:2.5.4.4", ("Mustermann",), "HOCH", "surname"),
        Attr("urn:oid:0.9.2342.19200300.100.1.3", ("erika@example.org",), "NORMAL", "mail"),
    )
    valid_for: timedelta = timedelta(minutes=5)
    assertion_id: str = field(default_factory=lambda: f"_{uuid.uuid4().hex}")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, _, local = tag.partition(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{local}", attrs, nsmap=NSMAP)
    if text is not None:
        element.text = text
    return element


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assertion(spec: AssertionSpec) -> etree._Element:
    """The unsigned assertion, with a placeholder where the signature goes (after Issuer)."""
    root = etree.Element(
        f"{{{SAML}}}Assertion",
        {"ID": spec.assertion_id, "Version": "2.0", "IssueInstant": _time(spec.issued)},
        nsmap=NSMAP,
    )
    _sub(root, "saml:Issuer", spec.issuer)
    _sub(root, "ds:Signature", Id="placeholder")
    subject = _sub(root, "saml:Subject")
    _sub(
        subject,
        "saml:NameID",
        spec.subject,
        Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    )
    confirmation = _sub(subject, "saml:SubjectConfirmation", Method=BEARER)
    until = _time(spec.issued + spec.valid_for)
    _sub(confirmation, "saml:SubjectConfirmationData", NotOnOrAfter=until)
    conditions = _sub(root, "saml:Conditions", NotBefore=_time(spec.issued), NotOnOrAfter=until)
    _sub(_sub(conditions, "saml:AudienceRestriction"), "saml:Audience", spec.audience)
    statement = _sub(root, "saml:AuthnStatement", AuthnInstant=_time(spec.issued))
    _sub(_sub(statement, "saml:AuthnContext"), "saml:AuthnContextClassRef", spec.level)
    attributes = _sub(root, "saml:AttributeStatement")
    for attr in spec.attributes:
        extra = {f"{{{AKDB}}}TrustLevel": attr.trust_level} if attr.trust_level else {}
        if attr.friendly_name:
            extra["FriendlyName"] = attr.friendly_name
        element = _sub(attributes, "saml:Attribute", Name=attr.name, **extra)
        for value in attr.values:
            _sub(element, "saml:AttributeValue", value)
    return root


def sign(element: etree._Element, idp: SamlIdp) -> etree._Element:
    """An enveloped signature over the assertion by its ID, as SAML core 5.4 prescribes."""
    signed: etree._Element = XMLSigner(
        signature_algorithm="ecdsa-sha256",
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(
        element,
        key=idp.key,
        cert=[idp.certificate],
        reference_uri=f"#{element.get('ID')}",
    )
    return signed


def signed_assertion(spec: AssertionSpec, idp: SamlIdp) -> etree._Element:
    return sign(assertion(spec), idp)


def response(*children: etree._Element, status: str = SUCCESS) -> etree._Element:
    """A samlp:Response around the given assertions (or other elements)."""
    root = etree.Element(
        f"{{{SAMLP}}}Response",
        {"ID": f"_{uuid.uuid4().hex}", "Version": "2.0", "IssueInstant": _time(datetime.now(UTC))},
        nsmap=NSMAP,
    )
    _sub(_sub(root, "samlp:Status"), "samlp:StatusCode", Value=status)
    for child in children:
        root.append(child)
    return root


def to_bytes(element: etree._Element) -> bytes:
    data: bytes = etree.tostring(element, xml_declaration=True, encoding="UTF-8")
    return data
