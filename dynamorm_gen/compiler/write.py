"""Stage 5, write: put rendered files in place atomically, or compare them (``--check``).

Only files that carry the generated header are ever removed, so hand-written files that live
beside generated ones are safe.
"""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dynamorm_gen.compiler.render import HEADER


@dataclass(frozen=True)
class OutputFile:
    path: str  # relative to the output folder, forward slashes
    content: str


@dataclass(frozen=True)
class Drift:
    kind: str  # CHANGED, MISSING or EXTRA
    path: str  # as shown to the user
    diff: str = ""

    def format(self) -> str:
        return f"{self.kind} {self.path}" + (f"\n{self.diff}" if self.diff else "")


def is_generated(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(HEADER)).decode("utf-8", "replace") == HEADER
    except OSError:
        return False


def _stale(out_dir: Path, outputs: list[OutputFile]) -> list[Path]:
    wanted = {o.path for o in outputs}
    if not out_dir.is_dir():
        return []
    return sorted(
        p
        for p in out_dir.rglob("*.py")
        if p.relative_to(out_dir).as_posix() not in wanted and is_generated(p)
    )


def check(out_dir: Path, outputs: list[OutputFile], shown_dir: str) -> list[Drift]:
    """What differs between the output folder and a fresh build, sorted by path."""
    drift = []
    for output in outputs:
        target = out_dir / output.path
        shown = f"{shown_dir}/{output.path}"
        if not target.exists():
            drift.append(Drift("MISSING", shown))
            continue
        try:
            current = target.read_text("utf-8", errors="replace")
        except OSError as exc:  # a folder in its place, say: not what a build writes
            drift.append(
                Drift("CHANGED", shown, f"cannot read {shown}: {_reason(exc)}")
            )
            continue
        if current != output.content:
            diff = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    output.content.splitlines(keepends=True),
                    fromfile=f"{shown} (committed)",
                    tofile=f"{shown} (fresh build)",
                )
            )
            drift.append(Drift("CHANGED", shown, diff.rstrip("\n")))
    for path in _stale(out_dir, outputs):
        drift.append(
            Drift("EXTRA", f"{shown_dir}/{path.relative_to(out_dir).as_posix()}")
        )
    return sorted(drift, key=lambda d: d.path)


class WriteError(Exception):
    """An output file could not be written; ``written`` lists those already in place."""

    def __init__(self, path: Path, reason: str, written: list[str]) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason
        self.written = written


def write(out_dir: Path, outputs: list[OutputFile]) -> tuple[list[str], list[str]]:
    """Write every output that changed, then remove stale generated files.

    All new contents go to temporary files in their target folders first and are renamed into
    place only once every one was written, so a failure leaves the previous output as it was
    (WriteError). A file gets the mode it had, or a new one the mode any program's new files
    get (0666 less the umask), not the 0600 of the temporary file. Returns (written, removed)
    relative paths.
    """
    pending: list[tuple[str, Path]] = []
    target = out_dir
    try:
        for output in outputs:
            target = out_dir / output.path
            if (
                target.exists()
                and target.read_text("utf-8", errors="replace") == output.content
            ):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
            )
            pending.append((temp, target))
            try:
                handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
            except BaseException:
                os.close(fd)
                raise
            with handle:
                handle.write(output.content)
            os.chmod(temp, _mode_for(target))
    except BaseException as exc:
        for temp, _ in pending:
            Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteError(target, _reason(exc), []) from exc
        raise
    written: list[str] = []
    for i, (temp, target) in enumerate(pending):
        try:
            os.replace(temp, target)
        except OSError as exc:
            for left, _ in pending[i:]:
                Path(left).unlink(missing_ok=True)
            raise WriteError(target, _reason(exc), written) from exc
        written.append(target.relative_to(out_dir).as_posix())
    removed = []
    for path in _stale(out_dir, outputs):
        try:
            path.unlink()
        except OSError as exc:
            raise WriteError(path, _reason(exc), written) from exc
        removed.append(path.relative_to(out_dir).as_posix())
    return written, removed


def _mode_for(target: Path) -> int:
    """The mode of the file being replaced, or of a new file as the umask makes it."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        # The umask can only be read by setting it; it is set straight back.
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
