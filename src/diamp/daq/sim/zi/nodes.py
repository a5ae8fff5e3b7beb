"""LabOne node documentation and value checks for the simulated data server.

A :class:`NodeSpec` is one leaf node: the entry ``listNodesJSON`` returns for it (type,
properties, unit, options) and the limits the simulation enforces on a set. Violations raise
the ``zhinst.core.errors`` class a real data server raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["NodeSpec", "core_error"]

READ, READ_WRITE, SETTING = "Read", "Read, Write", "Read, Write, Setting"
INT, ENUM, DOUBLE, COMPLEX, STRING, VECTOR = (
    "Integer (64 bit)",
    "Integer (enumerated)",
    "Double",
    "Complex Double",
    "String",
    "ZIVectorData",
)


def core_error(kind: str, message: str) -> Exception:
    """An exception of class ``zhinst.core.errors.<kind>`` (what a real server raises)."""
    from zhinst.core import errors

    cls: type[Exception] = getattr(errors, kind)
    return cls(message)


@dataclass(frozen=True)
class NodeSpec:
    """One leaf node: its LabOne documentation and the limits the simulation enforces."""

    type: str
    properties: str
    description: str
    unit: str = "None"
    options: Mapping[int, str] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None  # values must be multiples of this
    max_length: int = 0  # vectors: most elements
    max_abs: float = math.inf  # vectors: largest |element|
    complex_vector: bool = False
    default: Any = 0

    def doc(self, path: str) -> dict[str, Any]:
        """The ``listNodesJSON`` entry of this node at ``path``."""
        entry: dict[str, Any] = {
            "Node": path.upper(),
            "Description": self.description,
            "Properties": self.properties,
            "Type": self.type,
            "Unit": self.unit,
        }
        if self.options:
            entry["Options"] = {str(key): text for key, text in self.options.items()}
        return entry

    def keyword(self, value: str) -> int | None:
        """The integer of an enumerated keyword (``"readout"`` → 1), or None."""
        for key, text in self.options.items():
            if f'"{value}"' in text.split(":", 1)[0]:
                return key
        return None

    def coerce(self, path: str, value: Any) -> Any:
        """The value as the node stores it, or the error a device raises for it."""
        if self.type == VECTOR:
            return self._vector(path, value)
        if self.type == STRING:
            if not isinstance(value, str):
                raise core_error("InvalidArgumentError", f"{path}: expects a string, got {value!r}")
            return value
        if self.type == COMPLEX:
            if not isinstance(value, int | float | complex | np.number) or not np.isfinite(value):
                raise core_error("InvalidArgumentError", f"{path}: expects a complex number")
            return complex(value)
        if self.type == ENUM:
            return self._enum(path, value)
        number = self._real(path, value)
        if self.type == INT:
            if number != int(number):
                raise core_error("InvalidArgumentError", f"{path}: expects an integer, got {value}")
            number = int(number)
        self._check_range(path, number)
        return number

    def _real(self, path: str, value: Any) -> float:
        if isinstance(value, str | bytes | complex) or not isinstance(
            value, int | float | np.number
        ):
            raise core_error("InvalidArgumentError", f"{path}: expects a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise core_error("InvalidArgumentError", f"{path}: {value} is not finite")
        return number

    def _check_range(self, path: str, number: float) -> None:
        low, high = self.minimum, self.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            raise core_error("InvalidArgumentError", f"{path}: {number} outside [{low}, {high}]")
        if self.step and abs(number / self.step - round(number / self.step)) > 1e-9:
            raise core_error(
                "InvalidArgumentError", f"{path}: {number} is not a multiple of {self.step}"
            )

    def _enum(self, path: str, value: Any) -> int:
        key = self.keyword(value) if isinstance(value, str) else None
        if key is None and isinstance(value, int | np.integer) and not isinstance(value, bool):
            key = int(value)
        if key is None or key not in self.options:
            allowed = ", ".join(f"{k} ({t.split(':', 1)[0]})" for k, t in self.options.items())
            raise core_error("InvalidArgumentError", f"{path}: {value!r} is not one of {allowed}")
        return key

    def _vector(self, path: str, value: Any) -> np.ndarray:
        array = np.asarray(value)
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
            raise core_error("InvalidArgumentError", f"{path}: expects a 1-d numeric vector")
        if np.iscomplexobj(array) and not self.complex_vector:
            raise core_error("InvalidArgumentError", f"{path}: expects a real vector")
        if array.size > self.max_length:
            raise core_error(
                "InvalidArgumentError", f"{path}: {array.size} elements > {self.max_length}"
            )
        if not np.isfinite(array).all() or (array.size and np.abs(array).max() > self.max_abs):
            raise core_error(
                "InvalidArgumentError",
                f"{path}: elements must be finite with |x| <= {self.max_abs}",
            )
        dtype = np.complex128 if self.complex_vector else np.float64
        return array.astype(dtype)
