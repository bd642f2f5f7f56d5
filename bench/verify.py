"""Verification benchmark: S/MIME messages/s beside `openssl cms -verify`, and signed PDFs/s."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import util as aiohttp_util
from pyhanko_certvalidator.fetchers.api import FetcherBackend, Fetchers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from bench.common import free_port, wait_port
from bench.mail import pdf
from poststelle.config import REVOCATION_CACHE_SECONDS, VerificationSettings
from poststelle.verification.formats import DocumentInput
from poststelle.verification.model import VerificationReport
from poststelle.verification.trust import TrustSettings, validation_contexts
from poststelle.verification.unwrap import unwrap
from poststelle.verification.verifier import Verifier
from tests.support.smime import detached
from tests.support.testpki import GeneratedPki, serve_on_loopback

MESSAGES = 200
PDFS = 50
SIGNER = "qualified"
SENDER = "alice@example.org"
TARGET = 1.0  # Poststelle (revocation cached) / openssl, messages per second (issue 3)
# Verification starts this long after receipt, as in the daemon (an item waits for its stage):
# the OCSP answers and CRLs are newer than the receipt time, as they are there.
QUEUED = 1.5
ROUNDS = 10  # the modes take turns on a tenth of the items each
LISTED_CAS = 250  # about as many CA certificates as a national trusted list makes anchors


@dataclass(frozen=True)
class Rate:
    key: str  # daemon, session, cached or openssl
    what: str
    items: int
    seconds: float
    requests: int  # HTTP requests to the OCSP/CRL server while measuring
    verdicts: Counter[str]

    @property
    def per_second(self) -> float:
        return self.items / self.seconds


@dataclass(frozen=True)
class Result:
    smime: list[Rate]  # Poststelle: as the daemon does it, one HTTP session, revocation cached
    openssl: Rate
    pdfs: list[Rate]  # Poststelle: as the daemon does it, revocation cached


@dataclass
class Requests:
    """Counts the HTTP requests of the sessions it traces."""

    count: int = 0

    def session(self) -> aiohttp.ClientSession:
        async def started(*_: object) -> None:
            self.count += 1

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(started)
        return aiohttp.ClientSession(trace_configs=[trace])

    @contextlib.contextmanager
    def lazy_sessions(self) -> Iterator[None]:
        """Trace the sessions pyHanko opens itself (AIOHttpFetcherBackend without a session)."""
        original = aiohttp_util._default_session
        aiohttp_util._default_session = self.session
        try:
            yield
        finally:
            aiohttp_util._default_session = original


class SharedFetchers(FetcherBackend):
    """One set of fetchers for every validation context. pyHanko caches what it fetched in each
    fetcher object, and `AIOHttpFetcherBackend.get_fetchers` makes new ones on every call (one
    per validation context, so one per signature): sharing them caches revocation data."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.fetchers = AIOHttpFetcherBackend(session).get_fetchers()

    def get_fetchers(self) -> Fetchers:
        return self.fetchers

    async def close(self) -> None:
        return None


@contextlib.contextmanager
def responder(pki: GeneratedPki, port: int) -> Iterator[None]:
    """OCSP and CRLs on 127.0.0.1:port from a child process: their signing is not Poststelle's
    work, and in-process it would share Poststelle's GIL."""
    context = multiprocessing.get_context("fork")
    stop = context.Event()

    def serve() -> None:
        with serve_on_loopback(pki, port):
            stop.wait()

    process = context.Process(target=serve, daemon=True)
    process.start()
    try:
        wait_port(port, 30)
        yield
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()


def listed_cas(path: Path, count: int = LISTED_CAS) -> Path:
    """A PEM file of `count` self-signed CA certificates, standing for a trusted list's."""
    now = datetime.now(UTC)
    pems = []
    for index in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Listed CA {index}")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(index + 1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        pems.append(certificate.public_bytes(serialization.Encoding.PEM))
    path.write_bytes(b"".join(pems))
    return path


def sign_pdf(pki: GeneratedPki, index: int) -> bytes:
    """A one-page PDF with a PAdES B-B signature (no time-stamp, no validation data)."""
    signer = SimpleSigner(
        signing_cert=pki.certificate(SIGNER),
        signing_key=pki.private_key(SIGNER),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [pki.certificate("interm")]
        ),
    )
    meta = PdfSignatureMetadata(field_name="Signatur1", subfilter=SigSeedSubFilter.PADES)
    writer = IncrementalPdfFileWriter(BytesIO(pdf(f"Bescheid Nr. {index}")), strict=False)
    return bytes(PdfSigner(meta, signer).sign_pdf(writer).getbuffer())


Check = Callable[[Verifier, bytes, datetime], Coroutine[None, None, VerificationReport]]


async def check_mail(verifier: Verifier, raw: bytes, at: datetime) -> VerificationReport:
    """As the verify stage does it: unwrap, then every signature (the mail has no documents)."""
    unwrapped = unwrap(raw, verifier.decryption_keys)
    return await verifier.verify(unwrapped, [], received_at=at, sender=SENDER)


async def check_pdf(verifier: Verifier, data: bytes, at: datetime) -> VerificationReport:
    document = DocumentInput("bescheid.pdf", "application/pdf", data)
    return await verifier.verify(None, [document], received_at=at, sender=SENDER)


def as_daemon(
    verifier: Verifier,
    items: Sequence[bytes],
    at: datetime,
    check: Check,
    key: str = "daemon",
    what: str = "as the daemon does it",
) -> Rate:
    """One `asyncio.run` per item in a worker thread, as the verify stage in a Dramatiq worker
    thread: a new event loop, HTTP session and connection for every item; OCSP answers and
    CRLs from the process's revocation cache once fetched (the configuration's default
    lifetime). (In the main thread, `asyncio.run` also installs and removes a SIGINT handler
    for every item, which the daemon's stages never pay.)"""
    requests = Requests()
    verdicts: Counter[str] = Counter()

    def verify_all() -> float:
        started = time.perf_counter()
        for raw in items:
            verdicts[asyncio.run(check(verifier, raw, at)).verdict.value] += 1
        return time.perf_counter() - started

    with requests.lazy_sessions(), ThreadPoolExecutor(max_workers=1) as worker:
        seconds = worker.submit(verify_all).result()
    return Rate(key, what, len(items), seconds, requests.count, verdicts)


def in_one_loop(
    verifier: Verifier,
    items: Sequence[bytes],
    at: datetime,
    check: Check,
    *,
    trust: TrustSettings,
    cached: bool,
) -> Rate:
    """Every item in one event loop over one keep-alive HTTP session. Not `cached`: fresh
    fetchers per validation context (as Poststelle builds them), so still fetched per item;
    `cached`: SharedFetchers, filled by one verification before measuring."""
    requests = Requests()

    async def run() -> Rate:
        async with requests.session() as session:
            backend = SharedFetchers(session) if cached else AIOHttpFetcherBackend(session)
            trusted = replace(verifier, contexts=validation_contexts(trust, backend))
            if cached:
                await check(trusted, items[0], at)
            requests.count = 0
            verdicts: Counter[str] = Counter()
            started = time.perf_counter()
            for raw in items:
                verdicts[(await check(trusted, raw, at)).verdict.value] += 1
            seconds = time.perf_counter() - started
        key, what = ("cached", "revocation cached") if cached else ("session", "one HTTP session")
        return Rate(key, what, len(items), seconds, requests.count, verdicts)

    return asyncio.run(run())


def openssl(paths: Sequence[Path], root_pem: Path) -> Rate:
    """`openssl cms -verify`, one process per message: signature and chain, no revocation."""
    verdicts: Counter[str] = Counter()
    started = time.perf_counter()
    for path in paths:
        done = subprocess.run(
            ["openssl", "cms", "-verify", "-in", str(path), "-CAfile", str(root_pem),
             "-purpose", "any", "-out", "/dev/null"],
            capture_output=True, check=False,
        )  # fmt: skip
        verdicts["passed" if done.returncode == 0 else "failed"] += 1
    seconds = time.perf_counter() - started
    return Rate("openssl", "openssl cms -verify", len(paths), seconds, 0, verdicts)


def total(rates: Sequence[Rate]) -> Rate:
    """One mode's rounds added up."""
    first = rates[0]
    return Rate(
        first.key,
        first.what,
        sum(r.items for r in rates),
        sum(r.seconds for r in rates),
        sum(r.requests for r in rates),
        sum((r.verdicts for r in rates), Counter()),
    )


def rounds(
    measures: Sequence[Callable[[slice], Rate]], items: int, count: int = ROUNDS
) -> list[Rate]:
    """Each measure on a slice of the items in turn, round after round, then per measure in
    total: a load that comes and goes (a CI run on the machine) weighs on all alike."""
    size = -(-items // count)
    parts = [slice(start, start + size) for start in range(0, items, size)]
    done = [[measure(part) for measure in measures] for part in parts]
    return [total(column) for column in zip(*done, strict=True)]


def run(workdir: Path, messages: int = MESSAGES, pdfs: int = PDFS) -> Result:
    """Make the PKI (OCSP and CRLs on loopback), the mails and the PDFs; verify each set."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    pki = GeneratedPki.build(workdir / "pki", f"http://127.0.0.1:{port}")
    root_pem = workdir / "root.pem"
    root = x509.load_der_x509_certificate(pki.root_path.read_bytes())
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    mails = [detached(pki, SIGNER, SENDER, f"bauamt-{i}@amt.example") for i in range(messages)]
    documents = [sign_pdf(pki, i) for i in range(pdfs)]
    received = datetime.now(UTC)
    time.sleep(QUEUED)
    verifier_settings = VerificationSettings(
        anchors=(pki.root_path,),
        intermediates=(),
        allow_fetching=True,
        retry_minutes=5.0,
        decryption_keys=(),
        revocation_cache_seconds=REVOCATION_CACHE_SECONDS,
    )
    verifier = Verifier.from_settings(verifier_settings)
    listed = Verifier.from_settings(
        replace(verifier_settings, anchors=(pki.root_path, listed_cas(workdir / "listed.pem")))
    )
    trust = TrustSettings((pki.root_path,))
    paths = [workdir / f"mail-{index}.eml" for index in range(messages)]
    for path, raw in zip(paths, mails, strict=True):
        path.write_bytes(raw)
    with responder(pki, port):
        theirs, *smime = rounds(
            [
                lambda part: openssl(paths[part], root_pem),
                lambda part: as_daemon(verifier, mails[part], received, check_mail),
                lambda part: in_one_loop(
                    verifier, mails[part], received, check_mail, trust=trust, cached=False
                ),
                lambda part: in_one_loop(
                    verifier, mails[part], received, check_mail, trust=trust, cached=True
                ),
                lambda part: as_daemon(
                    listed,
                    mails[part],
                    received,
                    check_mail,
                    "listed",
                    f"as the daemon, {LISTED_CAS} more anchors",
                ),
            ],
            messages,
        )
        pdf_rates = rounds(
            [
                lambda part: as_daemon(verifier, documents[part], received, check_pdf),
                lambda part: in_one_loop(
                    verifier, documents[part], received, check_pdf, trust=trust, cached=True
                ),
            ],
            pdfs,
        )
    for rate in [*smime, theirs, *pdf_rates]:
        if set(rate.verdicts) != {"passed"}:
            raise RuntimeError(f"{rate.what}: not every signature passed: {dict(rate.verdicts)}")
    return Result(smime, theirs, pdf_rates)


def report(result: Result) -> list[str]:
    theirs = result.openssl
    lines = [
        f"verify (S/MIME: {theirs.items} detached mails; PDF: {result.pdfs[0].items} PAdES B-B;"
        " EC P-256; OCSP/CRL on loopback; openssl checks no revocation):",
        f"  {'S/MIME, ' + theirs.what:<40} {theirs.per_second:7.1f}/s"
        f" {1000 / theirs.per_second:7.2f} ms",
    ]
    for rate in result.smime:
        lines.append(
            f"  {'S/MIME, poststelle ' + rate.what:<40} {rate.per_second:7.1f}/s"
            f" {1000 / rate.per_second:7.2f} ms   {rate.requests / rate.items:4.2f} requests/msg"
            f"   poststelle/openssl {rate.per_second / theirs.per_second:4.2f}"
        )
    daemon = result.pdfs[0]
    for rate in result.pdfs:
        lines.append(
            f"  {'PDF, poststelle ' + rate.what:<40} {rate.per_second:7.1f}/s"
            f" {1000 / rate.per_second:7.2f} ms   {rate.requests / rate.items:4.2f} requests/PDF"
            f"   /as the daemon {rate.per_second / daemon.per_second:4.2f}"
        )
    return lines
