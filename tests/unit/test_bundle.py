"""The Lambda deployment zip (``dynamorm-gen bundle``): what it holds, that it is reproducible,
and that the example payments Lambda runs from it with nothing but the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from dynamorm_gen.bundle import BundleError, build
from dynamorm_gen.cli import main
from dynamorm_gen.testing import LocalEngine
from generated_examples.payment import PaymentsTable

ROOT = Path(__file__).resolve().parents[2]
HANDLER = ROOT / "examples" / "lambda" / "handler.py"
GENERATED = ROOT / "generated_examples"
TAG = f"cpython-{sys.version_info.major}{sys.version_info.minor}"


@pytest.fixture
def example_zip(tmp_path: Path) -> Path:
    return build(tmp_path / "lambda.zip", [HANDLER, GENERATED]).path


def test_the_zip_holds_the_runtime_the_handler_and_the_generated_modules(
    example_zip: Path,
) -> None:
    names = zipfile.ZipFile(example_zip).namelist()
    assert names == sorted(names)
    for expected in (
        "handler.py",
        f"__pycache__/handler.{TAG}.pyc",
        "generated_examples/payment.py",
        f"generated_examples/__pycache__/payment.{TAG}.pyc",
        "dynamorm_gen/__init__.py",
        "dynamorm_gen/runtime/client.py",
        f"dynamorm_gen/runtime/__pycache__/fast.{TAG}.pyc",
    ):
        assert expected in names
    runtime = sorted(p.name for p in (ROOT / "dynamorm_gen" / "runtime").glob("*.py"))
    assert (
        sorted(
            n.rsplit("/", 1)[1]
            for n in names
            if n.startswith("dynamorm_gen/runtime/") and n.endswith(".py")
        )
        == runtime
    )
    # Nothing of the compiler, its templates, the CLI or the test plugin.
    for name in names:
        assert not name.startswith(
            ("dynamorm_gen/compiler", "dynamorm_gen/templates", "dynamorm_gen/testing")
        ), name
        assert name not in ("dynamorm_gen/cli.py", "dynamorm_gen/bundle.py"), name
    assert example_zip.stat().st_size < 1024 * 1024


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first = build(tmp_path / "a.zip", [HANDLER, GENERATED]).path.read_bytes()
    second = build(tmp_path / "b.zip", [HANDLER, GENERATED]).path.read_bytes()
    assert first == second


def test_without_byte_code(tmp_path: Path) -> None:
    made = build(tmp_path / "lambda.zip", [HANDLER], byte_code=False)
    assert not [n for n in made.entries if "__pycache__" in n]
    assert "handler.py" in made.entries


def test_an_include_named_twice_or_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"handler\.py would be in the zip twice"):
        build(tmp_path / "lambda.zip", [HANDLER, HANDLER])
    with pytest.raises(BundleError, match="neither a file nor a folder"):
        build(tmp_path / "lambda.zip", [tmp_path / "missing.py"])
    assert not (tmp_path / "lambda.zip").exists()


def test_the_command(tmp_path: Path) -> None:
    output = tmp_path / "out" / "lambda.zip"
    result = CliRunner().invoke(
        main, ["bundle", "-o", str(output), str(HANDLER), str(GENERATED)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {output}: ")
    assert "byte code for Python" in result.output
    assert zipfile.ZipFile(output).testzip() is None
    missing = CliRunner().invoke(main, ["bundle", str(tmp_path / "nothing.py")])
    assert missing.exit_code == 2


def test_the_command_says_how_to_install_the_compiler_when_it_is_missing() -> None:
    """Installed without the `cli` extra, `dynamorm-gen` names what to install."""
    code = (
        "import sys, importlib.util\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a: None if n in ('click', 'jinja2') else real(n, *a)\n"
        "from dynamorm_gen.__main__ import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2
    assert done.stderr == (
        "dynamorm-gen: the compiler needs packages that are not installed (click,"
        ' jinja2); install them with: pip install "dynamorm-gen[cli]"\n'
    )


@pytest.mark.integration
def test_the_example_lambda_runs_from_the_zip_on_the_standard_library_alone(
    example_zip: Path,
    tmp_path: Path,
    dynamorm_engine: LocalEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unzipped as Lambda does, run by an interpreter that sees no site-packages (-I -S):
    the handler authorizes and reads a payment on the fast transport."""
    task = tmp_path / "task"
    zipfile.ZipFile(example_zip).extractall(task)
    monkeypatch.setenv("DYNAMORM_TRANSPORT", "fast")
    dynamorm_engine.create(PaymentsTable(name="payments"))
    code = f"""
import json, sys
sys.path.insert(0, {str(task)!r})
import handler

class Context:
    function_name = "payments"
    memory_limit_in_mb = 512
    aws_request_id = "r-1"
    def get_remaining_time_in_millis(self):
        return 30000

payment = {{"merchant_id": "m-1", "payment_id": "p-1"}}
out = [
    handler.handler(dict(action="authorize", customer_id="c-1", amount=5, currency="EUR", **payment), Context()),
    handler.handler(dict(action="get", **payment), Context()),
]
stdlib = sys.base_prefix
foreign = sorted(
    name for name, module in sys.modules.items()
    if getattr(module, "__file__", None)
    and not module.__file__.startswith(({str(task)!r}, stdlib))
)
print(json.dumps({{"out": out, "foreign": foreign}}))
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "PAYMENTS_TABLE": "payments",
        "DYNAMORM_ENDPOINT_URL": dynamorm_engine.url,
        "DYNAMORM_TRANSPORT": "fast",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["foreign"] == []
    authorized, found = result["out"]
    assert authorized["status"] == "pending"
    assert found["status"] == "found" and found["payment"]["amount"] == 5
