"""A test PKI made at test time with certomancer: EC keys, qcStatements, OCSP and CRLs.

Signers (certificate labels): `qualified` (qcStatements esign, alice@example.org), `plain`
(no qcStatements, bob@example.org), `seal` (qcStatements eseal), `revoked` (revoked
2026-03-01), `expired` (valid 2020-2022), `notyet` (valid from 2030), `demail-provider`
(a qualified seal of a De-Mail provider). OCSP, CRLs and a time-stamping authority (`tsa`, at
`tsa_url`) are served in-process through certomancer's AsyncIllusionist.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from certomancer.integrations.aiohttp_illusionist import AsyncIllusionist
from certomancer.registry import (
    ArchLabel,
    CertLabel,
    CertomancerConfig,
    KeyLabel,
    PKIArchitecture,
    ServiceLabel,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEYS = (
    "root",
    "interm",
    "ocsp",
    "qualified",
    "plain",
    "seal",
    "revoked",
    "expired",
    "notyet",
    "demail-provider",
    "tsa",
)


# Verification tests sign during the run (the signing time is then) and have the items arrive
# within the hour after collection, however long the suite takes to reach them.
RECEIVED = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


def _signer(
    issuer: str, valid: tuple[str, str], extensions: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "validity": {"valid-from": valid[0], "valid-to": valid[1]},
        "profiles": ["digsig-commitment"],
        "extensions": [
            {
                "id": "authority_information_access",
                "smart-value": {
                    "schema": "aia-urls",
                    "params": {"ocsp-responder-names": ["interm"]},
                },
            },
            {
                "id": "crl_distribution_points",
                "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": ["interm"]}},
            },
            *extensions,
        ],
    }


QC_ESIGN = [
    {
        "id": "qc_statements",
        "value": [
            {"statement_id": "qc_compliance"},
            {"statement_id": "qc_sscd"},
            {"statement_id": "qc_type", "statement_info": ["qct_esign"]},
        ],
    }
]
QC_ESEAL = [
    {
        "id": "qc_statements",
        "value": [
            {"statement_id": "qc_compliance"},
            {"statement_id": "qc_sscd"},
            {"statement_id": "qc_type", "statement_info": ["qct_eseal"]},
        ],
    }
]
LONG = ("2024-01-01T00:00:00+0000", "2035-01-01T00:00:00+0000")


def _config(key_dir: Path, url_prefix: str) -> dict[str, Any]:
    return {
        "external-url-prefix": url_prefix,
        "plugin-modules": ["pyhanko.sign.ades.qualified_asn1"],
        "keysets": {
            "poststelle": {
                "path-prefix": str(key_dir),
                "keys": {k: {"path": f"{k}.key.pem"} for k in KEYS},
            }
        },
        "pki-architectures": {
            "poststelle": {
                "keyset": "poststelle",
                "entity-defaults": {"country-name": "DE", "organization-name": "Test-PKI"},
                "entities": {
                    "root": {"common-name": "Test Root CA"},
                    "interm": {"common-name": "Test Qualified CA"},
                    "ocsp": {"common-name": "Test OCSP"},
                    "qualified": {
                        "common-name": "Alice Qualifiziert",
                        "email-address": "alice@example.org",
                    },
                    "plain": {"common-name": "Bob Einfach", "email-address": "bob@example.org"},
                    "seal": {"common-name": "Stadt Siegel", "organization-name": "Stadt Test"},
                    "revoked": {
                        "common-name": "Rita Widerrufen",
                        "email-address": "rita@example.org",
                    },
                    "expired": {
                        "common-name": "Erik Abgelaufen",
                        "email-address": "erik@example.org",
                    },
                    "notyet": {"common-name": "Nora Zukunft", "email-address": "nora@example.org"},
                    "demail-provider": {
                        "common-name": "De-Mail Provider Test",
                        "organization-name": "Provider GmbH",
                    },
                    "tsa": {"common-name": "Test Zeitstempeldienst"},
                },
                "certs": {
                    "root": {
                        "subject": "root",
                        "subject-key": "root",
                        "issuer": "root",
                        "authority-key": "root",
                        "validity": {
                            "valid-from": "2020-01-01T00:00:00+0000",
                            "valid-to": "2050-01-01T00:00:00+0000",
                        },
                        "profiles": [{"id": "simple-ca", "params": {"crl-repo": "root"}}],
                    },
                    "interm": {
                        "issuer": "root",
                        "validity": {
                            "valid-from": "2020-01-01T00:00:00+0000",
                            "valid-to": "2045-01-01T00:00:00+0000",
                        },
                        "profiles": [
                            {
                                "id": "simple-ca",
                                "params": {
                                    "max-path-len": 0,
                                    "crl-repo": "interm",
                                    "ocsp-service": "interm",
                                },
                            }
                        ],
                    },
                    "ocsp": {
                        "issuer": "interm",
                        "validity": {
                            "valid-from": "2020-01-01T00:00:00+0000",
                            "valid-to": "2045-01-01T00:00:00+0000",
                        },
                        "profiles": ["ocsp-responder"],
                    },
                    "qualified": _signer("interm", LONG, QC_ESIGN),
                    "plain": _signer("interm", LONG, []),
                    "seal": _signer("interm", LONG, QC_ESEAL),
                    "demail-provider": _signer("interm", LONG, QC_ESEAL),
                    "revoked": {
                        **_signer("interm", LONG, QC_ESIGN),
                        "revocation": {
                            "revoked-since": "2026-03-01T00:00:00+0000",
                            "reason": "key_compromise",
                        },
                    },
                    "expired": _signer(
                        "interm", ("2020-01-01T00:00:00+0000", "2022-01-01T00:00:00+0000"), QC_ESIGN
                    ),
                    "notyet": _signer(
                        "interm", ("2030-01-01T00:00:00+0000", "2035-01-01T00:00:00+0000"), QC_ESIGN
                    ),
                    "tsa": {
                        "issuer": "root",
                        "validity": {"valid-from": LONG[0], "valid-to": LONG[1]},
                        "extensions": [
                            {
                                "id": "extended_key_usage",
                                "critical": True,
                                "value": ["time_stamping"],
                            },
                            {
                                "id": "crl_distribution_points",
                                "smart-value": {
                                    "schema": "crl-dist-url",
                                    "params": {"crl-repo-names": ["root"]},
                                },
                            },
                        ],
                    },
                },
                "services": {
                    "ocsp": {
                        "interm": {
                            "for-issuer": "interm",
                            "responder-cert": "ocsp",
                            "signing-key": "ocsp",
                        }
                    },
                    "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"}},
                    "crl-repo": {
                        "root": {
                            "for-issuer": "root",
                            "signing-key": "root",
                            "simulated-update-schedule": "P90D",
                        },
                        "interm": {
                            "for-issuer": "interm",
                            "signing-key": "interm",
                            "simulated-update-schedule": "P7D",
                        },
                    },
                },
            }
        },
    }


@dataclass(frozen=True)
class GeneratedPki:
    arch: PKIArchitecture
    directory: Path

    @classmethod
    def build(cls, directory: Path, url_prefix: str = "http://pki.test") -> GeneratedPki:
        """`url_prefix` is where OCSP and CRLs are published (in the certificates' AIA and CRL
        distribution points): a name for in-process serving, or a loopback URL for `serve`."""
        key_dir = directory / "keys"
        key_dir.mkdir(parents=True, exist_ok=True)
        for name in KEYS:
            key = ec.generate_private_key(ec.SECP256R1())
            (key_dir / f"{name}.key.pem").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        config = CertomancerConfig(_config(key_dir, url_prefix), key_search_dir=str(key_dir))
        arch = config.get_pki_arch(ArchLabel("poststelle"))
        pki = cls(arch, directory)
        pki.root_path.write_bytes(pki.certificate("root").dump())
        return pki

    @property
    def root_path(self) -> Path:
        return self.directory / "root.der"

    @property
    def tsa_url(self) -> str:
        """Where the time-stamping authority answers RFC 3161 requests."""
        return str(self.arch.service_registry.get_tsa_info(ServiceLabel("tsa")).url)

    def certificate(self, label: str) -> asn1_x509.Certificate:
        return self.arch.get_cert(CertLabel(label))

    def private_key(self, label: str) -> keys.PrivateKeyInfo:
        return self.arch.key_set.get_private_key(KeyLabel(label))

    def crypto_key(self, label: str) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_der_private_key(self.private_key(label).dump(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def chain(self, label: str) -> list[asn1_x509.Certificate]:
        return [self.certificate(label), self.certificate("interm")]

    def pem_chain(self, label: str) -> bytes:
        from cryptography import x509

        return b"".join(
            x509.load_der_x509_certificate(c.dump()).public_bytes(serialization.Encoding.PEM)
            for c in self.chain(label)
        )


@contextlib.contextmanager
def serve_on_loopback(pki: GeneratedPki, port: int) -> Iterator[None]:
    """Serve the PKI's OCSP responder and CRLs on 127.0.0.1:port for other processes."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(AsyncIllusionist(pki.arch).build_app(), access_log=None)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
