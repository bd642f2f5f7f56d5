"""The clamd client against a real clamd: verdicts, versions, chunking, limits and outages."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.clamd import ClamdAddress, ClamdScanner, parse_reply
from poststelle.ports import ScanFailed, ScannerUnavailable, ScanResult
from tests.e2e.conftest import free_port
from tests.scanning.conftest import FOUND_AS, Clamd, eicar

MB = 1024 * 1024


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_eicar_is_found_and_named(clamd: Clamd, tmp_path: Path) -> None:
    document = write(tmp_path / "rechnung.pdf", b"%PDF-1.4\n" + eicar() + b"\n%%EOF\n")
    result = ClamdScanner(clamd.address).scan_path(document)
    assert not result.clean
    assert result.signature == FOUND_AS
    assert result.scanner.startswith("ClamAV ")


def test_a_clean_document_passes_with_the_scanner_version(clamd: Clamd, tmp_path: Path) -> None:
    document = write(tmp_path / "antrag.pdf", b"%PDF-1.4\nein harmloser Antrag\n%%EOF\n")
    scanner = ClamdScanner(clamd.address)
    assert scanner.scan_path(document) == ScanResult(True, "", scanner.version())


def test_an_empty_document_is_scanned_too(clamd: Clamd, tmp_path: Path) -> None:
    assert ClamdScanner(clamd.address).scan_path(write(tmp_path / "leer", b"")).clean


def test_a_30_mb_document_is_streamed_in_chunks_to_its_end(clamd: Clamd, tmp_path: Path) -> None:
    body = os.urandom(30 * MB)
    scanner = ClamdScanner(clamd.address, chunk_bytes=64 * 1024)
    assert scanner.scan_path(write(tmp_path / "gross.bin", body)).clean
    # The signature sits in the last chunk: found only if every chunk arrived.
    infected = scanner.scan_path(write(tmp_path / "gross-am-ende.bin", body + eicar()))
    assert (infected.clean, infected.signature) == (False, FOUND_AS)
    # A signature split across two chunks is found as well.
    cut = 64 * 1024 - 10
    split = scanner.scan_chunks(iter([body[:cut] + eicar()[:10], eicar()[10:] + body[:100]]))
    assert not split.clean


def test_clamd_over_tcp(tmp_path: Path) -> None:
    port = free_port()
    running = Clamd.start(tmp_path, tcp_port=port)
    try:
        scanner = ClamdScanner(ClamdAddress(host="127.0.0.1", port=port))
        scanner.ping()
        assert scanner.scan_path(write(tmp_path / "x.txt", eicar())).signature == FOUND_AS
    finally:
        running.stop()


def test_over_the_stream_limit_is_a_failed_scan_not_clean(tmp_path: Path) -> None:
    running = Clamd.start(tmp_path, stream_max_length="1M")
    try:
        big = write(tmp_path / "gross.bin", os.urandom(4 * MB))
        with pytest.raises(ScanFailed, match="size limit"):
            ClamdScanner(running.address).scan_path(big)
    finally:
        running.stop()


def test_a_stopped_clamd_is_unavailable_never_clean(tmp_path: Path) -> None:
    running = Clamd.start(tmp_path)
    scanner = ClamdScanner(running.address, timeout=5)
    document = write(tmp_path / "antrag.pdf", b"%PDF-1.4")
    assert scanner.scan_path(document).clean
    running.stop()
    with pytest.raises(ScannerUnavailable, match="unreachable"):
        scanner.scan_path(document)
    with pytest.raises(ScannerUnavailable):
        scanner.ping()


def test_nothing_listening_on_tcp_is_unavailable(tmp_path: Path) -> None:
    scanner = ClamdScanner(ClamdAddress(host="127.0.0.1", port=free_port()), timeout=2)
    with pytest.raises(ScannerUnavailable, match=r"127\.0\.0\.1:\d+ is unreachable"):
        scanner.scan_path(write(tmp_path / "a", b"a"))


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections, reads everything, never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_clamd_that_does_not_answer_times_out(silent_server: int, tmp_path: Path) -> None:
    scanner = ClamdScanner(ClamdAddress(host="127.0.0.1", port=silent_server), timeout=0.5)
    with pytest.raises(ScannerUnavailable, match=r"did not answer within 0\.5s"):
        scanner.scan_path(write(tmp_path / "a", b"a"))


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("stream: OK", ScanResult(True)),
        ("stream: Win.Test.EICAR_HDB-1 FOUND", ScanResult(False, "Win.Test.EICAR_HDB-1")),
    ],
)
def test_replies_are_parsed(reply: str, expected: ScanResult) -> None:
    assert parse_reply(reply) == expected


@pytest.mark.parametrize(
    "reply",
    ["INSTREAM size limit exceeded. ERROR", "stream: FOUND", "PONG", "", "stream: maybe"],
)
def test_anything_else_is_a_failed_scan(reply: str) -> None:
    with pytest.raises(ScanFailed):
        parse_reply(reply)


def test_an_address_is_a_socket_or_a_host() -> None:
    with pytest.raises(ValueError, match="either"):
        ClamdAddress()
    with pytest.raises(ValueError, match="either"):
        ClamdAddress(Path("/run/clamd.sock"), host="127.0.0.1", port=3310)
    assert str(ClamdAddress(Path("/run/clamd.sock"))) == "unix:/run/clamd.sock"
