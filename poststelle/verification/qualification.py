"""Qualified status from the signing certificate's qcStatements (ETSI EN 319 412-5)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

import pyhanko.sign.ades.qualified_asn1  # noqa: F401 - registers the qcStatements schema
from asn1crypto import x509

from poststelle.verification.model import CertificateInfo, Qualification

QC_COMPLIANCE = "0.4.0.1862.1.1"
QC_SSCD = "0.4.0.1862.1.4"
QC_TYPE = "0.4.0.1862.1.6"
QCT_ESIGN = "0.4.0.1862.1.6.1"
QCT_ESEAL = "0.4.0.1862.1.6.2"


def qc_statements(cert: x509.Certificate) -> dict[str, object]:
    """Statement OID → its parsed info (None where the statement carries none)."""
    for extension in cert["tbs_certificate"]["extensions"]:
        if extension["extn_id"].dotted == "1.3.6.1.5.5.7.1.3":
            return {
                s["statement_id"].dotted: s["statement_info"].native
                for s in extension["extn_value"].parsed
            }
    return {}


def qualification_from_certificate(cert: x509.Certificate) -> Qualification:
    statements = qc_statements(cert)
    types = statements.get(QC_TYPE) or []
    type_oids = {str(t) for t in types} if isinstance(types, list) else set()
    seal = bool(type_oids & {QCT_ESEAL, "qct_eseal"})
    if QC_COMPLIANCE not in statements:
        return Qualification.ADESEAL if seal else Qualification.ADESIG
    if QC_SSCD in statements:
        return Qualification.QESEAL if seal else Qualification.QESIG
    return Qualification.ADESEAL_QC if seal else Qualification.ADESIG_QC


class CertificateQualifier:
    """A `Qualifier` that reads what the certificate claims. Until a trusted list confirms
    the issuing service, this is the certificate's claim, and reports say so."""

    def __call__(
        self, signer: CertificateInfo, path_der: Sequence[bytes], at: datetime
    ) -> Qualification:
        return _claimed(path_der[0])


@functools.lru_cache(maxsize=1024)
def _claimed(der: bytes) -> Qualification:
    """What a certificate claims never changes: worked out once per certificate."""
    return qualification_from_certificate(x509.Certificate.load(der))
