"""A command whose optional extra is missing names the extra in one line, exit status 2.

Each case runs the real console entry point in a child process whose import system refuses
the extra's modules (a meta-path finder raising ModuleNotFoundError, as a missing package
does), so the message comes from a real import failure, not a mock of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from diamp.cli.extras import MODULE_EXTRAS, missing_extra

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys
from importlib.abc import MetaPathFinder

class Missing(MetaPathFinder):
    def __init__(self, names):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None

for name in [m for m in sys.modules if m.split(".")[0] in sys.argv[1].split(",")]:
    del sys.modules[name]
sys.meta_path.insert(0, Missing(set(sys.argv[1].split(","))))
sys.argv = ["diamp", *sys.argv[2:]]
from diamp.cli import main
main()
"""


def modules_of(extra: str) -> str:
    return ",".join(m for m, e in MODULE_EXTRAS.items() if e == extra)


def run_without(modules: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", CHILD, modules, *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "r.bin").write_bytes(bytes(range(256)) * 16)
    key = tmp_path / "k.hex"
    key.write_text("ab" * 32)
    key.chmod(0o600)
    return tmp_path


CASES = [
    ("service", "diamp serve", ["serve", str(ROOT / "configs" / "service.toml")]),
    ("service", "diamp client fetch",
     ["client", "fetch", "--url", "http://127.0.0.1:9", "--key-id", "a", "--key-file", "k.hex",
      "--bytes", "4"]),
    ("service", "diamp beacon keygen", ["beacon", "keygen", "--out", "beacon"]),
    ("service", "diamp beacon verify", ["beacon", "verify", "r.bin"]),
    ("dask", "diamp extract dodis",
     ["extract", "dodis", "r.bin", "r.bin", "--m", "8", "-o", "o.bin", "--workers", "1"]),
    ("dask", "diamp test sp800-22",
     ["test", "sp800-22", "r.bin", "--length", "1000", "--scheduler", "tcp://127.0.0.1:9"]),
    ("lab", "diamp run", ["run", str(ROOT / "configs" / "simulated-readout.toml")]),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "command", "args"), CASES, ids=[c[1] for c in CASES])
def test_missing_extra_is_named(extra: str, command: str, args: list[str], files: Path) -> None:
    proc = run_without(modules_of(extra), *args, cwd=files)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == f"{command} needs the {extra!r} extra: pip install 'diamp[{extra}]'"
    assert "Traceback" not in proc.stderr
    assert not (files / "o.bin").exists()


def test_a_missing_core_module_asks_for_a_reinstall(files: Path) -> None:
    proc = run_without("h5py", "run", str(ROOT / "configs" / "simulated.toml"), cwd=files)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "diamp run: the module 'h5py' is missing from this installation; reinstall diamp "
        "(pip install -c constraints.txt -e .)"
    )
    assert "Traceback" not in proc.stderr


def test_only_import_failures_are_mapped() -> None:
    try:
        import fastapi_nonexistent_module  # type: ignore[import-not-found]  # noqa: F401
    except ModuleNotFoundError as err:
        assert missing_extra(err) == ("fastapi_nonexistent_module", None)
    try:
        try:
            import distributed.no_such_submodule  # type: ignore[import-not-found]  # noqa: F401
        except ModuleNotFoundError as err:
            raise RuntimeError("wrapped") from err
    except RuntimeError as outer:
        assert missing_extra(outer) == ("distributed", "dask")
    assert missing_extra(ValueError("x")) is None
    try:
        try:
            import dask.no_such_submodule  # type: ignore[import-not-found]  # noqa: F401
        except ModuleNotFoundError:
            raise RuntimeError("not caused by it") from None
    except RuntimeError as outer:
        assert missing_extra(outer) is None
