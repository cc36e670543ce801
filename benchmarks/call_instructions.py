"""Instructions per call of the fast transport, counted by valgrind: a measure that noise on a
shared machine cannot move.

``client_cpu.py`` times calls, and on a busy 2-core machine its absolute figures drift by half;
only ratios within one run hold. To tell whether a change made a call cheaper or dearer, this
script counts the CPU instructions a call executes instead (``valgrind --tool=callgrind``), the
same on every run for the same code: for each operation (GetItem, PutItem with its version
condition, Query of 10 items, through the generated ``PaymentsTable``, against the loopback stub
of ``client_cpu.py``, which runs in its own process and is not counted), a process makes 50
warm-up calls, then ``--calls`` more; the difference between that and a process making only the
warm-up, divided by ``--calls``, is the cost of one call.

With ``--rev REV`` the same is counted for that git revision too (checked out in a temporary
worktree), side by side: the before and after of a change, measured in one run.

    python benchmarks/call_instructions.py [--calls 200] [--rev HEAD~1]

Needs valgrind (Debian's package ``valgrind``). Under valgrind a call takes about 50 times as
long; the whole run takes a few minutes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ("GetItem", "PutItem", "Query")
WARM_UP = 50


def run_calls(operation: str, calls: int) -> None:
    """Inside the measured process: the stub, then the warm-up and ``calls`` calls."""
    sys.path.insert(0, str(Path.cwd() / "benchmarks"))
    import client_cpu
    import serialization

    os.environ.update(client_cpu.FAKE_ENVIRONMENT)
    os.environ.pop("DYNAMORM_ENDPOINT_URL", None)
    wire_item = serialization.our_payment().to_item()
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    responses = client_cpu.stub_responses(wire_item, 10)
    server = context.Process(target=client_cpu.serve, args=(responses, send))
    server.daemon = True
    server.start()
    try:
        if not receive.poll(60):
            raise SystemExit("the stub server did not start")
        case = client_cpu.dynamorm_case(f"http://127.0.0.1:{receive.recv()}", "fast")
        for _ in range(WARM_UP + calls):
            case[operation]()
    finally:
        server.terminate()
        server.join()


def instructions(checkout: Path, operation: str, calls: int) -> int:
    """The instructions a process of ``checkout`` executes for the warm-up and ``calls``."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--inside",
        operation,
        str(calls),
    ]
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    result = subprocess.run(
        command,
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run failed in {checkout}:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def per_call(checkout: Path, calls: int) -> dict[str, float]:
    return {
        operation: (
            instructions(checkout, operation, calls)
            - instructions(checkout, operation, 0)
        )
        / calls
        for operation in OPERATIONS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rev", help="also count this git revision, side by side")
    parser.add_argument("--inside", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        run_calls(args.inside[0], int(args.inside[1]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    columns = {"this checkout": per_call(ROOT, args.calls)}
    if args.rev:
        with tempfile.TemporaryDirectory() as folder:
            other = Path(folder) / "checkout"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(other), args.rev],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            try:
                # The benchmark itself runs from this checkout's copy in both.
                shutil.copy(Path(__file__), other / "benchmarks" / Path(__file__).name)
                columns[args.rev] = per_call(other, args.calls)
            finally:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(other)],
                    cwd=ROOT,
                    check=False,
                    capture_output=True,
                )
    print(f"instructions per call, fast transport ({args.calls} calls after {WARM_UP})")
    names = list(columns)
    print(f"{'operation':10}" + "".join(f"{name:>16}" for name in names) + "   ratio")
    for operation in OPERATIONS:
        values = [columns[name][operation] for name in names]
        ratio = f"{values[0] / values[1]:8.3f}" if len(values) > 1 else ""
        print(f"{operation:10}" + "".join(f"{v:16,.0f}" for v in values) + ratio)


if __name__ == "__main__":
    main()
