"""CLI conventions: ``--json`` errors, the run summary on stdout, shell completion.

With ``--json`` every refusal is exactly one JSON object on stdout,
``{"error": ..., "exit_code": N, ...}``, and nothing else is written there; the same
refusal without ``--json`` prints ``error: <the same text>`` on stderr with the same exit
status (the plain run is the oracle for the JSON one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner, Result

from diamp.cli import app

DIAMP_EXE = Path(sys.executable).parent / "diamp"
runner = CliRunner()


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def _commands(command: Any = None, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf command of ``diamp`` by its path, e.g. ("extract", "dodis")."""
    command = typer.main.get_command(app) if command is None else command
    subs = getattr(command, "commands", None)
    if not subs:
        return {path: command}
    found: dict[tuple[str, ...], Any] = {}
    for name, sub in subs.items():
        found.update(_commands(sub, (*path, name)))
    return found


def _json_commands() -> list[tuple[str, ...]]:
    return sorted(
        path
        for path, command in _commands().items()
        if any("--json" in getattr(p, "opts", ()) for p in command.params)
    )


def _one_json_object(stdout: str) -> dict[str, Any]:
    """Parse stdout as exactly one JSON object (json.loads refuses trailing text)."""
    data = json.loads(stdout)
    assert isinstance(data, dict), stdout
    return data


# A refusal for every command that takes --json: {tmp} is an empty directory.
REFUSALS: dict[tuple[str, ...], list[str]] = {
    ("run",): "run {tmp}/missing.toml --quiet".split(),
    ("amplify",): "amplify {tmp} --quiet".split(),
    ("stats",): "stats {tmp}/trials.h5 --mu 0.7".split(),
    ("rate",): "rate --n 1000 --mu 0.0075 --s-mu -1".split(),
    ("entropy-model",): "entropy-model vacuum -p bits=8 -p range".split(),
    ("otp",): "otp {tmp}/image.png --key {tmp}/key.bin -o {tmp}/out.png".split(),
    ("report",): "report {tmp}".split(),
    ("extract", "dodis"): "extract dodis {tmp}/x {tmp}/y --m 8 -o {tmp}/k".split(),
    ("extract", "toeplitz"): "extract toeplitz {tmp}/r {tmp}/s --m 8 -o {tmp}/k".split(),
    ("extract", "xor"): "extract xor {tmp}/a {tmp}/b -o {tmp}/k".split(),
    ("extract", "von-neumann"): "extract von-neumann {tmp}/a -o {tmp}/k".split(),
    ("timing", "budget"): "timing budget {tmp}/missing.toml".split(),
    ("timing", "check"): "timing check {tmp}/t.h5 --timing {tmp}/missing.toml".split(),
    ("test", "sp800-22"): "test sp800-22 {tmp}/missing.bin --length 0".split(),
    ("test", "sp800-90b"): "test sp800-90b {tmp}/missing.bin -b 8".split(),
    ("test", "diehard"): "test diehard {tmp}/missing.bin --tests nosuch".split(),
    ("beacon", "keygen"): "beacon keygen --out {tmp}/keys --bits 512".split(),
    ("beacon", "verify"): "beacon verify {tmp}/pulse.json".split(),
    ("keys", "new"): "keys new alice --clients {tmp}/c.toml --out {tmp}".split(),
    ("keys", "list"): "keys list --clients {tmp}/c.toml".split(),
    ("keys", "revoke"): "keys revoke alice --clients {tmp}/c.toml".split(),
    ("keys", "rotate"): "keys rotate alice --clients {tmp}/c.toml --out {tmp}/alice.key".split(),
    ("init",): "init --example no-such {tmp}/demo".split(),
    ("client", "fetch"): (
        "client fetch --url https://127.0.0.1:1 --key-id a --key-file {tmp}/k --bytes 8 "
        "--format octal"
    ).split(),
}


def test_every_command_with_json_has_a_refusal_case() -> None:
    """A new command with --json must be added here (and so gets its JSON error test)."""
    assert sorted(REFUSALS) == _json_commands()


@pytest.mark.parametrize("path", sorted(REFUSALS), ids=" ".join)
def test_json_refusal_is_one_object_matching_the_plain_error(
    path: tuple[str, ...], tmp_path: Path
) -> None:
    args = [a.format(tmp=tmp_path) for a in REFUSALS[path]]
    before = sorted(tmp_path.iterdir())
    plain = invoke(*args)
    assert plain.exit_code in (1, 2), plain.output
    assert plain.stdout == "", plain.stdout
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), plain.stderr
    result = invoke(*args, "--json")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    data = _one_json_object(result.stdout)
    assert data["exit_code"] == result.exit_code == plain.exit_code
    assert " ".join(data["error"].split()) == " ".join(lines[0].removeprefix("error: ").split())
    assert result.stderr == ""
    assert sorted(tmp_path.iterdir()) == before  # a refusal leaves nothing behind


def _with_required() -> list[tuple[str, ...]]:
    commands = _commands()
    return [p for p in _json_commands() if any(q.required for q in commands[p].params)]


def test_only_init_runs_without_arguments() -> None:
    """``diamp init --list`` needs no DIR (tests/test_cli_init.py checks its refusal)."""
    assert sorted(set(_json_commands()) - set(_with_required())) == [("init",)]


@pytest.mark.parametrize("path", _with_required(), ids=" ".join)
def test_json_usage_error_is_one_object(path: tuple[str, ...]) -> None:
    """Click's own refusal (a required argument or option missing) is JSON too."""
    result = invoke(*path, "--json")
    assert result.exit_code == 2, result.output
    data = _one_json_object(result.stdout)
    assert data["exit_code"] == 2
    assert data["error"].startswith("Missing "), data
    assert data["command"] == " ".join(["diamp", *path])
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["rate", "--n", "many", "--mu", "0.0075", "--s-mu", "0.01"], ["--n", "integer"]),
        (["extract", "xor", "a", "b", "-o", "k", "--bits", "1.5"], ["--bits"]),
        (["stats", "x.h5", "--mu", "0.1", "--no-such-option"], ["--no-such-option"]),
        (["no-such-command"], ["no-such-command"]),
    ],
)
def test_json_bad_option_value_is_one_object(args: list[str], words: list[str]) -> None:
    result = invoke(*args, "--json")
    assert result.exit_code == 2, result.output
    data = _one_json_object(result.stdout)
    assert data["exit_code"] == 2
    for word in words:
        assert word in data["error"], data
    plain = invoke(*args)
    assert plain.exit_code == 2 and plain.stdout == ""
    assert data["error"] in " ".join(plain.stderr.split()), plain.stderr


def test_json_error_carries_the_structured_fields() -> None:
    result = invoke("rate", "--n", "1000", "--mu", "abc", "--s-mu", "0.01", "--json")
    data = _one_json_object(result.stdout)
    assert data["type"] == "ConfigError" and data["fields"] == {"key": "--mu"}


def test_json_after_end_of_options_is_not_json_mode(tmp_path: Path) -> None:
    """``--`` ends the options: a file named --json does not switch the output."""
    result = invoke("extract", "von-neumann", "-o", tmp_path / "k", "--", "--json")
    assert result.exit_code == 1, result.output  # no such bit file
    assert result.stdout == ""
    assert "error: " in result.stderr


def test_json_success_prints_only_the_result() -> None:
    result = invoke("rate", "--n", "1000000", "--mu", "0.0075", "--s-mu", "0.0108", "--json")
    assert result.exit_code == 0, result.output
    data = _one_json_object(result.stdout)
    assert "error" not in data and "exit_code" not in data and data["m"] > 0


def test_json_verdict_adds_the_error_beside_the_result(tmp_path: Path) -> None:
    """A result that says fail (here the time budget, exit 4) keeps its fields."""
    eth = Path(__file__).resolve().parents[1] / "configs" / "timing" / "eth-2024.toml"
    text = eth.read_text(encoding="utf-8")
    bad = tmp_path / "far.toml"
    # the stations 3 m apart: light needs 10 ns, far less than the protocol takes
    assert "bell_distance_m" in text
    lines = [
        'bell_distance_m = "3"' if line.strip().startswith("bell_distance_m") else line
        for line in text.splitlines()
    ]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    plain = invoke("timing", "budget", bad)
    result = invoke("timing", "budget", bad, "--json")
    assert result.exit_code == plain.exit_code == 4, result.output
    data = _one_json_object(result.stdout)
    assert data["exit_code"] == 4 and data["verdict"] == "fail"
    assert data["error"].startswith("timing verdict: fail: ")
    for reason in data["reasons"]:
        assert reason in data["error"]


# --------------------------------------------------------------------------- completion


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_DIAMP_COMPLETE")}
    return {**env, **extra}


def test_show_completion_detects_the_calling_shell() -> None:
    """``diamp --show-completion`` run from bash prints the bash script."""
    proc = subprocess.run(
        ["bash", "-c", f"'{DIAMP_EXE}' --show-completion; exit $?"],
        capture_output=True, text=True, timeout=60, check=False, env=_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "_DIAMP_COMPLETE=complete_bash" in proc.stdout
    assert "complete -o default -F _diamp_completion diamp" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_show_completion_for_a_named_shell(shell: str) -> None:
    """With detection off (typer's switch for it), the shell is given by name."""
    proc = subprocess.run(
        [str(DIAMP_EXE), "--show-completion", shell],
        capture_output=True, text=True, timeout=60, check=False,
        env=_env(_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "_DIAMP_COMPLETE" in proc.stdout and "complete_" + shell in proc.stdout


def _complete(words: str, cword: int) -> list[str]:
    proc = subprocess.run(
        [str(DIAMP_EXE)],
        capture_output=True, text=True, timeout=60, check=False,
        env=_env(_DIAMP_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_completion_of_commands_and_options() -> None:
    assert _complete("diamp ex", 1) == ["extract"]
    assert set(_complete("diamp ", 1)) >= {"run", "init", "stats", "extract", "test", "serve"}
    assert _complete("diamp extract ", 2) == ["dodis", "toeplitz", "xor", "von-neumann"]
    assert {"--json", "--quiet", "--resume"} <= set(_complete("diamp run --", 2))


def test_help_lists_completion_options() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


# --------------------------------------------------------------------------- stdout / stderr

SUMMARY_ROWS = ("provenance", "CHSH S", "S_mu,obs", "status", "certified m", "certificate")


def test_run_summary_goes_to_stdout_and_progress_to_stderr(tmp_path: Path) -> None:
    from _runconfig import run_config

    config = tmp_path / "small.toml"
    text = run_config(run={"blocks": 2, "trials_per_block": 200_000, "segment_trials": 100_000})
    config.write_text(text, encoding="utf-8")
    result = invoke("run", config, "--out", tmp_path / "run")
    assert result.exit_code in (0, 3), result.output  # 3: too few trials, an abort verdict
    for row in SUMMARY_ROWS:
        assert row in result.stdout, result.stdout
        assert row not in result.stderr, result.stderr
    assert "Bell trials" in result.stderr or "block" in result.stderr.lower(), result.stderr
    assert "report: " in result.stdout


def test_stats_and_amplify_summaries_go_to_stdout(tmp_path: Path) -> None:
    from _runconfig import run_config

    config = tmp_path / "small.toml"
    text = run_config(
        run={"blocks": 2, "trials_per_block": 300_000, "segment_trials": 100_000},
        device={"model": "quantum", "visibility": 1.0},
        protocol={"s_mu_threshold": "0.0108"},
    )
    config.write_text(text, encoding="utf-8")
    run_dir = tmp_path / "run"
    assert invoke("run", config, "--out", run_dir, "--quiet").exit_code in (0, 3)
    stats = invoke("stats", run_dir / "trials.h5", "--mu", "0.0075")
    assert stats.exit_code == 0, stats.output
    assert "S_mu,obs" in stats.stdout and "S_mu,obs" not in stats.stderr
    amplify = invoke("amplify", run_dir)
    assert amplify.exit_code in (0, 3), amplify.output
    for row in SUMMARY_ROWS:
        assert row in amplify.stdout and row not in amplify.stderr, amplify.output
