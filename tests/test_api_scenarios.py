"""Scenario routes: create (JSON, xlsx, zip), list, get, document, delete, validate, limits."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_support import Api, api, create_scenario, folder_zip, make_api, tiny_document, zip_bytes
from conftest import write_scenario
from linkage.scenario.io import load, save_json, save_xlsx
from linkage.scenario.problems import ScenarioError

_ = api  # a fixture

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def error_of(response: object, status: int, code: str) -> dict[str, object]:
    """The body's error, once the status, the one error shape and the code are checked."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "problems"}
    assert body["error"]["code"] == code
    return dict(body["error"])


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Api]:
    """An app with small limits: 3000-byte bodies, 5 rows a table, 4 archive entries."""
    yield from make_api(
        tmp_path,
        max_upload_bytes=3000,
        max_rows_per_table=5,
        max_zip_entries=4,
        max_uncompressed_bytes=50_000,
    )


def test_create_from_json_returns_201_location_and_counts(api: Api, tmp_path: Path) -> None:
    """POST /v1/scenarios stores the document and answers 201 with Location, name and rows."""
    response = api.client.post("/v1/scenarios", json=tiny_document(tmp_path), headers=api.headers())
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/scenarios/{body['id']}"
    assert body["name"] == "浙青牵手 测试"
    assert body["source"] == "json"
    assert body["rows"]["regions"] == 9 and body["rows"]["organizations"] == 3
    assert body["created_at"].endswith("Z") or "+00:00" in body["created_at"]


def test_get_and_document_round_trip(api: Api, tmp_path: Path) -> None:
    """GET returns the stored summary; GET …/document returns a document that loads again."""
    headers = api.headers()
    document = tiny_document(tmp_path)
    sid = create_scenario(api, headers, document)
    got = api.client.get(f"/v1/scenarios/{sid}", headers=headers)
    assert got.status_code == 200 and got.json()["id"] == sid
    stored = api.client.get(f"/v1/scenarios/{sid}/document", headers=headers).json()
    assert stored == document
    path = tmp_path / "again.json"
    path.write_text(json.dumps(stored, ensure_ascii=False), encoding="utf-8")
    assert load(path).summary()["regions"] == 9


def test_delete_removes_the_scenario(api: Api, tmp_path: Path) -> None:
    """DELETE answers 204; the scenario is then 404 and a second DELETE is 404."""
    headers = api.headers()
    sid = create_scenario(api, headers, tiny_document(tmp_path))
    assert api.client.delete(f"/v1/scenarios/{sid}", headers=headers).status_code == 204
    error_of(api.client.get(f"/v1/scenarios/{sid}", headers=headers), 404, "not_found")
    error_of(api.client.delete(f"/v1/scenarios/{sid}", headers=headers), 404, "not_found")


def test_missing_ids_are_404(api: Api) -> None:
    """Unknown scenario ids answer 404 not_found on get, document and delete."""
    headers = api.headers()
    for method, path in [
        ("GET", "/v1/scenarios/sc_nope"),
        ("GET", "/v1/scenarios/sc_nope/document"),
        ("DELETE", "/v1/scenarios/sc_nope"),
    ]:
        error_of(api.client.request(method, path, headers=headers), 404, "not_found")


def test_list_pages_with_an_opaque_cursor(api: Api, tmp_path: Path) -> None:
    """Five scenarios in pages of two: newest first, every one exactly once, then no cursor."""
    headers = api.headers()
    document = tiny_document(tmp_path)
    ids = [create_scenario(api, headers, document) for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get("/v1/scenarios", params=params, headers=headers).json()
        pages += 1
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert not cursor.startswith("sc_")  # opaque, not a raw id
    assert pages == 3
    assert seen == sorted(ids, reverse=True)


def test_list_rejects_a_bad_cursor_and_limit(api: Api) -> None:
    """A cursor this API never returned is 400 bad_cursor; limit 0 is 422 invalid_request."""
    headers = api.headers(role="viewer")
    error_of(
        api.client.get("/v1/scenarios", params={"cursor": "not-a-cursor"}, headers=headers),
        400,
        "bad_cursor",
    )
    error = error_of(
        api.client.get("/v1/scenarios", params={"limit": 0}, headers=headers),
        422,
        "invalid_request",
    )
    assert error["problems"][0]["column"] == "limit"  # type: ignore[index]


def test_validate_ok_does_not_store(api: Api, tmp_path: Path) -> None:
    """POST /v1/scenarios/validate answers 200 valid with row counts and stores nothing."""
    headers = api.headers()
    response = api.client.post(
        "/v1/scenarios/validate", json=tiny_document(tmp_path), headers=headers
    )
    assert response.status_code == 200
    assert response.json()["valid"] is True and response.json()["rows"]["regions"] == 9
    assert api.client.get("/v1/scenarios", headers=headers).json()["items"] == []


def test_invalid_scenario_is_422_with_the_cli_problem_list(api: Api, tmp_path: Path) -> None:
    """An invalid document answers 422 invalid_scenario listing exactly the problems the CLI
    lists for the same document saved as scenario.json — on validate and on create."""
    document = tiny_document(tmp_path)
    document["tables"]["regions"][2]["population"] = "many"
    document["tables"]["organizations"][0]["region"] = "999999"
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load(path)
    expected = [p.to_dict() for p in caught.value.problems]
    assert len(expected) >= 2
    headers = api.headers()
    for route in ("/v1/scenarios/validate", "/v1/scenarios"):
        error = error_of(
            api.client.post(route, json=document, headers=headers), 422, "invalid_scenario"
        )
        assert error["problems"] == expected
    assert api.client.get("/v1/scenarios", headers=headers).json()["items"] == []


def test_malformed_json_is_400(api: Api) -> None:
    """A body that is not JSON answers 400 invalid_json with the parser's line in a problem."""
    error = error_of(
        api.client.post("/v1/scenarios", content=b'{"scenario": ', headers=api.headers()),
        400,
        "invalid_json",
    )
    assert error["problems"][0]["row"] == 1  # type: ignore[index]


def test_json_that_is_not_an_object_is_422(api: Api) -> None:
    """A JSON list is an invalid scenario (the CLI's 'an object with scenario and tables')."""
    error = error_of(
        api.client.post("/v1/scenarios", json=[1, 2], headers=api.headers()),
        422,
        "invalid_scenario",
    )
    assert "scenario" in error["problems"][0]["expected"]  # type: ignore[index]


def test_upload_over_the_limit_is_413(small: Api, tmp_path: Path) -> None:
    """A body over max_upload_bytes answers 413 upload_too_large, by Content-Length."""
    body = json.dumps(tiny_document(tmp_path)).encode()
    assert len(body) > 3000
    response = small.client.post(
        "/v1/scenarios",
        content=body,
        headers={**small.headers(), "Content-Type": "application/json"},
    )
    error_of(response, 413, "upload_too_large")


def test_chunked_upload_over_the_limit_is_413(small: Api, tmp_path: Path) -> None:
    """A streamed body without Content-Length is cut off at the limit: 413 too."""
    body = json.dumps(tiny_document(tmp_path)).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    response = small.client.post(
        "/v1/scenarios",
        content=chunks(),
        headers={**small.headers(), "Content-Type": "application/json"},
    )
    error_of(response, 413, "upload_too_large")


def test_multipart_upload_over_the_limit_is_413(small: Api, tmp_path: Path) -> None:
    """An .xlsx upload over max_upload_bytes answers 413 before the workbook is read."""
    path = tmp_path / "big.xlsx"
    save_xlsx(load(write_scenario(tmp_path / "s")), path)
    response = small.client.post(
        "/v1/scenarios/xlsx",
        files={"file": ("big.xlsx", path.read_bytes(), XLSX)},
        headers=small.headers(),
    )
    error_of(response, 413, "upload_too_large")


def test_too_many_rows_is_413(tmp_path: Path) -> None:
    """A table over max_rows_per_table answers 413 too_many_rows naming the table (JSON)."""
    for limited in make_api(tmp_path, max_rows_per_table=5):
        error = error_of(
            limited.client.post(
                "/v1/scenarios", json=tiny_document(tmp_path), headers=limited.headers()
            ),
            413,
            "too_many_rows",
        )
        sources = [p["source"] for p in error["problems"]]  # type: ignore[attr-defined]
        assert sources == ["scenario.json › tables.regions"]


def test_create_from_xlsx(api: Api, tmp_path: Path) -> None:
    """An .xlsx workbook as the CLI saves it uploads to a scenario with the same rows."""
    path = tmp_path / "tiny.xlsx"
    save_xlsx(load(write_scenario(tmp_path / "s")), path)
    response = api.client.post(
        "/v1/scenarios/xlsx",
        files={"file": ("tiny.xlsx", path.read_bytes(), XLSX)},
        headers=api.headers(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["source"] == "xlsx" and response.json()["rows"]["regions"] == 9


def test_invalid_xlsx_problems_name_the_sheet_and_column(api: Api, tmp_path: Path) -> None:
    """A bad cell in a workbook answers 422 with the CLI's problems (sheet, excel column)."""
    from openpyxl import load_workbook

    path = tmp_path / "bad.xlsx"
    save_xlsx(load(write_scenario(tmp_path / "s")), path)
    book = load_workbook(path)
    sheet = book["regions"]
    column = [c.value for c in sheet[1]].index("population") + 1
    sheet.cell(row=3, column=column, value="lots")
    book.save(path)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    response = api.client.post(
        "/v1/scenarios/xlsx",
        files={"file": ("bad.xlsx", path.read_bytes(), XLSX)},
        headers=api.headers(),
    )
    error = error_of(response, 422, "invalid_scenario")
    assert error["problems"] == [p.to_dict() for p in caught.value.problems]
    assert error["problems"][0]["excel_column"]  # type: ignore[index]


def test_oversized_sheet_is_413(tmp_path: Path) -> None:
    """A workbook sheet with more rows than the limit answers 413 too_many_rows."""
    for limited in make_api(tmp_path / "b", max_rows_per_table=5):
        path = tmp_path / "tiny.xlsx"
        save_xlsx(load(write_scenario(tmp_path / "s")), path)
        response = limited.client.post(
            "/v1/scenarios/xlsx",
            files={"file": ("tiny.xlsx", path.read_bytes(), XLSX)},
            headers=limited.headers(),
        )
        error = error_of(response, 413, "too_many_rows")
        assert error["problems"][0]["source"] == "tiny.xlsx › regions"  # type: ignore[index]


def test_not_a_workbook_is_400(api: Api) -> None:
    """Bytes that are not a zip/xlsx answer 400 bad_archive."""
    response = api.client.post(
        "/v1/scenarios/xlsx",
        files={"file": ("x.xlsx", b"just text", XLSX)},
        headers=api.headers(),
    )
    error_of(response, 400, "bad_archive")


@pytest.mark.parametrize("prefix", ["", "tiny/"])
def test_create_from_zip_of_csvs(api: Api, tmp_path: Path, prefix: str) -> None:
    """A zip of a scenario folder (files at the top, or in one top folder) uploads."""
    data = folder_zip(write_scenario(tmp_path / "tiny"), prefix)
    response = api.client.post(
        "/v1/scenarios/zip",
        files={"file": ("tiny.zip", data, "application/zip")},
        headers=api.headers(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["source"] == "zip" and response.json()["rows"]["organizations"] == 3


def test_invalid_zip_scenario_is_422_like_the_folder(api: Api, tmp_path: Path) -> None:
    """A zip whose CSV has a bad cell answers 422 with the problems `linkage validate` lists
    for the folder."""
    folder = write_scenario(
        tmp_path / "bad", organizations="id,name,region,kind\n001,x,330106,nonsense\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load(folder)
    response = api.client.post(
        "/v1/scenarios/zip",
        files={"file": ("bad.zip", folder_zip(folder), "application/zip")},
        headers=api.headers(),
    )
    error = error_of(response, 422, "invalid_scenario")
    assert error["problems"] == [p.to_dict() for p in caught.value.problems]


@pytest.mark.parametrize(
    "name", ["../regions.csv", "/etc/regions.csv", "a/../../regions.csv", "C:/regions.csv"]
)
def test_zip_path_traversal_is_400(api: Api, tmp_path: Path, name: str) -> None:
    """An archive entry escaping the archive (.., absolute, drive) answers 400 and is named."""
    data = zip_bytes({"scenario.yaml": "name: x\n", name: "code,name\n"})
    error = error_of(
        api.client.post(
            "/v1/scenarios/zip",
            files={"file": ("evil.zip", data, "application/zip")},
            headers=api.headers(),
        ),
        400,
        "unsafe_archive_entry",
    )
    assert error["problems"][0]["value"] == name  # type: ignore[index]


def test_zip_bomb_by_ratio_is_400(api: Api) -> None:
    """An entry expanding 1000-fold (3 MB of zeros) answers 400 zip_bomb."""
    data = zip_bytes({"scenario.yaml": "name: x\n", "regions.csv": b"0" * 3_000_000})
    assert len(data) < 20_000
    error_of(
        api.client.post(
            "/v1/scenarios/zip",
            files={"file": ("bomb.zip", data, "application/zip")},
            headers=api.headers(),
        ),
        400,
        "zip_bomb",
    )


def test_zip_bomb_by_total_size_is_400(small: Api) -> None:
    """Entries totalling more than max_uncompressed_bytes answer 400 zip_bomb."""
    data = zip_bytes(
        {"scenario.yaml": "name: x\n", "regions.csv": b"a,b\n" * 15_000}, zipfile.ZIP_DEFLATED
    )
    assert len(data) < 3000
    error_of(
        small.client.post(
            "/v1/scenarios/zip",
            files={"file": ("big.zip", data, "application/zip")},
            headers=small.headers(),
        ),
        400,
        "zip_bomb",
    )


def test_zip_with_too_many_entries_is_400(small: Api) -> None:
    """More entries than max_zip_entries answer 400 archive_too_many_entries."""
    data = zip_bytes({f"t{i}.csv": "a\n" for i in range(6)})
    error_of(
        small.client.post(
            "/v1/scenarios/zip",
            files={"file": ("many.zip", data, "application/zip")},
            headers=small.headers(),
        ),
        400,
        "archive_too_many_entries",
    )


def test_zip_with_too_many_rows_is_413(tmp_path: Path) -> None:
    """A CSV in a zip over max_rows_per_table answers 413 too_many_rows."""
    for limited in make_api(tmp_path / "b", max_rows_per_table=5):
        data = folder_zip(write_scenario(tmp_path / "tiny"))
        error = error_of(
            limited.client.post(
                "/v1/scenarios/zip",
                files={"file": ("tiny.zip", data, "application/zip")},
                headers=limited.headers(),
            ),
            413,
            "too_many_rows",
        )
        assert error["problems"][0]["source"] == "tiny.zip › regions"  # type: ignore[index]


def test_a_document_saved_by_the_cli_uploads(api: Api, tmp_path: Path) -> None:
    """The .json file `linkage convert` writes is accepted as the request body unchanged."""
    path = tmp_path / "tiny.json"
    save_json(load(write_scenario(tmp_path / "s")), path)
    response = api.client.post(
        "/v1/scenarios",
        content=path.read_bytes(),
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
