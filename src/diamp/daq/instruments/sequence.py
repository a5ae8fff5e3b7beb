"""AWG sequences: the steps of a sequence and their SCPI form (pure: no I/O).

A Tektronix AWG5014 sequence is a list of elements; element ``i`` (1-based on the device)
plays one waveform per channel, optionally waits for a trigger first, repeats ``repeat``
times (0: forever) and then continues with the next element or jumps (``goto``). In the
DIRA experiment the master AWG's sequence waits for the trigger, plays the trial's pulses and
returns to its first element, once per trial.

:func:`validate_steps` checks a whole sequence against the device's limits and the waveforms
it holds before anything is sent; :func:`awg5014_commands` is the command list that uploads it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["AWG5014_MAX_ELEMENTS", "SequenceStep", "awg5014_commands", "validate_steps"]

AWG5014_MAX_ELEMENTS = 8000
AWG5014_MAX_REPEAT = 65536


@dataclass(frozen=True)
class SequenceStep:
    """One sequence element: channel -> waveform name, trigger wait, repeats, jump target."""

    waveforms: Mapping[int, str]
    wait_trigger: bool = True
    repeat: int = 1  # 0 repeats forever
    goto: int | None = None  # 1-based element to continue with (None: the next one)
    channels: tuple[int, ...] = field(default=(1, 2, 3, 4), repr=False)


def validate_steps(steps: Sequence[SequenceStep], waveforms: Collection[str]) -> list[str]:
    """Every problem of ``steps`` on a device holding ``waveforms`` (empty: valid)."""
    problems = []
    if not 1 <= len(steps) <= AWG5014_MAX_ELEMENTS:
        problems.append(f"{len(steps)} elements; the AWG5014 takes 1 to {AWG5014_MAX_ELEMENTS}")
    for i, step in enumerate(steps, start=1):
        where = f"element {i}"
        if not step.waveforms:
            problems.append(f"{where}: no waveform on any channel")
        for ch, name in step.waveforms.items():
            if ch not in step.channels:
                problems.append(f"{where}: channel {ch} (the AWG5014 has channels 1-4)")
            if name not in waveforms:
                problems.append(f"{where}: channel {ch}: waveform {name!r} is not uploaded")
        if not 0 <= step.repeat <= AWG5014_MAX_REPEAT:
            problems.append(f"{where}: repeat {step.repeat} outside 0..{AWG5014_MAX_REPEAT}")
        if step.goto is not None and not 1 <= step.goto <= len(steps):
            problems.append(f"{where}: goto {step.goto} outside 1..{len(steps)}")
    return problems


def awg5014_commands(steps: Sequence[SequenceStep]) -> list[str]:
    """The SCPI commands that replace the device's sequence by ``steps``."""
    commands = ["SEQ:LENG 0", f"SEQ:LENG {len(steps)}"]
    for i, step in enumerate(steps, start=1):
        for ch, name in sorted(step.waveforms.items()):
            commands.append(f'SEQ:ELEM{i}:WAV{ch} "{name}"')
        commands += [
            f"SEQ:ELEM{i}:TWA {int(step.wait_trigger)}",
            f"SEQ:ELEM{i}:LOOP:INF {int(step.repeat == 0)}",
        ]
        if step.repeat:
            commands.append(f"SEQ:ELEM{i}:LOOP:COUN {step.repeat}")
        commands.append(f"SEQ:ELEM{i}:GOTO:STAT {int(step.goto is not None)}")
        if step.goto is not None:
            commands.append(f"SEQ:ELEM{i}:GOTO:IND {step.goto}")
    return commands
