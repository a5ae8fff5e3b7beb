"""What each command imports at start (a correctness check, not a timing).

``diamp --help`` must not import the numeric or service stack, and the exact engine must
not load the FFT engine's kernels nor the packages numba only probes for. Each case runs in
a fresh interpreter and reports ``sys.modules`` after the command; the speed itself is
measured by ``benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main

from diamp.cli import COMMANDS, COMPLETION_VARIABLE, build, invoked

# Runs the CLI in-process, then prints the modules it left loaded and its exit status.
RUNNER = """
import json, sys
from diamp.cli import main
sys.argv = ["diamp", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code or 0
sys.stdout.flush()
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

HEAVY = ("numpy", "numba", "llvmlite", "scipy", "h5py", "fastapi", "uvicorn", "dask")
HEAVY += ("distributed", "mpmath", "matplotlib", "cryptography", "zhinst", "ducc0", "pyfftw")
HEAVY += ("mkl_fft",)


def _run(*args: str) -> tuple[int, set[str], str]:
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), proc.stdout + proc.stderr


def _top(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("args", [["--help"], ["extract", "--help"], ["--version"]])
def test_help_and_version_import_no_heavy_package(args: list[str]) -> None:
    code, modules, output = _run(*args)
    assert code == 0, output
    assert not _top(modules) & set(HEAVY), sorted(_top(modules) & set(HEAVY))
    assert "rich.progress" not in modules and "typer.rich_utils" not in modules
    if args == ["--help"]:  # typer validates parameters with pydantic, but not for this
        assert "pydantic" not in _top(modules)


def test_help_keeps_bracketed_text() -> None:
    """Plain help: "[server]" in an option's help is text, not markup to drop."""
    code, _, output = _run("serve", "--help")
    assert code == 0, output
    assert "overrides [server] host" in " ".join(output.split())


def _bits(path: Path, seed: int) -> Path:
    path.write_bytes(np.random.default_rng(seed).bytes(512))
    return path


def test_invalid_option_exits_before_any_kernel_loads(tmp_path: Path) -> None:
    x, y = _bits(tmp_path / "x.bin", 1), _bits(tmp_path / "y.bin", 2)
    code, modules, output = _run(
        "extract", "dodis", str(x), str(y), "--m", "0", "-o", str(tmp_path / "k.bin")
    )
    assert code == 2, output
    assert "--m" in output
    assert not {"numba", "llvmlite"} & _top(modules)


def test_exact_engine_loads_only_its_own_kernels(tmp_path: Path) -> None:
    x, y = _bits(tmp_path / "x.bin", 3), _bits(tmp_path / "y.bin", 4)
    outputs = {}
    for engine in ("exact", "fft"):
        out = tmp_path / f"{engine}.bin"
        args = ("extract", "dodis", str(x), str(y), "--m", "2048", "-o", str(out))
        _run(*args, "--engine", engine, "-q")  # builds the native kernels if not cached
        code, modules, output = _run(*args, "--engine", engine, "-q")
        assert code == 0, output
        outputs[engine] = out.read_bytes()
        if engine == "exact":
            assert "diamp.extractors.ntt" in modules
            assert "diamp.extractors.correlate" not in modules
        else:
            assert "diamp.extractors.correlate" in modules
            assert "diamp.extractors.ntt" not in modules
        # the kernels come from the native cache: numba is neither imported nor started; the
        # options are plain values, converted without pydantic (cli/fastcoerce.py)
        heavy = ({"numba", "cffi", "distributed", "dask", "h5py", "pydantic"} & _top(modules)) | (
            {"scipy.linalg"} & modules
        )
        assert not heavy, sorted(heavy)
        # only the invoked command's module, and no rich: it prints with typer.echo
        commands = {m for m in modules if m.startswith("diamp.cli.")} & OTHER_COMMAND_MODULES
        assert not commands and "rich" not in _top(modules), sorted(commands)
    assert outputs["exact"] == outputs["fft"]


OTHER_COMMAND_MODULES = {
    module for module, _ in COMMANDS.values() if module != "diamp.cli.extract"
} | {"diamp.cli.keys", "diamp.cli.sp800_22", "diamp.cli.sp800_90b", "diamp.cli.diehard"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),
        (["--help"], None),
        (["--version"], []),
        (["--version", "run"], None),
        (["extract", "dodis", "x", "y"], ["extract"]),
        (["--json", "run", "c.toml"], ["run"]),
        (["entropy-model", "--json"], ["entropy-model"]),
        (["nosuch"], None),  # its usage error lists every command
        (["--", "run"], None),
    ],
)
def test_the_entry_point_registers_only_the_named_command(
    argv: list[str], expected: list[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(COMPLETION_VARIABLE, raising=False)
    assert invoked(argv) == expected
    if expected == []:
        assert typer.main.get_command(build(expected)).name == "diamp"
    monkeypatch.setenv(COMPLETION_VARIABLE, "complete_bash")
    assert invoked(argv) is None  # shell completion needs every command


def test_each_command_alone_is_the_command_of_the_whole_application() -> None:
    """A command registered alone (as the entry point does) has the same options and help."""
    from diamp.cli import app

    whole = typer.main.get_command(app)
    assert list(whole.commands) == list(COMMANDS)  # type: ignore[attr-defined]
    for name in COMMANDS:
        alone = typer.main.get_command(build([name]))
        assert list(alone.commands) == [name]  # type: ignore[attr-defined]
        ctx = typer.Context(whole)
        a, b = alone.commands[name], whole.commands[name]  # type: ignore[attr-defined]
        assert a.get_help(ctx) == b.get_help(ctx), name
        assert [p.opts for p in a.params] == [p.opts for p in b.params], name


def test_shell_completion_offers_every_command() -> None:
    env = {**os.environ, COMPLETION_VARIABLE: "complete_bash", "COMP_WORDS": "diamp e",
           "COMP_CWORD": "1"}  # fmt: skip
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("diamp"))],  # the console script: its name counts
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert set(proc.stdout.split()) == {"entropy-model", "extract"}, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "1"), ({"OPENBLAS_NUM_THREADS": "3"}, "3"), ({"OMP_NUM_THREADS": "2"}, None)],
)
def test_the_command_line_asks_for_one_blas_thread_unless_told(
    env: dict[str, str], expected: str | None
) -> None:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")
    }
    script = "import os, diamp.cli; print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        check=True, env={**base, **env},
    )  # fmt: skip
    assert proc.stdout.strip() == str(expected)
