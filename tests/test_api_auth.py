"""Keys and roles: 401 without a valid key, 403 below the role, keys managed per tenant,
and no route lets one tenant read or change another tenant's data."""

from __future__ import annotations

from pathlib import Path

import pytest

from api_support import Api, api, create_scenario, tiny_document
from linkage.api.keys import create_key, hash_key
from linkage.api.openapi import openapi_document
from linkage.api.storage import api_keys, make_engine

_ = api  # a fixture

PUBLIC = {"/v1/health", "/v1/ready", "/v1/openapi.json", "/v1/docs", "/v1/docs/oauth2-redirect"}


def test_every_route_but_health_needs_a_key(api: Api) -> None:
    """Every /v1 route except health, readiness and the docs answers 401 without a key."""
    checked = 0
    for path, operations in openapi_document()["paths"].items():
        if path in PUBLIC:
            continue
        for method in operations:
            url = path.replace("{scenario_id}", "sc_x").replace("{key_id}", "k")
            response = api.client.request(method, url)
            assert response.status_code == 401, (method, url)
            assert response.json()["error"]["code"] == "unauthenticated"
            assert response.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 11  # every operation but health and ready


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer lk_0000_nope"},
        {"X-API-Key": "garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_unknown_or_malformed_keys_are_401(api: Api, header: dict[str, str]) -> None:
    """A key that is unknown, malformed, or not a bearer token answers 401."""
    response = api.client.get("/v1/scenarios", headers=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"invalid_key", "unauthenticated"}


def test_a_wrong_secret_for_a_real_key_id_is_401(api: Api) -> None:
    """Keeping a real key's id but changing its secret is refused."""
    key = create_key(api.settings, "t1", "admin")
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    response = api.client.get("/v1/scenarios", headers={"X-API-Key": forged})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_key"


def test_both_headers_work(api: Api) -> None:
    """The same key authenticates as a Bearer token and as X-API-Key."""
    key = create_key(api.settings, "t1", "viewer")
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        assert api.client.get("/v1/scenarios", headers=headers).status_code == 200


def test_keys_are_stored_hashed(api: Api) -> None:
    """The database holds the key's SHA-256 hash, never the key."""
    key = create_key(api.settings, "t1", "viewer")
    engine = make_engine(api.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(api_keys.select()).mappings().all()
    finally:
        engine.dispose()
    assert [r["secret_hash"] for r in rows] == [hash_key(key)]
    assert all(key not in str(dict(r)) for r in rows)


def test_create_key_rejects_bad_tenant_and_role(api: Api) -> None:
    """create_key refuses an unknown role and a tenant name with spaces or slashes."""
    with pytest.raises(ValueError, match="role"):
        create_key(api.settings, "t1", "root")
    with pytest.raises(ValueError, match="tenant"):
        create_key(api.settings, "a/b", "viewer")


def test_viewer_reads_but_cannot_write(api: Api, tmp_path: Path) -> None:
    """A viewer key lists and gets, but create, validate, uploads and delete are 403."""
    sid = create_scenario(api, api.headers(role="planner"), tiny_document(tmp_path))
    viewer = api.headers(role="viewer")
    assert api.client.get("/v1/scenarios", headers=viewer).status_code == 200
    assert api.client.get(f"/v1/scenarios/{sid}", headers=viewer).status_code == 200
    assert api.client.get(f"/v1/scenarios/{sid}/document", headers=viewer).status_code == 200
    document = tiny_document(tmp_path)
    for response in [
        api.client.post("/v1/scenarios", json=document, headers=viewer),
        api.client.post("/v1/scenarios/validate", json=document, headers=viewer),
        api.client.post("/v1/scenarios/zip", files={"file": ("a.zip", b"x")}, headers=viewer),
        api.client.post("/v1/scenarios/xlsx", files={"file": ("a.xlsx", b"x")}, headers=viewer),
        api.client.delete(f"/v1/scenarios/{sid}", headers=viewer),
        api.client.get("/v1/keys", headers=viewer),
    ]:
        assert response.status_code == 403, response.request.url
        assert response.json()["error"]["code"] == "forbidden"


def test_planner_cannot_manage_keys(api: Api) -> None:
    """Key routes need the admin role: a planner gets 403 on list, create and revoke."""
    planner = api.headers(role="planner")
    assert api.client.get("/v1/keys", headers=planner).status_code == 403
    assert api.client.post("/v1/keys", json={"role": "viewer"}, headers=planner).status_code == 403
    assert api.client.delete("/v1/keys/abc", headers=planner).status_code == 403


def test_admin_creates_lists_and_revokes_keys(api: Api) -> None:
    """An admin makes a key (shown once), sees it listed without its secret, revokes it, and
    the revoked key then answers 401."""
    admin = api.headers(role="admin")
    made = api.client.post("/v1/keys", json={"role": "viewer", "name": "portal"}, headers=admin)
    assert made.status_code == 201
    key = made.json()["key"]
    assert made.json()["tenant"] == "t1" and made.json()["role"] == "viewer"
    assert api.client.get("/v1/scenarios", headers={"X-API-Key": key}).status_code == 200
    listed = api.client.get("/v1/keys", headers=admin).json()["items"]
    assert made.json()["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    assert api.client.delete(f"/v1/keys/{made.json()['id']}", headers=admin).status_code == 204
    assert api.client.get("/v1/scenarios", headers={"X-API-Key": key}).status_code == 401


def test_admin_key_body_is_validated(api: Api) -> None:
    """An unknown role in POST /v1/keys answers 422 invalid_request naming the field."""
    response = api.client.post("/v1/keys", json={"role": "root"}, headers=api.headers(role="admin"))
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["column"] == "role"


# --- tenant isolation ---------------------------------------------------------------------


def _not_found_shape(response: object, ident: str) -> tuple[int, str, str]:
    body = response.json()  # type: ignore[attr-defined]
    message = body["error"]["message"].replace(ident, "ID")
    return response.status_code, body["error"]["code"], message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/v1/scenarios/{id}"),
        ("GET", "/v1/scenarios/{id}/document"),
        ("DELETE", "/v1/scenarios/{id}"),
    ],
)
def test_other_tenants_ids_look_missing(
    api: Api, tmp_path: Path, method: str, template: str
) -> None:
    """Tenant B (even as admin) gets the same 404 for tenant A's scenario as for an id that
    never existed, and A's scenario is untouched."""
    a = api.headers("a", "planner")
    b = api.headers("b", "admin")
    sid = create_scenario(api, a, tiny_document(tmp_path))
    theirs = api.client.request(method, template.format(id=sid), headers=b)
    missing_id = "sc_" + "0" * 24
    missing = api.client.request(method, template.format(id=missing_id), headers=b)
    assert theirs.status_code == 404
    assert _not_found_shape(theirs, sid) == _not_found_shape(missing, missing_id)
    assert api.client.get(f"/v1/scenarios/{sid}", headers=a).status_code == 200


def test_lists_show_only_the_callers_tenant(api: Api, tmp_path: Path) -> None:
    """Each tenant's list holds its own scenarios only, across pages."""
    a, b = api.headers("a"), api.headers("b")
    mine = {create_scenario(api, a, tiny_document(tmp_path)) for _ in range(3)}
    theirs = {create_scenario(api, b, tiny_document(tmp_path)) for _ in range(2)}
    seen: set[str] = set()
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/v1/scenarios", params=params, headers=a).json()
        seen |= {item["id"] for item in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == mine
    listed_b = api.client.get("/v1/scenarios", headers=b).json()["items"]
    assert {item["id"] for item in listed_b} == theirs


def test_a_cursor_from_another_tenant_leaks_nothing(api: Api, tmp_path: Path) -> None:
    """Replaying tenant A's cursor with B's key pages through B's scenarios only."""
    a, b = api.headers("a"), api.headers("b")
    for _ in range(3):
        create_scenario(api, a, tiny_document(tmp_path))
    cursor = api.client.get("/v1/scenarios", params={"limit": 1}, headers=a).json()["next_cursor"]
    page = api.client.get("/v1/scenarios", params={"cursor": cursor}, headers=b).json()
    assert page["items"] == []


def test_admins_manage_only_their_tenants_keys(api: Api) -> None:
    """Admin B neither sees nor revokes tenant A's keys (404, the key keeps working)."""
    key_a = create_key(api.settings, "a", "viewer")
    key_a_id = key_a[3:].split("_", 1)[0]
    admin_b = api.headers("b", "admin")
    listed = api.client.get("/v1/keys", headers=admin_b).json()["items"]
    assert key_a_id not in [k["id"] for k in listed]
    assert all(k["tenant"] == "b" for k in listed)
    assert api.client.delete(f"/v1/keys/{key_a_id}", headers=admin_b).status_code == 404
    assert api.client.get("/v1/scenarios", headers={"X-API-Key": key_a}).status_code == 200


def test_keys_made_by_an_admin_belong_to_its_tenant(api: Api, tmp_path: Path) -> None:
    """A key created over HTTP by B's admin reads B's data, not A's."""
    sid = create_scenario(api, api.headers("a"), tiny_document(tmp_path))
    made = api.client.post("/v1/keys", json={"role": "viewer"}, headers=api.headers("b", "admin"))
    key = made.json()["key"]
    assert api.client.get(f"/v1/scenarios/{sid}", headers={"X-API-Key": key}).status_code == 404
