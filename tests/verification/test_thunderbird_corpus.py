"""Thunderbird's S/MIME suite (NSS-generated): agree with every asserted outcome.

Its test CA publishes no revocation information, so this suite validates with soft-fail
revocation (a mode the configuration cannot select); everything else is as in production.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from poststelle.verification.decrypt import DecryptionKey
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import ItemVerdict
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from poststelle.verification.unwrap import LayerKind, unwrap
from tests.support.corpora import CORPORA

SUITE = CORPORA / "thunderbird-smime"
DATA = SUITE / "mailnews" / "test" / "data" / "smime"
CASES: list[dict[str, Any]] = json.loads((SUITE / "expected_default.json").read_text())
AT = datetime(2026, 11, 25, tzinfo=UTC)  # within the suite's certificate validity (to 2031)


def keys() -> list[DecryptionKey]:
    found = []
    for name in ("Bob.p12", "Alice.p12", "Fran.p12", "Fran-ec.p12"):
        key, cert, _ = pkcs12.load_key_and_certificates((DATA / name).read_bytes(), b"nss")
        if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) and cert is not None:
            found.append(DecryptionKey(cert, key))
    return found


KEYS = keys()


def headers_of(raw: bytes) -> tuple[str, datetime | None]:
    message = BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
    date = message["Date"]
    return parseaddr(str(message["From"] or ""))[1], parsedate_to_datetime(date) if date else None


@pytest.mark.parametrize("case", CASES, ids=[c["filename"] for c in CASES])
async def test_outcome_agrees_with_thunderbird(case: dict[str, Any]) -> None:
    raw = (DATA / case["filename"]).read_bytes()
    unwrapped = unwrap(raw, KEYS)
    encrypted = [layer for layer in unwrapped.layers if layer.kind is LayerKind.ENCRYPTED]
    if case["enc"] == "true":
        assert encrypted, "an encrypted layer was expected"
        assert not [layer.problem for layer in encrypted if layer.problem]
    settings = TrustSettings(
        (DATA / "TestCA.pem",), allow_fetching=False, revocation_mode="soft-fail"
    )
    sender, date = headers_of(raw)
    context = VerificationContext(
        AT, validation_contexts(settings), CertificateQualifier(), sender, date
    )
    report = await verify_item(unwrapped, [], context, [])
    if case.get("sig") == "true":
        expected_good = case["sig_good"] == "true"
        assert (report.verdict is ItemVerdict.PASSED) == expected_good, report
    elif case.get("sig") == "false":
        assert report.verdict is ItemVerdict.UNSIGNED
