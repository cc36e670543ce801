"""Import cost of a generated module next to the interpreter and boto3, in fresh processes.

Each case runs in a new interpreter, interleaved with the others so machine noise spreads
evenly, N times; the median wall time of the whole process is printed with ratios to
`python -c pass`. Absolute times drift on shared machines: compare ratios within one run.

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
import time
from pathlib import Path

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


def measure(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return (time.perf_counter() - start) * 1000


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


if __name__ == "__main__":
    main()
