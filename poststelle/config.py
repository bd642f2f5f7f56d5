"""The one configuration file, read and validated at start-up into typed settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from poststelle.eid.settings import REQUIRABLE_LEVELS, EidSettings
from poststelle.tomlfile import Table, TomlDocument

STAGE_NAMES = (
    "stamp",
    "analyse",
    "scan",
    "channel",
    "verify",
    "decide",
    "confirm",
    "route",
    "deliver",
)


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"must be host:port, e.g. 127.0.0.1:2525; got {value!r}")
    return host.strip("[]"), int(port)


REVOCATION_CACHE_SECONDS = 300.0  # default of [verification] revocation_cache_seconds


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    hostname: str
    starttls: str  # "required", "offered" or "off"
    tls_certificate: Path
    tls_key: Path
    max_message_bytes: int
    timeout_seconds: int
    processes: int = 1  # above 1: serve starts that many intake processes on the port


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str
    port: int
    max_document_bytes: int  # per uploaded document, before any procedure's own limit
    max_request_bytes: int  # a whole upload request
    secure_cookies: bool  # the session cookie only over HTTPS (behind a TLS proxy: true)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    backend: str  # "sqlite" or "postgresql"
    dsn: str


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    kind: str  # "embedded" or "redis"
    url: str
    worker_threads: int
    reconcile_interval_seconds: float
    stale_after_seconds: float
    # Redis: an idle worker asks each queue at least this often (Dramatiq's worker_timeout):
    # per stage, an item waits up to this long; lower costs idle CPU (250 ms: ~4 % a process).
    idle_poll_ms: int = 250
    # On SIGTERM, stages still running get this long to finish; then the process ends without
    # them (Dramatiq would wait 10 minutes). Their items are stored and come back: on Redis
    # after the heartbeat timeout, on either broker through the reconciler.
    shutdown_seconds: float = 20.0


@dataclass(frozen=True, slots=True)
class BuiltinTsaSettings:
    key: Path
    certificate: Path
    policy_oid: str


@dataclass(frozen=True, slots=True)
class TimestampSettings:
    url: str
    trusted_certificates: tuple[Path, ...]
    builtin: BuiltinTsaSettings | None


@dataclass(frozen=True, slots=True)
class DepartmentSettings:
    key: str
    title: str
    maildir: Path


@dataclass(frozen=True, slots=True)
class RelaySettings:
    host: str
    port: int
    starttls: str  # "required", "opportunistic" or "off"
    username: str
    password_file: Path | None
    ca_file: Path | None
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    kind: str  # "maildir" or "relay"
    maildir: Path
    relay: RelaySettings | None


@dataclass(frozen=True, slots=True)
class ReceiptSettings:
    sender: str
    seal_key: Path
    seal_certificate: Path


@dataclass(frozen=True, slots=True)
class TrustedListSettings:
    """ETSI TS 119 612 trusted lists: the list of lists, national lists, and where to fetch."""

    lotl: Path | None  # the list of lists (LOTL) as a file; may be absent when `url` is set
    lists: tuple[Path, ...]  # national trusted lists as files
    pinned: tuple[Path, ...]  # PEM certificates that may sign the LOTL (Official Journal)
    cache_dir: Path  # fetched lists are stored here and read from here when offline
    url: str  # where the LOTL is published ("" = files only, never fetched)
    refresh_hours: float  # how often a scheduled refresh fetches the lists again


@dataclass(frozen=True, slots=True)
class VerificationSettings:
    anchors: tuple[Path, ...]  # trust anchors for signatures (CA certificates)
    intermediates: tuple[Path, ...]
    allow_fetching: bool  # OCSP/CRL online; revocation is always hard-fail
    retry_minutes: float  # TRY_LATER results are verified again after this long
    decryption_keys: tuple[tuple[Path, Path], ...]  # (PEM key, PEM certificate) pairs
    # None: qualified status from the certificates' own claims (qcStatements) only
    trusted_lists: TrustedListSettings | None = None
    # fetched OCSP responses and CRLs serve later items this long (at most to their next update)
    revocation_cache_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ScannerSettings:
    """The malware scanner: "none" records every item as not scanned; "clamd" asks clamd at
    `socket` (a UNIX socket) or `address` (host:port). clamd's StreamMaxLength must admit the
    largest document, or such items fail the scan and wait for the clerk."""

    kind: str  # "none" or "clamd"
    socket: Path | None
    address: tuple[str, int] | None
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    authority: str
    domains: tuple[str, ...]
    data_dir: Path
    log_format: str  # "console" or "json"
    smtp: SmtpSettings
    http: HttpSettings
    store: StoreSettings
    broker: BrokerSettings
    timestamp: TimestampSettings
    pipeline: tuple[str, ...]
    routing_policy: Path
    procedure_policy: Path
    verification: VerificationSettings
    departments: dict[str, DepartmentSettings]
    outbox: OutboxSettings
    receipts: ReceiptSettings
    scanner: ScannerSettings
    eid: EidSettings | None = None  # eID-identified submissions (SAML); None = not accepted

    def accepts_recipient(self, address: str) -> bool:
        _, _, domain = address.rpartition("@")
        return domain.lower() in self.domains


def load_config(path: Path) -> Config:
    """Read and validate the configuration; raise TomlError naming file, line and key."""
    doc = TomlDocument.load(path.resolve())
    root = doc.table(())
    root.reject_unknown(
        {
            "poststelle",
            "smtp",
            "http",
            "store",
            "broker",
            "timestamp",
            "pipeline",
            "policies",
            "departments",
            "outbox",
            "receipts",
            "verification",
            "scanner",
            "eid",
        }
    )
    main = root.sub("poststelle")
    main.reject_unknown({"authority", "domains", "data_dir", "log_format"})
    domains = tuple(d.lower() for d in main.texts("domains"))
    if not domains:
        doc.fail(("poststelle", "domains"), "must name at least one domain")
    data_dir = main.path("data_dir", "data")
    departments = _departments(root, data_dir)
    scanner = _scanner(root.sub("scanner"))
    return Config(
        path=doc.path,
        authority=main.text("authority"),
        domains=domains,
        data_dir=data_dir,
        log_format=main.choice("log_format", ("console", "json"), "console"),
        smtp=_smtp(root.sub("smtp")),
        http=_http(root.sub("http")),
        store=_store(root.sub("store")),
        broker=_broker(root.sub("broker")),
        timestamp=_timestamp(root.sub("timestamp")),
        pipeline=_pipeline(root.sub("pipeline"), scanner),
        routing_policy=_policies(root).path("routing", "policies/routing.toml"),
        procedure_policy=_policies(root).path("procedures", "policies/procedures.toml"),
        verification=_verification(root.sub("verification")),
        departments=departments,
        outbox=_outbox(root.sub("outbox"), data_dir),
        receipts=_receipts(root.sub("receipts"), domains[0]),
        scanner=scanner,
        eid=_eid(root.sub("eid")) if "eid" in root.values else None,
    )


def _policies(root: Table) -> Table:
    t = root.sub("policies")
    t.reject_unknown({"routing", "procedures"})
    return t


def _verification(t: Table) -> VerificationSettings:
    t.reject_unknown(
        {
            "anchors",
            "intermediates",
            "allow_fetching",
            "retry_minutes",
            "revocation_cache_seconds",
            "decryption_keys",
            "trusted_lists",
        }
    )
    cache_seconds = t.number("revocation_cache_seconds", REVOCATION_CACHE_SECONDS, minimum=0)
    base = t.doc.path.parent
    keys = []
    for entry in t.tables("decryption_keys"):
        entry.reject_unknown({"key", "certificate"})
        keys.append((entry.path("key"), entry.path("certificate")))
    has_lists = "trusted_lists" in t.values
    return VerificationSettings(
        anchors=tuple((base / p).resolve() for p in t.texts("anchors", [])),
        intermediates=tuple((base / p).resolve() for p in t.texts("intermediates", [])),
        allow_fetching=t.flag("allow_fetching", True),
        retry_minutes=t.number("retry_minutes", 15.0),
        decryption_keys=tuple(keys),
        trusted_lists=_trusted_lists(t.sub("trusted_lists")) if has_lists else None,
        revocation_cache_seconds=cache_seconds,
    )


def _trusted_lists(t: Table) -> TrustedListSettings:
    t.reject_unknown({"lotl", "lists", "pinned", "cache_dir", "url", "refresh_hours"})
    base = t.doc.path.parent
    url = t.text("url", "")
    if url and not url.startswith(("https://", "http://")):
        t.doc.fail((*t.key, "url"), f"must be an http(s) URL; got {url!r}")
    if not url and "lotl" not in t.values:
        t.doc.fail((*t.key, "lotl"), "is required unless url is set")
    pinned = t.texts("pinned")
    if not pinned:
        t.doc.fail((*t.key, "pinned"), "must name at least one certificate that signs the LOTL")
    refresh_hours = t.number("refresh_hours", 24.0)
    if refresh_hours <= 0:
        t.doc.fail((*t.key, "refresh_hours"), "must be positive")
    return TrustedListSettings(
        lotl=t.path("lotl") if "lotl" in t.values else None,
        lists=tuple((base / p).resolve() for p in t.texts("lists", [])),
        pinned=tuple((base / p).resolve() for p in pinned),
        cache_dir=t.path("cache_dir"),
        url=url,
        refresh_hours=refresh_hours,
    )


def _smtp(t: Table) -> SmtpSettings:
    t.reject_unknown(
        {
            "listen",
            "hostname",
            "starttls",
            "tls_certificate",
            "tls_key",
            "max_message_bytes",
            "timeout_seconds",
            "processes",
        }
    )
    host, port = t.parse("listen", "127.0.0.1:2525", _host_port)
    return SmtpSettings(
        host=host,
        port=port,
        hostname=t.text("hostname", "localhost"),
        starttls=t.choice("starttls", ("required", "offered", "off"), "offered"),
        tls_certificate=t.path("tls_certificate", "pki/tls.crt"),
        tls_key=t.path("tls_key", "pki/tls.key"),
        max_message_bytes=t.integer("max_message_bytes", 25 * 1024 * 1024, minimum=1024),
        timeout_seconds=t.integer("timeout_seconds", 300, minimum=1),
        processes=t.integer("processes", 1, minimum=1),
    )


def _http(t: Table) -> HttpSettings:
    t.reject_unknown({"listen", "max_document_bytes", "max_request_bytes", "secure_cookies"})
    host, port = t.parse("listen", "127.0.0.1:8025", _host_port)
    return HttpSettings(
        host,
        port,
        max_document_bytes=t.integer("max_document_bytes", 100 * 1024 * 1024, minimum=1),
        max_request_bytes=t.integer("max_request_bytes", 250 * 1024 * 1024, minimum=1),
        secure_cookies=t.flag("secure_cookies", False),
    )


def _store(t: Table) -> StoreSettings:
    t.reject_unknown({"backend", "dsn"})
    backend = t.choice("backend", ("sqlite", "postgresql"), "sqlite")
    dsn = t.text("dsn", "")
    if backend == "postgresql" and not dsn:
        t.doc.fail((*t.key, "dsn"), "is required when backend is postgresql")
    return StoreSettings(backend, dsn)


def _broker(t: Table) -> BrokerSettings:
    t.reject_unknown(
        {
            "kind",
            "url",
            "worker_threads",
            "reconcile_interval_seconds",
            "stale_after_seconds",
            "idle_poll_ms",
            "shutdown_seconds",
        }
    )
    return BrokerSettings(
        kind=t.choice("kind", ("embedded", "redis"), "embedded"),
        url=t.text("url", "redis://127.0.0.1:6379/0"),
        worker_threads=t.integer("worker_threads", 4, minimum=1),
        reconcile_interval_seconds=t.number("reconcile_interval_seconds", 5.0),
        stale_after_seconds=t.number("stale_after_seconds", 30.0),
        idle_poll_ms=t.integer("idle_poll_ms", 250, minimum=10),
        shutdown_seconds=t.number("shutdown_seconds", 20.0, minimum=0),
    )


def _timestamp(t: Table) -> TimestampSettings:
    t.reject_unknown({"url", "trusted_certificates", "builtin"})
    builtin = None
    if "builtin" in t.values:
        b = t.sub("builtin")
        b.reject_unknown({"key", "certificate", "policy_oid"})
        builtin = BuiltinTsaSettings(
            key=b.path("key", "pki/tsa.key"),
            certificate=b.path("certificate", "pki/tsa.crt"),
            policy_oid=b.text("policy_oid", "1.3.6.1.4.1.57264.2.1"),
        )
    trusted = tuple((t.doc.path.parent / p).resolve() for p in t.texts("trusted_certificates", []))
    return TimestampSettings(url=t.text("url"), trusted_certificates=trusted, builtin=builtin)


def _scanner(t: Table) -> ScannerSettings:
    t.reject_unknown({"kind", "socket", "address", "timeout_seconds"})
    kind = t.choice("kind", ("none", "clamd"), "none")
    timeout = t.number("timeout_seconds", 60.0)
    if timeout <= 0:
        t.doc.fail((*t.key, "timeout_seconds"), "must be positive")
    if kind == "none":
        for key in ("socket", "address"):
            if key in t.values:
                t.doc.fail((*t.key, key), 'is only used with kind = "clamd"')
        return ScannerSettings(kind, None, None, timeout)
    if ("socket" in t.values) == ("address" in t.values):
        t.doc.fail((*t.key, "kind"), 'clamd needs either socket = "/path" or address = "host:port"')
    socket = t.path("socket") if "socket" in t.values else None
    address = t.parse("address", "", _host_port) if "address" in t.values else None
    return ScannerSettings(kind, socket, address, timeout)


def _pipeline(t: Table, scanner: ScannerSettings) -> tuple[str, ...]:
    t.reject_unknown({"stages"})
    stages = t.texts("stages", list(STAGE_NAMES))
    for index, name in enumerate(stages):
        if name not in STAGE_NAMES:
            t.doc.fail(
                (*t.key, "stages", index),
                f"unknown stage {name!r} (known: {', '.join(STAGE_NAMES)})",
            )
    if len(set(stages)) != len(stages):
        t.doc.fail((*t.key, "stages"), "names a stage twice")
    if scanner.kind != "none" and "scan" not in stages:
        t.doc.fail((*t.key, "stages"), "must include scan when a scanner is configured")
    if "scan" in stages:
        if "analyse" not in stages or stages.index("analyse") > stages.index("scan"):
            t.doc.fail((*t.key, "stages"), "scan needs analyse before it")
        if "decide" in stages and stages.index("decide") < stages.index("scan"):
            t.doc.fail((*t.key, "stages"), "scan must come before decide")
    if "channel" in stages:
        later = [s for s in ("verify", "decide", "confirm", "route") if s in stages]
        if any(stages.index(s) < stages.index("channel") for s in later):
            t.doc.fail(
                (*t.key, "stages"), "channel must come before verify, decide, confirm, route"
            )
    return tuple(stages)


def _departments(root: Table, data_dir: Path) -> dict[str, DepartmentSettings]:
    result = {}
    for key, t in root.named_tables("departments").items():
        t.reject_unknown({"title", "maildir"})
        if not key.replace("-", "").replace("_", "").isalnum():
            t.doc.fail(t.key, "department keys may hold only letters, digits, - and _")
        maildir = t.path("maildir", str(data_dir / "inboxes" / key))
        result[key] = DepartmentSettings(key, t.text("title"), maildir)
    if not result:
        root.doc.fail(("departments",), "at least one department must be configured")
    return result


def _outbox(t: Table, data_dir: Path) -> OutboxSettings:
    t.reject_unknown({"kind", "maildir", "relay"})
    kind = t.choice("kind", ("maildir", "relay"), "maildir")
    relay = None
    if kind == "relay":
        r = t.sub("relay")
        r.reject_unknown(
            {"host", "port", "starttls", "username", "password_file", "ca_file", "timeout_seconds"}
        )
        password_file = r.optional_text("password_file")
        ca_file = r.optional_text("ca_file")
        relay = RelaySettings(
            host=r.text("host"),
            port=r.integer("port", 25, minimum=1),
            starttls=r.choice("starttls", ("required", "opportunistic", "off"), "required"),
            username=r.text("username", ""),
            password_file=r.path("password_file") if password_file else None,
            ca_file=r.path("ca_file") if ca_file else None,
            timeout_seconds=r.number("timeout_seconds", 30.0),
        )
    return OutboxSettings(kind, t.path("maildir", str(data_dir / "outbox")), relay)


def _receipts(t: Table, domain: str) -> ReceiptSettings:
    t.reject_unknown({"sender", "seal_key", "seal_certificate"})
    return ReceiptSettings(
        sender=t.text("sender", f"poststelle@{domain}"),
        seal_key=t.path("seal_key", "pki/seal.key"),
        seal_certificate=t.path("seal_certificate", "pki/seal.crt"),
    )


def _eid(t: Table) -> EidSettings:
    t.reject_unknown(
        {"idp_entity_id", "idp_certificate", "sp_entity_id", "clock_skew_seconds", "required_level"}
    )
    for key in ("idp_entity_id", "sp_entity_id"):
        if not t.text(key).strip():
            t.doc.fail((*t.key, key), "must not be empty")
    return EidSettings(
        idp_entity_id=t.text("idp_entity_id"),
        idp_certificate=t.path("idp_certificate"),
        sp_entity_id=t.text("sp_entity_id"),
        clock_skew_seconds=t.integer("clock_skew_seconds", 120, minimum=0),
        required_level=t.choice("required_level", REQUIRABLE_LEVELS, "high"),
    )
