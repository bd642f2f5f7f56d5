"""The [scanner] section: "none" by default, clamd on a socket or address, errors by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from poststelle.config import ScannerSettings, load_config
from poststelle.tomlfile import TomlError
from tests.core.test_config import MINIMAL, write


def test_by_default_there_is_no_scanner_and_the_scan_stage_follows_analyse(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.scanner == ScannerSettings("none", None, None, 60.0)
    assert config.pipeline[1:5] == ("analyse", "scan", "channel", "verify")


def test_clamd_on_a_unix_socket(tmp_path: Path) -> None:
    text = MINIMAL + '\n[scanner]\nkind = "clamd"\nsocket = "run/clamd.sock"\ntimeout_seconds = 5\n'
    scanner = load_config(write(tmp_path, text)).scanner
    assert scanner == ScannerSettings("clamd", tmp_path / "run" / "clamd.sock", None, 5.0)


def test_clamd_on_a_tcp_address(tmp_path: Path) -> None:
    text = MINIMAL + '\n[scanner]\nkind = "clamd"\naddress = "127.0.0.1:3310"\n'
    scanner = load_config(write(tmp_path, text)).scanner
    assert (scanner.socket, scanner.address) == (None, ("127.0.0.1", 3310))


STAGES_WITHOUT_SCAN = '["stamp", "analyse", "verify", "decide", "confirm", "route", "deliver"]'


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ('[scanner]\nkind = "clamd"\n', "scanner.kind", "either socket"),
        (
            '[scanner]\nkind = "clamd"\nsocket = "/run/c.sock"\naddress = "127.0.0.1:3310"\n',
            "scanner.kind",
            "either socket",
        ),
        ('[scanner]\nkind = "clamd"\naddress = "clamd"\n', "scanner.address", "host:port"),
        ('[scanner]\nsocket = "/run/c.sock"\n', "scanner.socket", 'only used with kind = "clamd"'),
        ('[scanner]\nkind = "sophos"\n', "scanner.kind", "one of"),
        ("[scanner]\ntimeout_seconds = 0\n", "scanner.timeout_seconds", "positive"),
        ('[scanner]\nsockets = "/run/c.sock"\n', "scanner.sockets", "unknown key"),
        (
            f'[scanner]\nkind = "clamd"\nsocket = "/run/c.sock"\n'
            f"[pipeline]\nstages = {STAGES_WITHOUT_SCAN}\n",
            "pipeline.stages",
            "must include scan",
        ),
        ('[pipeline]\nstages = ["stamp", "scan", "analyse"]\n', "pipeline.stages", "analyse"),
        (
            '[pipeline]\nstages = ["analyse", "decide", "scan"]\n',
            "pipeline.stages",
            "before decide",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, change: str, key: str, message: str) -> None:
    path = write(tmp_path, MINIMAL + "\n" + change)
    with pytest.raises(TomlError) as caught:
        load_config(path)
    assert caught.value.key == key
    assert caught.value.line is not None
    assert message in caught.value.message


def test_without_a_scanner_an_older_pipeline_without_scan_still_loads(tmp_path: Path) -> None:
    text = MINIMAL + f"\n[pipeline]\nstages = {STAGES_WITHOUT_SCAN}\n"
    assert "scan" not in load_config(write(tmp_path, text)).pipeline
