"""pytest fixtures for code built on dynamorm-gen: a local engine, partners, both transports.

Registered as a pytest plugin (the ``pytest11`` entry point ``dynamorm_gen.testing``), so
installing dynamorm-gen makes the fixtures available; ``-p no:dynamorm_gen.testing`` turns
them off. Importing ``dynamorm_gen.runtime`` never imports this module, pytest or moto; moto is
imported when a test first asks for its server.

Why a server: moto's in-process ``mock_aws`` patches botocore, and the fast transport (the
default of ``LambdaDatabase``) does not use botocore, so ``mock_aws`` never sees its requests
(they would go to AWS's real endpoint with fake credentials, and fail). These fixtures start
moto's server on 127.0.0.1 and point both transports, and STS, at it.

Fixtures:

- ``dynamorm_engine``: a clean local engine for the test (moto's server; dynalite with
  ``--dynamorm-engine=dynalite`` or the ``dynamorm_engine`` ini setting), with
  ``DYNAMORM_ENDPOINT_URL``, ``DYNAMORM_STS_ENDPOINT_URL`` and ``DYNAMORM_KMS_ENDPOINT_URL``
  (moto) pointing at it, fake AWS
  credentials in the environment and, if none is set, the region us-east-1. ``dynamorm_engine.create(table)`` creates a generated
  table (``TableClass(...)``) and, for a partner table, checks that moto created it in the
  partner's account.
- ``dynamorm_partners``: a ``PartnerRegistry`` of two partners in separate accounts
  (``PARTNERS``), for ``LambdaDatabase(partners=...)``.
- ``dynamorm_transport``: runs the test once per transport (``"fast"``, ``"botocore"``),
  with ``DYNAMORM_TRANSPORT`` set.
- ``dynamorm_moto``, ``dynamorm_dynalite``: the engines themselves (one per session,
  started when first needed, stopped at the end).
- ``dynamorm_sts_stub``: an ``StsStub``, for AccessDenied and the other STS failures that moto
  cannot produce.
- ``dynamorm_kms``: KMS for encrypted attributes, on moto's server (with dynalite as the
  engine, moto's server runs beside it for KMS): a ``MotoKms`` whose ``key_id`` (a new key,
  also in ``DYNAMORM_KMS_KEY``) seals what the function writes in its own account;
  ``create_key(partner)`` makes a key in a partner's account (give it as the partner's
  ``kms_key``), ``create_alias`` an alias.

Without a server, ``Connection(kms=LocalKms())`` runs encrypted attributes in-process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dynamorm_gen.runtime.partners import PartnerRegistry
    from dynamorm_gen.testing.engines import LocalEngine
    from dynamorm_gen.testing.moto_kms import MotoKms
    from dynamorm_gen.testing.sts_stub import StsStub

# pytest imports a plugin of an entry point before coverage measurement starts: what this
# module imports at its top would be measured as never run. So the runtime, the engines and
# the stub are imported when a fixture first needs them, and the public names below are
# looked up on first use (``__getattr__``).
_LAZY = {
    "LocalEngine": "dynamorm_gen.testing.engines",
    "EngineError": "dynamorm_gen.testing.engines",
    "StsStub": "dynamorm_gen.testing.sts_stub",
    "LocalKms": "dynamorm_gen.testing.local_kms",
    "MotoKms": "dynamorm_gen.testing.moto_kms",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "PARTNERS",
    "EngineError",
    "LocalEngine",
    "LocalKms",
    "MotoKms",
    "StsStub",
    "make_partners",
]

ENGINES = ("moto", "dynalite")
# The partners of ``dynamorm_partners``: id -> account id.
PARTNERS = {"partner-a": "111111111111", "partner-b": "222222222222"}
ROLE_NAME = "dynamorm-test-access"
DEFAULT_REGION = "us-east-1"  # when the environment names none


def make_partners(accounts: dict[str, str] | None = None) -> PartnerRegistry:
    """A registry of partners (default ``PARTNERS``), each in its own account, with a role
    named ``ROLE_NAME`` and an external ID ``external-<id>``."""
    from dynamorm_gen.runtime.partners import Partner, PartnerRegistry

    return PartnerRegistry(
        Partner(
            partner_id,
            role_arn=f"arn:aws:iam::{account}:role/{ROLE_NAME}",
            external_id=f"external-{partner_id}",
        )
        for partner_id, account in (accounts or PARTNERS).items()
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dynamorm-gen")
    group.addoption(
        "--dynamorm-engine",
        choices=ENGINES,
        default=None,
        help="the engine of the dynamorm_engine fixture (default: the dynamorm_engine"
        " ini setting, else moto)",
    )
    parser.addini(
        "dynamorm_engine", "the engine of dynamorm_engine: moto or dynalite", "string"
    )
    parser.addini(
        "dynamorm_dynalite_cli",
        "dynalite's cli.js, relative to the rootdir"
        " (default node_modules/dynalite/cli.js)",
        "string",
    )


@pytest.fixture(scope="session")
def dynamorm_moto() -> Iterator[LocalEngine]:
    """moto's server on 127.0.0.1, for the session (reset it with ``.reset()``)."""
    from dynamorm_gen.testing.engines import start_moto

    engine = start_moto()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def dynamorm_dynalite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalEngine]:
    """dynalite on 127.0.0.1, for the session; its ``cli.js`` is the
    ``dynamorm_dynalite_cli`` ini setting (relative to the rootdir)."""
    from dynamorm_gen.testing.engines import EngineError, start_dynalite

    setting = request.config.getini("dynamorm_dynalite_cli")
    cli = Path(request.config.rootpath) / (setting or "node_modules/dynalite/cli.js")
    log = tmp_path_factory.mktemp("dynalite") / "dynalite.log"
    try:
        engine = start_dynalite(cli, log)
    except EngineError as exc:
        pytest.fail(
            f"{exc}; install it (npm install dynalite) or set dynamorm_dynalite_cli",
            pytrace=False,
        )
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def dynamorm_engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalEngine]:
    """A clean engine for this test, with the environment pointing both transports (and
    STS, on moto) at it and fake AWS credentials; process-wide clients and partners'
    credentials are forgotten before and after."""
    from dynamorm_gen.runtime.accounts import forget_all
    from dynamorm_gen.runtime.table import reset_clients
    from dynamorm_gen.testing.engines import sandbox_environment

    name = request.config.getoption("--dynamorm-engine") or (
        request.config.getini("dynamorm_engine") or "moto"
    )
    if name not in ENGINES:
        pytest.fail(
            f"unknown dynamorm_engine {name!r}: moto or dynalite", pytrace=False
        )
    engine: LocalEngine = request.getfixturevalue(f"dynamorm_{name}")
    engine.reset()
    for variable, value in sandbox_environment(engine.url, sts=engine.has_sts).items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        monkeypatch.setenv("AWS_REGION", DEFAULT_REGION)
        monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
    reset_clients()
    yield engine
    reset_clients()
    forget_all()


@pytest.fixture
def dynamorm_partners(dynamorm_engine: LocalEngine) -> PartnerRegistry:
    """Two partners in separate accounts (``PARTNERS``) on the test's engine."""
    if not dynamorm_engine.has_sts:
        pytest.skip(
            f"partners need STS and accounts, which {dynamorm_engine.name} lacks"
        )
    return make_partners()


@pytest.fixture(params=("fast", "botocore"))
def dynamorm_transport(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The test runs once per transport; ``DYNAMORM_TRANSPORT`` is set to it."""
    transport: str = request.param
    monkeypatch.setenv("DYNAMORM_TRANSPORT", transport)
    return transport


@pytest.fixture
def dynamorm_sts_stub() -> Iterator[StsStub]:
    """A started ``StsStub`` (point ``sts_endpoint_url`` or ``DYNAMORM_STS_ENDPOINT_URL``
    at its ``url``)."""
    from dynamorm_gen.testing.sts_stub import StsStub

    with StsStub() as stub:
        yield stub


@pytest.fixture
def dynamorm_kms(
    request: pytest.FixtureRequest,
    dynamorm_engine: LocalEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> MotoKms:
    """KMS on moto's server for the test's encrypted attributes: a new key in the function's
    own account, in ``DYNAMORM_KMS_KEY`` (see the module docstring)."""
    from dynamorm_gen.testing.moto_kms import MotoKms

    moto = dynamorm_engine
    if moto.name != "moto":
        moto = request.getfixturevalue("dynamorm_moto")
        moto.reset()
    monkeypatch.setenv("DYNAMORM_KMS_ENDPOINT_URL", moto.url)
    region = os.environ.get("AWS_REGION") or DEFAULT_REGION
    kms = MotoKms(moto.url, region)
    kms.key_id = kms.create_key()
    monkeypatch.setenv("DYNAMORM_KMS_KEY", kms.key_id)
    return kms
