"""Import cost of a generated module next to the interpreter and boto3, in fresh processes,
and how it grows with the size of the schema.

Each case runs in a new interpreter, interleaved with the others so machine noise spreads
evenly, N times; the median wall time of the whole process is printed with ratios to
`python -c pass`. Absolute times drift on shared machines: compare ratios within one run.

The second table builds two schemas into a temporary folder: the payment schema as it is (4
entities) and ten copies of it in one file (40 entities, every name numbered), then runs the
same function in both: import the module and use two entities (a table handle, one item
converted). What a function pays should follow what it uses, not the schema's size: the
target is at most 1.05x the wall time and +1 MiB of peak RSS of the 4-entity case.

Our modules are byte-compiled first, as a Lambda deployment package should ship them: without
.pyc files (or with PYTHONDONTWRITEBYTECODE set) every cold start compiles them again.

    python benchmarks/import_time.py [--runs 10]
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "python -c pass": "pass",
    "import generated_examples.payment": "import generated_examples.payment",
    "... + table handle + to_item()": (
        "import generated_examples.payment as m\n"
        "t = m.PaymentsTable()\n"
        "m.Payment(merchant_id='m', customer_id='c', amount=1, currency='EUR').to_item()"
    ),
    "import boto3": "import boto3",
    'boto3.client("dynamodb")': "import boto3\nboto3.client('dynamodb', region_name='us-east-1')",
}


# A function that uses two entities of the module: its table, and one item converted.
USE = """
import {package}.payment as m
table = m.{table}()
m.{payment}(merchant_id="m", customer_id="c", amount=1, currency="EUR").to_item()
m.{merchant}.make_key(merchant_id="m")
# Peak RSS since exec: ru_maxrss would count the forking parent's pages too.
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""
COPIES = 10  # of the payment schema in the large one
TARGET_TIME, TARGET_RSS_KIB = 1.05, 1024


def measure(code: str, cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True)
    return (time.perf_counter() - start) * 1000


def measure_rss(code: str, cwd: Path) -> tuple[float, int]:
    """Wall time (ms) and peak RSS (KiB, as the child reports it) of one fresh process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return (time.perf_counter() - start) * 1000, int(done.stdout.split()[-1])


def numbered(schema: dict[str, Any], n: int) -> dict[str, Any]:
    """The payment schema with every table, type, entity and collection name numbered."""
    tables = {f"{name}{n}": spec for name, spec in schema["tables"].items()}
    types = {f"{name}{n}": spec for name, spec in schema.get("types", {}).items()}
    renamed = {
        name: f"{name}{n}" for name in (*schema["entities"], *schema.get("types", {}))
    }

    def retyped(spec: Any) -> Any:
        if isinstance(spec, dict):
            return {
                k: renamed.get(v, v) if isinstance(v, str) else retyped(v)
                for k, v in spec.items()
            }
        return spec

    entities = {
        f"{name}{n}": {**retyped(spec), "table": f"{spec['table']}{n}"}
        for name, spec in schema["entities"].items()
    }
    collections = {
        f"{name}{n}": {**spec, "entities": [renamed[e] for e in spec["entities"]]}
        for name, spec in schema.get("collections", {}).items()
    }
    return {
        "tables": tables,
        "types": types,
        "entities": entities,
        "collections": collections,
    }


def build_schemas(root: Path) -> None:
    """root/small/payment.py (the payment schema) and root/large/payment.py (10 copies)."""
    schema = yaml.safe_load(
        (ROOT / "schemas" / "payment.yaml").read_text(encoding="utf-8")
    )
    large: dict[str, Any] = {"version": 1, "description": schema["description"]}
    for n in range(COPIES):
        for part, names in numbered(schema, n).items():
            large.setdefault(part, {}).update(names)
    for package, content in (("small", schema), ("large", large)):
        (root / "schemas" / package).mkdir(parents=True)
        (root / "schemas" / package / "payment.yaml").write_text(
            yaml.safe_dump(content, sort_keys=False), encoding="utf-8"
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dynamorm_gen",
                "build",
                "-s",
                str(root / "schemas" / package),
                "-o",
                str(root / package),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        compileall.compile_dir(root / package, quiet=1)


def schema_size(runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build_schemas(root)
        cases = {
            "4 entities: import, use 2": USE.format(
                package="small",
                table="PaymentsTable",
                payment="Payment",
                merchant="Merchant",
            ),
            f"{4 * COPIES} entities: import, use 2": USE.format(
                package="large",
                table="Payments0Table",
                payment="Payment0",
                merchant="Merchant0",
            ),
        }
        sizes = {
            name: sum(
                p.stat().st_size
                for p in (root / name).glob("__pycache__/payment.*.pyc")
            )
            for name in ("small", "large")
        }
        lines = {
            name: len(
                (root / name / "payment.py").read_text(encoding="utf-8").splitlines()
            )
            for name in ("small", "large")
        }
        for code in cases.values():
            measure_rss(code, root)
        samples: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, code in cases.items():
                samples[name].append(measure_rss(code, root))
    print()
    print(f"schema size: fresh processes, median of {runs} interleaved runs")
    print(
        f"{'case':34} {'lines':>7} {'.pyc KiB':>9} {'median ms':>10} {'min ms':>8} {'RSS KiB':>8}"
    )
    results = []
    for (name, values), package in zip(
        samples.items(), ("small", "large"), strict=True
    ):
        median = statistics.median(t for t, _ in values)
        rss = statistics.median(r for _, r in values)
        results.append((median, min(t for t, _ in values), rss))
        print(
            f"{name:34} {lines[package]:7} {sizes[package] / 1024:9.0f} {median:10.1f}"
            f" {results[-1][1]:8.1f} {rss:8.0f}"
        )
    (small_ms, small_min, small_rss), (large_ms, large_min, large_rss) = results
    ratio, extra = large_ms / small_ms, large_rss - small_rss
    print(
        f"  40 / 4 entities: {ratio:.2f}x wall time (medians; {large_min / small_min:.2f}x"
        f" minimums), {extra / 1024:+.1f} MiB peak RSS;"
        f" target <= {TARGET_TIME}x {'met' if ratio <= TARGET_TIME else 'MISSED'},"
        f" <= +1 MiB {'met' if extra <= TARGET_RSS_KIB else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    for folder in ("dynamorm_gen/runtime", "generated_examples"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    for code in CASES.values():  # warm the file system cache and .pyc files
        measure(code)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            samples[name].append(measure(code))
    floor = statistics.median(samples["python -c pass"])
    print(f"fresh-process wall time, median of {args.runs} interleaved runs")
    print(f"{'case':40} {'median ms':>10} {'min ms':>8} {'x pass':>7}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:40} {median:10.1f} {min(values):8.1f} {median / floor:7.2f}")
    schema_size(args.runs)


if __name__ == "__main__":
    main()
