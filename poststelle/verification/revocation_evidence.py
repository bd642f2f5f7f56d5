"""Which OCSP response or CRL answered for a signer's certificate, after pyHanko validated it.

pyHanko does not record the revocation information it relied on. Its rule
(pyhanko_certvalidator.validate._check_revocation, hard-fail: CRL_OR_OCSP_REQUIRED) is
reproduced here from what the validation context held: OCSP first when the certificate names an
OCSP responder, the responses in pyHanko's order (fetched for this certificate, then the
embedded ones, freshest first), the first one that matches the certificate, is usable by
pyHanko's own freshness test and states "good" (or "revoked") decides; otherwise the CRLs
(embedded, then fetched), the first usable complete CRL of the certificate's issuer.

What pyHanko checks beyond that (the response's signature, the responder's authorisation, the
CRL's signature) is not repeated: a response failing those would not have been used, so the
evidence is named only when it agrees with pyHanko's outcome; otherwise it stays unnamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import crl, ocsp, x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.common_utils import enumerate_delivery_point_urls
from pyhanko_certvalidator.policy_decl import RevocationCheckingRule
from pyhanko_certvalidator.revinfo.archival import (
    CRLContainer,
    OCSPContainer,
    RevinfoUsabilityRating,
    process_legacy_crl_input,
    process_legacy_ocsp_input,
    sort_freshest_first,
)
from pyhanko_certvalidator.revinfo.validate_crl import find_cert_in_list
from pyhanko_certvalidator.util import get_declared_revinfo, get_ocsp_urls, get_relevant_crl_dps

from poststelle.verification.trust import RevinfoSources, revinfo_sources


@dataclass(frozen=True, slots=True)
class RevocationEvidence:
    source: str  # "ocsp", "crl", "embedded-ocsp", "embedded-crl"
    url: str  # the responder or CRL address it was fetched from; "" when embedded or unknown
    produced_at: datetime | None  # OCSP producedAt; a CRL's thisUpdate


def _usable(container: OCSPContainer | CRLContainer, context: ValidationContext) -> bool:
    usability = container.usable_at(
        policy=context.revinfo_policy, timing_params=context.timing_params
    )
    return usability.rating is RevinfoUsabilityRating.OK


def _control_time(context: ValidationContext) -> datetime | None:
    timing = context.timing_params
    return timing.validation_time if timing.point_in_time_validation else None


def _ocsp_matches(single: ocsp.SingleResponse, cert: x509.Certificate) -> bool:
    cert_id = single["cert_id"]
    algorithm = cert_id["hash_algorithm"]["algorithm"].native
    try:
        name_hash = getattr(cert.issuer, algorithm)
    except AttributeError:
        return False
    return bool(
        cert_id["serial_number"].native == cert.serial_number
        and cert_id["issuer_name_hash"].native == name_hash
    )


def _ocsp_says(
    container: OCSPContainer, cert: x509.Certificate, context: ValidationContext
) -> bool | None:
    """True if this response is one pyHanko would take as "good", False as "revoked", None if
    it would pass it by (not for this certificate, not fresh, unknown status)."""
    single = container.extract_single_response()
    if single is None or not _ocsp_matches(single, cert) or not _usable(container, context):
        return None
    status = single["cert_status"].name
    if status == "good":
        return True
    if status == "revoked":
        control = _control_time(context)
        revoked_at = single["cert_status"].chosen["revocation_time"].native
        return False if control is None or revoked_at <= control else None
    return None


def _produced_at(container: OCSPContainer) -> datetime | None:
    basic = container.extract_basic_ocsp_response()
    if basic is None:
        return None
    produced: datetime = basic["tbs_response_data"]["produced_at"].native
    return produced


def _single_url(urls: Sequence[str]) -> str:
    """The address, if the certificate names exactly one: with several, which one answered is
    not recorded by the fetchers."""
    return urls[0] if len(urls) == 1 else ""


def _ocsp_candidates(
    cert: x509.Certificate, sources: RevinfoSources
) -> list[tuple[OCSPContainer, str]]:
    """The responses pyHanko's RevinfoManager.async_retrieve_ocsps offers, in its order."""
    found: list[tuple[OCSPContainer, str]] = []
    if sources.fetchers is not None and get_ocsp_urls(cert):
        fetched = sources.fetchers.ocsp_fetcher.fetched_responses_for_cert(cert)
        found += [(OCSPContainer(response), "ocsp") for response in fetched]
    embedded = sort_freshest_first(process_legacy_ocsp_input(sources.embedded_ocsps))
    return found + [(container, "embedded-ocsp") for container in embedded]


def _fetched_crls(cert: x509.Certificate, sources: RevinfoSources) -> list[crl.CertificateList]:
    if sources.fetchers is None:
        return []
    fetcher = sources.fetchers.crl_fetcher
    try:
        for_cert = list(fetcher.fetched_crls_for_cert(cert))
    except KeyError:
        for_cert = []
    others = [c for c in fetcher.fetched_crls() if all(c.dump() != f.dump() for f in for_cert)]
    return for_cert + others


def _crl_url(certificate_list: crl.CertificateList, cert: x509.Certificate) -> str:
    """The distribution point address of the certificate this CRL came from: the one its
    issuing distribution point names, else the certificate's only one."""
    urls: list[str] = [
        str(url)
        for point in get_relevant_crl_dps(cert, use_deltas=False)
        for url in enumerate_delivery_point_urls(point)
    ]
    idp = certificate_list.issuing_distribution_point_value
    if idp is not None and idp["distribution_point"].name == "full_name":
        named = [
            name.native
            for name in idp["distribution_point"].chosen
            if name.name == "uniform_resource_identifier"
        ]
        matching = [url for url in urls if url in named]
        if matching:
            return matching[0]
    return _single_url(urls)


def _crl_says(
    container: CRLContainer, cert: x509.Certificate, context: ValidationContext
) -> bool | None:
    certificate_list = container.crl_data
    if (
        certificate_list.issuer != cert.issuer
        or certificate_list.delta_crl_indicator_value is not None
        or not _usable(container, context)
    ):
        return None
    try:
        revoked_at, reason = find_cert_in_list(
            cert, cert.issuer, certificate_list, certificate_list.issuer
        )
    except (NotImplementedError, ValueError):
        return None
    if reason is None or reason.native == "remove_from_crl":
        return True
    control = _control_time(context)
    when = getattr(revoked_at, "native", revoked_at)
    return not (control is None or when < control)  # pyHanko: revoked before the moment


def _crl_candidates(
    cert: x509.Certificate, sources: RevinfoSources
) -> Iterable[tuple[CRLContainer, str]]:
    """Embedded CRLs (freshest first) before fetched ones, as pyHanko's verify_crl reads them."""
    embedded = sort_freshest_first(process_legacy_crl_input(sources.embedded_crls))
    yield from ((container, "embedded-crl") for container in embedded)
    yield from ((CRLContainer(c), "crl") for c in _fetched_crls(cert, sources))


def revocation_evidence(
    context: ValidationContext, cert: x509.Certificate, *, revoked: bool
) -> RevocationEvidence | None:
    """The OCSP response or CRL that answered for `cert` ("good", or "revoked" if `revoked`)
    when pyHanko validated with `context`; None if that cannot be determined."""
    sources = revinfo_sources(context)
    if sources is None:
        return None
    rule = context.revinfo_policy.revocation_checking_policy.ee_certificate_rule
    has_crl, has_ocsp = get_declared_revinfo(cert)
    if rule.ocsp_relevant and has_ocsp:
        for container, source in _ocsp_candidates(cert, sources):
            good = _ocsp_says(container, cert, context)
            if good is None:
                continue
            if good is revoked:  # pyHanko stops at the first conclusive response
                return None
            url = _single_url(get_ocsp_urls(cert)) if source == "ocsp" else ""
            return RevocationEvidence(source, url, _produced_at(container))
    crl_required = rule.crl_mandatory or rule is RevocationCheckingRule.CRL_OR_OCSP_REQUIRED
    if not (crl_required or (rule.crl_relevant and has_crl)):
        return None
    for crl_container, source in _crl_candidates(cert, sources):
        good = _crl_says(crl_container, cert, context)
        if good is None or good is revoked:
            continue
        url = _crl_url(crl_container.crl_data, cert) if source == "crl" else ""
        return RevocationEvidence(source, url, _this_update(crl_container))
    return None


def _this_update(container: CRLContainer) -> datetime | None:
    issued: Any = container.issuance_date
    return issued if isinstance(issued, datetime) else None
