"""Print the exactly-once fault matrix as a Markdown table.

    PYTHONPATH=. python -m tests.faults.report

Starts moto's server (and dynalite, when Node.js and ``tests/engines`` are installed) and a
fault proxy in front of each, runs every cell of ``scenarios.cells()`` once, and prints, for
each operation and fault, what each engine and transport did: the outcome (success or the
error class), how many times the engine applied the write, and how many requests of the
operation the proxy saw. Cells that depart from ``test_exactly_once.EXPECTED`` are in bold and
listed at the end. Everything it starts is stopped before it exits; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dynamorm_gen.runtime.errors import ConditionFailed
from dynamorm_gen.testing.engines import start_dynalite, start_moto

from .scenarios import (
    ENGINES,
    FAULTS,
    OPERATIONS,
    SCENARIOS,
    TRANSPORTS,
    Bench,
    Observed,
    cells,
    retry_safe_available,
    run_cell,
)
from .test_exactly_once import Expect, compare, expected

Column = tuple[str, str]  # (engine, transport)
Results = dict[tuple[str, str, str, str], Observed | None]  # None: pending


def sandbox() -> None:
    """Fake credentials and no AWS configuration, as tests/conftest.py sets for every test."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    # moto's server logs a line per request (no values); the table is the output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


@contextmanager
def moto() -> Iterator[str]:
    engine = start_moto()
    try:
        yield engine.url
    finally:
        engine.stop()


@contextmanager
def dynalite() -> Iterator[str | None]:
    """dynalite's URL, or None when it is not installed."""
    from tests.conftest import DYNALITE_CLI

    node = shutil.which("node")
    if node is None or not DYNALITE_CLI.is_file():
        yield None
        return
    with tempfile.TemporaryDirectory() as directory:
        engine = start_dynalite(DYNALITE_CLI, Path(directory) / "dynalite.log")
        try:
            yield engine.url
        finally:
            engine.stop()


def run(engine_urls: dict[str, str]) -> Results:
    results: Results = {}
    pending = not retry_safe_available()
    for engine in ENGINES:
        url = engine_urls.get(engine)
        if url is None:
            continue
        for transport in TRANSPORTS:
            bench = Bench(engine, transport, url)
            try:
                for cell in cells():
                    if cell[:2] != (engine, transport):
                        continue
                    operation, fault = cell[2:]
                    if operation == "add_retry_safe" and pending:
                        results[cell] = None
                    else:
                        results[cell] = run_cell(bench, operation, fault)
            finally:
                bench.close()
    return results


def describe(expect: Expect) -> str:
    applications = "—" if expect.applications is None else str(expect.applications)
    return f"{expect.outcome} / {applications} / {expect.requests}"


def shown(observed: Observed, operation: str) -> str:
    """outcome / applications / requests, and any other request the call made."""
    applications = "—" if observed.applications is None else str(observed.applications)
    text = f"{observed.outcome} / {applications} / {observed.requests}"
    others = [op for op in observed.trace if op != SCENARIOS[operation].operation]
    if others:
        text += " (+" + ", ".join(others) + ")"
    return text


def table(results: Results, columns: list[Column]) -> tuple[list[str], list[str]]:
    """The Markdown table's lines, and a line for each cell that departs from EXPECTED."""
    head = ["operation", "fault", "expected", *(f"{e} / {t}" for e, t in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    departures = []
    for operation in OPERATIONS:
        for fault in FAULTS:
            row = [operation, fault, describe(expected("fast", operation, fault))]
            for engine, transport in columns:
                cell = (engine, transport, operation, fault)
                if cell not in results:
                    row.append("n/a")
                    continue
                observed = results[cell]
                if observed is None:
                    row.append("pending")
                    continue
                expect = expected(transport, operation, fault)
                problems = compare(expect, observed)
                text = shown(observed, operation)
                if expect != expected("fast", operation, fault):
                    text += f" † {describe(expect)}"
                if problems:
                    text = f"**{text}**"
                    departures.append(f"{' '.join(cell)}: {'; '.join(problems)}")
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
    return lines, departures


def main() -> int:
    sandbox()
    started = time.monotonic()
    with moto() as moto_url, dynalite() as dynalite_url:
        engine_urls = {"moto": moto_url}
        if dynalite_url is not None:
            engine_urls["dynalite"] = dynalite_url
        results = run(engine_urls)
    elapsed = time.monotonic() - started
    columns = [(e, t) for e in ENGINES for t in TRANSPORTS if e in engine_urls]
    lines, departures = table(results, columns)
    observed = [o for o in results.values() if o is not None]
    twice = sum(1 for o in observed if (o.applications or 0) > 1)
    own_condition = sum(
        1
        for o in observed
        if o.error is not None and issubclass(o.error, ConditionFailed)
    )
    print("# Exactly-once under network faults\n")
    print(
        "Each cell: outcome / applications read from the engine (— for reads) /"
        " requests of the operation the proxy saw; (+...) other requests of the call."
        " Engines without transactions show n/a. † and what follows: this transport's"
        " expectation, where it differs from the expected column.\n"
    )
    print("\n".join(lines))
    print("\nOperations:\n")
    for name, scenario in SCENARIOS.items():
        print(f"- {name}: {scenario.description} ({scenario.operation})")
    print(
        f"\n{len(observed)} cells run, {len(results) - len(observed)} pending,"
        f" in {elapsed:.1f} s; double-applied writes: {twice};"
        f" ConditionFailed for the caller's own write: {own_condition};"
        f" departures from the expected table: {len(departures)}."
    )
    if departures:
        print("\nDepartures:\n")
        print("\n".join(f"- {line}" for line in departures))
    return 1 if departures else 0


if __name__ == "__main__":
    sys.exit(main())
