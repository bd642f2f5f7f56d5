"""Signed test trusted lists (ETSI TS 119 612) built at test time: a LOTL and national lists."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.signer import XMLSigner

from poststelle.verification.trustedlists import (
    ADDITIONAL_TYPES,
    CA_QC,
    GRANTED,
    LOTL_TYPE,
    SIE,
    TSL,
    TSL_MIME_TYPE,
)

GENERIC_TYPE = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric"
NSMAP = {None: TSL, "sie": SIE, "tslx": ADDITIONAL_TYPES}


@dataclass(frozen=True)
class ListSigner:
    """A key and self-signed certificate of a scheme operator that signs a list."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls, name: str) -> ListSigner:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
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
        return cls(key, cert)

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class QualificationSpec:
    """One QualificationElement: qualifier URIs for certificates matching the criteria."""

    qualifiers: tuple[str, ...]
    key_usage: tuple[tuple[str, bool], ...] = (("nonRepudiation", True),)
    policies: tuple[str, ...] = ()
    assert_: str = "all"


@dataclass(frozen=True)
class Period:
    status: str
    start: datetime
    qualifications: tuple[QualificationSpec, ...] = ()
    additional_info: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    certificate: bytes  # DER of the CA the service is
    history: tuple[Period, ...]  # oldest first; the last is the current information
    name: str = "Test Qualified CA"
    service_type: str = CA_QC


@dataclass(frozen=True)
class Pointer:
    territory: str
    location: str
    signers: tuple[ListSigner, ...]
    tsl_type: str = GENERIC_TYPE
    mime_type: str = TSL_MIME_TYPE


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    ns, _, local = tag.rpartition(":")
    element = etree.SubElement(parent, f"{{{NSMAP[ns] if ns else TSL}}}{local}", attrs)
    if text is not None:
        element.text = text
    return element


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _names(parent: etree._Element, tag: str, name: str) -> None:
    _sub(_sub(parent, tag), "Name", name, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})


def _scheme(root: etree._Element, territory: str, tsl_type: str, sequence: int) -> etree._Element:
    scheme = _sub(root, "SchemeInformation")
    _sub(scheme, "TSLVersionIdentifier", "5")
    _sub(scheme, "TSLSequenceNumber", str(sequence))
    _sub(scheme, "TSLType", tsl_type)
    _names(scheme, "SchemeOperatorName", f"Scheme operator {territory}")
    _sub(scheme, "SchemeTerritory", territory)
    now = datetime.now(UTC)
    _sub(scheme, "ListIssueDateTime", _time(now))
    _sub(_sub(scheme, "NextUpdate"), "dateTime", _time(now + timedelta(days=180)))
    return scheme


def _digital_identity(parent: etree._Element, tag: str, der: bytes) -> None:
    _sub(_sub(parent, tag), "DigitalId").append(
        _leaf("X509Certificate", base64.b64encode(der).decode())
    )


def _leaf(tag: str, text: str) -> etree._Element:
    element = etree.Element(f"{{{TSL}}}{tag}")
    element.text = text
    return element


def _period(parent: etree._Element, spec: ServiceSpec, period: Period) -> None:
    _sub(parent, "ServiceTypeIdentifier", spec.service_type)
    _names(parent, "ServiceName", spec.name)
    _digital_identity(parent, "ServiceDigitalIdentity", spec.certificate)
    _sub(parent, "ServiceStatus", period.status)
    _sub(parent, "StatusStartingTime", _time(period.start))
    if not (period.qualifications or period.additional_info):
        return
    extensions = _sub(parent, "ServiceInformationExtensions")
    for uri in period.additional_info:
        info = _sub(_sub(extensions, "Extension", Critical="false"), "AdditionalServiceInformation")
        _sub(info, "URI", uri, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})
    if period.qualifications:
        quals = _sub(_sub(extensions, "Extension", Critical="true"), "sie:Qualifications")
        for q in period.qualifications:
            element = _sub(quals, "sie:QualificationElement")
            qualifiers = _sub(element, "sie:Qualifiers")
            for uri in q.qualifiers:
                _sub(qualifiers, "sie:Qualifier", uri=uri)
            criteria = _sub(element, "sie:CriteriaList", **{"assert": q.assert_})
            if q.key_usage:
                usage = _sub(criteria, "sie:KeyUsage")
                for bit, value in q.key_usage:
                    _sub(usage, "sie:KeyUsageBit", "true" if value else "false", name=bit)
            if q.policies:
                policy_set = _sub(criteria, "sie:PolicySet")
                for oid in q.policies:
                    identifier = _sub(policy_set, "sie:PolicyIdentifier")
                    etree.SubElement(
                        identifier, "{http://uri.etsi.org/01903/v1.3.2#}Identifier"
                    ).text = oid


def sign(root: etree._Element, signer: ListSigner) -> bytes:
    signed = XMLSigner(signature_algorithm="ecdsa-sha256").sign(
        root, key=signer.key, cert=[signer.certificate]
    )
    result: bytes = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    return result


def national_list(
    territory: str, services: Sequence[ServiceSpec], signer: ListSigner, sequence: int = 1
) -> bytes:
    """A signed national trusted list with one trust service provider holding `services`."""
    root = etree.Element(f"{{{TSL}}}TrustServiceStatusList", nsmap=NSMAP)
    root.set("TSLTag", "http://uri.etsi.org/19612/TSLTag")
    _scheme(root, territory, GENERIC_TYPE, sequence)
    provider = _sub(_sub(root, "TrustServiceProviderList"), "TrustServiceProvider")
    _names(_sub(provider, "TSPInformation"), "TSPName", f"Test TSP {territory}")
    tsp_services = _sub(provider, "TSPServices")
    for spec in services:
        service = _sub(tsp_services, "TSPService")
        *older, current = spec.history
        _period(_sub(service, "ServiceInformation"), spec, current)
        if older:
            history = _sub(service, "ServiceHistory")
            for period in reversed(older):
                _period(_sub(history, "ServiceHistoryInstance"), spec, period)
    return sign(root, signer)


def list_of_lists(pointers: Sequence[Pointer], signer: ListSigner, sequence: int = 1) -> bytes:
    """A signed LOTL pointing to national lists (and to itself, as the real one does)."""
    root = etree.Element(f"{{{TSL}}}TrustServiceStatusList", nsmap=NSMAP)
    root.set("TSLTag", "http://uri.etsi.org/19612/TSLTag")
    scheme = _scheme(root, "EU", LOTL_TYPE, sequence)
    others = _sub(scheme, "PointersToOtherTSL")
    own = Pointer("EU", "https://lotl.test/eu-lotl.xml", (signer,), LOTL_TYPE)
    for pointer in (own, *pointers):
        element = _sub(others, "OtherTSLPointer")
        identities = _sub(element, "ServiceDigitalIdentities")
        for list_signer in pointer.signers:
            _digital_identity(identities, "ServiceDigitalIdentity", list_signer.der())
        _sub(element, "TSLLocation", pointer.location)
        info = _sub(_sub(element, "AdditionalInformation"), "OtherInformation")
        _sub(info, "TSLType", pointer.tsl_type)
        _sub(info, "SchemeTerritory", pointer.territory)
        _sub(info, "tslx:MimeType", pointer.mime_type)
    return sign(root, signer)


def granted_ca_qc(
    certificate: bytes,
    since: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    qualifiers: tuple[str, ...] = (
        "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/QCWithQSCD",
    ),
) -> ServiceSpec:
    """A CA/QC service granted since `since`, for e-signatures and e-seals."""
    ext = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
    return ServiceSpec(
        certificate,
        (
            Period(
                GRANTED,
                since,
                (QualificationSpec(qualifiers),),
                (ext + "ForeSignatures", ext + "ForeSeals"),
            ),
        ),
    )
