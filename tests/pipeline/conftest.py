"""Pipeline tests run on copies of the web tests' template installation, trusting a test PKI
served on loopback (its OCSP, CRLs and time-stamp authority)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.e2e.conftest import free_port
from tests.support.testpki import GeneratedPki, serve_on_loopback
from tests.web.conftest import site, template  # noqa: F401 - the shared fixtures


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeneratedPki]:
    port = free_port()
    built = GeneratedPki.build(tmp_path_factory.mktemp("pki"), f"http://127.0.0.1:{port}")
    with serve_on_loopback(built, port):
        yield built


def pem_file(pki: GeneratedPki, label: str, path: Path) -> Path:
    """The test PKI's certificate `label`, written to `path` as PEM."""
    der = pki.certificate(label).dump()
    path.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    return path


def trusting(pki: GeneratedPki, tmp_path: Path) -> Callable[[str], str]:
    """A config edit: the test PKI's root as anchor (its intermediate for De-Mail, whose
    messages carry only the provider's certificate), and its TSA for the confirmations."""
    intermediate = pem_file(pki, "interm", tmp_path / "interm.pem")
    tsa = pem_file(pki, "tsa", tmp_path / "tsa.pem")

    def edit(text: str) -> str:
        text = re.sub(r'(?m)^url = "http://127.0.0.1:\d+/tsa"', f'url = "{pki.tsa_url}"', text)
        text = re.sub(r"(?m)^trusted_certificates = .*$", f'trusted_certificates = ["{tsa}"]', text)
        return text.replace(
            "anchors = []",
            f'anchors = ["{pki.root_path}"]\nintermediates = ["{intermediate}"]',
            1,
        )

    return edit
