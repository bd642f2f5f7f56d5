"""The composition root: build the mailroom from its configuration and run it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import dramatiq
import structlog
import uvicorn
from dramatiq import Worker
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from connectors.clamd import ClamdAddress, ClamdScanner
from connectors.maildir import MaildirInbox, MaildirOutbox, sweep_maildirs
from connectors.smtp_ingress import SmtpIngress, start_smtp, tls_context
from connectors.smtp_relay import RelaySettings, SmtpRelay
from poststelle.accounts import Accounts
from poststelle.committer import LinkEnd, RemoteIntake
from poststelle.config import Config
from poststelle.decision.procedures import load_procedure_policy
from poststelle.followups import settle_owed
from poststelle.inboxes import DepartmentInboxes
from poststelle.intake import Intake
from poststelle.model import Item
from poststelle.pipeline.broker import Pipeline, declare_actors, make_broker
from poststelle.pipeline.reconciler import idle_cutoff, reconcile
from poststelle.pipeline.retry import reverify_due
from poststelle.pipeline.services import Services, install
from poststelle.ports import MalwareScanner, Outbox
from poststelle.review import ReviewDesk
from poststelle.routing import load_routing_policy
from poststelle.stages import STAGES
from poststelle.store.backends import Backend, PostgresBackend, SqliteBackend
from poststelle.store.blobs import BlobStore
from poststelle.store.sql import SqlStore
from poststelle.supervisor import spawn
from poststelle.timestamp.asgi import tsa_routes
from poststelle.timestamp.authority import TimeStampAuthority
from poststelle.timestamp.client import HttpTimestamper
from poststelle.verification.trustedlists import refresh
from poststelle.verification.verifier import Verifier
from poststelle.web.app import build_app
from poststelle.web.context import WebContext

log = structlog.get_logger("poststelle.daemon")


@dataclass(frozen=True)
class Mailroom:
    config: Config
    services: Services
    pipeline: Pipeline
    intake: Intake

    def enqueue_first(self, items: Sequence[Item]) -> None:
        self.pipeline.enqueue_many(self.config.pipeline[0], [item.id for item in items])


def open_store(config: Config) -> SqlStore:
    backend: Backend
    if config.store.backend == "postgresql":
        backend = PostgresBackend(config.store.dsn)
    else:
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        backend = SqliteBackend(config.data_dir / "poststelle.sqlite3")
    store = SqlStore(backend)
    store.migrate()
    return store


def _outbox(config: Config) -> Outbox:
    relay = config.outbox.relay
    if relay is None:
        return MaildirOutbox(config.outbox.maildir)
    password = relay.password_file.read_text().strip() if relay.password_file else ""
    return SmtpRelay(
        RelaySettings(
            host=relay.host,
            port=relay.port,
            starttls=relay.starttls,
            username=relay.username,
            password=password,
            ca_file=relay.ca_file,
            timeout=relay.timeout_seconds,
        )
    )


def _scanner(config: Config) -> MalwareScanner | None:
    settings = config.scanner
    if settings.kind == "none":
        return None
    host, port = settings.address or ("", 0)
    return ClamdScanner(ClamdAddress(settings.socket, host, port), timeout=settings.timeout_seconds)


def build_mailroom(config: Config) -> Mailroom:
    """Everything a serve or worker process needs, wired together; installs the services."""
    store = open_store(config)
    blobs = BlobStore(config.data_dir / "blobs")
    services = Services(
        config=config,
        store=store,
        blobs=blobs,
        timestamper=HttpTimestamper(
            config.timestamp.url, trusted_certificates=config.timestamp.trusted_certificates
        ),
        inbox=MaildirInbox({k: d.maildir for k, d in config.departments.items()}),
        outbox=_outbox(config),
        routing=load_routing_policy(config.routing_policy, config.departments.keys()),
        procedures=load_procedure_policy(config.procedure_policy),
        verifier=Verifier.from_settings(config.verification),
        scanner=_scanner(config),
    )
    install(services)
    broker = make_broker(config.broker)
    dramatiq.set_broker(broker)
    pipeline = declare_actors(broker, STAGES, config.pipeline)
    mailroom_holder: list[Mailroom] = []
    intake = Intake(store, blobs, lambda items: mailroom_holder[0].enqueue_first(items))
    mailroom = Mailroom(config, services, pipeline, intake)
    mailroom_holder.append(mailroom)
    return mailroom


def web_app(mailroom: Mailroom) -> Starlette:
    """The HTTP side: portal uploads, department API, review desk, inboxes, the built-in TSA."""
    services = mailroom.services
    extra: list[BaseRoute] = []
    builtin = mailroom.config.timestamp.builtin
    if builtin is not None:
        extra += tsa_routes(
            TimeStampAuthority.from_files(builtin.key, builtin.certificate, builtin.policy_oid)
        )
    context = WebContext(
        services=services,
        config=mailroom.config,
        store=services.store,
        blobs=services.blobs,
        accounts=Accounts(services.store),
        intake=mailroom.intake,
        procedures=services.procedures,
        desk=ReviewDesk(
            services.store, mailroom.pipeline.enqueue, set(mailroom.config.departments)
        ),
        inboxes=DepartmentInboxes(services.store),
    )
    return build_app(context, extra)


@contextlib.contextmanager
def embedded_worker(mailroom: Mailroom) -> Iterator[Worker]:
    settings = mailroom.config.broker
    worker = Worker(
        mailroom.pipeline.broker,
        worker_threads=settings.worker_threads,
        worker_timeout=settings.idle_poll_ms,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=int(settings.shutdown_seconds * 1000))


async def start_sweep(mailroom: Mailroom) -> bool:
    """Re-drive every unfinished item, idle or not; False if that failed (a broker that is
    down), so that the caller tries again instead of dying with it."""
    loop = asyncio.get_running_loop()
    sweep = functools.partial(
        reconcile, mailroom.services.store, mailroom.config.pipeline, mailroom.pipeline.enqueue
    )
    try:
        count = await loop.run_in_executor(None, sweep)
        settled = await loop.run_in_executor(None, settle_owed, mailroom.services)
    except Exception as exc:
        log.warning("reconciler.start_sweep_failed", error=str(exc))
        return False
    log.info("reconciler.start_sweep", redriven=count, followups=settled)
    return True


async def reconcile_forever(mailroom: Mailroom, stop: asyncio.Event) -> None:
    """Re-drive unfinished items at start, then every interval those that went idle. A start
    sweep that fails (Redis down while serve starts) is repeated every interval until it
    succeeds: it must not take the periodic sweeps down with it."""
    config = mailroom.config
    loop = asyncio.get_running_loop()
    store = mailroom.services.store
    started = await start_sweep(mailroom)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), config.broker.reconcile_interval_seconds)
        if stop.is_set():
            return
        if not started:
            started = await start_sweep(mailroom)
            continue
        cutoff = idle_cutoff(datetime.now(UTC), config.broker.stale_after_seconds)
        sweep = functools.partial(
            reconcile, store, config.pipeline, mailroom.pipeline.enqueue, idle_since=cutoff
        )
        retry = functools.partial(
            reverify_due,
            store,
            mailroom.pipeline.enqueue,
            retry_after=timedelta(minutes=config.verification.retry_minutes),
            now=datetime.now(UTC),
        )
        try:
            await loop.run_in_executor(None, sweep)
            await loop.run_in_executor(None, settle_owed, mailroom.services)
            await loop.run_in_executor(None, retry)
        except Exception as exc:
            log.warning("reconciler.failed", error=str(exc))


async def refresh_trusted_lists_forever(mailroom: Mailroom, stop: asyncio.Event) -> None:
    """Fetch the trusted lists every `refresh_hours` (when a URL is configured) and put a
    verifier built from the refreshed cache in place; a failed fetch keeps the last good lists."""
    settings = mailroom.config.verification.trusted_lists
    if settings is None or not settings.url:
        return
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            report = await loop.run_in_executor(None, refresh, settings)
            verifier = await loop.run_in_executor(
                None, Verifier.from_settings, mailroom.config.verification
            )
            install(replace(mailroom.services, verifier=verifier))
            log.info(
                "trusted_lists.refreshed",
                stored=list(report.stored),
                rejected=[f"{r.source}: {r.reason}" for r in report.failed],
            )
        except Exception as exc:
            log.error("trusted_lists.refresh_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.refresh_hours * 3600)


def reload_tls(
    context: ssl.SSLContext, config: Config, intakes: Sequence[subprocess.Popen[bytes]] = ()
) -> None:
    """SIGHUP: load the (renewed) certificate and key into the running TLS context; new
    connections get them, open ones keep theirs. A broken pair keeps the old one. The extra
    intake processes are told too."""
    for child in intakes:
        child.send_signal(signal.SIGHUP)
    try:
        tls_context(config.smtp.tls_certificate, config.smtp.tls_key)  # a broken pair fails here
        context.load_cert_chain(config.smtp.tls_certificate, config.smtp.tls_key)
    except (OSError, ssl.SSLError) as exc:
        log.error("tls.reload_failed", certificate=str(config.smtp.tls_certificate), error=str(exc))
        return
    log.info("tls.reloaded", certificate=str(config.smtp.tls_certificate))


async def keep_intakes(
    config: Config, intake: Intake, children: list[subprocess.Popen[bytes]], stop: asyncio.Event
) -> None:
    """Keep `[smtp] processes` intake processes on the shared port, each linked to this
    process's committer (`poststelle.committer`); restart one that dies, with a new link;
    stop them with the serve process."""

    def start() -> subprocess.Popen[bytes]:
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            child = spawn(config.path, "intake", "--committer-fd", str(fd), pass_fds=(fd,))
        intake.attach(LinkEnd(ours, intake.blobs))
        return child

    children += [start() for _ in range(config.smtp.processes)]
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        for index, child in enumerate(children):
            if child.poll() is not None and not stop.is_set():
                log.warning("intake.died", pid=child.pid, code=child.returncode)
                children[index] = start()
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        await asyncio.get_running_loop().run_in_executor(None, child.wait)


async def serve_intake(config: Config, committer_fd: int) -> int:
    """An intake process started by serve (`[smtp] processes` above one): SMTP on the shared
    port; serve's committer makes each message an item, over the link on `committer_fd`.
    Ends with serve: a closed link is exit code 1."""
    intake = await RemoteIntake.connect(BlobStore(config.data_dir / "blobs"), committer_fd)
    smtp_tls = None
    if config.smtp.starttls != "off":
        smtp_tls = tls_context(config.smtp.tls_certificate, config.smtp.tls_key)
    ingress = SmtpIngress(config.smtp, intake, config.accepts_recipient)
    server = await start_smtp(config.smtp, ingress, smtp_tls, reuse_port=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if smtp_tls is not None:
        loop.add_signal_handler(signal.SIGHUP, reload_tls, smtp_tls, config)
    log.info("intake.listening", smtp=f"{config.smtp.host}:{config.smtp.port}")
    await asyncio.wait(
        [asyncio.create_task(stop.wait()), asyncio.create_task(intake.gone.wait())],
        return_when=asyncio.FIRST_COMPLETED,
    )
    server.close()
    if not stop.is_set():
        log.error("intake.committer_gone")
        return 1
    await server.wait_closed()
    await intake.close()
    return 0


async def serve(config: Config) -> None:
    """Run intake (SMTP, HTTP) and, on the embedded broker, the workers, until a signal."""
    mailroom = build_mailroom(config)
    swept = mailroom.services.blobs.sweep_tmp(older_than_seconds=3600) + sweep_maildirs(
        [d.maildir for d in config.departments.values()] + [config.outbox.maildir], 3600
    )
    smtp_tls = None
    if config.smtp.starttls != "off":
        smtp_tls = tls_context(config.smtp.tls_certificate, config.smtp.tls_key)
    smtp_server = None
    if config.smtp.processes == 1:
        ingress = SmtpIngress(config.smtp, mailroom.intake, config.accepts_recipient)
        smtp_server = await start_smtp(config.smtp, ingress, smtp_tls)
    http = uvicorn.Server(
        uvicorn.Config(
            web_app(mailroom),
            host=config.http.host,
            port=config.http.port,
            log_config=None,
            access_log=False,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    intakes: list[subprocess.Popen[bytes]] = []
    if smtp_tls is not None:
        loop.add_signal_handler(signal.SIGHUP, reload_tls, smtp_tls, config, intakes)
    http_task = asyncio.create_task(http.serve())
    keeper = None
    if smtp_server is None:
        keeper = asyncio.create_task(keep_intakes(config, mailroom.intake, intakes, stop))
    with contextlib.ExitStack() as stack:
        if config.broker.kind == "embedded":
            stack.enter_context(embedded_worker(mailroom))
        reconciler = asyncio.create_task(reconcile_forever(mailroom, stop))
        refresher = asyncio.create_task(refresh_trusted_lists_forever(mailroom, stop))
        log.info(
            "poststelle.listening",
            smtp=f"{config.smtp.host}:{config.smtp.port}",
            starttls=config.smtp.starttls,
            http=f"http://{config.http.host}:{config.http.port}/",
            broker=config.broker.kind,
            store=config.store.backend,
            data_dir=str(config.data_dir),
            swept_temp_files=swept,
            scanner=config.scanner.kind,
        )
        if mailroom.services.scanner is None:
            log.warning("scanner.none", detail="no malware scanner is configured ([scanner])")
        await stop.wait()
        log.info("poststelle.stopping")
        if smtp_server is not None:
            smtp_server.close()
            await smtp_server.wait_closed()
        http.should_exit = True
        await http_task
        await reconciler
        await refresher
        if keeper is not None:
            await keeper
    mailroom.services.store.close()


def run_worker(config: Config) -> None:
    """A worker process for the Redis broker: run stages until SIGTERM."""
    mailroom = build_mailroom(config)
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        with embedded_worker(mailroom):
            log.info("poststelle.worker_started", queues=mailroom.pipeline.queues)
            await stop.wait()

    asyncio.run(main())
    mailroom.services.store.close()
