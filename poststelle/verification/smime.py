"""S/MIME: the signature layers of a whole message (detached and opaque), bound to its sender."""

from __future__ import annotations

from poststelle.verification.cms_signatures import format_failure, verify_signed_data
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import SignatureFormat, SignatureReport
from poststelle.verification.unwrap import LayerKind, Unwrapped

_FORMATS = {
    LayerKind.SIGNED_DETACHED: SignatureFormat.SMIME_DETACHED,
    LayerKind.SIGNED_OPAQUE: SignatureFormat.SMIME_OPAQUE,
}


async def verify_layers(
    unwrapped: Unwrapped, context: VerificationContext
) -> tuple[SignatureReport, ...]:
    """Every signature layer of the message, outermost first; encrypted layers are not
    signatures and are reported by the analysis, not here."""
    reports: list[SignatureReport] = []
    for layer in unwrapped.layers:
        if layer.kind is LayerKind.ENCRYPTED:
            continue
        fmt = _FORMATS[layer.kind]
        label = f"S/MIME-Ebene {layer.depth + 1}"
        if layer.problem:
            reports.append(format_failure(fmt, layer.problem, label))
            continue
        reports += await verify_signed_data(
            layer.signed_content,
            layer.cms_der,
            context,
            fmt=fmt,
            field_name=label,
            bind_to_sender=True,
        )
    return tuple(reports)
