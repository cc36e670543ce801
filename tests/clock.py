"""A fake clock for deadline tests: stands in for the ``time`` module of
dynamorm_gen/runtime/deadline.py and, registered as a hook, moves on by ``step`` seconds per
request, so where a deadline falls is exact on any machine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dynamorm_gen.runtime import deadline, hooks
from dynamorm_gen.runtime.hooks import CallInfo


class StepClock:
    wants_capacity = False

    def __init__(self, step: float = 1.0) -> None:
        self.now = 1000.0
        self.step = step
        self.requests: list[str] = []

    def monotonic(self) -> float:
        return self.now

    def before_call(self, call: CallInfo) -> None:
        self.requests.append(call.operation)

    def after_call(self, call: CallInfo) -> None:
        self.now += self.step


@contextmanager
def step_clock(
    monkeypatch: pytest.MonkeyPatch, step: float = 1.0
) -> Iterator[StepClock]:
    """Install a StepClock for the ``with`` block."""
    clock = StepClock(step)
    monkeypatch.setattr(deadline, "time", clock)
    hooks.add_hook(clock)
    try:
        yield clock
    finally:
        hooks.remove_hook(clock)
