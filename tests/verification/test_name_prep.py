"""Names compare as RFC 5280 says, whether their preparation is remembered or made anew."""

from __future__ import annotations

import pytest
from asn1crypto import x509

from poststelle.verification import name_prep

STRINGS = [
    "Stadt Musterhausen",
    "  STADT   musterhausen ",
    "Bürgeramt Köln",
    "BÜRGERAMT KÖLN",
    "ß Straße",
    "\u00a0Amt\u2003für Umwelt",
    "",
]


@pytest.mark.parametrize("string", STRINGS)
def test_a_remembered_preparation_equals_asn1crypto_s_own(string: str) -> None:
    assert name_prep.prepared(string) == name_prep._prepare(None, string)


def test_names_differing_in_case_and_spaces_are_equal_and_others_are_not() -> None:
    def name(common_name: str) -> x509.Name:
        return x509.Name.build({"common_name": common_name, "country_name": "DE"})

    assert name("Stadt Musterhausen") == name("  STADT   musterhausen ")
    assert name("Stadt Musterhausen") != name("Stadt Musterstadt")


def test_each_string_is_prepared_once() -> None:
    name_prep.prepared.cache_clear()
    for _ in range(3):
        assert x509.Name.build({"common_name": "Landratsamt Beispielkreis"}) == x509.Name.build(
            {"common_name": "landratsamt beispielkreis"}
        )
    info = name_prep.prepared.cache_info()
    assert info.misses == 2
    assert info.hits >= 4
