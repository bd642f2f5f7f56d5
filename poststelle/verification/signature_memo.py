"""Signatures of certificates, CRLs and OCSP responses, checked once per process, not per item."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from asn1crypto import algos
from asn1crypto.keys import PublicKeyInfo
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    SignatureValidationContext,
    SignatureValidator,
)

from poststelle.verification.algorithms import WiderSignatureValidator

CAPACITY = 4096


class MemoizingSignatureValidator(SignatureValidator):
    """A signature check (pyHanko's, wider: `algorithms.py`), remembering the inputs that passed.

    Every item from the same signer makes pyHanko check the same signatures again: the
    intermediate's and the signer's certificate, the CRL, the OCSP response and its responder.
    A signature that verified over exactly these bytes with exactly this key and algorithm
    verifies again, so a pass is remembered under the digest of all four (and the context);
    a failure is never remembered, so it raises every time.
    """

    def __init__(self, inner: SignatureValidator | None = None, capacity: int = CAPACITY) -> None:
        self._inner = inner or WiderSignatureValidator()
        self._capacity = capacity
        self._passed: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        key = _key(signature, signed_data, public_key_info, signature_algorithm, context)
        with self._lock:
            if key in self._passed:
                self._passed.move_to_end(key)
                return
        self._inner.validate_signature(
            signature, signed_data, public_key_info, signature_algorithm, context
        )
        with self._lock:
            self._passed[key] = None
            if len(self._passed) > self._capacity:
                self._passed.popitem(last=False)


def _key(
    signature: bytes,
    signed_data: bytes,
    public_key_info: PublicKeyInfo,
    signature_algorithm: algos.SignedDigestAlgorithm,
    context: SignatureValidationContext,
) -> bytes:
    digest = hashlib.sha256()
    for part in (
        signature,
        signed_data,
        public_key_info.dump(),
        signature_algorithm.dump(),
        repr((context.contextual_md_algorithm, context.prehashed)).encode(),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()
