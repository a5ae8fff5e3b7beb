"""Requests that used to answer 500 (issue 15, item 8): OpenAPI with the beacon on, indices
and times beyond SQLite's 64-bit integers. A real app from the shipped service config."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _svc import serve

from diamp.service.app import create_app
from diamp.service.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The shipped config (beacon on) served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("shipped")
    shutil.copy(REPO / "configs" / "service.toml", folder / "service.toml")
    app = create_app(load_settings(folder / "service.toml"))
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def test_openapi_and_docs_answer_with_the_beacon_on(client: httpx.Client) -> None:
    doc = client.get("/openapi.json")
    assert doc.status_code == 200
    paths = doc.json()["paths"]
    assert "/beacon/2.0/chain/{chain}/pulse/{pulse}" in paths
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/beacon/2.0/chain/9223372036854775808/pulse/1",
        "/beacon/2.0/chain/1/pulse/99999999999999999999999",
        "/beacon/2.0/chain/-1/pulse/1",
        "/beacon/2.0/chain/1/pulse/last".replace("1", "18446744073709551616"),
        "/beacon/2.0/pulse/time/99999999999999999999999",
        "/beacon/2.0/pulse/time/previous/-5",
        "/beacon/2.0/pulse/time/next/1e3",
    ],
)
def test_out_of_range_route_integers_are_422(client: httpx.Client, url: str) -> None:
    assert client.get(url).status_code == 422


def test_largest_index_is_a_plain_404(client: httpx.Client) -> None:
    response = client.get("/beacon/2.0/chain/9223372036854775807/pulse/9223372036854775807")
    assert response.status_code == 404
