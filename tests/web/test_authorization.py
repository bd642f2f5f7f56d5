"""Who may see what: every endpoint × every role × own or foreign department."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from poststelle.model import Item, ItemState
from tests.web.conftest import Site

PAGES = [
    "/posteingang",
    "/posteingang/{id}",
    "/posteingang/{id}/original",
    "/abteilung",
    "/abteilung/{id}",
    "/abteilung/{id}/original",
]

# role → page → expected status for an item delivered to the Bauamt
EXPECTED = {
    "clerk": {
        "/posteingang": 200,
        "/posteingang/{id}": 200,
        "/posteingang/{id}/original": 200,
        "/abteilung": 403,
        "/abteilung/{id}": 403,
        "/abteilung/{id}/original": 403,
    },
    "admin": {
        "/posteingang": 200,
        "/posteingang/{id}": 200,
        "/posteingang/{id}/original": 200,
        "/abteilung": 403,
        "/abteilung/{id}": 403,
        "/abteilung/{id}/original": 403,
    },
    "bau": {
        "/posteingang": 403,
        "/posteingang/{id}": 403,
        "/posteingang/{id}/original": 403,
        "/abteilung": 200,
        "/abteilung/{id}": 200,
        "/abteilung/{id}/original": 200,
    },
    "haupt": {
        "/posteingang": 403,
        "/posteingang/{id}": 403,
        "/posteingang/{id}/original": 403,
        "/abteilung": 200,
        "/abteilung/{id}": 404,
        "/abteilung/{id}/original": 404,
    },
}


def _browser(site: Site, username: str | None) -> TestClient:
    client = TestClient(site.client.app, base_url="http://testserver")
    return site.login(username, client) if username else client


@pytest.mark.parametrize("username", [*EXPECTED, None])
@pytest.mark.parametrize("page", PAGES)
def test_pages_by_role_and_department(site: Site, username: str | None, page: str) -> None:
    item = site.item("bauamt", ItemState.DELIVERED)
    answer = _browser(site, username).get(page.format(id=item.id), follow_redirects=False)
    if username is None:
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/anmelden")
    else:
        assert answer.status_code == EXPECTED[username][page]
    if answer.status_code != 200:
        assert item.registry_number not in answer.text


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


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/inbox/items/{id}"),
        ("GET", "/api/v1/inbox/items/{id}/original"),
        ("GET", "/api/v1/inbox/items/{id}/documents/{sha}"),
        ("POST", "/api/v1/inbox/items/{id}/acknowledge"),
    ],
)
def test_department_api_by_token(site: Site, method: str, path: str) -> None:
    item: Item = site.item("bauamt", ItemState.DELIVERED)
    url = path.format(id=item.id, sha="0" * 64)
    documents_path = "{sha}" in path
    own = _api(site, site.bauamt_token, method, url)
    assert own == (404 if documents_path else 200)
    assert _api(site, site.hauptamt_token, method, url) == 404
    assert _api(site, site.upload_token, method, url) == 403
    assert _api(site, None, method, url) == 401
    assert _api(site, "pst_guessed", method, url) == 401


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
