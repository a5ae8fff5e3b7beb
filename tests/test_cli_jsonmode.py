"""The JSON mode of the ``diamp`` group on a small app of its own (every outcome it handles)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from typer.testing import CliRunner

from diamp.cli.common import emit_json, fail
from diamp.cli.jsonmode import DiampGroup, active, verdict
from diamp.errors import StorageError

app = typer.Typer(cls=DiampGroup, add_completion=False, rich_markup_mode=None)
runner = CliRunner()
Json = Annotated[bool, typer.Option("--json")]


@app.command()
def good(as_json: Json = False) -> None:
    emit_json({"answer": 42, "json_mode": active()})


@app.command()
def failing(as_json: Json = False) -> None:
    emit_json({"tests": {"a": "FAILED"}})
    raise verdict(1, "1 test(s) failed")


@app.command()
def bare(as_json: Json = False) -> None:
    raise typer.Exit(4)


@app.command()
def broken(as_json: Json = False) -> None:
    raise fail(StorageError("disk full", path="/x"))


@app.command()
def clash(as_json: Json = False) -> None:
    emit_json({"error": "a field of the result", "n": 1})
    raise verdict(1, "it failed")


@app.command()
def twice(as_json: Json = False) -> None:
    emit_json({"n": 1})
    emit_json({"n": 2})


def _json(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.stderr == "", result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return result.exit_code, data


def test_success_is_the_result_alone() -> None:
    assert _json("good") == (0, {"answer": 42, "json_mode": True})
    plain = runner.invoke(app, ["good"])  # not JSON mode: written at once
    assert json.loads(plain.stdout) == {"answer": 42, "json_mode": False}


def test_a_failing_verdict_keeps_the_result_beside_the_error() -> None:
    code, data = _json("failing")
    assert code == 1
    assert data == {"error": "1 test(s) failed", "exit_code": 1, "tests": {"a": "FAILED"}}
    assert list(data)[:2] == ["error", "exit_code"]
    plain = runner.invoke(app, ["failing"])
    assert plain.exit_code == 1 and json.loads(plain.stdout) == {"tests": {"a": "FAILED"}}


def test_an_unexplained_exit_still_gives_an_error_object() -> None:
    assert _json("bare") == (4, {"error": "failed with exit status 4", "exit_code": 4})


def test_a_library_error_carries_type_and_fields() -> None:
    code, data = _json("broken")
    assert code == 1
    assert data == {
        "error": "disk full",
        "exit_code": 1,
        "type": "StorageError",
        "fields": {"path": "/x"},
    }
    plain = runner.invoke(app, ["broken"])
    assert plain.stdout == "" and plain.stderr.strip() == "error: disk full"


def test_a_result_with_an_error_key_is_nested_not_overwritten() -> None:
    code, data = _json("clash")
    assert code == 1
    assert data == {
        "error": "it failed",
        "exit_code": 1,
        "result": {"error": "a field of the result", "n": 1},
    }


def test_two_results_are_a_bug_not_two_objects() -> None:
    result = runner.invoke(app, ["twice", "--json"])
    assert isinstance(result.exception, RuntimeError)
    assert result.stdout == ""


def test_json_mode_ends_with_the_command() -> None:
    _json("good")
    assert not active()
