"""S/MIME: the signature layers of a whole message (detached and opaque), bound to its sender."""

from __future__ import annotations

from poststelle.verification.cms_signatures import format_failure, verify_signed_data
from poststelle.verification.formats import VerificationContext
from poststelle.verification.model import SignatureFormat, SignatureReport, SubIndication
from poststelle.verification.unwrap import LayerKind, SmimeLayer, Unwrapped

_FORMATS = {
    LayerKind.SIGNED_DETACHED: SignatureFormat.SMIME_DETACHED,
    LayerKind.SIGNED_OPAQUE: SignatureFormat.SMIME_OPAQUE,
}


def canonical(content: bytes) -> bytes:
    """RFC 8551 3.1.1: what is signed is the entity with CRLF line ends."""
    return content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def attesting_layers(unwrapped: Unwrapped) -> tuple[list[SmimeLayer], list[str]]:
    """The signature layers that attest the readable content, and notes on those that do not:
    a signature around an encrypted layer covers ciphertext, which its signer need not have
    been able to read (a relay, a gateway), so it says nothing about the content."""
    innermost_encryption = max(
        (layer.depth for layer in unwrapped.layers if layer.kind is LayerKind.ENCRYPTED),
        default=-1,
    )
    counted, notes = [], []
    for layer in unwrapped.layers:
        if layer.kind is LayerKind.ENCRYPTED:
            continue
        if layer.depth < innermost_encryption:
            notes.append(
                f"S/MIME-Ebene {layer.depth + 1}: Signatur über verschlüsselten Inhalt; "
                "sie bezeugt den Inhalt nicht und wird nicht gewertet."
            )
            continue
        counted.append(layer)
    return counted, notes


async def verify_layers(
    unwrapped: Unwrapped, context: VerificationContext
) -> tuple[SignatureReport, ...]:
    """Every signature layer that attests the content, outermost first. Each signer must be
    the sender (the From address): a forwarded signature of someone else goes to the clerk."""
    reports: list[SignatureReport] = []
    counted, _ = attesting_layers(unwrapped)
    for layer in counted:
        fmt = _FORMATS[layer.kind]
        label = f"S/MIME-Ebene {layer.depth + 1}"
        if layer.problem:
            reports.append(format_failure(fmt, layer.problem, label))
            continue
        found = await verify_signed_data(
            layer.signed_content,
            layer.cms_der,
            context,
            fmt=fmt,
            field_name=label,
            bind_to_sender=True,
        )
        normalised = canonical(layer.signed_content)
        if normalised != layer.signed_content and any(
            r.sub_indication is SubIndication.HASH_FAILURE for r in found
        ):
            found = await verify_signed_data(
                normalised,
                layer.cms_der,
                context,
                fmt=fmt,
                field_name=label,
                bind_to_sender=True,
            )
        reports += found
    return tuple(reports)
