"""Idempotent Lambda handlers, ours next to Powertools', in one run: the cold start to the first
idempotent call, client CPU per call (a new key, a replayed key), and requests per call.

Every handler is the same API Gateway handler: its key is the path's merchant and the body's
payment id, its payload the JSON body (ours: ``generated_examples.payment.CAPTURE_PAYMENT``;
Powertools: ``IdempotencyConfig(event_key_jmespath="[pathParameters.merchant_id,
powertools_json(body).payment_id]", payload_validation_jmespath="powertools_json(body)",
hash_function="sha256")``, the same hash as ours), and it returns a small response at once, so
what is measured is the idempotency machinery. Cases:

- **ours, plain**: ``Idempotency(payments).handler(CAPTURE_PAYMENT)`` on the fast transport
  (the ``LambdaDatabase`` default) under ``@db.handler``;
- **ours, atomic**: ``.atomic_handler``: the record commits in a TransactWriteItems (the
  handler adds no write of its own, so the transaction holds the record alone);
- **ours, plain, botocore**: the plain case on the botocore transport (CPU only);
- **Powertools**: ``@idempotent(persistence_store=DynamoDBPersistenceLayer(table_name=...,
  boto3_client=...), config=...)``, aws-lambda-powertools 3.x with boto3.

A stub DynamoDB answers on 127.0.0.1 (``client_cpu.py``'s server, in processes of its own, from
prebuilt bytes with correct CRC32 headers; its CPU is not counted): one stub answers every
request with success (a new key: the conditional put succeeds, the COMPLETED write too), and one
per library answers PutItem with ``ConditionalCheckFailedException`` carrying the stored
COMPLETED record (a replayed key: both libraries ask for it with
``ReturnValuesOnConditionCheckFailure`` and read the response from it, no second request).

1. **Cold start**: a fresh ``python -c`` per case (as ``cold_start.py`` runs them: fake
   credentials, byte-compiled modules, interleaved shuffled rounds) that imports, builds the
   handler as a Lambda's init would, and calls it once with a new key against the stub: wall
   ms of the whole process, with the modules it imported (ours must import no botocore).
2. **Client CPU per call**: in this process, ``time.process_time()`` around ``--calls`` calls
   of each case, after a warm-up, ``--rounds`` rounds interleaved, median us/op; a new key per
   call for "new key", the same event for "replayed key".
3. **Requests per call**: the operations each case sent, counted by our hooks and by a botocore
   event handler on Powertools' client.

Absolute times drift on shared machines: compare ratios within one run.

    python benchmarks/idempotency.py [--runs 15] [--calls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import client_cpu  # noqa: E402  (the stub server)
import cold_start  # noqa: E402  (fresh processes: environment, command, timing)

from dynamorm_gen.runtime.idempotency import canonical_json  # noqa: E402

TABLE = "payments"
MERCHANT = "m-1"
PASS = "python -c pass"
PLAIN = "ours, plain"
ATOMIC = "ours, atomic"
BOTOCORE = "ours, plain, botocore"
POWERTOOLS = "Powertools"
FORBIDDEN = ("botocore", "boto3")
RESPONSE = {"statusCode": 201, "body": '{"captured": true}'}
POWERTOOLS_KEY = "[pathParameters.merchant_id, powertools_json(body).payment_id]"
POWERTOOLS_PAYLOAD = "powertools_json(body)"


def event(payment_id: str) -> dict[str, Any]:
    """An API Gateway event: what the key and the payload are read from."""
    return {
        "resource": "/merchants/{merchant_id}/payments",
        "httpMethod": "POST",
        "pathParameters": {"merchant_id": MERCHANT},
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": f"req-{payment_id}", "stage": "prod"},
        "body": json.dumps(
            {"payment_id": payment_id, "amount": 1250, "currency": "EUR"}
        ),
    }


class LambdaContext:
    """What both libraries read of Lambda's context object."""

    function_name = "capture"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:capture"
    aws_request_id = "request"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# --- the stubs --------------------------------------------------------------------------------


def _conditional_failure(item: dict[str, Any]) -> bytes:
    def encode(value: object) -> object:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        raise TypeError(type(value).__name__)

    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "Item": item,
        },
        default=encode,
    ).encode()
    return client_cpu._response(body, "400 Bad Request")


def new_key_responses() -> dict[bytes, bytes]:
    ok = client_cpu._response(b"{}")
    return {b"putitem": ok, b"updateitem": ok, b"transactwriteitems": ok, b"": ok}


def our_stored_record() -> dict[str, Any]:
    """Our COMPLETED record of the replayed event, as DynamoDB would return it."""
    from generated_examples.payment import IdempotencyRecord

    payload = json.loads(event("p-replayed")["body"])
    record = IdempotencyRecord(
        operation="capture_payment",
        key_hash="0" * 64,
        status="COMPLETED",
        expires_at=int(time.time()) + 86400,
        in_progress_until=int(time.time() * 1000),
        payload_hash=hashlib.sha256(canonical_json(payload).encode()).hexdigest(),
        owner="0" * 32,
        response=json.dumps(RESPONSE, separators=(",", ":")),
    )
    return record.to_item()


def powertools_stored_record() -> dict[str, Any]:
    """Powertools' COMPLETED record of the replayed event, hashed by Powertools itself."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    layer = DynamoDBPersistenceLayer(table_name=TABLE, boto3_client=_unused_client())
    layer.configure(_powertools_config(), "handler")
    replayed = event("p-replayed")
    return {
        "id": {"S": layer._get_hashed_idempotency_key(replayed)},
        "expiration": {"N": str(int(time.time()) + 3600)},
        "status": {"S": "COMPLETED"},
        "data": {"S": json.dumps(RESPONSE)},
        "validation": {"S": layer._get_hashed_payload(replayed)},
    }


def _powertools_config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath=POWERTOOLS_KEY,
        payload_validation_jmespath=POWERTOOLS_PAYLOAD,
        hash_function="sha256",
    )


def _unused_client() -> Any:
    """A client for a layer that only hashes (its port is never connected to)."""
    import boto3

    return boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9"
    )


# --- the handlers ----------------------------------------------------------------------------


def our_handler(url: str, transport: str, atomic: bool) -> Callable[[Any, Any], Any]:
    """Our handler, with the invocation's deadline bound around each call as
    ``LambdaDatabase.handler`` binds it (one process-wide capacity meter per
    ``LambdaDatabase`` would be counted once per case here, so none is registered)."""
    from dynamorm_gen.runtime import deadline
    from dynamorm_gen.runtime.idempotency import Idempotency
    from dynamorm_gen.runtime.table import Connection
    from generated_examples.payment import CAPTURE_PAYMENT, PaymentsTable

    connection = Connection(region="us-east-1", endpoint_url=url, transport=transport)
    idempotency = Idempotency(PaymentsTable(connection, name=TABLE))
    if atomic:

        @idempotency.atomic_handler(CAPTURE_PAYMENT)
        def atomic_handler(event: Any, context: Any, tx: Any) -> dict[str, Any]:
            return RESPONSE

        inner = atomic_handler
    else:

        @idempotency.handler(CAPTURE_PAYMENT)
        def handler(event: Any, context: Any) -> dict[str, Any]:
            return RESPONSE

        inner = handler

    def invoke(event: Any, context: Any) -> Any:
        left = context.get_remaining_time_in_millis() / 1000
        with deadline.bind(deadline.Deadline.after(left, 0.2)):
            return inner(event, context)

    return invoke


def powertools_handler(url: str) -> tuple[Callable[[Any, Any], Any], Any]:
    import boto3
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        idempotent,
    )

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url)
    layer = DynamoDBPersistenceLayer(table_name=TABLE, boto3_client=client)

    @idempotent(persistence_store=layer, config=_powertools_config())
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return RESPONSE

    return handler, client


# --- 1. cold start ------------------------------------------------------------------------------

_CONTEXT = """
class LambdaContext:
    function_name = "capture"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:capture"
    aws_request_id = "request"

    def get_remaining_time_in_millis(self):
        return 30_000

EVENT = {event!r}
"""


def cold_cases(url: str) -> dict[str, str]:
    context = _CONTEXT.format(event=event("p-cold"))
    ours = """
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.idempotency import Idempotency
from generated_examples.payment import CAPTURE_PAYMENT, PaymentsTable
{context}
db = LambdaDatabase(transport="fast", region="us-east-1", endpoint_url="{url}")
payments = db.table(PaymentsTable, name="{table}")
idempotency = Idempotency(payments)

@db.handler
@idempotency.{decorator}(CAPTURE_PAYMENT)
def handler(event, context{tx}):
    return {response!r}

assert handler(EVENT, LambdaContext()) == {response!r}
"""
    powertools = """
import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer, IdempotencyConfig, idempotent,
)
{context}
client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="{url}")
layer = DynamoDBPersistenceLayer(table_name="{table}", boto3_client=client)
config = IdempotencyConfig(
    event_key_jmespath="{key}", payload_validation_jmespath="{payload}",
    hash_function="sha256",
)

@idempotent(persistence_store=layer, config=config)
def handler(event, context):
    return {response!r}

assert handler(EVENT, LambdaContext()) == {response!r}
"""
    common = {"context": context, "url": url, "table": TABLE, "response": RESPONSE}
    return {
        PASS: "pass",
        PLAIN: ours.format(decorator="handler", tx="", **common),
        ATOMIC: ours.format(decorator="atomic_handler", tx=", tx", **common),
        POWERTOOLS: powertools.format(
            key=POWERTOOLS_KEY, payload=POWERTOOLS_PAYLOAD, **common
        ),
    }


_IMPORTED = f"""
import sys as _sys
print(",".join(sorted(
    {{m.partition(".")[0] for m in _sys.modules}}.intersection({FORBIDDEN!r})
)) or "none")
"""


def cold_start_table(runs: int, seed: int) -> list[str]:
    cold_start.byte_compile()
    env = cold_start.child_env()
    with client_cpu.stub_server(new_key_responses()) as url:
        cases = cold_cases(url)
        if importlib.util.find_spec("aws_lambda_powertools") is None:
            del cases[POWERTOOLS]
        imported = {  # each checked once, which warms the caches too
            name: cold_start.last_line(name, code + _IMPORTED, env, False)
            for name, code in cases.items()
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        rss: dict[str, list[int]] = {name: [] for name in cases}
        order = list(cases)
        shuffle = random.Random(seed)
        for _ in range(runs):
            shuffle.shuffle(order)
            for name in order:
                ms, kib = cold_start.measure(cases[name], env, False)
                samples[name].append(ms)
                rss[name].append(kib)
    median = {name: statistics.median(values) for name, values in samples.items()}
    lines = [
        f"cold start to the first idempotent call (a new key: two requests to a loopback"
        f" stub), fresh process, wall ms, median of {runs} interleaved runs",
        f"{'case':24} {'median ms':>9} {'min ms':>7} {'x pass':>7} {'x ours':>7}"
        f" {'RSS MiB':>8}  imported",
    ]
    for name in cases:
        lines.append(
            f"{name:24} {median[name]:9.1f} {min(samples[name]):7.1f}"
            f" {median[name] / median[PASS]:7.2f} {median[name] / median[PLAIN]:7.2f}"
            f" {statistics.median(rss[name]) / 1024:8.1f}  {imported[name]}"
        )
    if POWERTOOLS in median:
        saved = median[POWERTOOLS] - median[PLAIN]
        lines.append(
            f"  ours (plain) starts {saved:.0f} ms sooner than Powertools"
            f" ({median[POWERTOOLS] / median[PLAIN]:.1f}x)"
        )
    return lines


# --- 2. client CPU per call, and 3. requests per call -------------------------------------------


class Counted:
    """Our hook: the operations sent."""

    wants_capacity = False

    def __init__(self) -> None:
        self.operations: list[str] = []

    def before_call(self, call: Any) -> None:
        self.operations.append(call.operation)

    def after_call(self, call: Any) -> None:
        pass


def cpu_tables(calls: int, rounds: int) -> list[str]:
    from dynamorm_gen.runtime import hooks

    counter = Counted()
    hooks.add_hook(counter)
    have_powertools = importlib.util.find_spec("aws_lambda_powertools") is not None
    replay_ours = {b"putitem": _conditional_failure(our_stored_record())}
    replay_ours[b""] = client_cpu._response(b"{}")
    cases: dict[str, dict[str, Callable[[], object]]] = {}
    sent: dict[tuple[str, str], list[str]] = {}
    serial = iter(range(10**9))

    def new_key(handler: Callable[[Any, Any], Any]) -> Callable[[], object]:
        context = LambdaContext()
        return lambda: handler(event(f"p-{next(serial)}"), context)

    def replayed(handler: Callable[[Any, Any], Any]) -> Callable[[], object]:
        context = LambdaContext()
        replayed_event = event("p-replayed")
        return lambda: handler(replayed_event, context)

    with (
        client_cpu.stub_server(new_key_responses()) as new_url,
        client_cpu.stub_server(replay_ours) as replay_url,
        (
            client_cpu.stub_server(
                {
                    b"putitem": _conditional_failure(powertools_stored_record()),
                    b"": client_cpu._response(b"{}"),
                }
            )
            if have_powertools
            else client_cpu.stub_server(new_key_responses())
        ) as powertools_replay_url,
    ):
        for name, transport, atomic in (
            (PLAIN, "fast", False),
            (ATOMIC, "fast", True),
            (BOTOCORE, "botocore", False),
        ):
            cases[name] = {
                "new": new_key(our_handler(new_url, transport, atomic)),
                "replay": replayed(our_handler(replay_url, transport, atomic)),
            }
        counts_powertools: dict[str, list[str]] = {"new": [], "replay": []}
        if have_powertools:
            handler, client = powertools_handler(new_url)
            replay_handler, replay_client = powertools_handler(powertools_replay_url)
            mode = ["new"]

            def note(model: Any, **kwargs: Any) -> None:
                counts_powertools[mode[0]].append(model.name)

            for made in (client, replay_client):
                made.meta.events.register("before-call.dynamodb", note)
            cases[POWERTOOLS] = {
                "new": new_key(handler),
                "replay": replayed(replay_handler),
            }
        # Requests of one call of each, then the warm-up.
        for name, case in cases.items():
            for kind in ("new", "replay"):
                counter.operations.clear()
                counts_powertools[kind].clear()
                if name == POWERTOOLS:
                    mode[0] = kind
                case[kind]()
                sent[name, kind] = (
                    list(counts_powertools[kind])
                    if name == POWERTOOLS
                    else list(counter.operations)
                )
                for _ in range(max(20, calls // 5)):
                    case[kind]()
        hooks.remove_hook(counter)
        cpu: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            for name, case in cases.items():
                for kind in ("new", "replay"):
                    cpu_us, _ = client_cpu.measure(case[kind], calls)
                    cpu.setdefault((name, kind), []).append(cpu_us)
    med = {key: statistics.median(values) for key, values in cpu.items()}
    lines = [
        f"client CPU per idempotent call against a loopback stub, us/op (median of {rounds}"
        f" interleaved rounds of {calls} calls)",
        f"{'case':24} {'new key':>8} {'replayed':>9} {'x ours new':>11}"
        f" {'x ours replay':>14}",
    ]
    for name in cases:
        lines.append(
            f"{name:24} {med[name, 'new']:8.0f} {med[name, 'replay']:9.0f}"
            f" {med[name, 'new'] / med[PLAIN, 'new']:11.2f}"
            f" {med[name, 'replay'] / med[PLAIN, 'replay']:14.2f}"
        )
    lines += ["", "requests per call"]
    lines.append(f"{'case':24} {'new key':40} replayed key")
    for name in cases:
        new = sent[name, "new"]
        replay = sent[name, "replay"]
        lines.append(
            f"{name:24} {f'{len(new)}: ' + ', '.join(new):40}"
            f" {len(replay)}: {', '.join(replay)}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="cold-start rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=200, help="per CPU measurement")
    parser.add_argument("--rounds", type=int, default=5, help="CPU rounds")
    args = parser.parse_args()
    os.environ.update(client_cpu.FAKE_ENVIRONMENT)
    for name in ("AWS_PROFILE", "DYNAMORM_ENDPOINT_URL", "DYNAMORM_TRANSPORT"):
        os.environ.pop(name, None)
    version = sys.version.split()[0]
    print(f"idempotency, ours and Powertools (Python {version})")
    print()
    print("\n".join(cold_start_table(args.runs, args.seed)))
    print()
    print("\n".join(cpu_tables(args.calls, args.rounds)))


if __name__ == "__main__":
    main()
