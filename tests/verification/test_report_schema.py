"""The JSON report's schema (poststelle/verification/report.schema.json) and its documentation
(docs/verification-report.md) say what the product really serialises, and cannot drift from
the report model."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import pytest
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from poststelle.config import VerificationSettings
from poststelle.verification import model
from poststelle.verification.cades import CadesDetached
from poststelle.verification.cades_enveloping import CadesEnveloping
from poststelle.verification.engine import verify_item
from poststelle.verification.formats import DocumentInput, SignatureHandler, VerificationContext
from poststelle.verification.model import (
    BaselineLevel,
    Indication,
    ItemVerdict,
    RevocationStatus,
    SignatureFormat,
    SignatureReport,
    SubIndication,
    VerificationReport,
)
from poststelle.verification.pades import PdfSignatures
from poststelle.verification.protocol import report_json
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trust import TrustSettings, validation_contexts
from poststelle.verification.unwrap import unwrap
from poststelle.verification.verifier import Verifier
from tests.support.smime import body, detached
from tests.support.testpki import RECEIVED, GeneratedPki
from tests.verification.test_cades import cades
from tests.verification.test_pades import sign, unsigned_pdf

DOCS = Path(__file__).parents[2] / "docs" / "verification-report.md"
SENDER = "alice@example.org"
HANDLERS: tuple[SignatureHandler, ...] = (CadesDetached(), CadesEnveloping(), PdfSignatures())


def schema() -> dict[str, Any]:
    """The schema as the installed package ships it."""
    text = resources.files("poststelle.verification").joinpath("report.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(schema(), validate_formats=True)


def problems(instance: Any) -> list[str]:
    return [f"{e.instance_path}: {e.message}" for e in validator().iter_errors(instance)]


def context(session: aiohttp.ClientSession, pki: GeneratedPki) -> VerificationContext:
    settings = TrustSettings(anchors=(pki.root_path,))
    return VerificationContext(
        validation_time=RECEIVED,
        validation_context=validation_contexts(settings, AIOHttpFetcherBackend(session)),
        qualify=CertificateQualifier(),
        sender_address=SENDER,
    )


class _Exploding:
    """A handler with a bug: the engine reports INDETERMINATE for its documents."""

    name = "pades"

    def claims(self, document: DocumentInput) -> bool:
        return True

    async def verify(
        self,
        document: DocumentInput,
        others: Sequence[DocumentInput],
        context: VerificationContext,
    ) -> tuple[SignatureReport, ...]:
        raise RuntimeError("a bug")


Make = Callable[[GeneratedPki, aiohttp.ClientSession], Awaitable[VerificationReport]]
Expect = Callable[[VerificationReport], bool]


def _only(report: VerificationReport) -> SignatureReport:
    (signature,) = [s for d in report.documents for s in d.signatures]
    return signature


async def _smime(pki: GeneratedPki, s: aiohttp.ClientSession, raw: bytes) -> VerificationReport:
    return await verify_item(unwrap(raw), [], context(s, pki), HANDLERS)


async def _documents(
    pki: GeneratedPki, s: aiohttp.ClientSession, *documents: DocumentInput
) -> VerificationReport:
    return await verify_item(None, list(documents), context(s, pki), HANDLERS)


async def _pades(pki: GeneratedPki, s: aiohttp.ClientSession) -> VerificationReport:
    signed = await sign(unsigned_pdf(), pki, "qualified", session=s)
    return await _documents(pki, s, DocumentInput("bescheid.pdf", "application/pdf", signed))


async def _cades_b_t(pki: GeneratedPki, s: aiohttp.ClientSession) -> VerificationReport:
    signed = await cades(pki, "qualified", b"%PDF-1.7\n% Antrag\n", session=s)
    return await _documents(
        pki, s, DocumentInput("antrag.pdf.p7m", "application/pkcs7-mime", signed)
    )


async def _unreachable(pki: GeneratedPki, s: aiohttp.ClientSession) -> VerificationReport:
    async with aiohttp.ClientSession() as nowhere:  # pki.test does not resolve
        return await _smime(pki, nowhere, detached(pki, "qualified", SENDER))


async def _crashed(pki: GeneratedPki, s: aiohttp.ClientSession) -> VerificationReport:
    pdf = DocumentInput("bescheid.pdf", "application/pdf", b"%PDF-1.7")
    return await verify_item(None, [pdf], context(s, pki), [_Exploding()])


TRUNCATED_CMS = (
    b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\r\n"
)

# Each scenario: how the report is made, and what makes sure it is the outcome it claims to be.
SCENARIOS: dict[str, tuple[Make, Expect]] = {
    "smime-passed": (
        lambda pki, s: _smime(pki, s, detached(pki, "qualified", SENDER)),
        lambda r: (
            r.verdict is ItemVerdict.PASSED
            and _only(r).signer is not None
            and len(_only(r).validation_path) == 3
            and _only(r).revocation is not None
            and _only(r).revocation.status is RevocationStatus.GOOD
            and _only(r).revocation.source == "ocsp"
            and _only(r).revocation.url.startswith("http://pki.test/")
            and _only(r).revocation.produced_at is not None
        ),  # type: ignore[union-attr]
    ),
    "smime-revoked": (
        lambda pki, s: _smime(pki, s, detached(pki, "revoked", "rita@example.org")),
        lambda r: (
            _only(r).sub_indication in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE)
            and _only(r).revocation is not None
            and _only(r).revocation.revoked_at is not None
            and _only(r).revocation.source == "ocsp"
        ),  # type: ignore[union-attr]
    ),
    "smime-tampered": (
        lambda pki, s: _smime(
            pki,
            s,
            detached(pki, "qualified", SENDER).replace(b"Baugenehmigung", b"Abrissgenehmigung", 1),
        ),
        lambda r: _only(r).sub_indication is SubIndication.HASH_FAILURE,
    ),
    "smime-format-failure": (
        lambda pki, s: _smime(pki, s, TRUNCATED_CMS),
        lambda r: (
            _only(r).sub_indication is SubIndication.FORMAT_FAILURE and _only(r).signer is None
        ),
    ),
    "smime-try-later": (
        _unreachable,
        lambda r: _only(r).sub_indication is SubIndication.TRY_LATER,
    ),
    "pades-b-t": (
        _pades,
        lambda r: (
            _only(r).format is SignatureFormat.PADES
            and _only(r).level is BaselineLevel.B_T
            and [t.kind for t in _only(r).timestamps] == ["signature"]
        ),
    ),
    "cades-enveloping-b-t": (
        _cades_b_t,
        lambda r: (
            _only(r).level is BaselineLevel.B_T
            and len(r.documents) == 2  # the signed content is listed as a document of its own
            and bool(r.documents[1].notes)
        ),
    ),
    "unsigned": (
        lambda pki, s: _documents(pki, s, DocumentInput("brief.txt", "text/plain", body())),
        lambda r: r.verdict is ItemVerdict.UNSIGNED and r.documents == (),
    ),
    "handler-crashed": (
        _crashed,
        lambda r: _only(r).indication is Indication.INDETERMINATE,
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_real_reports_validate_against_the_schema(
    scenario: str, pki: GeneratedPki, pki_session: aiohttp.ClientSession
) -> None:
    make, expect = SCENARIOS[scenario]
    report = await make(pki, pki_session)
    assert expect(report), report
    assert problems(json.loads(report_json(report))) == []


# -- the schema is strict: it rejects what the product does not produce ------------------------

PASSED = {
    "format": "smime-detached",
    "indication": "TOTAL_PASSED",
    "sub_indication": None,
    "checks": [{"name": "integrity", "outcome": "passed", "detail": "", "detail_de": ""}],
    "signer": None,
    "validation_path": [],
    "signing_time": "2026-11-25T09:30:00+00:00",
    "revocation": None,
    "timestamps": [],
    "level": "B-B",
    "qualification": "QESig",
    "digest_algorithm": "sha256",
    "signature_algorithm": "ecdsa",
    "field_name": "message",
}


REVOCATION = {
    "status": "good",
    "source": "ocsp",
    "url": "http://ocsp.example/",
    "produced_at": "2026-11-25T09:29:00+00:00",
    "revoked_at": None,
    "reason": "",
}


def _report(**signature: Any) -> dict[str, Any]:
    return {
        "schema_version": "1",
        "validation_time": "2026-11-25T09:30:00+00:00",
        "generated_at": "2026-11-25T09:30:01.250000+00:00",
        "verdict": "passed",
        "documents": [
            {
                "name": "message",
                "sha256": "ab" * 32,
                "content_type": "message/rfc822",
                "signatures": [{**PASSED, **signature}],
                "notes": [],
            }
        ],
        "trust_sources": [],
    }


def test_a_well_formed_report_passes_so_the_rejections_below_mean_something() -> None:
    assert problems(_report()) == []
    for source in ("ocsp", "crl", "embedded-ocsp", "embedded-crl", ""):
        assert problems(_report(revocation={**REVOCATION, "source": source})) == []


def test_the_revocation_sources_are_documented() -> None:
    section = _sections()["RevocationInfo"]
    (row,) = [line for line in section.splitlines() if line.startswith("| `source` |")]
    values = schema()["$defs"]["RevocationInfo"]["properties"]["source"]["enum"]
    assert all(f"`{v}`" in row for v in values if v) and '`""`' in row


async def test_the_configured_verifier_names_its_trust_sources(pki: GeneratedPki) -> None:
    settings = VerificationSettings((pki.root_path,), (), True, 15.0, ())
    verifier = Verifier.from_settings(settings)
    report = await verifier.verify(
        None, [DocumentInput("brief.txt", "text/plain", body())], received_at=RECEIVED, sender=""
    )
    assert report.trust_sources == (
        "anchor: Common Name: Test Root CA, Organization: Test-PKI, Country: DE "
        f"({pki.root_path.name})",
    )
    assert problems(json.loads(report_json(report))) == []


@pytest.mark.parametrize(
    "change",
    [
        {"indication": "PASSED"},
        {"sub_indication": "SOMETHING_ELSE"},
        {"qualification": "QES"},
        {"level": "B-LT-A"},
        {"format": "xades"},
        {"signing_time": "2026-11-25T09:30:00"},  # no offset: ambiguous
        {"signing_time": "25.11.2026 09:30"},
        {"checks": [{"name": "integrity", "outcome": "ok", "detail": "", "detail_de": ""}]},
        {"checks": [{"name": "integrity", "outcome": "passed", "detail": ""}]},
        {"revocation": {"status": "good"}},
        {"revocation": {**REVOCATION, "source": "ocsp/crl"}},
        {"revocation": {**REVOCATION, "produced_at": "2026-11-25"}},
        {"timestamps": [{"kind": "signature", "gen_time": "x", "tsa": "", "valid": True}]},
        {"surprise": 1},
    ],
    ids=lambda change: next(iter(change)),
)
def test_the_schema_rejects_what_the_product_never_writes(change: dict[str, Any]) -> None:
    assert problems(_report(**change)) != []


def test_the_schema_rejects_an_unknown_top_level_field_or_version() -> None:
    assert problems({**_report(), "extra": True}) != []
    assert problems({**_report(), "schema_version": "2"}) != []
    without = _report()
    del without["trust_sources"]
    assert problems(without) != []


# -- the schema and the docs follow the model --------------------------------------------------


def _records() -> dict[str, type[Any]]:
    """Every dataclass reachable from VerificationReport, by name."""
    found: dict[str, type[Any]] = {}

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp):
            visit(arg)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp.__name__ not in found:
            found[tp.__name__] = tp
            for hint in typing.get_type_hints(tp).values():
                visit(hint)

    visit(VerificationReport)
    return found


def _enums() -> dict[str, type[enum.Enum]]:
    """Every enum a report field can hold, by name."""
    found: dict[str, type[enum.Enum]] = {}

    def visit(tp: Any) -> None:
        for arg in typing.get_args(tp):
            visit(arg)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            found[tp.__name__] = tp

    for record in _records().values():
        for hint in typing.get_type_hints(record).values():
            visit(hint)
    return found


def _definition(name: str) -> dict[str, Any]:
    loaded = schema()
    if name == "VerificationReport":
        return loaded
    definition: dict[str, Any] = loaded["$defs"][name]
    return definition


def _resolve(node: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ref = node.get("$ref", "")
    if not ref:
        return "", node
    name = ref.removeprefix("#/$defs/")
    return name, schema()["$defs"][name]


def _shape(node: dict[str, Any]) -> Any:
    """What a schema node accepts, in the same terms as `_expected`."""
    if "anyOf" in node:
        return frozenset(_shape(option) for option in node["anyOf"])
    name, target = _resolve(node)
    if target.get("type") == "array":
        return ("array", _shape(target["items"]))
    if target.get("format") == "date-time":
        return "datetime"
    if target.get("type") == "object" or ("enum" in target and name):
        return name
    return target["type"]


def _expected(tp: Any) -> Any:
    """What the JSON for a value of Python type `tp` is, after `to_jsonable`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return frozenset(_expected(a) for a in typing.get_args(tp))
    if origin is tuple:
        return ("array", _expected(typing.get_args(tp)[0]))
    if tp is type(None):
        return "null"
    if tp is datetime:
        return "datetime"
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or issubclass(tp, enum.Enum)):
        return tp.__name__
    return {str: "string", bool: "boolean", int: "integer"}[tp]


def test_the_model_has_records_and_enums_to_compare() -> None:
    assert set(_records()) >= {"VerificationReport", "SignatureReport", "Check", "TimestampInfo"}
    assert set(_enums()) >= {"Indication", "SubIndication", "ItemVerdict", "Qualification"}


@pytest.mark.parametrize("record", sorted(_records()))
def test_every_field_is_in_the_schema_with_its_type_and_required(record: str) -> None:
    hints = typing.get_type_hints(_records()[record])
    fields = [f.name for f in dataclasses.fields(_records()[record])]
    definition = _definition(record)
    assert definition["additionalProperties"] is False
    assert list(definition["properties"]) == fields
    assert definition["required"] == fields  # to_jsonable writes every field, null or not
    for name in fields:
        assert _shape(definition["properties"][name]) == _expected(hints[name]), name


def _sections() -> dict[str, str]:
    """The docs' sections by the record named in their heading, e.g. ## `SignatureReport`."""
    parts = re.split(r"^## ", DOCS.read_text(), flags=re.MULTILINE)
    sections = {}
    for part in parts[1:]:
        match = re.match(r".*?`(\w+)`", part.splitlines()[0])
        if match:
            sections[match.group(1)] = part
    return sections


@pytest.mark.parametrize("record", sorted(_records()))
def test_every_field_is_documented_in_its_record_s_section(record: str) -> None:
    section = _sections()[record]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    assert documented == [f.name for f in dataclasses.fields(_records()[record])]


@pytest.mark.parametrize("name", sorted(_enums()))
def test_each_enum_s_values_in_the_schema_are_the_model_s(name: str) -> None:
    python = [member.value for member in _enums()[name]]
    assert schema()["$defs"][name]["enum"] == python
    assert getattr(model, name) is _enums()[name]


@pytest.mark.parametrize("name", sorted(_enums()))
def test_each_enum_s_values_are_documented(name: str) -> None:
    section = _sections()[name]
    documented = re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)
    assert documented == [member.value for member in _enums()[name]]


def _ids(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        yield from (v for k, v in node.items() if k == "$ref")
        for value in node.values():
            yield from _ids(value)
    elif isinstance(node, list):
        for value in node:
            yield from _ids(value)


def test_the_schema_is_valid_2020_12_and_every_definition_is_used() -> None:
    loaded = schema()
    jsonschema_rs.meta.validate(loaded)
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    used = {ref.removeprefix("#/$defs/") for ref in _ids(loaded)}
    assert used == set(loaded["$defs"])


def test_the_schema_version_the_engine_writes_is_the_schema_s() -> None:
    from poststelle.verification.engine import SCHEMA_VERSION

    assert schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert f'`schema_version` is `"{SCHEMA_VERSION}"`' in DOCS.read_text()
