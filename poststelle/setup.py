"""`poststelle init`: a working development installation in one directory."""

from __future__ import annotations

import shutil
from pathlib import Path

from poststelle.devpki import generate_development_pki

SHIPPED_POLICIES = Path(__file__).resolve().parents[1] / "policies"

DEPARTMENTS = {
    "hauptamt": "Hauptamt",
    "bauamt": "Bauamt",
    "ordnungsamt": "Ordnungsamt",
}


def development_config(
    *, domain: str, authority: str, smtp_port: int, http_port: int, pki: dict[str, str]
) -> str:
    departments = "\n".join(
        f'[departments.{key}]\ntitle = "{title}"\n' for key, title in DEPARTMENTS.items()
    )
    return f"""\
# Poststelle: development configuration written by `poststelle init`.
# Paths are relative to this file. See deploy/poststelle.example.toml for production settings.

[poststelle]
authority = "{authority}"
domains = ["{domain}"]
data_dir = "data"
log_format = "console"

[smtp]
listen = "127.0.0.1:{smtp_port}"
hostname = "{domain}"
starttls = "offered"
tls_certificate = "{pki["tls_certificate"]}"
tls_key = "{pki["tls_key"]}"
max_message_bytes = 26214400

[http]
listen = "127.0.0.1:{http_port}"

[store]
backend = "sqlite"

[broker]
kind = "embedded"
worker_threads = 4

[timestamp]
# The built-in time-stamp service: a development TSA, not qualified. Production points `url`
# at a qualified TSA and drops [timestamp.builtin].
url = "http://127.0.0.1:{http_port}/tsa"
trusted_certificates = ["{pki["tsa_certificate"]}"]

[timestamp.builtin]
key = "{pki["tsa_key"]}"
certificate = "{pki["tsa_certificate"]}"
policy_oid = "1.3.6.1.4.1.57264.2.1"

[pipeline]
stages = ["stamp", "analyse", "scan", "channel", "verify", "decide", "confirm", "route", "deliver"]

[policies]
routing = "policies/routing.toml"
procedures = "policies/procedures.toml"

[verification]
# Trust anchors for signatures (CA certificates, PEM or DER). Production lists the CAs of the
# qualified trust service providers; with none, every signature is INDETERMINATE for the clerk.
anchors = []
allow_fetching = true

[outbox]
kind = "maildir"
maildir = "data/outbox"

[receipts]
sender = "poststelle@{domain}"
seal_key = "{pki["seal_key"]}"
seal_certificate = "{pki["seal_certificate"]}"

{departments}"""


def initialise(
    directory: Path, *, domain: str, authority: str, smtp_port: int, http_port: int
) -> Path:
    """Write config, development keys and the example policies; return the config's path."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    config_path = directory / "poststelle.toml"
    if config_path.exists():
        raise FileExistsError(f"{config_path} exists already; not overwriting it")
    pki = generate_development_pki(
        directory / "pki", domain=domain, hostnames=[domain, "localhost"]
    )
    relative = {
        name: str(Path(getattr(pki, name)).relative_to(directory))
        for name in (
            "tls_certificate",
            "tls_key",
            "tsa_key",
            "tsa_certificate",
            "seal_key",
            "seal_certificate",
        )
    }
    policies = directory / "policies"
    policies.mkdir(exist_ok=True)
    for policy in SHIPPED_POLICIES.glob("*.toml"):
        shutil.copyfile(policy, policies / policy.name)
    config_path.write_text(
        development_config(
            domain=domain,
            authority=authority,
            smtp_port=smtp_port,
            http_port=http_port,
            pki=relative,
        ),
        encoding="utf-8",
    )
    config_path.chmod(0o600)
    return config_path
