"""Diagnostics: errors are values, collected across every file and reported together."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one place. Ordered by file, line, column so reports are stable."""

    file: str
    line: int
    column: int
    code: str
    message: str
    hint: str = ""

    def format(self) -> str:
        text = (
            f"{self.file}:{self.line}:{self.column}: error[{self.code}] {self.message}"
        )
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class CompileError(Exception):
    """Raised by a stage that cannot go on; carries every diagnostic found so far."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(set(diagnostics))
        super().__init__(format_report(self.diagnostics))


def format_report(diagnostics: list[Diagnostic]) -> str:
    """Every diagnostic, one per entry, then a count line."""
    lines = [d.format() for d in sorted(diagnostics)]
    files = len({d.file for d in diagnostics})
    errors = len(diagnostics)
    lines.append(
        f"{errors} error{'s' if errors != 1 else ''} in {files} file{'s' if files != 1 else ''}"
    )
    return "\n".join(lines)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else ""
