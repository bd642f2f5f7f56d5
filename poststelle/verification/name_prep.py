"""asn1crypto's preparation of name strings for comparison, remembered per string.

asn1crypto compares distinguished names after RFC 4518 string preparation (case folding,
insignificant spaces), done character by character in Python and cached per parsed name only.
Every item brings its certificates parsed anew, so the names of the same signer and CAs were
prepared again for every signature: a fifth of an S/MIME check. The preparation is a pure
function of the string (the method does not use its instance), so its results are kept.
Importing this module installs it (as importing pyHanko's qualified_asn1 registers a schema).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asn1crypto import x509

CAPACITY = 8192

_prepare: Callable[[Any, str], str] = x509.NameTypeAndValue._ldap_string_prep


@functools.lru_cache(maxsize=CAPACITY)
def prepared(string: str) -> str:
    return _prepare(None, string)


def _remembered(_self: object, string: str) -> str:
    return prepared(string)


x509.NameTypeAndValue._ldap_string_prep = _remembered
