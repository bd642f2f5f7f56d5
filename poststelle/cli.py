"""The `poststelle` command: set up, run, and inspect the mailroom."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from poststelle.config import Config, load_config
from poststelle.logs import configure_logging
from poststelle.tomlfile import TomlError

DEFAULT_CONFIG = "poststelle.toml"
T = TypeVar("T")


def _config(args: argparse.Namespace) -> Config:
    path = Path(args.config or os.environ.get("POSTSTELLE_CONFIG", DEFAULT_CONFIG))
    return load_config(path)


# Intake passes the GIL between the event loop and the committer thread at every syscall; a
# thread back from one waited up to Python's default 5 ms for a loop busy with other sessions.
# With 0.5 ms two intake processes took 5-10 % more messages in alternating runs (`python -m
# bench intake`), and a CPU-bound stage thread in the embedded default holds SMTP up for less.
GIL_SWITCH_SECONDS = 0.0005


def run_daemon(main: Coroutine[Any, Any, T]) -> T:
    """The long-running intake commands run on uvloop (libuv's event loop, in C): in
    alternating runs of `python -m bench intake` it took ~0.1 ms less CPU per message than
    asyncio's and 5-20 % more messages per second."""
    import uvloop

    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    return uvloop.run(main)


def cmd_init(args: argparse.Namespace) -> int:
    from poststelle.setup import initialise

    written = initialise(
        Path(args.directory),
        domain=args.domain,
        authority=args.authority,
        smtp_port=args.smtp_port,
        http_port=args.http_port,
    )
    print(f"Wrote a development configuration to {written}")
    print(f"Start it with:  poststelle --config {written} serve")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from poststelle.daemon import serve

    config = _config(args)
    configure_logging(config.log_format)
    _print_welcome(config)
    run_daemon(serve(config))
    return 0


def _print_welcome(config: Config) -> None:
    domain = config.domains[0]
    tls = "" if config.smtp.starttls == "off" else " --tls"
    print(
        f"Poststelle for {config.authority}\n"
        f"  SMTP  {config.smtp.host}:{config.smtp.port} (STARTTLS {config.smtp.starttls})\n"
        f"  HTTP  http://{config.http.host}:{config.http.port}/\n"
        f"  data  {config.data_dir}\n"
        f"Send a first message:\n"
        f"  swaks --to poststelle@{domain} --from buerger@example.org "
        f"--server {config.smtp.host}:{config.smtp.port}{tls}\n"
        f"Then: poststelle --config {config.path} status <registry number>\n"
        f"Web (Posteingang, department inboxes, API at /api/v1/openapi.json): "
        f"http://{config.http.host}:{config.http.port}/anmelden, after\n"
        f"  poststelle --config {config.path} user add <name> --role clerk",
        flush=True,
    )


def cmd_intake(args: argparse.Namespace) -> int:
    from poststelle.daemon import serve_intake

    config = _config(args)
    configure_logging(config.log_format)
    return run_daemon(serve_intake(config, args.committer_fd))


def cmd_worker(args: argparse.Namespace) -> int:
    from poststelle.daemon import run_worker
    from poststelle.supervisor import supervise

    config = _config(args)
    configure_logging(config.log_format)
    if args.processes == 1:
        run_worker(config)
        return 0
    return supervise(config.path, args.processes)


def cmd_status(args: argparse.Namespace) -> int:
    from poststelle.daemon import open_store
    from poststelle.status import render_status

    config = _config(args)
    store = open_store(config)
    item = store.item_by_registry_number(args.registry_number)
    if item is None:
        print(f"No item with registry number {args.registry_number}", file=sys.stderr)
        return 1
    print(render_status(store, item, config.pipeline, as_json=args.json))
    return 0


def cmd_receipt(args: argparse.Namespace) -> int:
    from email import message_from_bytes
    from email.policy import default

    from poststelle.daemon import open_store
    from poststelle.stages.confirm import made_confirmation
    from poststelle.store.blobs import BlobStore

    config = _config(args)
    store = open_store(config)
    item = store.item_by_registry_number(args.registry_number)
    sha256 = made_confirmation(store, item, f"receipt/{item.registry_number}") if item else None
    if item is None or sha256 is None:
        print(f"No receipt for {args.registry_number} (yet)", file=sys.stderr)
        return 1
    mail = BlobStore(config.data_dir / "blobs").read(sha256)
    if args.pdf:
        signed = message_from_bytes(mail, policy=default)
        pdfs = [
            payload
            for part in signed.walk()
            if part.get_content_type() == "application/pdf"
            and isinstance(payload := part.get_payload(decode=True), bytes)
        ]
        Path(args.pdf).write_bytes(pdfs[0])
        print(f"wrote the sealed receipt PDF to {args.pdf}")
        return 0
    sys.stdout.buffer.write(mail)
    return 0


def cmd_journal_verify(args: argparse.Namespace) -> int:
    from poststelle.daemon import open_store
    from poststelle.journal import verify_chain

    store = open_store(_config(args))
    verdict = verify_chain(store.journal(), expected_head=store.journal_head())
    if verdict.problem is None:
        print(f"Journal intact: {verdict.entries} entries, head {verdict.head_hash}")
        return 0
    print(
        f"JOURNAL DAMAGED at entry {verdict.problem.seq}: {verdict.problem.reason}\n"
        f"({verdict.entries} entries before it verified)",
        file=sys.stderr,
    )
    return 1


def cmd_blobs_orphans(args: argparse.Namespace) -> int:
    from poststelle.daemon import open_store
    from poststelle.store.blobs import BlobStore
    from poststelle.store.orphans import find_orphans, quarantine

    config = _config(args)
    blobs = BlobStore(config.data_dir / "blobs")
    orphans = find_orphans(open_store(config), blobs, args.older_than_hours * 3600)
    for orphan in orphans:
        where = quarantine(blobs, orphan) if args.quarantine else orphan.path
        print(f"{orphan.sha256}  {orphan.age_seconds / 3600:8.1f} h  {where}")
    moved = "moved to quarantine" if args.quarantine else "found (--quarantine moves them)"
    print(f"{len(orphans)} blob(s) no record refers to, {moved}", file=sys.stderr)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from poststelle.daemon import open_store
    from poststelle.serialize import from_jsonable
    from poststelle.stages.stamp import StampRecord

    store = open_store(_config(args))
    item = store.item_by_registry_number(args.registry_number)
    stamped = store.stage_result(item.id, "stamp") if item else None
    if stamped is None:
        print(f"No time-stamp token for {args.registry_number}", file=sys.stderr)
        return 1
    Path(args.output).write_bytes(from_jsonable(StampRecord, stamped.data).token_der)
    print(json.dumps({"registry_number": args.registry_number, "sha256": item and item.sha256}))
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    import getpass

    from poststelle.accounts import AccountError, Accounts, Role
    from poststelle.daemon import open_store

    config = _config(args)
    if args.department is not None and args.department not in config.departments:
        print(f"unknown department {args.department!r}", file=sys.stderr)
        return 2
    password = os.environ.get("POSTSTELLE_PASSWORD") or getpass.getpass("Passwort: ")
    try:
        user = Accounts(open_store(config)).add_user(
            args.username, args.name or args.username, password, Role(args.role), args.department
        )
    except AccountError as exc:
        print(f"not created: {exc}", file=sys.stderr)
        return 1
    print(f"created {user.role.value} {user.username}")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from poststelle.accounts import AccountError, Accounts, Scope
    from poststelle.daemon import open_store

    try:
        secret, token = Accounts(open_store(_config(args))).create_token(
            args.name, frozenset(Scope(s) for s in args.scope), args.department
        )
    except AccountError as exc:
        print(f"not created: {exc}", file=sys.stderr)
        return 1
    print(f"token id {token.id}; the secret is shown once:\n{secret}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from poststelle.accounts import Accounts
    from poststelle.daemon import open_store

    revoked = Accounts(open_store(_config(args))).revoke_token(args.token_id)
    print("revoked" if revoked else "no such active token")
    return 0 if revoked else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from datetime import datetime

    from poststelle.verification.command import exit_code, verify_files
    from poststelle.verification.protocol import (
        ProtocolHeader,
        conclusion,
        render_html,
        render_pdf,
        report_json,
    )
    from poststelle.verification.verifier import Verifier

    config = _config(args)
    files = [Path(f) for f in args.files]
    at = datetime.fromisoformat(args.at) if args.at else None
    report = asyncio.run(verify_files(files, Verifier.from_settings(config.verification), at=at))
    header = ProtocolHeader(title=", ".join(f.name for f in files))
    if args.html:
        Path(args.html).write_text(render_html(report, header), encoding="utf-8")
    if args.pdf:
        Path(args.pdf).write_bytes(render_pdf(report, header))
    if args.json:
        print(report_json(report))
    else:
        for document in report.documents:
            print(document.name)
            for signature in document.signatures:
                signer = signature.signer.subject if signature.signer else "unbekannt"
                print(f"  {signature.indication}/{signature.sub_indication or '-'}  {signer}")
                print(f"  {conclusion(signature)}")
        print(f"Gesamt: {report.verdict.value}")
    return exit_code(report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poststelle", description=__doc__)
    parser.add_argument(
        "--config", help=f"configuration file (default: $POSTSTELLE_CONFIG or {DEFAULT_CONFIG})"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write a development configuration and keys into DIR")
    init.add_argument("directory")
    init.add_argument("--domain", default="poststelle.localhost")
    init.add_argument("--authority", default="Musterbehörde (Entwicklung)")
    init.add_argument("--smtp-port", type=int, default=2525)
    init.add_argument("--http-port", type=int, default=8025)
    init.set_defaults(func=cmd_init)

    sub.add_parser("serve", help="run intake, HTTP and (embedded) workers").set_defaults(
        func=cmd_serve
    )
    intake = sub.add_parser(
        "intake", help="an SMTP intake process on the shared port (started by serve)"
    )
    intake.add_argument(
        "--committer-fd",
        type=int,
        required=True,
        help="the descriptor of the link to serve's committer, which serve hands its intakes",
    )
    intake.set_defaults(func=cmd_intake)

    worker = sub.add_parser("worker", help="run pipeline workers for the Redis broker")
    worker.add_argument("--processes", type=int, default=1)
    worker.set_defaults(func=cmd_worker)

    status = sub.add_parser("status", help="show an item's stages and history")
    status.add_argument("registry_number")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    journal = sub.add_parser("journal", help="journal commands")
    journal_sub = journal.add_subparsers(dest="journal_command", required=True)
    journal_sub.add_parser("verify", help="check the hash chain").set_defaults(
        func=cmd_journal_verify
    )

    blobs = sub.add_parser("blobs", help="the blob store")
    blobs_sub = blobs.add_subparsers(dest="blobs_command", required=True)
    orphans = blobs_sub.add_parser(
        "orphans", help="blobs no record refers to (left by a crash), optionally moved aside"
    )
    orphans.add_argument("--older-than-hours", type=float, default=24.0)
    orphans.add_argument("--quarantine", action="store_true", help="move them to blobs/orphans/")
    orphans.set_defaults(func=cmd_blobs_orphans)

    receipt = sub.add_parser(
        "receipt", help="the signed Eingangsbestätigung of an item (mail on stdout, or its PDF)"
    )
    receipt.add_argument("registry_number")
    receipt.add_argument("--pdf", metavar="FILE", help="write only the sealed PDF to FILE")
    receipt.set_defaults(func=cmd_receipt)

    user = sub.add_parser("user", help="accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser(
        "add", help="create an account (password from $POSTSTELLE_PASSWORD or asked)"
    )
    add.add_argument("username")
    add.add_argument("--role", choices=["administrator", "clerk", "department"], required=True)
    add.add_argument("--department")
    add.add_argument("--name", help="display name")
    add.set_defaults(func=cmd_user_add)

    api = sub.add_parser("api-token", help="API tokens for machine clients")
    api_sub = api.add_subparsers(dest="api_command", required=True)
    create = api_sub.add_parser("create")
    create.add_argument("name")
    create.add_argument("--scope", action="append", choices=["upload", "department"], required=True)
    create.add_argument("--department")
    create.set_defaults(func=cmd_token_create)
    revoke = api_sub.add_parser("revoke")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=cmd_token_revoke)

    verify = sub.add_parser(
        "verify",
        help="verify signatures in files (.eml, .p7s + document) against the configured trust",
        description="Exit code: 0 all signatures valid, 1 one invalid, 2 one indeterminate, "
        "3 nothing signed.",
    )
    verify.add_argument("files", nargs="+")
    verify.add_argument("--json", action="store_true", help="print the machine-readable report")
    verify.add_argument("--html", metavar="FILE", help="write the Prüfprotokoll as HTML")
    verify.add_argument("--pdf", metavar="FILE", help="write the Prüfprotokoll as PDF")
    verify.add_argument("--at", help="validation time (ISO 8601), default now")
    verify.set_defaults(func=cmd_verify)

    token = sub.add_parser("token", help="write an item's RFC 3161 time-stamp token to a file")
    token.add_argument("registry_number")
    token.add_argument("output")
    token.set_defaults(func=cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # everything Poststelle writes (data, keys, config) is for its own user only
    configure_logging()  # to stderr, so that what a command prints on stdout stays clean
    try:
        code: int = args.func(args)
    except TomlError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
