"""A large upload is streamed to disk: the serve process's peak memory grows by a small
fraction of the document, and the document arrives whole."""

from __future__ import annotations

import email
import email.policy
import hashlib
import http.client
import json
from collections.abc import Callable, Iterator

from tests.e2e.conftest import Installation, Server, poststelle

SIZE = 45 * 1024 * 1024  # under the Bauantrag's 50 MB
CHUNK = 1024 * 1024
BOUNDARY = "poststelle-test-boundary"


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1])


def body() -> Iterator[bytes]:
    head = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("procedure", "bauantrag"), ("reply_to", "erika@example.org"))
    )
    yield (
        head + f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="document"; '
        'filename="plaene.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    block = (b"%PDF-1.4 " + bytes(range(256)) * 4096)[:CHUNK]
    for _ in range(SIZE // CHUNK):
        yield block
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_45_mb_upload_is_streamed_not_held(
    installation: Installation, start: Callable[..., Server]
) -> None:
    installation.edit_config(r"^stages = \[.*\]$", 'stages = ["stamp"]')  # intake alone
    token = poststelle(
        "api-token", "create", "portal", "--scope", "upload", config=installation.config
    )
    secret = next(word for word in token.split() if word.startswith("pst_"))
    server = start(installation).wait_listening()
    before = peak_rss_kib(server.process.pid)

    parts = list(body())
    length = sum(len(p) for p in parts)
    connection = http.client.HTTPConnection("127.0.0.1", installation.http_port, timeout=120)
    connection.putrequest("POST", "/api/v1/submissions")
    connection.putheader("Authorization", f"Bearer {secret}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    for part in parts:
        connection.send(part)
    answer = connection.getresponse()
    answer_body = answer.read()
    assert answer.status == 201, answer_body

    growth_mib = (peak_rss_kib(server.process.pid) - before) / 1024
    assert growth_mib < 0.5 * SIZE / CHUNK, f"peak RSS grew by {growth_mib:.1f} MiB"
    number = json.loads(answer_body)["registry_number"]
    status = json.loads(poststelle("status", number, "--json", config=installation.config))
    sha256 = status["item"]["sha256"]
    stored = installation.data / "blobs" / sha256[:2] / sha256[2:]
    message = email.message_from_bytes(stored.read_bytes(), policy=email.policy.default)
    (attachment,) = list(message.iter_attachments())
    sent = hashlib.sha256(b"".join(parts[1:-1])).hexdigest()
    assert hashlib.sha256(attachment.get_payload(decode=True)).hexdigest() == sent
