"""A mailroom built from a `poststelle init` installation, its web app, accounts and items."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from poststelle.accounts import Accounts, Role, Scope
from poststelle.config import load_config
from poststelle.daemon import Mailroom, build_mailroom, web_app
from poststelle.model import Channel, Envelope, Item, ItemState
from poststelle.pipeline.runner import run_stage
from poststelle.setup import initialise
from poststelle.stages import STAGES
from poststelle.store.sql import SqlStore

PASSWORD = "ein langes Kennwort 42"
DOMAIN = "amt.test"


@dataclass
class Site:
    mailroom: Mailroom
    client: TestClient
    accounts: Accounts
    upload_token: str
    bauamt_token: str
    hauptamt_token: str

    @property
    def store(self) -> SqlStore:
        return self.mailroom.services.store

    def item(
        self,
        department: str | None,
        state: ItemState,
        body: bytes = b"",
        recipient: str = f"poststelle@{DOMAIN}",
    ) -> Item:
        """An item in `state`, as the pipeline or a person would have left it."""
        raw = body or (
            b"From: buerger@example.org\r\nTo: poststelle@amt.test\r\nSubject: Antrag\r\n"
            b"Content-Type: text/plain\r\n\r\nIch beantrage etwas.\r\n"
        )
        blob = self.mailroom.services.blobs.put(raw)
        item = self.store.accept(
            channel=Channel.SMTP,
            envelope=Envelope("buerger@example.org", (recipient,)),
            blob=blob,
        )
        self.store.change_state(item.id, state, "test.prepared", {}, department=department)
        found = self.store.item(item.id)
        assert found is not None
        return found

    def run(self, item_id: str, *stages: str) -> None:
        """Run these stages for the item in this process, in order, as a worker would."""
        for stage in stages:
            run_stage(
                stage,
                item_id,
                services=self.mailroom.services,
                stages=STAGES,
                enqueue=lambda _stage, _item: None,
            )

    def login(self, username: str, client: TestClient | None = None) -> TestClient:
        browser = client or self.client
        answer = browser.post(
            "/anmelden",
            data={"benutzer": username, "kennwort": PASSWORD},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return browser

    def csrf(self, client: TestClient, page: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
        assert found, f"no CSRF token on {page}"
        return found.group(1)


@dataclass(frozen=True)
class Template:
    """An installation with accounts and tokens, made once and copied for every test."""

    root: Path
    tokens: tuple[str, str, str]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("template") / "poststelle"
    mailroom = build_mailroom(
        load_config(
            initialise(root, domain=DOMAIN, authority="Stadt Test", smtp_port=2525, http_port=8025)
        )
    )
    accounts = Accounts(mailroom.services.store)
    accounts.add_user("clerk", "Clara Clerk", PASSWORD, Role.CLERK)
    accounts.add_user("admin", "Adam Admin", PASSWORD, Role.ADMINISTRATOR)
    accounts.add_user("bau", "Berta Bau", PASSWORD, Role.DEPARTMENT, "bauamt")
    accounts.add_user("haupt", "Hanna Haupt", PASSWORD, Role.DEPARTMENT, "hauptamt")
    upload, _ = accounts.create_token("portal", frozenset({Scope.UPLOAD}))
    bauamt, _ = accounts.create_token("bau-fachverfahren", frozenset({Scope.DEPARTMENT}), "bauamt")
    hauptamt, _ = accounts.create_token("haupt", frozenset({Scope.DEPARTMENT}), "hauptamt")
    mailroom.services.store.close()
    return Template(root, (upload, bauamt, hauptamt))


@contextlib.contextmanager
def open_site(
    template: Template, root: Path, edit: Callable[[str], str] = lambda text: text
) -> Iterator[Site]:
    """A copy of the template installation, its configuration changed by `edit`."""
    shutil.copytree(template.root, root)
    config_path = root / "poststelle.toml"
    config_path.write_text(edit(config_path.read_text()))
    mailroom = build_mailroom(load_config(config_path))
    accounts = Accounts(mailroom.services.store)
    with TestClient(web_app(mailroom), base_url="http://testserver") as client:
        yield Site(mailroom, client, accounts, *template.tokens)
    mailroom.services.store.close()


@pytest.fixture
def site(template: Template, tmp_path: Path) -> Iterator[Site]:
    with open_site(template, tmp_path / "poststelle") as opened:
        yield opened
