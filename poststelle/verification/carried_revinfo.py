"""The validation data a CMS signature carries for its certificates: the SignedData's `crls`
field (RFC 5652 RevocationInfoChoices, with RFC 5940 OCSP responses) and the CAdES
revocation-values and certificate-values attributes (ETSI EN 319 122-1), read from the
original encodings."""

from __future__ import annotations

import structlog
from asn1crypto import cms, core, crl, ocsp, parser, x509

from poststelle.verification.ber import element, elements

log = structlog.get_logger("poststelle.verification")

CERTIFICATE_VALUES = "1.2.840.113549.1.9.16.2.23"  # id-aa-ets-certValues
REVOCATION_VALUES = "1.2.840.113549.1.9.16.2.24"  # id-aa-ets-revocationValues
OCSP_RESPONSE_FORMAT = "1.3.6.1.5.5.7.16.2"  # id-ri-ocsp-response (RFC 5940)
BASIC_OCSP_RESPONSE = "1.3.6.1.5.5.7.48.1.1"  # id-pkix-ocsp-basic


class _CertificateLists(core.SequenceOf):  # type: ignore[misc]
    _child_spec = crl.CertificateList


class _BasicOCSPResponses(core.SequenceOf):  # type: ignore[misc]
    _child_spec = ocsp.BasicOCSPResponse


class OtherRevVals(core.Sequence):  # type: ignore[misc]
    _fields = [  # noqa: RUF012 - asn1crypto's schema protocol
        ("other_rev_val_type", core.ObjectIdentifier),
        ("other_rev_vals", core.Any),
    ]


class RevocationValues(core.Sequence):  # type: ignore[misc]
    """The CAdES revocation-values attribute (ETSI EN 319 122-1, 5.5.2), which asn1crypto does
    not define: the CRLs and OCSP responses a B-LT signature carries for its certificates."""

    _fields = [  # noqa: RUF012 - asn1crypto's schema protocol
        ("crl_vals", _CertificateLists, {"explicit": 0, "optional": True}),
        ("ocsp_vals", _BasicOCSPResponses, {"explicit": 1, "optional": True}),
        ("other_rev_vals", OtherRevVals, {"explicit": 2, "optional": True}),
    ]


CarriedRevinfo = tuple[list[crl.CertificateList], list[ocsp.OCSPResponse]]
UNREADABLE = (ValueError, TypeError, KeyError, IndexError, OverflowError)


def _wrapped_ocsp(basic: bytes) -> ocsp.OCSPResponse:
    """A successful OCSPResponse (what pyHanko takes) around a BasicOCSPResponse, holding its
    encoding byte for byte: dumping a parsed one may re-encode it (see `_single_signer`)."""
    response_bytes = parser.emit(
        0,
        1,
        16,
        core.ObjectIdentifier(BASIC_OCSP_RESPONSE).dump() + parser.emit(0, 0, 4, basic),
    )
    status = ocsp.OCSPResponseStatus("successful").dump()
    return ocsp.OCSPResponse.load(
        parser.emit(0, 1, 16, status + parser.emit(2, 1, 0, response_bytes))
    )


def _parse_ocsp(response: ocsp.OCSPResponse) -> None:
    """Parse what pyHanko reads of an embedded OCSP response. Not the response extensions, which
    it reads only of responses it fetched (the nonce): some responders write a nonce asn1crypto
    cannot parse (DSS's CAdES files have several), and the response is sound without it."""
    response["response_status"].native  # noqa: B018 - parses it
    if isinstance(response["response_bytes"], core.Void):
        return
    basic = response["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    for part in (tbs["version"], tbs["responder_id"], tbs["produced_at"], tbs["responses"]):
        part.native  # noqa: B018
    for part in (basic["signature_algorithm"], basic["signature"], basic["certs"]):
        part.native  # noqa: B018


def _readable(value: crl.CertificateList | ocsp.OCSPResponse, label: str) -> bool:
    """Whether the CRL or OCSP response parses (asn1crypto parses lazily: a broken one would
    break pyHanko's validation instead); unreadable revocation data counts as none."""
    try:
        if isinstance(value, ocsp.OCSPResponse):
            _parse_ocsp(value)
        else:
            value.native  # noqa: B018 - parses every part
    except UNREADABLE as exc:
        log.info("verification.unreadable_revinfo", error=repr(exc), field=label)
        return False
    return True


def _revocation_info_choices(encoded: bytes, found: CarriedRevinfo) -> None:
    """The CRLs and OCSP responses among the contents of a SignedData's `crls` field (RFC 5652
    RevocationInfoChoices: a CertificateList, or [1] OtherRevocationInfoFormat)."""
    crls, ocsps = found
    for choice in elements(encoded):
        class_, tag, contents = element(choice)
        if (class_, tag) == (0, 16):
            crls.append(crl.CertificateList.load(choice))
        elif (class_, tag) == (2, 1):
            format_id, *info = elements(contents)
            if core.ObjectIdentifier.load(format_id).dotted == OCSP_RESPONSE_FORMAT and info:
                ocsps.append(_ocsp_response(info[0]))


def _ocsp_response(encoded: bytes) -> ocsp.OCSPResponse:
    """An OCSPResponse, as RFC 5940 has it, or a bare BasicOCSPResponse in its place (as some
    signers write it: its first element is a SEQUENCE, not the ENUMERATED response status)."""
    if element(elements(element(encoded)[2])[0])[:2] == (0, 16):
        return _wrapped_ocsp(encoded)
    return ocsp.OCSPResponse.load(encoded)


def _revocation_values(encoded: bytes, found: CarriedRevinfo) -> None:
    """The CRLs and OCSP responses of one RevocationValues value."""
    crls, ocsps = found
    values = RevocationValues.load(encoded)
    if not isinstance(values["crl_vals"], core.Void):
        crls += [crl.CertificateList.load(c) for c in elements(values["crl_vals"].contents)]
    if not isinstance(values["ocsp_vals"], core.Void):
        ocsps += [_wrapped_ocsp(basic) for basic in elements(values["ocsp_vals"].contents)]


def _unsigned_values(signed_data: cms.SignedData, attr_type: str) -> list[bytes]:
    """The encoded values of the (single) SignerInfo's unsigned attributes of this type."""
    signer = elements(element(elements(signed_data.contents)[-1])[2])[0]
    found = []
    for part in elements(element(signer)[2])[5:]:
        class_, tag, contents = element(part)
        if (class_, tag) != (2, 1):  # unsignedAttrs [1] IMPLICIT
            continue
        for attribute in elements(contents):
            kind, values = elements(element(attribute)[2])
            if core.ObjectIdentifier.load(kind).dotted == attr_type:
                found += elements(element(values)[2])
    return found


def carried_revinfo(signed_data: cms.SignedData, label: str = "") -> CarriedRevinfo:
    """The CRLs and OCSP responses a single-signer SignedData carries: in its `crls` field and in
    its SignerInfo's revocation-values attribute (CAdES B-LT). Read from the original encodings,
    never from the SignedData's parsed values, which pyHanko verifies: parsing them in place
    may change how asn1crypto dumps them. Whatever cannot be read counts as absent."""
    found: CarriedRevinfo = ([], [])
    try:
        for field in elements(signed_data.contents)[3:-1]:
            class_, tag, contents = element(field)
            if (class_, tag) == (2, 1):  # crls [1] IMPLICIT RevocationInfoChoices
                _revocation_info_choices(contents, found)
        for value in _unsigned_values(signed_data, REVOCATION_VALUES):
            _revocation_values(value, found)
    except UNREADABLE as exc:
        log.info("verification.unreadable_revinfo", error=repr(exc), field=label)
        return [], []
    crls, ocsps = found
    return (
        [c for c in crls if _readable(c, label)],
        [o for o in ocsps if _readable(o, label)],
    )


def carried_certificates(signed_data: cms.SignedData, label: str = "") -> list[x509.Certificate]:
    """The certificates of the SignerInfo's certificate-values attribute (CAdES B-LT: the CA
    and responder certificates its revocation data needs, beside the SignedData's own
    `certificates`). Unreadable ones count as absent."""
    try:
        found = [
            x509.Certificate.load(cert)
            for value in _unsigned_values(signed_data, CERTIFICATE_VALUES)
            for cert in elements(element(value)[2])
        ]
        for cert in found:
            cert.native  # noqa: B018 - parses every part, so a broken one is dropped here
    except UNREADABLE as exc:
        log.info("verification.unreadable_certificate_values", error=repr(exc), field=label)
        return []
    return found
