"""The pytest plugin users get (dynamorm_gen.testing): declared as a pytest11 entry point, and
working in a user's project of its own, run by pytest in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.testing import PARTNERS, LocalEngine, StsStub, make_partners
from tests.conftest import ROOT

USER_TESTS = """
from dynamorm_gen.runtime import PartnerRequired
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from generated_examples.basic import Todo, TodosTable
from generated_examples.payment import Payment, PaymentsTable
import pytest


def test_partners_each_have_their_own_table(
    dynamorm_engine, dynamorm_partners, dynamorm_transport
):
    db = LambdaDatabase(partners=dynamorm_partners, region="us-east-1")
    payments = db.partner_table(PaymentsTable, name="payments")
    try:
        for partner in dynamorm_partners.ids():
            with db.partner(partner):
                dynamorm_engine.create(payments)
                payments.put_payment(
                    Payment(merchant_id=partner, customer_id="c", amount=1, currency="EUR")
                )
        with db.partner("partner-a"):
            assert list(payments.iter_payment_by_merchant(merchant_id="partner-b")) == []
            assert len(list(payments.iter_payment_by_merchant(merchant_id="partner-a"))) == 1
        with pytest.raises(PartnerRequired):
            payments.get_payment(merchant_id="partner-a", payment_id="p")
    finally:
        db.close()


def test_own_tables_on_the_fast_transport(dynamorm_engine, monkeypatch):
    monkeypatch.setenv("DYNAMORM_TRANSPORT", "fast")
    todos = TodosTable(name="todos")
    dynamorm_engine.create(todos)
    todos.put_todo(Todo(user_id="u1", title="write tests"))
    assert [t.title for t in todos.iter_todo_for_user(user_id="u1")] == ["write tests"]
"""


def test_the_plugin_is_a_pytest11_entry_point_named_as_its_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    plugins = project["project"]["entry-points"]["pytest11"]
    assert plugins == {"dynamorm_gen.testing": "dynamorm_gen.testing"}


def _pytest(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """pytest run in ``project`` by a fresh interpreter, as a user would run it (no AWS_ or
    DYNAMORM_ variable of this process), with this checkout importable."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "DYNAMORM_", "PYTEST_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        # -p names the plugin as the pytest11 entry point does once the package is installed.
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "dynamorm_gen.testing",
            "-q",
            "-p",
            "no:cacheprovider",
            *options,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_users_project_runs_on_the_plugins_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    # As a conftest may list it although the entry point registered it: no double loading.
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["dynamorm_gen.testing"]\n')
    result = _pytest(tmp_path, "-W", "error::pytest.PytestAssertRewriteWarning")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout


def test_partners_are_skipped_clearly_on_an_engine_without_sts(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        """
import pytest
from dynamorm_gen.testing.engines import LocalEngine

@pytest.fixture
def dynamorm_engine():
    return LocalEngine("dynalite", "http://127.0.0.1:1", reset=lambda: None,
                       stop=lambda: None, has_sts=False, has_ttl=False,
                       has_transactions=False)
"""
    )
    (tmp_path / "test_it.py").write_text("def test_it(dynamorm_partners):\n    pass\n")
    result = _pytest(tmp_path, "-rs")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "1 skipped" in result.stdout
    assert "partners need STS and accounts, which dynalite lacks" in result.stdout


def test_partners_of_the_fixture_are_in_separate_accounts() -> None:
    registry = make_partners()
    assert registry.ids() == sorted(PARTNERS)
    assert {registry.get(p).account_id for p in PARTNERS} == set(PARTNERS.values())
    assert registry.get("partner-a").external_id == "external-partner-a"


def test_the_engine_fixture_points_everything_at_the_engine(
    dynamorm_engine: LocalEngine,
) -> None:
    assert dynamorm_engine.name == "moto" and dynamorm_engine.has_sts
    assert os.environ["DYNAMORM_ENDPOINT_URL"] == dynamorm_engine.url
    assert os.environ["DYNAMORM_STS_ENDPOINT_URL"] == dynamorm_engine.url
    assert dynamorm_engine.url.startswith("http://127.0.0.1:")
    assert repr(dynamorm_engine) == f"LocalEngine(moto, {dynamorm_engine.url})"
    db = LambdaDatabase(region="us-east-1")
    try:
        assert db.endpoint_url == dynamorm_engine.url
        assert db.accounts.sts_endpoint_url == dynamorm_engine.url
    finally:
        db.close()


def test_the_sts_stub_answers_and_scripts_errors() -> None:
    import urllib.error
    import urllib.request

    with StsStub(lifetime=900) as stub:
        request = urllib.request.Request(
            stub.url, data=b"Action=GetCallerIdentity", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 400 and b"InvalidAction" in caught.value.read()
        stub.fail("AccessDenied", times=2)
        stub.recover()
        assert stub.assumed() == 1  # the GetCallerIdentity above
    with pytest.raises(RuntimeError, match="not started"):
        _ = StsStub().url


@pytest.mark.integration
def test_the_engine_reset_deletes_every_table_of_dynalite(
    dynalite_endpoint: str,
) -> None:
    from dynamorm_gen.runtime.client import create
    from dynamorm_gen.runtime.retry import READ
    from dynamorm_gen.testing.engines import FAKE_CREDENTIALS, delete_tables
    from generated_examples.basic import TodosTable

    client = create(
        "us-east-1", dynalite_endpoint, None, "fast", credentials=FAKE_CREDENTIALS
    )
    try:
        for n in range(3):
            TodosTable(Connection(client=client), name=f"todos-{n}").handle.create(
                ttl=False
            )
        assert len(client.call("ListTables", {}, READ)["TableNames"]) >= 3
        delete_tables(dynalite_endpoint)
        assert client.call("ListTables", {}, READ)["TableNames"] == []
    finally:
        client.close()
