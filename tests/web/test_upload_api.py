"""The portal upload API: durable 201 with a registry number, idempotent retries, and a
problem document with a stable type for every refusal."""

from __future__ import annotations

import errno
import hashlib
from email import message_from_bytes, policy
from typing import Any

import pytest

from poststelle.accounts import Scope
from poststelle.model import Channel
from poststelle.store.spool import Spool
from tests.web.conftest import Site

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def submit(
    site: Site,
    *,
    token: str | None = None,
    data: dict[str, str] | None = None,
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    fields = {"procedure": "bauantrag", "reply_to": "erika@example.org", "sender_name": "Erika"}
    return site.client.post(
        "/api/v1/submissions",
        data=fields | (data or {}),
        files=files
        if files is not None
        else [("document", ("antrag.pdf", PDF, "application/pdf"))],
        headers={"Authorization": f"Bearer {token or site.upload_token}", **(headers or {})},
    )


def test_a_submission_is_stored_before_the_201_and_carries_its_documents(site: Site) -> None:
    answer = submit(
        site,
        data={"sender_name": "Erika Müller", "reference": "Az. 4711"},
        files=[
            ("document", ("Bauantrag Müller.pdf", PDF, "application/pdf")),
            ("document", ("lageplan.png", b"\x89PNG\r\n\x1a\nplan", "image/png")),
        ],
    )

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert answer.headers["location"] == f"/api/v1/submissions/{body['registry_number']}"
    item = site.store.item_by_registry_number(body["registry_number"])
    assert item is not None
    assert item.channel is Channel.UPLOAD
    assert item.envelope.sender == "erika@example.org"
    assert item.envelope.metadata["procedure"] == "bauantrag"
    message = message_from_bytes(
        site.mailroom.services.blobs.read(item.sha256), policy=policy.default
    )
    assert str(message["From"]) == "Erika Müller <erika@example.org>"
    assert "Az. 4711" in str(message["Subject"])
    attachments = {
        part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()
    }
    assert (
        hashlib.sha256(attachments["Bauantrag Müller.pdf"]).hexdigest()
        == hashlib.sha256(PDF).hexdigest()
    )
    assert attachments["lageplan.png"] == b"\x89PNG\r\n\x1a\nplan"


def test_a_file_name_with_line_breaks_is_kept_on_one_line(site: Site) -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="procedure"\r\n\r\nbauantrag\r\n'
        b'--b\r\nContent-Disposition: form-data; name="reply_to"\r\n\r\nerika@example.org\r\n'
        b'--b\r\nContent-Disposition: form-data; name="document"; '
        b'filename="antrag\xc2\x85\x0bBcc: x@y.z.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        + PDF
        + b"\r\n--b--\r\n"
    )
    answer = site.client.post(
        "/api/v1/submissions",
        content=body,
        headers={
            "Authorization": f"Bearer {site.upload_token}",
            "Content-Type": "multipart/form-data; boundary=b",
        },
    )
    assert answer.status_code == 201, answer.text
    item = site.store.item_by_registry_number(answer.json()["registry_number"])
    assert item is not None
    message = message_from_bytes(
        site.mailroom.services.blobs.read(item.sha256), policy=policy.default
    )
    assert [p.get_filename() for p in message.iter_attachments()] == [
        "antrag\ufffd\ufffdBcc: x@y.z.pdf"
    ]
    assert "Bcc" not in message


def test_the_uploading_token_can_follow_its_submission_and_no_other(site: Site) -> None:
    number = submit(site).json()["registry_number"]
    mine = site.client.get(
        f"/api/v1/submissions/{number}", headers={"Authorization": f"Bearer {site.upload_token}"}
    )
    assert mine.status_code == 200
    assert (mine.json()["procedure"], mine.json()["registry_number"]) == ("bauantrag", number)
    other, _ = site.accounts.create_token("anderes-portal", frozenset({Scope.UPLOAD}))
    theirs = site.client.get(
        f"/api/v1/submissions/{number}", headers={"Authorization": f"Bearer {other}"}
    )
    assert theirs.status_code == 404


def test_a_retried_upload_with_the_same_key_gets_the_first_answer(site: Site) -> None:
    key = {"Idempotency-Key": "portal-7f3a"}
    first = submit(site, headers=key)
    again = submit(site, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["registry_number"] == first.json()["registry_number"]
    assert len(site.store.items(channel=Channel.UPLOAD)) == 1


def test_the_same_key_with_a_different_request_is_a_conflict(site: Site) -> None:
    key = {"Idempotency-Key": "portal-7f3b"}
    assert submit(site, headers=key).status_code == 201
    changed = submit(site, headers=key, data={"reference": "anders"})
    assert changed.status_code == 409
    assert changed.json()["type"] == "/problems/idempotency-conflict"
    assert len(site.store.items(channel=Channel.UPLOAD)) == 1


@pytest.mark.parametrize(
    ("change", "status", "problem"),
    [
        ({"token": "pst_unknown"}, 401, "unauthenticated"),
        ({"data": {"procedure": "mondlandung"}}, 422, "unknown-procedure"),
        ({"data": {"reply_to": "keine adresse"}}, 422, "invalid-field"),
        ({"data": {"sender_name": "Erika\r\nBcc: alle@example.org"}}, 422, "invalid-field"),
        ({"files": [("note", (None, b"ohne Dokument", "text/plain"))]}, 422, "missing-document"),
        (
            {"files": [("document", ("setup.exe", b"MZ\x90\x00", "application/x-msdownload"))]},
            415,
            "type-not-accepted",
        ),
        (
            {
                "files": [
                    ("document", ("riesig.pdf", b"x" * (50 * 1024 * 1024 + 1), "application/pdf"))
                ]
            },
            413,
            "too-large",
        ),
    ],
)
def test_each_refusal_is_a_problem_document(
    site: Site, change: dict[str, Any], status: int, problem: str
) -> None:
    answer = submit(site, **change)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert (body["type"], body["status"]) == (f"/problems/{problem}", status)
    assert body["detail"]
    assert site.store.items(channel=Channel.UPLOAD) == []
    assert list((site.mailroom.config.data_dir / "blobs" / "tmp").iterdir()) == []


def test_a_department_token_may_not_upload(site: Site) -> None:
    answer = submit(site, token=site.bauamt_token)
    assert answer.status_code == 403
    assert answer.json()["type"] == "/problems/forbidden"


def test_a_body_that_is_not_multipart_is_a_malformed_request(site: Site) -> None:
    answer = site.client.post(
        "/api/v1/submissions",
        content=b"procedure=bauantrag",
        headers={
            "Authorization": f"Bearer {site.upload_token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert answer.status_code == 400
    assert answer.json()["type"] == "/problems/malformed-request"


def test_every_problem_type_is_documented_at_its_url(site: Site) -> None:
    from poststelle.web.problems import ProblemType

    for kind in ProblemType:
        page = site.client.get(kind.uri)
        assert page.status_code == 200
        assert kind.title in page.text


def test_the_receipt_is_offered_once_it_is_made(site: Site) -> None:
    body = submit(site).json()
    auth = {"Authorization": f"Bearer {site.upload_token}"}
    pending = site.client.get(body["receipt"], headers=auth)
    assert pending.status_code == 404
    assert pending.json()["type"] == "/problems/not-found"
    item = site.store.item_by_registry_number(body["registry_number"])
    assert item is not None
    content = b"From: poststelle@amt.test\r\nSubject: *Eingangsbest\xc3\xa4tigung*\r\n\r\nx\r\n"
    kept = site.mailroom.services.blobs.put(content)
    site.store.note(
        item.id,
        "confirmation.made",
        {"key": f"receipt/{item.registry_number}", "sha256": kept.sha256},
    )
    made = site.client.get(body["receipt"], headers=auth)
    assert (made.status_code, made.content) == (200, content)
    other, _ = site.accounts.create_token("anderes-portal", frozenset({Scope.UPLOAD}))
    assert (
        site.client.get(body["receipt"], headers={"Authorization": f"Bearer {other}"}).status_code
        == 404
    )


def test_a_full_disk_is_a_503_to_retry_and_nothing_is_half_kept(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(blobs: object) -> Spool:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Spool, "open", no_space)
    answer = submit(site)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "60"
    assert answer.json()["type"] == "/problems/unavailable"
    assert site.store.items(channel=Channel.UPLOAD) == []
