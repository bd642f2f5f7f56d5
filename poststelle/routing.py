"""Routing policy: which department an item goes to, by the first rule that matches."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from poststelle.tomlfile import TomlDocument


@dataclass(frozen=True, slots=True)
class RoutingFacts:
    """What a rule may look at."""

    recipients: tuple[str, ...]
    sender: str
    subject: str
    procedure: str = ""  # the procedure a portal submission names


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    department: str
    recipient: str | None
    sender_domain: str | None
    subject: re.Pattern[str] | None
    source: str  # file:line, for explanations
    procedure: str | None = None

    def matches(self, facts: RoutingFacts) -> bool:
        if self.procedure is not None and facts.procedure != self.procedure:
            return False
        if self.recipient is not None and not any(
            fnmatch.fnmatchcase(r.lower(), self.recipient) for r in facts.recipients
        ):
            return False
        if self.sender_domain is not None:
            domain = facts.sender.rpartition("@")[2].lower()
            if domain != self.sender_domain:
                return False
        return self.subject is None or self.subject.search(facts.subject) is not None


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    department: str | None  # None: the clerk's queue
    rule: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    rules: tuple[Rule, ...]

    def route(self, facts: RoutingFacts) -> RoutingDecision:
        for rule in self.rules:
            if rule.matches(facts):
                return RoutingDecision(
                    rule.department, rule.name, rule.source, f"rule {rule.name!r} matched"
                )
        return RoutingDecision(None, "", "", "no routing rule matched")


def load_routing_policy(path: Path, departments: Collection[str]) -> RoutingPolicy:
    """Read and validate the rules; errors name file, line and key."""
    doc = TomlDocument.load(path)
    root = doc.table(())
    root.reject_unknown({"rule"})
    rules: list[Rule] = []
    for t in root.tables("rule"):
        t.reject_unknown(
            {"name", "department", "recipient", "sender_domain", "subject", "procedure"}
        )
        department = t.text("department")
        if department not in departments:
            doc.fail(
                (*t.key, "department"),
                f"unknown department {department!r} (configured: {', '.join(sorted(departments))})",
            )
        subject = t.optional_text("subject")
        pattern = None
        if subject is not None:
            try:
                pattern = re.compile(subject)
            except re.error as exc:
                doc.fail((*t.key, "subject"), f"not a valid regular expression: {exc}")
        recipient = t.optional_text("recipient")
        sender_domain = t.optional_text("sender_domain")
        procedure = t.optional_text("procedure")
        if recipient is None and sender_domain is None and pattern is None and procedure is None:
            doc.fail(
                t.key, "a rule needs at least one of recipient, sender_domain, subject, procedure"
            )
        rules.append(
            Rule(
                name=t.text("name"),
                department=department,
                recipient=recipient.lower() if recipient else None,
                sender_domain=sender_domain.lower() if sender_domain else None,
                subject=pattern,
                source=f"{path.name}:{doc.line_of(t.key)}",
                procedure=procedure,
            )
        )
    _check_unique_names(doc, rules)
    return RoutingPolicy(tuple(rules))


def _check_unique_names(doc: TomlDocument, rules: Sequence[Rule]) -> None:
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in seen:
            doc.fail(("rule", index, "name"), f"rule name {rule.name!r} is used twice")
        seen.add(rule.name)
