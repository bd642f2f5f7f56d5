"""Each validation context starts from the configured certificates without rebuilding them."""

from __future__ import annotations

from pyhanko_certvalidator.registry import CertificateRegistry

from poststelle.verification.trust import registry_copy
from tests.support.testpki import GeneratedPki


def test_a_copied_registry_finds_what_a_registry_built_afresh_finds(pki: GeneratedPki) -> None:
    configured = [pki.certificate("root"), pki.certificate("interm")]
    copy = registry_copy(CertificateRegistry.build(configured), cert_fetcher=None)
    fresh = CertificateRegistry.build(configured)
    assert list(copy) == list(fresh)
    for cert in configured:
        assert copy.retrieve_by_name(cert.subject) == fresh.retrieve_by_name(cert.subject)
        assert copy.retrieve_by_issuer_serial(cert.issuer_serial) is cert
        assert copy.retrieve_many_by_key_identifier(
            cert.key_identifier
        ) == fresh.retrieve_many_by_key_identifier(cert.key_identifier)
        assert copy.retrieve_many_by_key_hash(cert.public_key.sha1) == [cert]
        assert not copy.register(cert)  # known already


def test_what_one_context_registers_stays_out_of_the_others(pki: GeneratedPki) -> None:
    template = CertificateRegistry.build([pki.certificate("root")])
    first, second = registry_copy(template, None), registry_copy(template, None)
    signer = pki.certificate("qualified")
    assert first.register(signer)
    assert first.retrieve_by_name(signer.subject) == [signer]
    assert second.retrieve_by_name(signer.subject) == []
    assert template.retrieve_by_name(signer.subject) == []
    assert len(list(second)) == len(list(template)) == 1
