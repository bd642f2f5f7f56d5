"""Procedure policy: per procedure the required form, the means replacing it, what is accepted."""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from poststelle.model import Envelope
from poststelle.tomlfile import Table, TomlDocument


class Form(enum.StrEnum):
    SCHRIFTFORM = "schriftform"
    TEXTFORM = "textform"
    NONE = "keine"


class Means(enum.StrEnum):
    """The means of § 3a (2) VwVfG (and the state laws) a procedure may admit."""

    QES = "qes"  # qualified electronic signature on a document
    QUALIFIED_SEAL = "qualified_seal"  # declarations issued by authorities
    DEMAIL = "demail_absenderbestaetigt"  # § 5 (5) De-Mail-Gesetz
    EID_FORM = "eid_form"  # the authority's form + eID at level "hoch"


@dataclass(frozen=True, slots=True)
class Procedure:
    key: str
    title: str
    recipients: tuple[str, ...]  # shell patterns of envelope recipients this procedure serves
    form: Form
    means: tuple[Means, ...]
    accepted_types: tuple[str, ...]  # MIME types; "*/*" or "image/*" patterns allowed
    max_document_bytes: int
    requirements: str  # the technical requirements text for § 3a (3) notices
    source: str  # file:line
    delivery_record_to_sender: bool = False  # mail the sender the department's Zustellnachweis

    def serves(self, recipients: Sequence[str]) -> bool:
        return any(
            fnmatch.fnmatchcase(r.lower(), pattern)
            for r in recipients
            for pattern in self.recipients
        )

    def accepts_type(self, content_type: str) -> bool:
        return any(fnmatch.fnmatchcase(content_type.lower(), p) for p in self.accepted_types)


@dataclass(frozen=True, slots=True)
class ProcedurePolicy:
    procedures: tuple[Procedure, ...]
    default: Procedure

    def for_recipients(self, recipients: Sequence[str]) -> Procedure:
        """The first procedure serving one of the recipients, else the default."""
        return next((p for p in self.procedures if p.serves(recipients)), self.default)

    def by_key(self, key: str) -> Procedure | None:
        return next((p for p in (*self.procedures, self.default) if p.key == key), None)

    def for_envelope(self, envelope: Envelope) -> Procedure:
        """The procedure a portal submission names, else the one its recipients select."""
        named = self.by_key(envelope.metadata.get("procedure", ""))
        return named if named is not None else self.for_recipients(envelope.recipients)


def _procedure(t: Table, key: str, *, default: bool) -> Procedure:
    known = {
        "title",
        "form",
        "means",
        "accepted_types",
        "max_document_bytes",
        "requirements",
        "delivery_record_to_sender",
    }
    t.reject_unknown(known if default else known | {"key", "recipients"})
    form = Form(t.choice("form", tuple(f.value for f in Form), Form.SCHRIFTFORM.value))
    means_names = t.texts("means", [])
    means: list[Means] = []
    for index, name in enumerate(means_names):
        if name not in {m.value for m in Means}:
            t.doc.fail(
                (*t.key, "means", index),
                f"unknown means {name!r} (known: {', '.join(m.value for m in Means)})",
            )
        means.append(Means(name))
    if form is Form.SCHRIFTFORM and not means:
        t.doc.fail((*t.key, "means"), "a procedure requiring Schriftform must name its means")
    recipients = () if default else tuple(r.lower() for r in t.texts("recipients"))
    return Procedure(
        key=key,
        title=t.text("title"),
        recipients=recipients,
        form=form,
        means=tuple(means),
        accepted_types=tuple(t.texts("accepted_types")),
        max_document_bytes=t.integer("max_document_bytes", minimum=1),
        requirements=t.text("requirements").strip(),
        source=f"{t.doc.path.name}:{t.doc.line_of(t.key)}",
        delivery_record_to_sender=t.flag("delivery_record_to_sender", False),
    )


def load_procedure_policy(path: Path) -> ProcedurePolicy:
    """Read and validate `procedures.toml`; errors name file, line and key."""
    doc = TomlDocument.load(path)
    root = doc.table(())
    root.reject_unknown({"default", "procedure"})
    if "default" not in root.values:
        doc.fail(("default",), "a [default] procedure is required for items no procedure serves")
    default = _procedure(root.sub("default"), "default", default=True)
    procedures = []
    seen: set[str] = set()
    for t in root.tables("procedure"):
        key = t.text("key")
        if key in seen:
            doc.fail((*t.key, "key"), f"procedure key {key!r} is used twice")
        seen.add(key)
        procedures.append(_procedure(t, key, default=False))
    return ProcedurePolicy(tuple(procedures), default)
