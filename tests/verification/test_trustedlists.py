"""Qualified status from ETSI TS 119 612 trusted lists: loading, signatures, qualification."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path

import pytest
from cryptography import x509

from poststelle.config import TrustedListSettings, VerificationSettings, load_config
from poststelle.daemon import refresh_trusted_lists_forever
from poststelle.pipeline.services import current
from poststelle.tomlfile import TomlError
from poststelle.verification.certinfo import certificate_info
from poststelle.verification.model import Qualification
from poststelle.verification.qualification import CertificateQualifier
from poststelle.verification.trustedlists import (
    GRANTED,
    WITHDRAWN,
    ListFile,
    TrustedListError,
    TrustedListQualifier,
    TrustedListSet,
    load_configured,
    load_list,
    load_trusted_lists,
    parse_trusted_list,
    parse_xml,
    refresh,
)
from poststelle.verification.verifier import Verifier
from tests.support.corpora import CORPORA
from tests.support.testpki import GeneratedPki
from tests.support.trustedlist import (
    ListSigner,
    Period,
    Pointer,
    QualificationSpec,
    ServiceSpec,
    granted_ca_qc,
    list_of_lists,
    national_list,
)
from tests.web.conftest import Template, open_site

PYHANKO_TL = CORPORA / "pyhanko" / "data" / "tl"
DSS_TL = CORPORA / "dss" / "dss-tsl-validation" / "src" / "test" / "resources"
EXT = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def lotl_signer() -> ListSigner:
    return ListSigner.generate("Test LOTL Signer")


@pytest.fixture(scope="module")
def de_signer() -> ListSigner:
    return ListSigner.generate("Test German TL Signer")


def der(pki: GeneratedPki, label: str) -> bytes:
    data: bytes = pki.certificate(label).dump()
    return data


def lotl_for(lotl_signer: ListSigner, de_signer: ListSigner, location: str = "") -> bytes:
    pointer = Pointer("DE", location or "https://tl.test/de.xml", (de_signer,))
    return list_of_lists([pointer], lotl_signer)


def lists_with(
    pki: GeneratedPki,
    lotl_signer: ListSigner,
    de_signer: ListSigner,
    *services: ServiceSpec,
) -> TrustedListSet:
    de = national_list("DE", services or (granted_ca_qc(der(pki, "interm")),), de_signer)
    return load_trusted_lists(
        ListFile("lotl", lotl_for(lotl_signer, de_signer)),
        [ListFile("de", de)],
        [lotl_signer.certificate],
    )


def qualify(pki: GeneratedPki, lists: TrustedListSet, label: str, at: datetime = AT) -> str:
    path = [der(pki, label), der(pki, "interm"), der(pki, "root")]
    return TrustedListQualifier(lists)(certificate_info(pki.certificate(label)), path, at)


def test_a_qualified_certificate_under_a_granted_ca_qc_service_is_qesig(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    lists = lists_with(pki, lotl_signer, de_signer)
    assert not lists.rejected
    assert [tl.territory for tl in lists.lists] == ["DE"]
    assert qualify(pki, lists, "qualified") == Qualification.QESIG
    assert qualify(pki, lists, "seal") == Qualification.QESEAL
    assert qualify(pki, lists, "plain") == Qualification.ADESIG


def test_the_list_overrides_what_the_certificate_claims(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    interm = der(pki, "interm")
    no_qscd = lists_with(
        pki, lotl_signer, de_signer, granted_ca_qc(interm, qualifiers=(EXT + "QCNoQSCD",))
    )
    assert qualify(pki, no_qscd, "qualified") == Qualification.ADESIG_QC
    assert qualify(pki, no_qscd, "seal") == Qualification.ADESEAL_QC
    not_qualified = lists_with(
        pki, lotl_signer, de_signer, granted_ca_qc(interm, qualifiers=(EXT + "NotQualified",))
    )
    assert qualify(pki, not_qualified, "qualified") == Qualification.ADESIG
    # the seal certificate's key usage is the same: the TL's criteria decide, not the claim
    seals_only = ServiceSpec(
        interm,
        (Period(GRANTED, datetime(2020, 1, 1, tzinfo=UTC), (), (EXT + "ForeSeals",)),),
    )
    seal_list = lists_with(pki, lotl_signer, de_signer, seals_only)
    assert qualify(pki, seal_list, "qualified") == Qualification.ADESIG
    assert qualify(pki, seal_list, "seal") == Qualification.QESEAL


def test_a_service_withdrawn_before_the_signing_time_does_not_qualify(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    qualifications = (QualificationSpec((EXT + "QCWithQSCD",)),)
    withdrawn = ServiceSpec(
        der(pki, "interm"),
        (
            Period(GRANTED, datetime(2020, 1, 1, tzinfo=UTC), qualifications),
            Period(WITHDRAWN, datetime(2025, 6, 1, tzinfo=UTC)),
        ),
    )
    lists = lists_with(pki, lotl_signer, de_signer, withdrawn)
    assert qualify(pki, lists, "qualified", AT) == Qualification.ADESIG
    assert qualify(pki, lists, "seal", AT) == Qualification.ADESEAL
    before = datetime(2025, 1, 1, tzinfo=UTC)
    assert qualify(pki, lists, "qualified", before) == Qualification.QESIG


def test_a_status_granted_later_applies_only_from_then(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    qualifications = (QualificationSpec((EXT + "QCWithQSCD",)),)
    later = ServiceSpec(
        der(pki, "interm"),
        (
            Period(WITHDRAWN, datetime(2020, 1, 1, tzinfo=UTC)),
            Period(GRANTED, datetime(2026, 6, 1, tzinfo=UTC), qualifications),
        ),
    )
    lists = lists_with(pki, lotl_signer, de_signer, later)
    history = lists.lists[0].services[0].history
    assert [p.status for p in history] == [WITHDRAWN, GRANTED]
    assert qualify(pki, lists, "qualified", AT) == Qualification.ADESIG
    assert qualify(pki, lists, "qualified", datetime(2027, 1, 1, tzinfo=UTC)) == (
        Qualification.QESIG
    )
    assert qualify(pki, lists, "qualified", datetime(2019, 1, 1, tzinfo=UTC)) == (
        Qualification.ADESIG
    )


def test_a_tampered_national_list_is_rejected_with_its_reason(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    withdrawn = ServiceSpec(
        der(pki, "interm"), (Period(WITHDRAWN, datetime(2020, 1, 1, tzinfo=UTC)),)
    )
    signed = national_list("DE", (withdrawn,), de_signer)
    tampered = signed.replace(WITHDRAWN.encode(), GRANTED.encode())
    assert tampered != signed
    lists = load_trusted_lists(
        ListFile("lotl", lotl_for(lotl_signer, de_signer)),
        [ListFile("de-tampered", tampered)],
        [lotl_signer.certificate],
    )
    assert lists.lists == ()
    assert [r.source for r in lists.rejected] == ["de-tampered"]
    assert "signature does not verify" in lists.rejected[0].reason
    assert "Digest mismatch" in lists.rejected[0].reason
    assert qualify(pki, lists, "qualified") == Qualification.ADESIG


def test_a_national_list_signed_by_a_key_the_lotl_does_not_publish_is_rejected(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    impostor = ListSigner.generate("Test German TL Signer")
    de = national_list("DE", (granted_ca_qc(der(pki, "interm")),), impostor)
    lists = load_trusted_lists(
        ListFile("lotl", lotl_for(lotl_signer, de_signer)),
        [ListFile("de", de), ListFile("fr", national_list("FR", (), de_signer))],
        [lotl_signer.certificate],
    )
    assert lists.lists == ()
    reasons = {r.source: r.reason for r in lists.rejected}
    assert "signature does not verify" in reasons["de"]
    assert "names no signer for 'FR'" in reasons["fr"]


def test_a_lotl_signed_by_an_unpinned_key_is_rejected_with_everything_under_it(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    rogue = ListSigner.generate("Test LOTL Signer")
    de = national_list("DE", (granted_ca_qc(der(pki, "interm")),), de_signer)
    lists = load_trusted_lists(
        ListFile("lotl", lotl_for(rogue, de_signer)),
        [ListFile("de", de)],
        [lotl_signer.certificate],
    )
    assert lists.lotl is None and lists.lists == ()
    assert "list of lists is not usable" in lists.rejected[0].reason
    assert "signature does not verify with any of 1 pinned" in lists.rejected[0].reason
    assert qualify(pki, lists, "qualified") == Qualification.ADESIG


def test_a_national_list_in_place_of_the_lotl_is_rejected(
    pki: GeneratedPki, lotl_signer: ListSigner
) -> None:
    not_a_lotl = national_list("EU", (granted_ca_qc(der(pki, "interm")),), lotl_signer)
    lists = load_trusted_lists(ListFile("lotl", not_a_lotl), [], [lotl_signer.certificate])
    assert lists.lotl is None
    assert "not a list of lists" in lists.rejected[0].reason


def test_a_qc_claim_under_an_issuer_on_no_list_is_not_qualified(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    other_ca = ListSigner.generate("Some Other CA")
    lists = lists_with(pki, lotl_signer, de_signer, granted_ca_qc(other_ca.der()))
    assert lists.lists[0].services
    claim = CertificateQualifier()(
        certificate_info(pki.certificate("qualified")), [der(pki, "qualified")], AT
    )
    assert claim == Qualification.QESIG
    assert qualify(pki, lists, "qualified") == Qualification.ADESIG
    assert qualify(pki, lists, "seal") == Qualification.ADESEAL


def test_the_ca_qc_certificates_are_offered_as_trust_anchors(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    lists = lists_with(pki, lotl_signer, de_signer)
    assert lists.anchors() == (der(pki, "interm"),)
    assert lists.anchors_pem().startswith(b"-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE t [<!ENTITY ee SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE t SYSTEM "http://127.0.0.1:9/tsl.dtd">',
    ],
)
def test_a_list_with_a_dtd_is_refused_and_nothing_is_expanded(
    pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner, doctype: str
) -> None:
    de = national_list("DE", (granted_ca_qc(der(pki, "interm")),), de_signer)
    declaration, _, body = de.partition(b"?>")
    entity = b"&ee;" if b"ee" in doctype.encode() else b"&b;"
    body = body.replace(b"Test TSP DE", b"Test TSP " + entity, 1)
    hostile = declaration + b"?>" + doctype.encode() + body
    with pytest.raises(TrustedListError, match="DTD"):
        parse_xml(hostile)
    lists = load_trusted_lists(
        ListFile("lotl", lotl_for(lotl_signer, de_signer)),
        [ListFile("hostile", hostile)],
        [lotl_signer.certificate],
    )
    assert lists.lists == ()
    assert "DTD" in lists.rejected[0].reason


def test_the_xml_bombs_of_the_corpus_are_refused() -> None:
    bad = CORPORA / "pyhanko" / "data" / "xml" / "bad-xml"
    names = ("cyclic", "dtd", "external", "external_file", "quadratic", "xmlbomb", "xmlbomb2")
    for name in (f"{n}.xml" for n in names):
        with pytest.raises(TrustedListError, match=r"DTD|not well-formed"):
            parse_xml((bad / name).read_bytes())


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(directory))
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_refreshed_lists_are_cached_and_read_from_the_cache_when_offline(
    tmp_path: Path, pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    pinned = tmp_path / "pinned.pem"
    pinned.write_bytes(lotl_signer.pem())
    (site / "de.xml").write_bytes(
        national_list("DE", (granted_ca_qc(der(pki, "interm")),), de_signer)
    )
    with serving(site) as base:
        (site / "lotl.xml").write_bytes(lotl_for(lotl_signer, de_signer, f"{base}/de.xml"))
        settings = TrustedListSettings(
            lotl=None,
            lists=(),
            pinned=(pinned,),
            cache_dir=tmp_path / "cache",
            url=f"{base}/lotl.xml",
            refresh_hours=24.0,
        )
        report = refresh(settings, timeout=5.0)
    assert report.stored == ("lotl.xml", "tl-DE.xml")
    assert report.failed == ()
    offline = refresh(settings, timeout=2.0)
    assert offline.stored == () and "cannot fetch" in offline.failed[0].reason
    lists = load_configured(settings)
    assert lists.rejected == ()
    assert lists.lotl is not None and lists.lotl.source.endswith("cache/lotl.xml")
    assert qualify(pki, lists, "qualified") == Qualification.QESIG


def test_a_refresh_does_not_cache_a_list_that_fails_verification(
    tmp_path: Path, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    pinned = tmp_path / "pinned.pem"
    pinned.write_bytes(lotl_signer.pem())
    (site / "lotl.xml").write_bytes(lotl_for(ListSigner.generate("rogue"), de_signer))
    with serving(site) as base:
        settings = TrustedListSettings(
            None, (), (pinned,), tmp_path / "cache", f"{base}/lotl.xml", 24.0
        )
        report = refresh(settings, timeout=5.0)
    assert report.stored == ()
    assert "signature does not verify" in report.failed[0].reason
    assert not (tmp_path / "cache" / "lotl.xml").exists()


# --- the real EU lists from the corpus --------------------------------------------------------


def test_the_real_eu_lotl_and_national_lists_verify_and_parse() -> None:
    pinned = x509.load_pem_x509_certificates((PYHANKO_TL / "pre-reanchor.cert.pem").read_bytes())
    names = ("tsl-be-v6.xml", "tsl-ee.xml", "tsl-be-old.xml")
    lists = load_trusted_lists(
        ListFile("eu-lotl.xml", (PYHANKO_TL / "eu-lotl.xml").read_bytes()),
        [ListFile(n, (PYHANKO_TL / n).read_bytes()) for n in names],
        pinned,
    )
    assert lists.lotl is not None
    assert lists.lotl.sequence_number == 388
    assert len(lists.lotl.pointers) == 43
    assert {tl.territory: len(tl.services) for tl in lists.lists} == {"BE": 135, "EE": 62}
    # the older Belgian list was signed with a key the current LOTL no longer publishes
    assert [r.source for r in lists.rejected] == ["tsl-be-old.xml"]
    assert "signature does not verify" in lists.rejected[0].reason
    services = list(lists.services())
    ca_qc = [s for s in services if s.ever_qualified()]
    assert ca_qc and len(lists.anchors()) > 0
    assert any(len(s.history) > 1 for s in services)
    assert any(p.qualifications for s in ca_qc for p in s.history)


def test_the_dss_lotl_verifies_and_its_broken_signature_variant_does_not() -> None:
    pinned = x509.load_pem_x509_certificates((PYHANKO_TL / "pre-reanchor.cert.pem").read_bytes())
    good = load_list(ListFile("eu-lotl", (DSS_TL / "eu-lotl.xml").read_bytes()), pinned)
    assert good.sequence_number == 248
    for name in ("eu-lotl-broken-sig.xml", "lotlCache/eu-lotl_broken-sig.xml"):
        with pytest.raises(TrustedListError, match="Digest mismatch"):
            load_list(ListFile(name, (DSS_TL / name).read_bytes()), pinned)
    with pytest.raises(TrustedListError, match="not well-formed"):
        load_list(ListFile("x", (DSS_TL / "eu-lotl-not-parseable.xml").read_bytes()), pinned)


@pytest.mark.parametrize(
    ("name", "territory", "services"),
    [("de-tl.xml", "DE", 413), ("fr.xml", "FR", 121), ("sk-tl.xml", "SK", 116)],
)
def test_real_national_lists_parse(name: str, territory: str, services: int) -> None:
    tl = parse_trusted_list(parse_xml((DSS_TL / name).read_bytes()), name)
    assert (tl.territory, len(tl.services)) == (territory, services)
    assert all(s.history for s in tl.services)


# --- configuration -----------------------------------------------------------------------------

CONFIG = """\
[poststelle]
authority = "Stadt Test"
domains = ["amt.example"]

[timestamp]
url = "http://127.0.0.1:1/tsa"

[departments.bauamt]
title = "Bauamt"

[verification]
anchors = []
"""


def test_trusted_lists_are_optional_in_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "poststelle.toml"
    path.write_text(CONFIG, encoding="utf-8")
    assert load_config(path).verification.trusted_lists is None


def test_the_trusted_lists_table_is_read_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "poststelle.toml"
    path.write_text(
        CONFIG
        + """
[verification.trusted_lists]
lotl = "tl/eu-lotl.xml"
lists = ["tl/de.xml"]
pinned = ["tl/oj.pem"]
cache_dir = "cache"
url = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"
refresh_hours = 6
""",
        encoding="utf-8",
    )
    settings = load_config(path).verification.trusted_lists
    assert settings == TrustedListSettings(
        lotl=tmp_path / "tl" / "eu-lotl.xml",
        lists=(tmp_path / "tl" / "de.xml",),
        pinned=(tmp_path / "tl" / "oj.pem",),
        cache_dir=tmp_path / "cache",
        url="https://ec.europa.eu/tools/lotl/eu-lotl.xml",
        refresh_hours=6.0,
    )


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('lotl = "l.xml"\ncache_dir = "c"\n', "pinned", "is required"),
        ('pinned = ["p.pem"]\ncache_dir = "c"\n', "lotl", "unless url"),
        ('lotl = "l.xml"\npinned = []\ncache_dir = "c"\n', "pinned", "at least one"),
        ('lotl = "l.xml"\npinned = ["p"]\ncache_dir = "c"\nurl = "ftp://x"\n', "url", "http"),
        ('lotl = "l.xml"\npinned = ["p"]\ncache_dir = "c"\nrefresh = 1\n', "refresh", "unknown"),
    ],
)
def test_a_bad_trusted_lists_table_names_its_key(
    tmp_path: Path, table: str, key: str, message: str
) -> None:
    path = tmp_path / "poststelle.toml"
    path.write_text(CONFIG + "\n[verification.trusted_lists]\n" + table, encoding="utf-8")
    with pytest.raises(TomlError, match=message) as caught:
        load_config(path)
    assert caught.value.key == f"verification.trusted_lists.{key}"
    assert caught.value.line is not None and caught.value.line >= 14


def test_the_verifier_uses_the_lists_when_configured(
    tmp_path: Path, pki: GeneratedPki, lotl_signer: ListSigner, de_signer: ListSigner
) -> None:
    (tmp_path / "lotl.xml").write_bytes(lotl_for(lotl_signer, de_signer))
    (tmp_path / "de.xml").write_bytes(
        national_list("DE", (granted_ca_qc(der(pki, "interm")),), de_signer)
    )
    (tmp_path / "pinned.pem").write_bytes(lotl_signer.pem())
    lists = TrustedListSettings(
        tmp_path / "lotl.xml",
        (tmp_path / "de.xml",),
        (tmp_path / "pinned.pem",),
        tmp_path / "cache",
        "",
        24.0,
    )
    settings = VerificationSettings((pki.root_path,), (), True, 15.0, (), lists)
    verifier = Verifier.from_settings(settings)
    assert isinstance(verifier.qualify, TrustedListQualifier)
    assert (tmp_path / "cache" / "anchors.pem").read_bytes() == (
        verifier.qualify.lists.anchors_pem()
    )
    trust = verifier.contexts(AT).path_builder.trust_manager
    assert trust.is_root(pki.certificate("interm")) and trust.is_root(pki.certificate("root"))
    (anchor, lotl, de) = verifier.trust_sources
    assert anchor.startswith("anchor: Common Name: Test Root CA") and "interm" not in anchor
    assert lotl.startswith("list of trusted lists EU #") and "lotl.xml" in lotl
    assert de.startswith("trusted list DE #") and ", issued 20" in de and "de.xml" in de
    plain = Verifier.from_settings(VerificationSettings((pki.root_path,), (), True, 15.0, ()))
    assert isinstance(plain.qualify, CertificateQualifier)
    assert not plain.contexts(AT).path_builder.trust_manager.is_root(pki.certificate("interm"))


def test_the_daemon_refreshes_the_lists_and_verifies_with_the_new_ones(
    tmp_path: Path,
    pki: GeneratedPki,
    lotl_signer: ListSigner,
    de_signer: ListSigner,
    template: Template,
) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    pinned = tmp_path / "pinned.pem"
    pinned.write_bytes(lotl_signer.pem())
    (site_dir / "de.xml").write_bytes(
        national_list("DE", (granted_ca_qc(der(pki, "interm")),), de_signer)
    )
    with serving(site_dir) as base:
        (site_dir / "lotl.xml").write_bytes(lotl_for(lotl_signer, de_signer, f"{base}/de.xml"))
        section = (
            f'\n[verification.trusted_lists]\npinned = ["{pinned}"]\n'
            f'cache_dir = "{tmp_path / "cache"}"\nurl = "{base}/lotl.xml"\n'
        )
        with open_site(template, tmp_path / "poststelle", lambda text: text + section) as site:
            before = site.mailroom.services.verifier

            async def until_refreshed() -> None:
                stop = asyncio.Event()
                task = asyncio.create_task(refresh_trusted_lists_forever(site.mailroom, stop))
                for _ in range(200):
                    if current().verifier is not before:
                        break
                    await asyncio.sleep(0.05)
                stop.set()
                await task

            asyncio.run(until_refreshed())
            refreshed = current().verifier
    assert refreshed is not before
    assert (tmp_path / "cache" / "tl-DE.xml").exists()
    assert isinstance(refreshed.qualify, TrustedListQualifier)
