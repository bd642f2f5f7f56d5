"""Configuration and routing policy: validated at start-up, errors name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from poststelle.config import load_config
from poststelle.routing import RoutingFacts, load_routing_policy
from poststelle.tomlfile import TomlError

MINIMAL = """\
[poststelle]
authority = "Stadt Test"
domains = ["amt.example"]

[timestamp]
url = "http://127.0.0.1:1/tsa"

[departments.bauamt]
title = "Bauamt"
"""


def write(tmp_path: Path, text: str, name: str = "poststelle.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_config_gets_the_embedded_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.store.backend == "sqlite"
    assert config.broker.kind == "embedded"
    assert config.data_dir == tmp_path / "data"
    assert config.departments["bauamt"].maildir == tmp_path / "data" / "inboxes" / "bauamt"
    assert config.pipeline[0] == "stamp"
    assert config.verification.revocation_cache_seconds == 300
    assert config.broker.idle_poll_ms == 250
    assert config.broker.shutdown_seconds == 20.0


def test_only_configured_domains_are_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.accepts_recipient("bauamt@AMT.example")
    assert not config.accepts_recipient("victim@elsewhere.example")
    assert not config.accepts_recipient("amt.example@elsewhere.example")


@pytest.mark.parametrize(
    ("change", "key", "line", "message"),
    [
        ('[smtp]\nlisten = "nowhere"\n', "smtp.listen", 12, "host:port"),
        ('[smtp]\nmax_message_bytes = "big"\n', "smtp.max_message_bytes", 12, "integer"),
        ('[smtp]\nstarttls = "maybe"\n', "smtp.starttls", 12, "one of"),
        ('[store]\nbackend = "postgresql"\n', "store.dsn", 11, "required"),
        ('[pipeline]\nstages = ["stamp", "teleport"]\n', "pipeline.stages[1]", 12, "teleport"),
        ("[smtp]\nlisten_port = 25\n", "smtp.listen_port", 12, "unknown key"),
        ("[broker]\nidle_poll_ms = 0\n", "broker.idle_poll_ms", 12, "at least 10"),
        (
            "[verification]\nrevocation_cache_seconds = -1\n",
            "verification.revocation_cache_seconds",
            12,
            "at least 0",
        ),
        ("[broker]\nshutdown_seconds = -5\n", "broker.shutdown_seconds", 12, "at least 0"),
    ],
)
def test_an_error_names_file_line_and_key(
    tmp_path: Path, change: str, key: str, line: int, message: str
) -> None:
    path = write(tmp_path, MINIMAL + "\n" + change)
    with pytest.raises(TomlError) as caught:
        load_config(path)
    error = caught.value
    assert (error.path, error.key, error.line) == (path, key, line)
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}: {key}: ")


def test_broken_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "\n[smtp\n")
    with pytest.raises(TomlError) as caught:
        load_config(path)
    assert caught.value.line == 11


RULES = """\
[[rule]]
name = "Bau"
department = "bauamt"
recipient = "bauamt@*"

[[rule]]
name = "Gewerbe"
department = "ordnungsamt"
subject = "(?i)gewerbe"
"""


def test_the_first_matching_rule_decides(tmp_path: Path) -> None:
    policy = load_routing_policy(write(tmp_path, RULES, "r.toml"), {"bauamt", "ordnungsamt"})
    decision = policy.route(
        RoutingFacts(("Bauamt@amt.example",), "a@example.org", "Gewerbeanmeldung")
    )
    assert (decision.department, decision.rule, decision.source) == ("bauamt", "Bau", "r.toml:1")


def test_a_subject_rule_matches_case_insensitively(tmp_path: Path) -> None:
    policy = load_routing_policy(write(tmp_path, RULES, "r.toml"), {"bauamt", "ordnungsamt"})
    decision = policy.route(RoutingFacts(("p@amt.example",), "a@example.org", "GEWERBE"))
    assert decision.department == "ordnungsamt" and decision.source == "r.toml:6"


def test_no_matching_rule_means_the_clerk(tmp_path: Path) -> None:
    policy = load_routing_policy(write(tmp_path, RULES, "r.toml"), {"bauamt", "ordnungsamt"})
    decision = policy.route(RoutingFacts(("p@amt.example",), "a@example.org", "Hallo"))
    assert decision.department is None and "no routing rule" in decision.reason


def test_a_rule_for_an_unknown_department_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, RULES, "r.toml")
    with pytest.raises(TomlError) as caught:
        load_routing_policy(path, {"bauamt"})
    assert (caught.value.key, caught.value.line) == ("rule[1].department", 8)


def test_a_bad_regular_expression_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, RULES.replace("(?i)gewerbe", "(unclosed"), "r.toml")
    with pytest.raises(TomlError) as caught:
        load_routing_policy(path, {"bauamt", "ordnungsamt"})
    assert (caught.value.key, caught.value.line) == ("rule[1].subject", 9)


def test_the_shipped_routing_policy_is_valid() -> None:
    shipped = Path(__file__).resolve().parents[2] / "policies" / "routing.toml"
    policy = load_routing_policy(shipped, {"bauamt", "ordnungsamt", "hauptamt"})
    assert len(policy.rules) == 5
    portal = RoutingFacts((), "erika@example.org", "Portal: Bauantrag", "bauantrag")
    assert policy.route(portal).department == "bauamt"
    assert policy.route(RoutingFacts((), "erika@example.org", "Portal", "")).department is None


def test_the_production_example_is_a_valid_configuration() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "poststelle.example.toml"
    config = load_config(example)
    assert (config.store.backend, config.broker.kind, config.outbox.kind) == (
        "postgresql",
        "redis",
        "relay",
    )
    assert config.smtp.starttls == "required"
