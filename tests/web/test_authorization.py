"""Who may see what: every endpoint × every role × own or foreign department."""

from __future__ import annotations

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from poststelle.dossier import gather
from poststelle.model import Item, ItemState
from tests.web.conftest import Site

ROLES = ["clerk", "admin", "bau", "haupt", None]


def _browser(site: Site, username: str | None) -> TestClient:
    client = TestClient(site.client.app, base_url="http://testserver")
    return site.login(username, client) if username else client


def _routes(site: Site, prefix: str) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app under `prefix`."""
    found = []
    for route in site.client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith(prefix):
            found += [
                (method, route.path) for method in sorted(route.methods or ()) if method != "HEAD"
            ]
    return found


def _expected(username: str, method: str, path: str) -> int:
    """The answer each role gets, for an item acknowledged by the Bauamt."""
    desk = path.startswith("/posteingang")
    if username in ("clerk", "admin"):
        return (303 if method == "POST" else 200) if desk else 403
    if desk:
        return 403
    if path == "/abteilung" or username == "bau":
        return 303 if method == "POST" else 200
    return 404  # another department's item: as if it did not exist


@pytest.fixture
def acknowledged(site: Site) -> Item:
    """An item analysed and verified, delivered to the Bauamt, acknowledged there."""
    raw = (
        b"From: buerger@example.org\r\nTo: bauamt@amt.test\r\nSubject: Antrag\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nAnbei.\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b"filename=a.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n"
    )
    item = site.item(None, ItemState.RECEIVED, raw)
    site.run(item.id, "analyse", "scan", "channel", "verify")
    site.store.change_state(item.id, ItemState.DELIVERED, "test.delivered", {}, department="bauamt")
    answer = site.client.post(
        f"/api/v1/inbox/items/{item.id}/acknowledge",
        headers={"Authorization": f"Bearer {site.bauamt_token}"},
    )
    assert answer.json()["first"] is True
    found = site.store.item(item.id)
    assert found is not None
    return found


def _url(site: Site, template: str, item: Item) -> str:
    dossier = gather(site.store, item)
    return (
        template.replace("{item_id}", item.id)
        .replace("{sha256}", dossier.documents[-1].sha256)
        .replace("{part}", "xml")
    )


@pytest.mark.parametrize("username", ROLES)
def test_every_page_and_action_by_role_and_department(
    site: Site, acknowledged: Item, username: str | None
) -> None:
    routes = _routes(site, "/posteingang") + _routes(site, "/abteilung")
    assert len(routes) >= 16
    for method, template in routes:
        browser = _browser(site, username)
        csrf = (
            site.csrf(browser, "/posteingang" if username in ("clerk", "admin") else "/abteilung")
            if username
            else ""
        )
        url = _url(site, template, acknowledged)
        data = {"csrf": csrf, "abteilung": "bauamt", "begruendung": "Test"}
        answer = browser.request(
            method, url, data=data if method == "POST" else None, follow_redirects=False
        )
        if username is None:
            assert answer.status_code == 303, (method, template)
            assert answer.headers["location"].startswith("/anmelden")
            continue
        assert answer.status_code == _expected(username, method, template), (method, template)
        if answer.status_code >= 400:
            assert acknowledged.registry_number not in answer.text


def test_a_department_sees_only_its_items_in_its_list(site: Site) -> None:
    own = site.item("bauamt", ItemState.DELIVERED)
    foreign = site.item("hauptamt", ItemState.DELIVERED)
    waiting = site.item("bauamt", ItemState.NEEDS_REVIEW)
    page = _browser(site, "bau").get("/abteilung").text
    assert own.registry_number in page
    assert foreign.registry_number not in page
    assert waiting.registry_number not in page


def _api(site: Site, token: str | None, method: str, path: str) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return site.client.request(method, path, headers=headers).status_code


def test_department_api_by_token(site: Site, acknowledged: Item) -> None:
    routes = _routes(site, "/api/v1/inbox/items/")
    assert len(routes) == 5
    for method, template in routes:
        url = _url(site, template, acknowledged)
        assert _api(site, site.bauamt_token, method, url) == 200, (method, template)
        assert _api(site, site.hauptamt_token, method, url) == 404, (method, template)
        assert _api(site, site.upload_token, method, url) == 403, (method, template)
        assert _api(site, None, method, url) == 401, (method, template)
        assert _api(site, "pst_guessed", method, url) == 401, (method, template)


def test_the_department_api_lists_only_the_tokens_department(site: Site) -> None:
    own = site.item("bauamt", ItemState.DELIVERED)
    site.item("hauptamt", ItemState.DELIVERED)
    listed = site.client.get(
        "/api/v1/inbox/items", headers={"Authorization": f"Bearer {site.bauamt_token}"}
    ).json()
    assert listed["department"] == "bauamt"
    assert [i["registry_number"] for i in listed["items"]] == [own.registry_number]


@pytest.mark.parametrize("username", ["bau", "haupt"])
def test_clerk_actions_are_refused_to_department_members(site: Site, username: str) -> None:
    item = site.item(None, ItemState.NEEDS_REVIEW)
    browser = _browser(site, username)
    csrf = site.csrf(browser, "/abteilung")
    answer = browser.post(
        f"/posteingang/{item.id}/zuweisen",
        data={"csrf": csrf, "abteilung": "bauamt"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    after = site.store.item(item.id)
    assert after is not None and after.state is ItemState.NEEDS_REVIEW


def test_a_form_without_the_sessions_csrf_token_changes_nothing(site: Site) -> None:
    item = site.item(None, ItemState.NEEDS_REVIEW)
    browser = _browser(site, "clerk")
    answer = browser.post(
        f"/posteingang/{item.id}/zuweisen",
        data={"csrf": "forged", "abteilung": "bauamt"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    after = site.store.item(item.id)
    assert after is not None and after.state is ItemState.NEEDS_REVIEW


def test_login_is_throttled_after_repeated_failures(site: Site) -> None:
    client = _browser(site, None)
    for _ in range(5):
        wrong = client.post("/anmelden", data={"benutzer": "clerk", "kennwort": "falsch"})
        assert wrong.status_code == 401
    right = client.post(
        "/anmelden",
        data={"benutzer": "clerk", "kennwort": "ein langes Kennwort 42"},
        follow_redirects=False,
    )
    assert right.status_code == 401
    assert "Zu viele Fehlversuche" in right.text


def test_login_never_redirects_off_site(site: Site) -> None:
    client = _browser(site, None)
    answer = client.post(
        "/anmelden",
        data={
            "benutzer": "clerk",
            "kennwort": "ein langes Kennwort 42",
            "weiter": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/posteingang"
