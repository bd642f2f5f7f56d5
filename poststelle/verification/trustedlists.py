"""ETSI TS 119 612 trusted lists: load, verify against pinned keys, and qualify (TS 119 615)."""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import URLError

import structlog
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from poststelle import xmlsafe
from poststelle.config import TrustedListSettings
from poststelle.verification.model import CertificateInfo, Qualification
from poststelle.verification.qualification import (
    QC_COMPLIANCE,
    QC_SSCD,
    QC_TYPE,
    QCT_ESEAL,
    QCT_ESIGN,
    qc_statements,
)

log = structlog.get_logger("poststelle.verification")

TSL = "http://uri.etsi.org/02231/v2#"
SIE = "http://uri.etsi.org/TrstSvc/SvcInfoExt/eSigDir-1999-93-EC-TrustedList/#"
ADDITIONAL_TYPES = "http://uri.etsi.org/02231/v2/additionaltypes#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"

CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
_STATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
GRANTED = _STATUS + "granted"
WITHDRAWN = _STATUS + "withdrawn"
# Before eIDAS (1 July 2016) these meant what "granted" means now; lists keep them in history.
QUALIFIED_STATUSES = frozenset(
    {
        GRANTED,
        _STATUS + "undersupervision",
        _STATUS + "supervisionincessation",
        _STATUS + "accredited",
    }
)
LOTL_TYPE = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists"
TSL_MIME_TYPE = "application/vnd.etsi.tsl+xml"

_EXT = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
Q_STATEMENT = _EXT + "QCStatement"
Q_NOT_QUALIFIED = _EXT + "NotQualified"
Q_FOR_ESIG = _EXT + "QCForESig"
Q_FOR_ESEAL = _EXT + "QCForESeal"
Q_FOR_LEGAL_PERSON = _EXT + "QCForLegalPerson"  # pre-eIDAS: a legal person's certificate
Q_FOR_WSA = _EXT + "QCForWSA"
Q_QSCD_YES = frozenset({_EXT + "QCWithSSCD", _EXT + "QCWithQSCD", _EXT + "QCQSCDManagedOnBehalf"})
Q_QSCD_NO = frozenset({_EXT + "QCNoSSCD", _EXT + "QCNoQSCD"})
FOR_ESIGNATURES = _EXT + "ForeSignatures"
FOR_ESEALS = _EXT + "ForeSeals"
FOR_WEB = _EXT + "ForWebSiteAuthentication"

QCT_WEB = "0.4.0.1862.1.6.3"
MAX_LIST_BYTES = 64 * 1024 * 1024

ESIG, ESEAL, WEB = "esig", "eseal", "web"
_CERT_TYPES = {QCT_ESIGN: ESIG, "qct_esign": ESIG, QCT_ESEAL: ESEAL, "qct_eseal": ESEAL}
_CERT_TYPES |= {QCT_WEB: WEB, "qct_web": WEB}
_QUALIFIER_TYPES = {Q_FOR_ESIG: ESIG, Q_FOR_ESEAL: ESEAL, Q_FOR_LEGAL_PERSON: ESEAL, Q_FOR_WSA: WEB}
_SERVICE_TYPES = {FOR_ESIGNATURES: ESIG, FOR_ESEALS: ESEAL, FOR_WEB: WEB}
# KeyUsageBit names in trusted lists → asn1crypto's names of the key usage bits
_KEY_USAGE = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "non_repudiation",
    "contentCommitment": "non_repudiation",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "crlSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}


class TrustedListError(Exception):
    """A trusted list that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Criteria:
    """A CriteriaList: which certificates a qualification applies to."""

    assert_: str  # "all", "atLeastOne" or "none"
    policy_sets: tuple[frozenset[str], ...] = ()  # each: policy OIDs that must all be present
    key_usage: tuple[tuple[tuple[str, bool], ...], ...] = ()  # each: (bit, must be set) pairs
    extended_key_usage: tuple[frozenset[str], ...] = ()  # each: key purpose OIDs all present
    subject_attributes: tuple[frozenset[str], ...] = ()  # each: subject DN attribute OIDs
    sublists: tuple[Criteria, ...] = ()
    unsupported: int = 0  # criteria of kinds not understood here: they never match


@dataclass(frozen=True, slots=True)
class ServiceQualification:
    qualifiers: frozenset[str]
    criteria: Criteria


@dataclass(frozen=True, slots=True)
class ServicePeriod:
    """One entry of a service's status history: valid from `start` until the next entry."""

    service_type: str
    status: str
    start: datetime
    qualifications: tuple[ServiceQualification, ...] = ()
    additional_info: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ServiceIdentity:
    certificates: tuple[bytes, ...]  # DER
    public_keys: tuple[bytes, ...]  # DER SubjectPublicKeyInfo of those certificates
    key_ids: tuple[bytes, ...]  # subject key identifiers (given, or from the certificates)
    subject_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrustService:
    territory: str
    provider: str
    name: str
    identity: ServiceIdentity
    history: tuple[ServicePeriod, ...]  # oldest first; the last is the current information

    def period_at(self, at: datetime) -> ServicePeriod | None:
        current = None
        for period in self.history:
            if period.start <= at:
                current = period
        return current

    def ever_qualified(self) -> bool:
        return any(p.service_type == CA_QC and p.status in QUALIFIED_STATUSES for p in self.history)


@dataclass(frozen=True, slots=True)
class TslPointer:
    """Where the LOTL says a national list is, and which certificates may sign it."""

    territory: str
    tsl_type: str
    location: str
    mime_type: str
    certificates: tuple[bytes, ...]  # DER


@dataclass(frozen=True, slots=True)
class TrustedList:
    source: str
    territory: str
    tsl_type: str
    sequence_number: int
    issued: datetime | None
    next_update: datetime | None
    services: tuple[TrustService, ...]
    pointers: tuple[TslPointer, ...]
    signer_sha256: str = ""  # the certificate whose key verified the signature

    def signers_for(self, territory: str) -> tuple[bytes, ...]:
        """Certificates this LOTL publishes for the national list of `territory`."""
        return tuple(
            cert
            for p in self.pointers
            if p.territory == territory and p.tsl_type != LOTL_TYPE
            for cert in p.certificates
        )


@dataclass(frozen=True, slots=True)
class RejectedList:
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class TrustedListSet:
    lotl: TrustedList | None
    lists: tuple[TrustedList, ...]  # verified national lists
    rejected: tuple[RejectedList, ...]

    def services(self) -> Iterable[TrustService]:
        for tl in self.lists:
            yield from tl.services

    def anchors(self) -> tuple[bytes, ...]:
        """DER certificates of CA/QC services that were ever qualified: roots for validation."""
        seen: dict[bytes, None] = {}
        for service in self.services():
            if service.ever_qualified():
                seen.update(dict.fromkeys(service.identity.certificates))
        return tuple(seen)

    def anchors_pem(self) -> bytes:
        return b"".join(
            x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
            for der in self.anchors()
        )


@dataclass(frozen=True, slots=True)
class ListFile:
    source: str  # a path or URL, for messages
    data: bytes


# --- XML -----------------------------------------------------------------------------------


def parse_xml(data: bytes) -> etree._Element:
    """A trusted list's root element, parsed safely (see `xmlsafe.parse`)."""
    try:
        root = xmlsafe.parse(data, max_bytes=MAX_LIST_BYTES)
    except xmlsafe.UnsafeXml as exc:
        raise TrustedListError(str(exc)) from exc
    if root.tag != f"{{{TSL}}}TrustServiceStatusList":
        raise TrustedListError(f"not a TrustServiceStatusList but {root.tag}")
    return root


def verify_signature(
    root: etree._Element, candidates: Sequence[x509.Certificate]
) -> tuple[etree._Element, x509.Certificate]:
    """The signed TrustServiceStatusList (as signed: never the unsigned input) and the
    candidate certificate whose key verified its enveloped XML-DSig signature."""
    if not candidates:
        raise TrustedListError("no certificate is known that may sign this list")
    config = SignatureConfiguration(expect_references=True)
    errors = []
    for cert in candidates:
        try:
            results = XMLVerifier().verify(root, x509_cert=cert, expect_config=config)
        except (SignXMLException, ValueError) as exc:
            errors.append(f"{cert.subject.rfc4514_string()}: {exc}")
            continue
        signed = [
            r.signed_xml
            for r in (results if isinstance(results, list) else [results])
            if r.signed_xml is not None and r.signed_xml.tag == root.tag
        ]
        if len(signed) != 1:
            raise TrustedListError("the signature does not cover exactly one trusted list")
        return signed[0], cert
    raise TrustedListError(
        f"signature does not verify with any of {len(candidates)} pinned certificates: "
        + "; ".join(errors)
    )


def _text(element: etree._Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def _time(value: str) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _name(element: etree._Element | None, path: str) -> str:
    """The English name of a multilingual name list, else the first one."""
    if element is None:
        return ""
    names = element.findall(path)
    for name in names:
        if name.get("{http://www.w3.org/XML/1998/namespace}lang") == "en":
            return (name.text or "").strip()
    return (names[0].text or "").strip() if names else ""


def _b64(value: str | None) -> bytes:
    try:
        return base64.b64decode("".join((value or "").split()), validate=True)
    except binascii.Error as exc:
        raise TrustedListError(f"bad base64 in a digital identity: {exc}") from exc


def _identity(elements: Iterable[etree._Element]) -> ServiceIdentity:
    certs: list[bytes] = []
    keys: list[bytes] = []
    key_ids: list[bytes] = []
    names: list[str] = []
    for element in elements:
        for digital_id in element.iter(f"{{{TSL}}}DigitalId"):
            for child in digital_id:
                if child.tag == f"{{{TSL}}}X509Certificate":
                    der = _b64(child.text)
                    try:
                        cert = asn1_x509.Certificate.load(der)
                        keys.append(cert.public_key.dump())
                        if cert.key_identifier:
                            key_ids.append(cert.key_identifier)
                    except ValueError as exc:
                        raise TrustedListError(f"a service certificate is broken: {exc}") from exc
                    certs.append(der)
                elif child.tag == f"{{{TSL}}}X509SKI":
                    key_ids.append(_b64(child.text))
                elif child.tag == f"{{{TSL}}}X509SubjectName":
                    names.append((child.text or "").strip())
    return ServiceIdentity(tuple(certs), tuple(keys), tuple(key_ids), tuple(names))


def _oids(element: etree._Element, path: str) -> frozenset[str]:
    return frozenset(
        (e.text or "").strip().removeprefix("urn:oid:") for e in element.iterfind(path)
    )


def _criteria(element: etree._Element) -> Criteria:
    policy_sets = tuple(
        _oids(ps, f"{{{SIE}}}PolicyIdentifier/{{{XADES}}}Identifier")
        for ps in element.iterfind(f"{{{SIE}}}PolicySet")
    )
    key_usage = tuple(
        tuple(
            (bit.get("name", ""), (bit.text or "").strip().lower() == "true")
            for bit in ku.iterfind(f"{{{SIE}}}KeyUsageBit")
        )
        for ku in element.iterfind(f"{{{SIE}}}KeyUsage")
    )
    eku: list[frozenset[str]] = []
    subject: list[frozenset[str]] = []
    unsupported = 0
    for other in element.iterfind(f"{{{SIE}}}otherCriteriaList"):
        for criterion in other:
            if criterion.tag == f"{{{ADDITIONAL_TYPES}}}ExtendedKeyUsage":
                eku.append(_oids(criterion, f"{{{ADDITIONAL_TYPES}}}KeyPurposeId/*"))
            elif criterion.tag == f"{{{ADDITIONAL_TYPES}}}CertSubjectDNAttribute":
                subject.append(_oids(criterion, f"{{{ADDITIONAL_TYPES}}}AttributeOID/*"))
            elif isinstance(criterion.tag, str):
                unsupported += 1
    return Criteria(
        assert_=element.get("assert", "all"),
        policy_sets=policy_sets,
        key_usage=key_usage,
        extended_key_usage=tuple(eku),
        subject_attributes=tuple(subject),
        sublists=tuple(_criteria(s) for s in element.iterfind(f"{{{SIE}}}CriteriaList")),
        unsupported=unsupported,
    )


def _period(info: etree._Element) -> ServicePeriod:
    start = _time(_text(info, f"{{{TSL}}}StatusStartingTime"))
    if start is None:
        raise TrustedListError("a service has no StatusStartingTime")
    qualifications = []
    additional: set[str] = set()
    extensions = info.find(f"{{{TSL}}}ServiceInformationExtensions")
    for extension in extensions if extensions is not None else ():
        for element in extension.iterfind(f"{{{SIE}}}Qualifications/{{{SIE}}}QualificationElement"):
            criteria = element.find(f"{{{SIE}}}CriteriaList")
            qualifications.append(
                ServiceQualification(
                    frozenset(
                        q.get("uri", "")
                        for q in element.iterfind(f"{{{SIE}}}Qualifiers/{{{SIE}}}Qualifier")
                    ),
                    _criteria(criteria) if criteria is not None else Criteria("none"),
                )
            )
        for uri in extension.iterfind(f"{{{TSL}}}AdditionalServiceInformation/{{{TSL}}}URI"):
            additional.add((uri.text or "").strip())
    return ServicePeriod(
        service_type=_text(info, f"{{{TSL}}}ServiceTypeIdentifier"),
        status=_text(info, f"{{{TSL}}}ServiceStatus"),
        start=start,
        qualifications=tuple(qualifications),
        additional_info=frozenset(additional),
    )


def _services(root: etree._Element, territory: str) -> Iterable[TrustService]:
    for provider in root.iterfind(
        f"{{{TSL}}}TrustServiceProviderList/{{{TSL}}}TrustServiceProvider"
    ):
        provider_name = _name(provider, f"{{{TSL}}}TSPInformation/{{{TSL}}}TSPName/{{{TSL}}}Name")
        for service in provider.iterfind(f"{{{TSL}}}TSPServices/{{{TSL}}}TSPService"):
            info = service.find(f"{{{TSL}}}ServiceInformation")
            if info is None:
                raise TrustedListError(f"a service of {provider_name} has no ServiceInformation")
            history = [
                _period(h)
                for h in service.iterfind(
                    f"{{{TSL}}}ServiceHistory/{{{TSL}}}ServiceHistoryInstance"
                )
            ]
            identities = service.iterfind(f".//{{{TSL}}}ServiceDigitalIdentity")
            yield TrustService(
                territory=territory,
                provider=provider_name,
                name=_name(info, f"{{{TSL}}}ServiceName/{{{TSL}}}Name"),
                identity=_identity(identities),
                history=tuple(sorted([*history, _period(info)], key=lambda p: p.start)),
            )


def _pointers(scheme: etree._Element) -> Iterable[TslPointer]:
    for pointer in scheme.iterfind(f"{{{TSL}}}PointersToOtherTSL/{{{TSL}}}OtherTSLPointer"):
        other = f"{{{TSL}}}AdditionalInformation/{{{TSL}}}OtherInformation"
        yield TslPointer(
            territory=_text(pointer, f"{other}/{{{TSL}}}SchemeTerritory"),
            tsl_type=_text(pointer, f"{other}/{{{TSL}}}TSLType"),
            location=_text(pointer, f"{{{TSL}}}TSLLocation"),
            mime_type=_text(pointer, f"{other}/{{{ADDITIONAL_TYPES}}}MimeType"),
            certificates=_identity(
                pointer.iterfind(f"{{{TSL}}}ServiceDigitalIdentities/*")
            ).certificates,
        )


def parse_trusted_list(root: etree._Element, source: str, signer_sha256: str = "") -> TrustedList:
    """The content of a trusted list. Call it only on what `verify_signature` returned."""
    scheme = root.find(f"{{{TSL}}}SchemeInformation")
    if scheme is None:
        raise TrustedListError("no SchemeInformation")
    territory = _text(scheme, f"{{{TSL}}}SchemeTerritory")
    try:
        sequence = int(_text(scheme, f"{{{TSL}}}TSLSequenceNumber") or "0")
        return TrustedList(
            source=source,
            territory=territory,
            tsl_type=_text(scheme, f"{{{TSL}}}TSLType"),
            sequence_number=sequence,
            issued=_time(_text(scheme, f"{{{TSL}}}ListIssueDateTime")),
            next_update=_time(_text(scheme, f"{{{TSL}}}NextUpdate/{{{TSL}}}dateTime")),
            services=tuple(_services(root, territory)),
            pointers=tuple(_pointers(scheme)),
            signer_sha256=signer_sha256,
        )
    except ValueError as exc:
        raise TrustedListError(f"malformed value: {exc}") from exc


def load_list(file: ListFile, candidates: Sequence[x509.Certificate]) -> TrustedList:
    """Parse safely, verify the signature against `candidates`, extract what was signed."""
    return _load_root(parse_xml(file.data), file.source, candidates)


def _load_root(
    root: etree._Element, source: str, candidates: Sequence[x509.Certificate]
) -> TrustedList:
    signed, cert = verify_signature(root, candidates)
    return parse_trusted_list(signed, source, cert.fingerprint(hashes.SHA256()).hex())


def _der_certificates(ders: Iterable[bytes]) -> list[x509.Certificate]:
    certs = []
    for der in ders:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue  # a broken pointer certificate cannot verify anything
    return certs


def load_trusted_lists(
    lotl: ListFile, national: Sequence[ListFile], pinned: Sequence[x509.Certificate]
) -> TrustedListSet:
    """The LOTL verified against `pinned`, then each national list against the certificates
    the LOTL publishes for its territory; of several lists for one territory the one with the
    highest sequence number is used. Lists that fail are kept in `rejected` with the reason."""
    rejected: list[RejectedList] = []
    try:
        lotl_list = load_list(lotl, pinned)
        if lotl_list.tsl_type != LOTL_TYPE:
            raise TrustedListError(f"not a list of lists but {lotl_list.tsl_type or 'untyped'}")
    except TrustedListError as exc:
        reason = f"the list of lists is not usable: {exc}"
        rejected.append(RejectedList(lotl.source, reason))
        rejected.extend(RejectedList(f.source, "the list of lists is not usable") for f in national)
        return TrustedListSet(None, (), tuple(rejected))
    by_territory: dict[str, TrustedList] = {}
    for file in national:
        try:
            root = parse_xml(file.data)
            territory = _text(root, f"{{{TSL}}}SchemeInformation/{{{TSL}}}SchemeTerritory")
            signers = _der_certificates(lotl_list.signers_for(territory))
            if not signers:
                raise TrustedListError(f"the list of lists names no signer for {territory!r}")
            tl = _load_root(root, file.source, signers)
        except TrustedListError as exc:
            rejected.append(RejectedList(file.source, str(exc)))
            continue
        if tl.territory != territory:
            rejected.append(RejectedList(file.source, "the signed territory differs"))
            continue
        previous = by_territory.get(territory)
        if previous is None or tl.sequence_number > previous.sequence_number:
            by_territory[territory] = tl
    return TrustedListSet(lotl_list, tuple(by_territory.values()), tuple(rejected))


def _read(path: Path) -> ListFile | RejectedList:
    try:
        with path.open("rb") as handle:
            return ListFile(str(path), handle.read(MAX_LIST_BYTES + 1))
    except OSError as exc:
        return RejectedList(str(path), f"cannot read: {exc.strerror}")


def _pinned(settings: TrustedListSettings) -> list[x509.Certificate]:
    return [c for p in settings.pinned for c in x509.load_pem_x509_certificates(p.read_bytes())]


LOTL_CACHE_NAME = "lotl.xml"


def load_configured(settings: TrustedListSettings) -> TrustedListSet:
    """The lists as configured: the cached LOTL (from the last refresh) or else the configured
    file, and the cached national lists together with the configured ones."""
    cached_lotl = settings.cache_dir / LOTL_CACHE_NAME
    lotl_path = cached_lotl if cached_lotl.is_file() or settings.lotl is None else settings.lotl
    cached = sorted(settings.cache_dir.glob("tl-*.xml")) if settings.cache_dir.is_dir() else []
    lotl = _read(lotl_path)
    national = [_read(p) for p in (*cached, *settings.lists)]
    unread = tuple(f for f in national if isinstance(f, RejectedList))
    if isinstance(lotl, RejectedList):
        return TrustedListSet(None, (), (lotl, *unread))
    loaded = load_trusted_lists(
        lotl, [f for f in national if isinstance(f, ListFile)], _pinned(settings)
    )
    return replace(loaded, rejected=(*loaded.rejected, *unread))


# --- fetching --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshReport:
    stored: tuple[str, ...]  # cache file names written
    failed: tuple[RejectedList, ...]  # URLs not fetched or not verified, with the reason


def _fetch(url: str, timeout: float) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise TrustedListError(f"not an http(s) URL: {url}")
    headers = {"User-Agent": "poststelle-trusted-lists"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked
            data: bytes = response.read(MAX_LIST_BYTES + 1)
    except (URLError, OSError) as exc:
        raise TrustedListError(f"cannot fetch {url}: {exc}") from exc
    return data


def _store(directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refresh(settings: TrustedListSettings, *, timeout: float = 30.0) -> RefreshReport:
    """Fetch the LOTL from `settings.url` and the national lists it points to; store each in
    the cache only after its signature verified, so that offline the last good copy is used.
    Blocking: run it in a thread from a scheduler every `refresh_hours`."""
    if not settings.url:
        return RefreshReport((), ())
    failed: list[RejectedList] = []
    try:
        lotl_data = _fetch(settings.url, timeout)
        lotl = load_list(ListFile(settings.url, lotl_data), _pinned(settings))
    except TrustedListError as exc:
        return RefreshReport((), (RejectedList(settings.url, str(exc)),))
    _store(settings.cache_dir, LOTL_CACHE_NAME, lotl_data)
    stored = [LOTL_CACHE_NAME]
    for pointer in lotl.pointers:
        if pointer.tsl_type == LOTL_TYPE or pointer.mime_type != TSL_MIME_TYPE:
            continue
        if not pointer.territory.isalnum():
            failed.append(RejectedList(pointer.location, "territory is not a plain code"))
            continue
        try:
            data = _fetch(pointer.location, timeout)
            tl = load_list(
                ListFile(pointer.location, data), _der_certificates(pointer.certificates)
            )
        except TrustedListError as exc:
            failed.append(RejectedList(pointer.location, str(exc)))
            continue
        if tl.territory != pointer.territory:
            failed.append(RejectedList(pointer.location, f"is the list of {tl.territory!r}"))
            continue
        name = f"tl-{pointer.territory}.xml"
        _store(settings.cache_dir, name, data)
        stored.append(name)
    return RefreshReport(tuple(stored), tuple(failed))


# --- qualification (ETSI TS 119 615, simplified) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _CertFacts:
    policies: frozenset[str]
    key_usage: frozenset[str]
    extended_key_usage: frozenset[str]
    subject_attributes: frozenset[str]
    qc_compliance: bool
    qc_sscd: bool
    qc_types: frozenset[str]  # ESIG / ESEAL / WEB claimed by QcType

    @classmethod
    def of(cls, cert: asn1_x509.Certificate) -> _CertFacts:
        statements = qc_statements(cert)
        types = statements.get(QC_TYPE) or []
        policies = cert.certificate_policies_value
        ku = cert.key_usage_value
        eku = cert.extended_key_usage_value
        return cls(
            policies=frozenset(p["policy_identifier"].dotted for p in policies or []),
            key_usage=frozenset(ku.native if ku is not None else ()),
            extended_key_usage=frozenset(k.dotted for k in eku or []),
            subject_attributes=frozenset(
                ava["type"].dotted for rdn in cert.subject.chosen for ava in rdn
            ),
            qc_compliance=QC_COMPLIANCE in statements,
            qc_sscd=QC_SSCD in statements,
            qc_types=frozenset(
                _CERT_TYPES[str(t)]
                for t in (types if isinstance(types, list) else [])
                if str(t) in _CERT_TYPES
            ),
        )


def criteria_match(criteria: Criteria, cert: _CertFacts) -> bool:
    results = [policy_set <= cert.policies for policy_set in criteria.policy_sets]
    results += [
        all((_KEY_USAGE.get(bit, bit) in cert.key_usage) == wanted for bit, wanted in bits)
        for bits in criteria.key_usage
    ]
    results += [e <= cert.extended_key_usage for e in criteria.extended_key_usage]
    results += [s <= cert.subject_attributes for s in criteria.subject_attributes]
    results += [criteria_match(sub, cert) for sub in criteria.sublists]
    results += [False] * criteria.unsupported
    if criteria.assert_ == "all":
        return bool(results) and all(results)
    if criteria.assert_ == "atLeastOne":
        return any(results)
    if criteria.assert_ == "none":
        return not any(results)
    return False


_ORDER = {
    Qualification.QESIG: 2,
    Qualification.QESEAL: 2,
    Qualification.ADESIG_QC: 1,
    Qualification.ADESEAL_QC: 1,
    Qualification.ADESIG: 0,
    Qualification.ADESEAL: 0,
}


def _not_qualified(kind: str | None) -> Qualification:
    return Qualification.ADESEAL if kind == ESEAL else Qualification.ADESIG


def _single(kinds: Iterable[str]) -> str | None:
    found = set(kinds)
    return found.pop() if len(found) == 1 else None


def qualify_under_service(cert: _CertFacts, period: ServicePeriod) -> Qualification:
    """The qualification of a certificate issued under a CA/QC service in `period`."""
    qualifiers = frozenset(
        q
        for qual in period.qualifications
        if criteria_match(qual.criteria, cert)
        for q in qual.qualifiers
    )
    service_kinds = {_SERVICE_TYPES[u] for u in period.additional_info if u in _SERVICE_TYPES}
    kind = (
        _single(_QUALIFIER_TYPES[q] for q in qualifiers if q in _QUALIFIER_TYPES)
        or _single(cert.qc_types)
        or (ESIG if cert.qc_compliance and not cert.qc_types else None)
        or _single(service_kinds)
    )
    qualified = (
        period.service_type == CA_QC
        and period.status in QUALIFIED_STATUSES
        and Q_NOT_QUALIFIED not in qualifiers
        and (cert.qc_compliance or Q_STATEMENT in qualifiers)
        and kind in (ESIG, ESEAL)
        and (not service_kinds or kind in service_kinds)
    )
    if not qualified:
        return _not_qualified(kind)
    if qualifiers & Q_QSCD_YES:
        qscd = True
    elif qualifiers & Q_QSCD_NO:
        qscd = False
    else:
        qscd = cert.qc_sscd  # QCSSCDStatusAsInCert / QCQSCDStatusAsInCert, or no qualifier
    if kind == ESEAL:
        return Qualification.QESEAL if qscd else Qualification.ADESEAL_QC
    return Qualification.QESIG if qscd else Qualification.ADESIG_QC


def _matches(identity: ServiceIdentity, cert: asn1_x509.Certificate) -> bool:
    if cert.public_key.dump() in identity.public_keys:
        return True
    return cert.key_identifier is not None and cert.key_identifier in identity.key_ids


class TrustedListQualifier:
    """A `Qualifier` that asks the trusted lists: the CA/QC service that issued the signer's
    certificate (a CA of the path), its status at the signing time, and its qualifiers over
    the certificate's own claims. A certificate whose CA no list names is not qualified,
    whatever it claims."""

    def __init__(self, lists: TrustedListSet) -> None:
        self.lists = lists

    def __call__(
        self, signer: CertificateInfo, path_der: Sequence[bytes], at: datetime
    ) -> Qualification:
        leaf = asn1_x509.Certificate.load(path_der[0])
        facts = _CertFacts.of(leaf)
        cas = [asn1_x509.Certificate.load(der) for der in path_der[1:]]
        outcomes = []
        for service in self.lists.services():
            if not any(_matches(service.identity, ca) for ca in cas):
                continue
            period = service.period_at(at)
            if period is None or period.service_type != CA_QC:
                continue
            if period.status not in QUALIFIED_STATUSES:
                continue
            outcomes.append(qualify_under_service(facts, period))
        if not outcomes:
            return _not_qualified(_single(facts.qc_types))
        return min(outcomes, key=lambda q: _ORDER[q])


ANCHORS_CACHE_NAME = "anchors.pem"


def configured_qualifier(
    settings: TrustedListSettings,
) -> tuple[TrustedListQualifier, tuple[Path, ...]]:
    """The qualifier over the configured lists, and a PEM file (in the cache directory) of
    their CA/QC certificates to add to the validation anchors (none if the lists give none).
    Rejected lists are logged with their reason."""
    lists = load_configured(settings)
    for rejected in lists.rejected:
        log.warning("trusted list rejected", source=rejected.source, reason=rejected.reason)
    log.info(
        "trusted lists loaded",
        lotl=lists.lotl.source if lists.lotl else None,
        lists=[f"{tl.territory}#{tl.sequence_number}" for tl in lists.lists],
    )
    pem = lists.anchors_pem()
    if not pem:
        return TrustedListQualifier(lists), ()
    _store(settings.cache_dir, ANCHORS_CACHE_NAME, pem)
    return TrustedListQualifier(lists), (settings.cache_dir / ANCHORS_CACHE_NAME,)
