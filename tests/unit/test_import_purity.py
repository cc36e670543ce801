"""A Lambda importing generated code must not pay for the compiler (or botocore) at import."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

FORBIDDEN = (
    "jinja2",
    "yaml",
    "jsonschema",
    "click",
    "botocore",
    "boto3",
    "dynamorm_gen.compiler",
)

PROBE = """
import json, sys
before = set(sys.modules)
import generated_examples.payment, generated_examples.basic
import dynamorm_gen.runtime
table = generated_examples.payment.PaymentsTable()
item = generated_examples.basic.Todo(user_id="u", title="t").to_item()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_generated_modules_import_only_runtime_and_stdlib() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    loaded = json.loads(result.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"imported on the Lambda path: {bad}"
    ours = [m for m in loaded if m.startswith("dynamorm_gen")]
    assert ours and all(
        m.startswith(("dynamorm_gen.runtime", "dynamorm_gen")) for m in ours
    )
    assert "dynamorm_gen.runtime.wire" in loaded
