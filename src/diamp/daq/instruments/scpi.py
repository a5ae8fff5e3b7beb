"""SCPI instruments over pyvisa: declared settings, validation before I/O, error checks.

Every setting an instrument accepts is declared with its unit, range (or allowed values)
and its set/get commands. :meth:`ScpiInstrument.configure` validates a whole batch first —
a bad value never reaches the device — then writes the batch and reads the error queue
(``SYST:ERR?``) and the event status register (``*ESR?``) once: a device error becomes an
:class:`~diamp.errors.InstrumentError` naming the instrument and the commands.

Backends are pyvisa's: ``"@sim"`` with a pyvisa-sim YAML file (``configs/instruments/``), ``"@py"``
(pyvisa-py, e.g. diamp's loopback SCPI server), or ``""`` for the system VISA library.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from diamp.errors import InstrumentError, InstrumentSettingError

__all__ = ["ScpiInstrument", "Setting", "open_resource_manager"]


@dataclass(frozen=True)
class Setting:
    """One settable quantity: commands (``{ch}`` = channel, ``{value}``), unit and range."""

    set_cmd: str
    get_cmd: str
    unit: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    kind: type = float
    channels: tuple[int, ...] = ()  # empty: not per channel
    fmt: str = "{:.6E}"  # how a float is written (the instrument's NR2/NR3 form)

    def command(self, value: Any, channel: int | None) -> str:
        """The set command for a (validated) value."""
        if self.choices:
            text = str(value)
        elif self.kind is int:
            text = f"{int(value):d}"
        else:
            text = self.fmt.format(float(value))
        return self.set_cmd.format(ch=channel, value=text)


def open_resource_manager(backend: str) -> Any:
    """A pyvisa ResourceManager for ``backend`` (``"path.yaml@sim"``, ``"@py"``, ``""``)."""
    import pyvisa

    try:
        return pyvisa.ResourceManager(backend)
    except (OSError, ValueError) as err:
        raise InstrumentError(f"VISA backend {backend!r} is not available: {err}") from err


class ScpiInstrument:
    """Base of the SCPI drivers; subclasses declare ``SETTINGS`` and ``IDN_PREFIX``."""

    SETTINGS: ClassVar[Mapping[str, Setting]] = {}
    IDN_PREFIX: ClassVar[str] = ""
    MAX_ERRORS = 32

    def __init__(self, name: str, address: str, backend: str = "", timeout_ms: int = 5000) -> None:
        self.name, self.address = name, address
        rm = open_resource_manager(backend)
        try:
            self._res = rm.open_resource(
                address, read_termination="\n", write_termination="\n", timeout=timeout_ms
            )
        except Exception as err:  # pyvisa raises VisaIOError, ValueError, OSError …
            raise InstrumentError(
                f"{name}: cannot open {address} ({err}); is the instrument connected?",
                instrument=name,
                address=address,
            ) from err
        try:
            self.idn = self.query("*IDN?")
        except InstrumentError as err:
            raise InstrumentError(
                f"{name}: cannot identify the instrument at {address} ({err}); is it connected "
                "and is the address right?",
                instrument=name,
                address=address,
            ) from err
        if self.IDN_PREFIX and not self.idn.startswith(self.IDN_PREFIX):
            raise InstrumentError(
                f"{name} at {address}: expected an instrument identifying as "
                f"{self.IDN_PREFIX!r}, found {self.idn!r}",
                instrument=name,
            )

    def _fail(self, what: str, command: str | None = None) -> InstrumentError:
        where = f" ({command})" if command else ""
        return InstrumentError(f"{self.name}{where}: {what}", instrument=self.name, command=command)

    def query(self, command: str) -> str:
        """Send a query and return the stripped reply."""
        try:
            return str(self._res.query(command)).strip()
        except Exception as err:
            raise self._fail(f"no valid reply ({err})", command) from err

    def write(self, command: str) -> None:
        """Send a command (no error check: use :meth:`check_errors` after a batch)."""
        try:
            self._res.write(command)
        except Exception as err:
            raise self._fail(f"write failed ({err})", command) from err

    def _key(self, key: str) -> tuple[Setting, int | None]:
        name, _, channel = key.partition(".") if key.startswith("ch") else ("", "", "")
        if name:  # "ch2.amplitude"
            setting_name, ch = channel, int(name[2:])
        else:
            setting_name, ch = key, None
        setting = self.SETTINGS.get(setting_name)
        if setting is None:
            raise self._fail(f"unknown setting {key!r}; known: {sorted(self.SETTINGS)}")
        if setting.channels and ch not in setting.channels:
            raise self._fail(
                f"setting {key!r} needs a channel in {setting.channels} (ch<N>.{setting_name})"
            )
        if not setting.channels and ch is not None:
            raise self._fail(f"setting {setting_name!r} is not per channel")
        return setting, ch

    def validate(self, settings: Mapping[str, Any]) -> list[str]:
        """Check every value against its declaration; returns the commands, in order."""
        try:
            return self._validate(settings)
        except InstrumentError as err:
            raise InstrumentSettingError(err.message, **err.fields) from None

    def _validate(self, settings: Mapping[str, Any]) -> list[str]:
        commands = []
        for key, value in settings.items():
            setting, ch = self._key(key)
            if setting.choices:
                if value not in setting.choices:
                    raise self._fail(f"{key} = {value!r} is not one of {setting.choices}")
            else:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not math.isfinite(value)
                ):
                    raise self._fail(f"{key} = {value!r} is not a finite number ({setting.unit})")
                low, high = setting.minimum, setting.maximum
                if (low is not None and value < low) or (high is not None and value > high):
                    raise self._fail(
                        f"{key} = {value} {setting.unit} is outside [{low}, {high}] {setting.unit}"
                    )
            commands.append(setting.command(value, ch))
        return commands

    def execute(self, command: str) -> None:
        """Send one command and check the device's error queue."""
        self.write(command)
        self.check_errors(command)

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Validate all, write all, then check the device's error queue once (a transaction)."""
        commands = self.validate(settings)
        for command in commands:
            self.write(command)
        self.check_errors("; ".join(commands))

    def check_errors(self, after: str) -> None:
        """Drain ``SYST:ERR?`` and read ``*ESR?``; raise if the device reported anything."""
        errors = []
        for _ in range(self.MAX_ERRORS):
            reply = self.query("SYST:ERR?")
            code = reply.split(",", 1)[0].strip()
            if code in ("0", "+0"):
                break
            errors.append(reply)
        esr = self.query("*ESR?")
        if errors or (
            esr.strip().lstrip("+").isdigit() and int(esr.strip().lstrip("+")) & 0b00111100
        ):
            raise self._fail(f"device reported {errors or 'an error'} (*ESR? = {esr})", after)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every declared setting read back: ``{key: {value, unit, timestamp}}``."""
        out: dict[str, dict[str, Any]] = {}
        for name, setting in self.SETTINGS.items():
            for ch in setting.channels or (None,):
                key = name if ch is None else f"ch{ch}.{name}"
                raw = self.query(setting.get_cmd.format(ch=ch))
                value: Any = raw if setting.choices else setting.kind(float(raw))
                out[key] = {"value": value, "unit": setting.unit, "timestamp": time.time()}
        return out

    def reset(self) -> None:
        """``*RST`` and ``*CLS``, then check for errors."""
        self.write("*RST")
        self.write("*CLS")
        self.check_errors("*RST; *CLS")

    def close(self) -> None:
        """Close the VISA session."""
        self._res.close()
