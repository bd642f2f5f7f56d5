"""File permissions of the data directory, and no secret in the log."""

from __future__ import annotations

import os
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import DOMAIN, Installation, Server, poststelle, wait_for
from tests.e2e.test_walking_skeleton import message, send

PASSWORD = "Kennwort-7fQ!x9-geheim"
WRONG_PASSWORD = "Falsch-3kZ?p2-geheim"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose(paths: list[Path], wanted: int) -> list[str]:
    return [f"{p} {oct(mode(p))}" for p in paths if mode(p) & ~wanted]


def test_the_data_directory_is_0700_and_what_it_stores_0600(
    installation: Installation, start: Callable[..., Server]
) -> None:
    start(installation).wait_listening()
    send(installation, f"bauamt@{DOMAIN}", message(f"bauamt@{DOMAIN}"))
    inbox = installation.inbox("bauamt")
    wait_for(lambda: len(installation.maildir_messages(inbox)) == 1, 30, "the delivery")
    outbox = installation.data / "outbox"
    wait_for(lambda: len(installation.maildir_messages(outbox)) == 1, 30, "the receipt")

    data = installation.data
    blob_store = data / "blobs"
    blobs = [p for p in blob_store.rglob("*") if p.is_file()]
    mails = installation.maildir_messages(inbox) + installation.maildir_messages(outbox)
    assert blobs and mails
    assert mode(data) == 0o700
    assert loose([blob_store, *(p for p in blob_store.rglob("*") if p.is_dir())], 0o700) == []
    assert loose(blobs, 0o600) == []
    assert loose(mails, 0o600) == []
    assert loose([p.parent for p in mails], 0o700) == []


def test_every_directory_under_data_is_0700_and_the_database_0600(
    installation: Installation, start: Callable[..., Server]
) -> None:
    start(installation).wait_listening()
    send(installation, f"bauamt@{DOMAIN}", message(f"bauamt@{DOMAIN}"))
    inbox = installation.inbox("bauamt")
    wait_for(lambda: len(installation.maildir_messages(inbox)) == 1, 30, "the delivery")
    data = installation.data
    directories = [data, *(p for p in data.rglob("*") if p.is_dir())]
    database = [p for p in data.glob("poststelle.sqlite3*") if p.is_file()]
    assert database
    problems = loose(directories, 0o700) + loose(database, 0o600)
    assert problems == []


def test_no_secret_appears_in_the_log(
    installation: Installation, start: Callable[..., Server]
) -> None:
    config = installation.config
    os.environ["POSTSTELLE_PASSWORD"] = PASSWORD
    try:
        cli = poststelle("user", "add", "--role", "clerk", "anna", config=config)
    finally:
        del os.environ["POSTSTELLE_PASSWORD"]
    created = poststelle(
        "api-token",
        "create",
        "--scope",
        "department",
        "--department",
        "bauamt",
        "fachverfahren",
        config=config,
    )
    found = re.search(r"^(pst_\S+)$", created, re.M)
    assert found, created
    token = found.group(1)
    server = start(installation).wait_listening()
    base = f"http://127.0.0.1:{installation.http_port}"

    def post_login(password: str) -> int:
        form = urllib.parse.urlencode({"benutzer": "anna", "kennwort": password}).encode()
        request = urllib.request.Request(f"{base}/anmelden", data=form, method="POST")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            return int(opener.open(request, timeout=20).status)
        except urllib.error.HTTPError as error:
            return error.code

    assert post_login(WRONG_PASSWORD) == 401
    assert post_login(PASSWORD) == 303
    api = urllib.request.Request(
        f"{base}/api/v1/inbox/items", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(api, timeout=20) as response:
        assert response.status == 200
    bad = urllib.request.Request(
        f"{base}/api/v1/inbox/items", headers={"Authorization": f"Bearer {token}x"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=20)
    assert refused.value.code == 401
    send(installation, f"bauamt@{DOMAIN}", message(f"bauamt@{DOMAIN}"))
    wait_for(
        lambda: len(installation.maildir_messages(installation.inbox("bauamt"))) == 1,
        30,
        "the delivery",
    )
    server.stop()

    token_secret = token.split("_", 2)[-1]
    keys = [p.read_text() for p in (installation.root / "pki").glob("*.key")]
    key_bodies = [line for k in keys for line in k.splitlines()[1:-1] if len(line) > 20]
    for name, text in (("serve log", server.output()), ("CLI output", cli + created)):
        shown_once = name == "CLI output"
        assert PASSWORD not in text, f"the password is in the {name}"
        assert WRONG_PASSWORD not in text, f"a tried password is in the {name}"
        assert shown_once or token_secret not in text, f"the API token is in the {name}"
        assert "PRIVATE KEY" not in text, f"a private key is in the {name}"
        assert not [b for b in key_bodies if b in text], f"private key material in the {name}"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
