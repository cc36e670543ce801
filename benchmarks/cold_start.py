"""Lambda cold start: a fresh interpreter until the first PutItem is signed, per library.

Each case is a new ``python -c <script>`` (``sys.executable``, the same flags for all) that
imports a library, makes what a Lambda makes during init (client, table, model) and builds
and signs the first PutItem of the same Payment item (benchmarks/serialization.py's, its
encrypted card token unset but in the encrypted case), without sending it. The wall time of the whole process (``perf_counter`` around it, interpreter
start-up and teardown included) and its peak RSS are recorded; cases run interleaved, in a
new shuffled order each round (fixed seed), ``--runs`` rounds, and the median and minimum are
printed with ratios to ``python -c pass``, to the standard-library floor and to our fast
transport. Absolute times drift on shared machines: compare ratios within one run.

What each case does, and how nothing is sent:

- ``python -c pass``; and the **stdlib floor**: a process that only imports http.client, ssl,
  hmac, hashlib, json, decimal, base64, datetime and zlib, the standard library a pure-Python
  DynamoDB client needs. (The fast transport has its own HTTP exchange, ``http.py``, so it
  imports no http.client and its ``email`` package, and can come in under this floor.)
- **dynamorm-gen fast**: ``import generated_examples.payment``, ``LambdaDatabase(transport=
  "fast")``, ``db.table(PaymentsTable)``, a Payment, ``to_item()``, ``put_request`` (the
  version condition ``put_payment`` sends), then ``FastTransport.prepare``: the JSON body and
  the SigV4-signed HTTP request, as bytes. ``prepare`` is what ``FastTransport.exchange`` signs with;
  only the socket write is left out.
- **dynamorm-gen fast, partner**: the same first PutItem, in a partner's account: a
  ``LambdaDatabase`` with one partner (``PartnerRegistry``), ``db.partner_table(PaymentsTable)``
  and, inside ``with db.partner(...)``, ``prepare``; signing asks for the partner's credentials,
  so the role is assumed first: a signed STS AssumeRole (query protocol) sent over loopback to
  a stub STS that this script runs (``dynamorm_gen.testing.StsStub``, answering at once), its
  XML answer parsed, then the PutItem signed with the role's credentials. The difference from
  **dynamorm-gen fast** is what a partner's first request adds to a cold start, less STS's own
  latency (a regional STS endpoint answers in ~10-50 ms; the TLS handshake to it is not here
  either). The audit hook of the checked run allows that one loopback address.
- **dynamorm-gen fast, encrypted**: the fast case with the Payment's encrypted card token
  set: ``to_item`` asks KMS for a data key (a signed GenerateDataKey, JSON 1.1, sent over
  loopback to a stub KMS this script runs, ``benchmarks/kms_stub.py``, answering at once),
  imports ``cryptography`` and seals the token (AES-256-GCM, bound to the item) before the
  PutItem is signed. The difference from **dynamorm-gen fast** is what encryption adds to a
  cold start, less KMS's own latency and TLS handshake. The checked run's audit hook allows
  the stub's address too.
- **dynamorm-gen botocore**, **boto3.client**, **boto3.resource**, **PynamoDB**: the botocore
  client is created and ``put_item``/``Model.save()`` runs through botocore's whole request
  pipeline (parameter serialisation, endpoint resolution, SigV4 signing in the
  ``request-created`` step, request preparation). A ``before-send`` handler, the hook
  botocore itself offers for stubbing, records the signed ``AWSRequest`` and returns a
  ``200 {}`` response, so no connection is opened; botocore then parses that response, a
  little more work than the fast case does. boto3.client sends the low-level request our
  ``put_request`` builds (written out as a literal, as a boto3.client user writes it);
  boto3.resource and PynamoDB convert the Python values themselves (PynamoDB's model is
  ``serialization.pynamodb_model``; its VersionAttribute adds the version condition).
- **pydynox**: its Rust client cannot build a request without sending it, so two rows.
  *prepared*: client (fake credentials) and Model made, ``save()``'s preparation (hooks,
  version condition, ``to_dict``) and its Rust item conversion run; no request is built or
  signed, so this row does less than ours, and is the one the target uses. *refused port*:
  ``Model.save()`` for real, endpoint ``http://127.0.0.1:PORT`` where PORT is a socket this
  script holds bound but never listens on: the request is built and signed, the loopback
  connection is refused by the kernel at once, and no byte of the request is sent.
- **Powertools idempotency**: ``from aws_lambda_powertools.utilities.idempotency import
  idempotent, DynamoDBPersistenceLayer`` and ``DynamoDBPersistenceLayer(table_name=...)``,
  which creates its boto3 client; no request.

Children get fake credentials (``AWS_ACCESS_KEY_ID=testing``, ...), ``AWS_REGION=us-east-1``,
``AWS_EC2_METADATA_DISABLED=true`` and ``os.devnull`` as config and credentials files; every
other ``AWS_*`` and ``DYNAMORM_*`` variable is removed. Before timing, each case runs once in
a checked form: an audit hook refuses every Python-level socket connect, DNS look-up and send
(pydynox's Rust sockets are not seen by it: its endpoint is the refused loopback port), and
the child reports which of botocore, boto3, jinja2, yaml, jsonschema and click it imported and
whether a SigV4-signed request was produced ("signed -": none visible to Python, as for
pydynox, whose Rust client signs out of sight). The timed runs are the bare scripts.

Peak RSS is the child's own high-water mark, ``VmHWM`` from ``/proc/self/status`` (Linux),
read by two lines appended to every script (no import; ~0.1 ms), median over the runs.
``ru_maxrss`` is no good here: Linux carries the high-water mark across fork and exec, so
every child would report at least this script's own RSS at the moment it started the child
(~27 MiB, above ``python -c pass``'s ~13 MiB), whether read with ``RUSAGE_SELF`` in the
child or ``os.wait4`` in the parent.

Byte-compiling: this environment sets PYTHONDONTWRITEBYTECODE, so without care every child
would compile our modules again (a Lambda package should ship its .pyc files, its file system
being read-only). ``python -m compileall -q dynamorm_gen generated_examples`` runs first and the
children's environment drops PYTHONDONTWRITEBYTECODE, so they load .pyc files like every
installed peer does from site-packages.

``--no-pth`` starts every child with ``-S`` and puts site-packages on ``sys.path`` by hand, so
no .pth file runs. The default (plain ``python``) is what the targets are judged on; the
option shows how much of the ratios a machine's start-up hooks take: a development install
(``pip install -e``) adds a .pth import hook, other tools add their own, and a Lambda
deployment package has none of them.

    python benchmarks/cold_start.py [--runs 15] [--seed 0] [--no-pth]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import random
import site
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import serialization  # noqa: E402
from kms_stub import KmsStub  # noqa: E402

from dynamorm_gen.testing.sts_stub import StsStub  # noqa: E402
from generated_examples.payment import PaymentsTable  # noqa: E402

FORBIDDEN = ("botocore", "boto3", "jinja2", "yaml", "jsonschema", "click")

PASS = "python -c pass"
FLOOR = "stdlib floor"
FAST = "dynamorm-gen fast"
PARTNER = "dynamorm-gen fast, partner"
ENCRYPTED = "dynamorm-gen fast, encrypted"
BOTOCORE = "dynamorm-gen botocore"
CLIENT = 'boto3.client("dynamodb")'
RESOURCE = 'boto3.resource("dynamodb")'
PYNAMO = "PynamoDB Model.save()"
PYDYNOX = "pydynox Model, prepared"
PYDYNOX_REFUSED = "pydynox Model.save(), refused port"
POWERTOOLS = "Powertools idempotency"


@dataclass
class Case:
    name: str
    code: str
    needs: str | None = None  # a package that must be installed, else "not installed"


# The same Payment in every case (its encrypted card token unset, but in ENCRYPTED's).
_PAYMENT = "\n".join(
    (
        "import datetime",
        "from decimal import Decimal",
        f"CREATED = {serialization.CREATED!r}",
        f"UPDATED = {serialization.UPDATED!r}",
        inspect.getsource(serialization.our_payment),
    )
)

# botocore's own stubbing point: the signed request is kept, a 200 "{}" comes back.
_BOTOCORE_STUB = """
from botocore.awsrequest import AWSResponse

class _Raw:
    def stream(self, **kwargs):
        yield b"{}"

captured = []

def _no_send(request, **kwargs):
    captured.append(request)
    return AWSResponse(request.url, 200, {"x-amzn-requestid": "stub"}, _Raw())

def stub(client):
    client.meta.events.register("before-send.dynamodb.PutItem", _no_send)
"""


def _ours(transport: str) -> str:
    sign = (
        'signed = client.transport.prepare("PutItem", request)'
        if transport == "fast"
        else 'stub(client.transport.client)\nclient.call("PutItem", request, "conditional")'
    )
    return "\n".join(
        (
            "from dynamorm_gen.runtime.aws_lambda import LambdaDatabase",
            "from generated_examples.payment import Payment, PaymentsTable",
            "" if transport == "fast" else _BOTOCORE_STUB,
            _PAYMENT,
            f'db = LambdaDatabase(transport="{transport}", region="us-east-1")',
            "payments = db.table(PaymentsTable)",
            "client = payments.handle.connection.client",
            "payment = our_payment()",
            # What put_payment does: the stored version is expected, the next one written.
            "item = payment.to_item()",
            'item["version"] = {"N": str(payment.version + 1)}',
            "request = payments.handle.put_request(",
            '    item, version="version", expected_version=payment.version',
            ")",
            sign,
        )
    )


def _partner(sts_url: str) -> str:
    """The fast case in a partner's account: AssumeRole to the stub STS, then the PutItem."""
    return "\n".join(
        (
            "from dynamorm_gen.runtime.aws_lambda import LambdaDatabase",
            "from dynamorm_gen.runtime.partners import Partner, PartnerRegistry",
            "from generated_examples.payment import Payment, PaymentsTable",
            _PAYMENT,
            "partners = PartnerRegistry([Partner(",
            '    "acme", role_arn="arn:aws:iam::111122223333:role/payments-access",',
            '    external_id="bench-external-id",',
            ")])",
            "db = LambdaDatabase(",
            f'    transport="fast", region="us-east-1", partners=partners, sts_endpoint_url="{sts_url}"',
            ")",
            "payments = db.partner_table(PaymentsTable)",
            "payment = our_payment()",
            "item = payment.to_item()",
            'item["version"] = {"N": str(payment.version + 1)}',
            "request = payments.handle.put_request(",
            '    item, version="version", expected_version=payment.version',
            ")",
            'with db.partner("acme"):',
            "    client = payments.handle.connection.client",
            '    signed = client.transport.prepare("PutItem", request)',
        )
    )


def _encrypted(kms_url: str) -> str:
    """The fast case with the card token set: its data key from a loopback stub KMS (a
    signed GenerateDataKey, JSON 1.1), cryptography imported, the value sealed."""
    return "\n".join(
        (
            "import os",
            f'os.environ["DYNAMORM_KMS_ENDPOINT_URL"] = "{kms_url}"',
            'os.environ["DYNAMORM_KMS_KEY"] = "alias/payments"',
            "from dynamorm_gen.runtime.aws_lambda import LambdaDatabase",
            "from generated_examples.payment import Payment, PaymentsTable",
            _PAYMENT,
            'db = LambdaDatabase(transport="fast", region="us-east-1")',
            "payments = db.table(PaymentsTable)",
            "client = payments.handle.connection.client",
            "payment = our_payment()",
            'payment.card_token = "tok_4242424242424242"',
            "item = payment.to_item(payments.handle.connection)",
            'item["version"] = {"N": str(payment.version + 1)}',
            "request = payments.handle.put_request(",
            '    item, version="version", expected_version=payment.version',
            ")",
            'signed = client.transport.prepare("PutItem", request)',
        )
    )


def _pydynox(port: int, send: bool) -> str:
    values = serialization.python_values(serialization.our_payment())
    values["created_at"] = serialization.CREATED
    values["updated_at"] = serialization.UPDATED
    values["entity_type"] = values.pop("_et")
    last = (
        "try:\n"
        "    payment.sync_save(full_replace=True)\n"
        "except ConnectionException:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('pydynox reached a server')"
        if send
        else "from pydynox import pydynox_core\n"
        "from pydynox._internal._model._helpers import prepare_smart_save\n"
        "prepared = prepare_smart_save(payment, None, None, True)\n"
        "wire = pydynox_core.item_to_dynamo(prepared.key_or_item)\n"
        "condition = pydynox_core.item_to_dynamo(prepared.attr_values)"
    )
    return f"""
import datetime
from decimal import Decimal
from pydynox import DynamoDBClient, Model, ModelConfig
from pydynox.attributes import (
    BinaryAttribute, DatetimeAttribute, DecimalAttribute, MapAttribute, NumberAttribute,
    StringAttribute, StringSetAttribute, VersionAttribute,
)
from pydynox.exceptions import ConnectionException

client = DynamoDBClient(
    region="us-east-1", access_key="testing", secret_key="testing", session_token="testing",
    endpoint_url="http://127.0.0.1:{port}", max_retries=0, connect_timeout=1.0,
    read_timeout=1.0,
)

class PydynoxPayment(Model):
    model_config = ModelConfig(table="payments", client=client)
    PK = StringAttribute(partition_key=True)
    SK = StringAttribute(sort_key=True)
    GSI1PK = StringAttribute()
    GSI1SK = StringAttribute()
    GSI2PK = StringAttribute()
    GSI2SK = StringAttribute()
    entity_type = StringAttribute(alias="_et")
    merchant_id = StringAttribute()
    payment_id = StringAttribute()
    customer_id = StringAttribute()
    amount = NumberAttribute()
    currency = StringAttribute()
    status = StringAttribute()
    card_token = BinaryAttribute()
    metadata = MapAttribute()
    tags = StringSetAttribute()
    fee_rate = DecimalAttribute()
    version = VersionAttribute()
    created_at = DatetimeAttribute()
    updated_at = DatetimeAttribute()

payment = PydynoxPayment(**{values!r})
{last}
"""


def cases(port: int, sts_url: str, kms_url: str) -> list[Case]:
    payment = serialization.our_payment()
    item = payment.to_item()
    item["version"] = {"N": str(payment.version + 1)}
    low_level = PaymentsTable(name="payments").handle.put_request(
        item, version="version", expected_version=payment.version
    )
    values = serialization.python_values(payment)
    pynamo_values = serialization.python_values(payment)
    pynamo_values["entity_type"] = pynamo_values.pop("_et")
    pynamo_values["fee_rate"] = float(payment.fee_rate or 0)
    pynamo_values["created_at"] = payment.created_at
    pynamo_values["updated_at"] = payment.updated_at
    return [
        Case(PASS, "pass"),
        Case(
            FLOOR,
            "import http.client, ssl, hmac, hashlib, json, decimal, base64, datetime, zlib",
        ),
        Case(FAST, _ours("fast")),
        Case(PARTNER, _partner(sts_url)),
        Case(ENCRYPTED, _encrypted(kms_url), "cryptography"),
        Case(BOTOCORE, _ours("botocore"), "botocore"),
        Case(
            CLIENT,
            "import boto3\n"
            + _BOTOCORE_STUB
            + 'client = boto3.client("dynamodb", region_name="us-east-1")\n'
            "stub(client)\n"
            f"client.put_item(**{low_level!r})",
            "boto3",
        ),
        Case(
            RESOURCE,
            "from decimal import Decimal\n"
            "import boto3\n"
            + _BOTOCORE_STUB
            + 'table = boto3.resource("dynamodb", region_name="us-east-1").Table("payments")\n'
            "client = table.meta.client\n"
            "stub(client)\n"
            "table.put_item(\n"
            f"    Item={values!r},\n"
            '    ConditionExpression="#k_version = :k_expected",\n'
            '    ExpressionAttributeNames={"#k_version": "version"},\n'
            f'    ExpressionAttributeValues={{":k_expected": {payment.version}}},\n'
            ")",
            "boto3",
        ),
        Case(
            PYNAMO,
            "import datetime\n"
            "from typing import Any\n"
            + _BOTOCORE_STUB
            + inspect.getsource(serialization.pynamodb_model)
            + "model = pynamodb_model()\n"
            # The client is made here, by the model's connection, as save() would.
            "client = model._get_connection().connection.client\n"
            "stub(client)\n"
            f"model(**{pynamo_values!r}).save()",
            "pynamodb",
        ),
        Case(PYDYNOX, _pydynox(port, send=False), "pydynox"),
        Case(PYDYNOX_REFUSED, _pydynox(port, send=True), "pydynox"),
        Case(
            POWERTOOLS,
            "from aws_lambda_powertools.utilities.idempotency import (\n"
            "    DynamoDBPersistenceLayer, idempotent,\n"
            ")\n"
            'layer = DynamoDBPersistenceLayer(table_name="idempotency")',
            "aws_lambda_powertools",
        ),
    ]


# Prepended in the checked run only: Python-level network use raises, except connecting to
# the stub STS of the partner case and the stub KMS of the encrypted case (_ALLOWED, the
# addresses, is set in front of it).
_GUARD = """
import sys as _sys

def _no_network(event, args):
    if event == "socket.connect" and args[1] in _ALLOWED:
        return
    if event == "socket.getaddrinfo" and (args[0], args[1]) in _ALLOWED:
        return
    if event in (
        "socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
        "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg",
    ):
        raise RuntimeError(f"network use in a cold-start case: {event} {args[1:]!r}")

_sys.addaudithook(_no_network)
"""

# Appended in the checked run only: what was imported, and the request that was signed.
_REPORT = (
    f"\n_forbidden = {FORBIDDEN!r}\n"
    + """
_loaded = sorted({m.partition(".")[0] for m in _sys.modules}.intersection(_forbidden))
_signed = globals().get("signed")
if _signed is None and globals().get("captured"):
    _request = captured[-1]
    _auth = _request.headers["Authorization"]
    _signed = "Authorization: " + (_auth.decode() if isinstance(_auth, bytes) else _auth)
if isinstance(_signed, bytes):
    _signed = _signed.decode("latin-1")
_sig = "-" if _signed is None else "no"
if _signed and "Authorization: AWS4-HMAC-SHA256 Credential=" in _signed:
    _sig = "yes"
print(",".join(_loaded) or "none", _sig, len(_sys.modules))
"""
)


# Appended to every timed script: the process's own peak RSS (KiB), no import needed.
_PEAK_RSS = """
with open("/proc/self/status", "rb") as _status:
    print(int(_status.read().partition(b"VmHWM:")[2].split()[0]))
"""


def byte_compile() -> None:
    """Our packages' .pyc files, which the children load as a deployment package ships them
    (their environment drops PYTHONDONTWRITEBYTECODE)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "dynamorm_gen",
            "generated_examples",
        ],
        cwd=ROOT,
        check=True,
    )


def child_env() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "DYNAMORM_"))
        and name != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


def command(code: str, no_pth: bool) -> list[str]:
    """The child's command line: plain ``python -c``, or with ``-S`` and site-packages put on
    ``sys.path`` by hand, so that no .pth file runs at start-up (``--no-pth``)."""
    if not no_pth:
        return [sys.executable, "-c", code]
    prologue = f"import sys\nsys.path.extend({site.getsitepackages()!r})\n"
    return [sys.executable, "-S", "-c", prologue + code]


def check(
    case: Case, env: dict[str, str], no_pth: bool, allowed: list[tuple[str, int]]
) -> str:
    """Run ``case`` once with the network guard (only ``allowed``, the stub STS and KMS,
    may be reached); what it imported and whether it signed."""
    guard = f"_ALLOWED = {allowed!r}\n" + _GUARD
    return last_line(case.name, guard + case.code + _REPORT, env, no_pth)


def last_line(name: str, code: str, env: dict[str, str], no_pth: bool) -> str:
    """Run ``code`` once in a fresh process; the last line it printed."""
    result = subprocess.run(
        command(code, no_pth),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def measure(code: str, env: dict[str, str], no_pth: bool) -> tuple[float, int]:
    """Wall ms of one fresh process running ``code``, and its own peak RSS (KiB)."""
    start = time.perf_counter()
    result = subprocess.run(
        command(code + _PEAK_RSS, no_pth),
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    elapsed = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise SystemExit(f"a cold-start case failed:\n{result.stderr.decode()}\n{code}")
    return elapsed, int(result.stdout.split()[-1])


def verdict(ratio: float, goal: float, at_most: bool) -> str:
    return "met" if (ratio <= goal if at_most else ratio >= goal) else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-pth",
        action="store_true",
        help="start children with -S and site-packages on sys.path, running no .pth file",
    )
    args = parser.parse_args()

    byte_compile()
    env = child_env()
    # Bound, never listening: connections to it are refused by the kernel at once.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    # The partner case's AssumeRole goes here: a loopback STS answering at once.
    sts = StsStub().start()
    # The encrypted case's GenerateDataKey goes here: a loopback KMS answering at once.
    kms = KmsStub().start()
    allowed = [("127.0.0.1", int(s.url.rpartition(":")[2])) for s in (sts, kms)]

    all_cases = cases(port, sts.url, kms.url)
    missing = [
        c.name
        for c in all_cases
        if c.needs and importlib.util.find_spec(c.needs) is None
    ]
    runnable = [c for c in all_cases if c.name not in missing]
    checked = {
        c.name: check(c, env, args.no_pth, allowed) for c in runnable
    }  # also warms the caches
    samples: dict[str, list[float]] = {c.name: [] for c in runnable}
    rss: dict[str, list[int]] = {c.name: [] for c in runnable}
    order = random.Random(args.seed)
    for case in runnable:  # a plain warm-up run of each
        measure(case.code, env, args.no_pth)
    for _ in range(args.runs):
        order.shuffle(runnable)
        for case in runnable:
            ms, kib = measure(case.code, env, args.no_pth)
            samples[case.name].append(ms)
            rss[case.name].append(kib)
    dead.close()
    assumed = sts.assumed()
    sts.stop()
    data_keys = kms.calls["GenerateDataKey"]
    kms.stop()

    median = {name: statistics.median(values) for name, values in samples.items()}
    peak = {name: statistics.median(values) / 1024 for name, values in rss.items()}
    version = sys.version.split()[0]
    start = "python -S, no .pth files run" if args.no_pth else "plain python"
    print(
        f"Lambda cold start, fresh process to first PutItem signed (not sent); wall ms,"
        f" median of {args.runs} interleaved runs; peak RSS ({start}, Python {version})"
    )
    print(
        f"{'case':36} {'median ms':>9} {'min ms':>7} {'x pass':>7} {'x floor':>8}"
        f" {'x fast':>7} {'RSS MiB':>8} {'RSS x client':>12}  imported (checked run)"
    )
    for case in all_cases:
        name = case.name
        if name in missing:
            print(f"{name:36} not installed ({case.needs})")
            continue
        loaded, signed, count = checked[name].split()
        client_rss = peak.get(CLIENT)
        rss_ratio = f"{peak[name] / client_rss:12.2f}" if client_rss else f"{'-':>12}"
        note = f"{loaded}; signed {signed}; {count} modules"
        print(
            f"{name:36} {median[name]:9.1f} {min(samples[name]):7.1f}"
            f" {median[name] / median[PASS]:7.2f} {median[name] / median[FLOOR]:8.2f}"
            f" {median[name] / median[FAST]:7.2f} {peak[name]:8.1f} {rss_ratio}  {note}"
        )
    print()
    added = median[PARTNER] - median[FAST]
    added_min = min(samples[PARTNER]) - min(samples[FAST])
    print(
        f"  a partner's first request adds {added:.1f} ms to the cold start (medians;"
        f" {added_min:.1f} ms between minimums): AssumeRole to a loopback stub STS"
        f" ({assumed} answered), then the PutItem signed with the role's credentials;"
        " STS's own latency and TLS handshake not included"
    )
    if ENCRYPTED in median:
        added = median[ENCRYPTED] - median[FAST]
        added_min = min(samples[ENCRYPTED]) - min(samples[FAST])
        print(
            f"  encryption on adds {added:.1f} ms to the cold start (medians; {added_min:.1f}"
            " ms between minimums): cryptography imported, GenerateDataKey to a loopback"
            f" stub KMS ({data_keys} answered), the card token sealed; KMS's own latency"
            " and TLS handshake not included"
        )
    print()
    targets: list[tuple[str, str | None, float, bool]] = [
        ('>= 6x faster than boto3.client("dynamodb")', CLIENT, 6.0, False),
        (">= 2x faster than pydynox (prepared)", PYDYNOX, 2.0, False),
        ("within 1.25x of the stdlib floor", FLOOR, 1.25, True),
        ("peak RSS <= 0.4x boto3.client's", None, 0.4, True),
    ]
    for label, other, goal, at_most in targets:
        if other is None:
            if CLIENT not in peak:
                print(f"  target {label:44} boto3 not installed")
                continue
            ratio = peak[FAST] / peak[CLIENT]
        elif other not in median:
            print(f"  target {label:44} not installed")
            continue
        elif other == FLOOR:
            ratio = median[FAST] / median[FLOOR]
        else:
            ratio = median[other] / median[FAST]
        print(f"  target {label:44} {ratio:6.2f}x  {verdict(ratio, goal, at_most)}")


if __name__ == "__main__":
    main()
