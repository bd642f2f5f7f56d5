"""`poststelle init`: a development installation whose configuration loads and whose keys fit."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from poststelle.config import load_config
from poststelle.setup import initialise

LONG_DOMAIN = "poststelle.stadtverwaltung-musterstadt-an-der-musterach.example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return initialise(
        tmp_path_factory.mktemp("dev") / "dev",
        domain=LONG_DOMAIN,
        authority="Stadt Test",
        smtp_port=2525,
        http_port=8025,
    )


def test_the_written_configuration_loads(installed: Path) -> None:
    config = load_config(installed)
    assert config.domains == (LONG_DOMAIN,)
    assert config.timestamp.builtin is not None
    assert set(config.departments) == {"hauptamt", "bauamt", "ordnungsamt"}


def test_keys_and_configuration_are_private(installed: Path) -> None:
    pki = installed.parent / "pki"
    assert pki.stat().st_mode & 0o777 == 0o700
    for key in pki.glob("*.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    assert installed.stat().st_mode & 0o777 == 0o600


def test_the_tsa_certificate_is_for_time_stamping_only_and_says_it_is_not_qualified(
    installed: Path,
) -> None:
    cert = x509.load_pem_x509_certificate((installed.parent / "pki" / "tsa.crt").read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and list(usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert "nicht qualifiziert" in cert.subject.rfc4514_string()


def test_init_refuses_to_overwrite(installed: Path) -> None:
    with pytest.raises(FileExistsError):
        initialise(installed.parent, domain="x.example", authority="x", smtp_port=1, http_port=2)
