"""CAdES detached signatures: a `.p7s` file next to the document it signs."""

from __future__ import annotations

from collections.abc import Sequence

from poststelle.verification.cms_signatures import format_failure, verify_signed_data
from poststelle.verification.formats import DocumentInput, VerificationContext
from poststelle.verification.model import SignatureFormat, SignatureReport


def _signed_document(
    signature: DocumentInput, others: Sequence[DocumentInput]
) -> DocumentInput | None:
    stem = signature.name[: -len(".p7s")]
    same_name = [d for d in others if d.name == stem]
    if same_name:
        return same_name[0]
    candidates = [d for d in others if d is not signature and not d.name.lower().endswith(".p7s")]
    return candidates[0] if len(candidates) == 1 else None


class CadesDetached:
    name = "cades-detached"

    def claims(self, document: DocumentInput) -> bool:
        return document.name.lower().endswith(".p7s") and document.name.lower() != "smime.p7s"

    async def verify(
        self,
        document: DocumentInput,
        others: Sequence[DocumentInput],
        context: VerificationContext,
    ) -> tuple[SignatureReport, ...]:
        signed = _signed_document(document, others)
        if signed is None:
            return (
                format_failure(
                    SignatureFormat.CADES_DETACHED,
                    "the document this signature belongs to was not found",
                    document.name,
                ),
            )
        return await verify_signed_data(
            signed.data,
            document.data,
            context,
            fmt=SignatureFormat.CADES_DETACHED,
            field_name=f"{document.name} → {signed.name}",
        )
