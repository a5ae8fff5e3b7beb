"""The fast option conversion (diamp.cli.fastcoerce) gives typer's results, value by value.

The oracle is typer's own pydantic conversion of the same descriptor: for every value either
both return equal values of the same type, or both refuse with the same message.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from typer._click.exceptions import BadParameter
from typer._coercion import resolve_type_descriptor
from typer.models import OptionInfo

from diamp.cli import fastcoerce

VALUES: dict[type, list[Any]] = {
    int: ["0", "7", "-3", "+5", "007", "-0", "123456789012345678901234567890", " 5", "5 ",
          "1_000", "5.0", "5.5", "1e3", "0x10", "", "abc", "٣", "--3", "+-1", 7, -2, True],
    float: ["0", "1.5", "-2.25", "+.5", "5.", "1e3", "1E-3", "-1.5e+2", "nan", "inf", "-inf",
            "1e400", "1_0.5", " 2.5", "0x10", "", "abc", ".", "e5", 2.5, 3],
    str: ["", "x", "tcp://127.0.0.1:8786", "exact", "ünïcode", "a\x00b"],
    Path: ["out.bin", "/tmp/x", "~/y", "a b", "", "a\x00b", Path("p")],
    bool: [True, False, "true", "false", "1", "0", "yes", "maybe"],
}  # fmt: skip


def _convert(build: Any, annotation: type, value: Any) -> tuple[str, Any]:
    descriptor = resolve_type_descriptor(annotation, OptionInfo())
    try:
        result = build(descriptor)._coerce_value(value, param=None, ctx=None)
    except BadParameter as err:
        return "refused", err.message
    return "value", (type(result), result)


@pytest.mark.parametrize(
    ("annotation", "value"), [(t, v) for t, values in VALUES.items() for v in values]
)
def test_fast_conversion_equals_typers(annotation: type, value: Any) -> None:
    fast = _convert(fastcoerce._build, annotation, value)
    slow = _convert(fastcoerce._typer_build, annotation, value)
    if fast[0] == slow[0] == "value" and isinstance(fast[1][1], float):
        a, b = fast[1][1], slow[1][1]
        assert fast[1][0] is slow[1][0] and (a == b or (math.isnan(a) and math.isnan(b)))
    else:
        assert fast == slow


def test_constrained_and_unusual_options_keep_typers_conversion() -> None:
    ranged = resolve_type_descriptor(int, OptionInfo(min=1))
    assert not fastcoerce.is_fast(ranged)
    assert fastcoerce.is_fast(resolve_type_descriptor(int, OptionInfo()))
    assert not fastcoerce.is_fast(resolve_type_descriptor(list[int], OptionInfo()))
    must_exist = resolve_type_descriptor(Path, OptionInfo(exists=True))
    assert fastcoerce.is_fast(must_exist)  # the fast path still runs typer's path checks
    with pytest.raises(BadParameter, match="does not exist"):
        fastcoerce._build(must_exist)._coerce_value("/no/such/file", param=None, ctx=None)
