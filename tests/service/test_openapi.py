"""``/openapi.json`` is a valid OpenAPI document for every shipped service config.

Each config under ``configs/`` that has a service table is copied into a temporary folder
(its pool, anchors and beacon keys are created there, never in the repository), served by
uvicorn on 127.0.0.1, and its ``/openapi.json`` checked with ``openapi-spec-validator``.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import httpx
import pytest
from _svc import config_text, serve, write_config
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from diamp.service.app import create_app
from diamp.service.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def shipped_service_configs() -> list[Path]:
    """Configs with ``[[tiers]]`` (the table a service config cannot do without)."""
    configs = sorted((REPO / "configs").rglob("*.toml"))
    return [p for p in configs if "tiers" in tomllib.loads(p.read_text())]


def variants() -> list[tuple[Path, bool]]:
    """Each config as shipped, and without its ``[beacon]`` table when it has one."""
    out = []
    for p in shipped_service_configs():
        out.append((p, True))
        if "beacon" in tomllib.loads(p.read_text()):
            out.append((p, False))
    return out


def test_the_shipped_service_config_is_found() -> None:
    assert REPO / "configs" / "service.toml" in shipped_service_configs()


def _served_openapi(config: Path) -> dict[str, object]:
    with serve(create_app(load_settings(config))) as base:
        r = httpx.get(f"{base}/openapi.json", timeout=30)
    assert r.status_code == 200, r.text[:500]
    doc: dict[str, object] = r.json()
    return doc


@pytest.mark.parametrize(
    ("shipped", "beacon"),
    variants(),
    ids=[f"{p.relative_to(REPO)}{'' if b else '-without-beacon'}" for p, b in variants()],
)
def test_openapi_is_valid_for_every_shipped_config(
    shipped: Path, beacon: bool, tmp_path: Path
) -> None:
    config = tmp_path / shipped.name
    shutil.copyfile(shipped, config)
    if not beacon:  # the beacon's routes are the part of the document that comes and goes
        text = config.read_text()
        config.write_text(text.split("\n[beacon]", 1)[0] + "\n")
        kept = set(tomllib.loads(config.read_text()))
        assert kept == set(tomllib.loads(text)) - {"beacon"}  # only the beacon went
    doc = _served_openapi(config)
    validate(doc)  # raises with the JSON path of the first problem
    paths = doc["paths"]
    assert isinstance(paths, dict)
    assert {"/v1/random", "/v1/status", "/status"} <= set(paths)
    assert ("/beacon/2.0/pulse/last" in paths) == beacon


def test_the_validator_refuses_a_broken_document(tmp_path: Path) -> None:
    """The check can fail: a response without a description is not OpenAPI 3.1."""
    config, _ = write_config(tmp_path, config_text())
    doc = _served_openapi(config)
    validate(doc)
    paths = doc["paths"]
    assert isinstance(paths, dict)
    del paths["/v1/status"]["get"]["responses"]["200"]["description"]
    with pytest.raises(OpenAPIValidationError):
        validate(doc)
