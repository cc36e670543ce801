"""Client CPU per DynamoDB call, against a loopback stub server that answers instantly.

A stub server runs in a separate process on 127.0.0.1 (a free port): HTTP/1.1 with keep-alive,
one thread per connection, answering DynamoDB's JSON protocol from prebuilt bytes with correct
``x-amz-crc32`` headers: GetItem returns a fixed Payment item, PutItem ``{}``, Query a page of
``--query-items`` such items. (The item's datetimes end in ``+0000`` rather than our ``Z``:
PynamoDB reads only that form, every other client reads both.) The server's CPU is not counted: in this process,
``time.process_time()`` (all threads, so Rust runtimes' worker threads too) is read around
``--calls`` calls of each (client, operation), after a warm-up, in rounds interleaved across
clients; the median CPU us/op of the rounds is printed, with wall-clock us/op for reference.

Every client is pointed at the stub (never at AWS), with fake credentials from the environment
(AWS_ACCESS_KEY_ID=testing, ...) and region us-east-1. Each does its ordinary work per call:

- dynamorm-gen fast / botocore: the generated ``PaymentsTable`` (``get_payment``,
  ``put_payment`` with its optimistic-lock condition, ``query_payment_by_merchant``) over
  ``Connection(transport="fast" | "botocore")``; items are converted to and from ``Payment``.
- boto3 client: ``get_item``/``put_item``/``query`` with low-level items built once (no
  conversion at all), default configuration (parameter validation on).
- boto3 resource: ``Table.get_item``/``put_item``/``query`` over Python values (boto3 converts).
- pydynox: its ``DynamoDBClient`` (Rust core, AWS Rust SDK): ``sync_get_item``,
  ``sync_put_item`` over Python values, ``sync_query`` read to the end.
- PynamoDB: ``Model.get``, ``Model.save`` (VersionAttribute: conditional, like ours),
  ``Model.query`` read to the end.

Absolute times drift on shared machines: compare ratios within one run.

    python benchmarks/client_cpu.py [--calls 200] [--rounds 5] [--query-items 10]
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import serialization  # benchmarks/serialization.py: the shared Payment item

TABLE = "payments"
OPERATIONS = ("GetItem", "PutItem", "Query")

# Set before boto3, botocore, PynamoDB or pydynox look for credentials: nothing may reach AWS.
FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


# --- the stub server (runs in its own process) -------------------------------------------------


def _response(body: bytes, status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        "x-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def _serve_connection(conn: socket.socket, responses: dict[bytes, bytes]) -> None:
    buffer = b""
    with conn:
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                end = buffer.find(b"\r\n\r\n")
            head, buffer = buffer[:end].lower(), buffer[end + 4 :]
            length = 0
            target = b""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value)
                elif name == b"x-amz-target":
                    target = value.strip().rpartition(b".")[2]
            while len(buffer) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            conn.sendall(responses.get(target, responses[b""]))


def serve(responses: dict[bytes, bytes], port_out: Any) -> None:
    """Accept connections forever; each is served by a thread of its own."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port_out.send(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(
            target=_serve_connection, args=(conn, responses), daemon=True
        ).start()


@contextmanager
def stub_server(responses: dict[bytes, bytes]) -> Iterator[str]:
    """``serve`` in a process of its own (spawned: nothing of this process is inherited),
    for the ``with`` block; its URL."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    server = context.Process(target=serve, args=(responses, send))
    server.daemon = True
    server.start()
    try:
        if not receive.poll(30):
            raise SystemExit("the stub server did not start")
        yield f"http://127.0.0.1:{receive.recv()}"
    finally:
        server.terminate()
        server.join()


def stub_responses(wire_item: dict[str, Any], query_items: int) -> dict[bytes, bytes]:
    def encode(value: object) -> object:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        raise TypeError(type(value).__name__)

    def body(obj: object) -> bytes:
        return json.dumps(obj, separators=(",", ":"), default=encode).encode()

    return {
        b"getitem": _response(body({"Item": wire_item})),
        b"putitem": _response(b"{}"),
        b"query": _response(
            body(
                {
                    "Items": [wire_item] * query_items,
                    "Count": query_items,
                    "ScannedCount": query_items,
                }
            )
        ),
        b"": _response(b"{}"),
    }


# --- the clients -------------------------------------------------------------------------------

Case = dict[str, Callable[[], object]]


def dynamorm_case(url: str, transport: str) -> Case:
    from dynamorm_gen.runtime import Connection
    from generated_examples.payment import PaymentsTable

    table = PaymentsTable(
        Connection(region="us-east-1", endpoint_url=url, transport=transport),
        name=TABLE,
    )
    payment = serialization.our_payment()
    merchant, payment_id = payment.merchant_id, payment.payment_id

    def get() -> object:
        found = table.get_payment(merchant_id=merchant, payment_id=payment_id)
        assert found is not None
        return found

    def query() -> object:
        page = table.query_payment_by_merchant(merchant_id=merchant)
        assert page.items
        return page

    return {
        "GetItem": get,
        "PutItem": lambda: table.put_payment(payment),
        "Query": query,
    }


def boto3_client_case(url: str) -> Case:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url)
    item = serialization.our_payment().to_item()
    key = {"PK": item["PK"], "SK": item["SK"]}
    values = {":pk": item["PK"], ":sk": {"S": "PAYMENT#"}}
    return {
        "GetItem": lambda: client.get_item(TableName=TABLE, Key=key)["Item"],
        "PutItem": lambda: client.put_item(TableName=TABLE, Item=item),
        "Query": lambda: client.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=values,
        )["Items"],
    }


def boto3_resource_case(url: str) -> Case:
    import boto3
    from boto3.dynamodb.conditions import Key

    table = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=url).Table(
        TABLE
    )
    values = serialization.python_values(serialization.our_payment())
    key = {"PK": values["PK"], "SK": values["SK"]}
    pk = values["PK"]
    return {
        "GetItem": lambda: table.get_item(Key=key)["Item"],
        "PutItem": lambda: table.put_item(Item=values),
        "Query": lambda: table.query(
            KeyConditionExpression=Key("PK").eq(pk) & Key("SK").begins_with("PAYMENT#")
        )["Items"],
    }


def pydynox_case(url: str) -> Case:
    from pydynox import DynamoDBClient

    client = DynamoDBClient(
        region="us-east-1",
        endpoint_url=url,
        access_key="testing",
        secret_key="testing",
        session_token="testing",
    )
    values = serialization.python_values(serialization.our_payment())
    key = {"PK": values["PK"], "SK": values["SK"]}
    attribute_values = {":pk": values["PK"], ":sk": "PAYMENT#"}

    def get() -> object:
        found = client.sync_get_item(TABLE, key)
        assert found is not None
        return found

    return {
        "GetItem": get,
        "PutItem": lambda: client.sync_put_item(TABLE, values),
        "Query": lambda: list(
            client.sync_query(
                TABLE,
                "PK = :pk AND begins_with(SK, :sk)",
                expression_attribute_values=attribute_values,
            )
        ),
    }


def pynamodb_case(url: str) -> Case:
    model = serialization.pynamodb_model(host=url)
    payment = serialization.our_payment()
    instance = serialization.pynamodb_instance(model, payment)
    pk, sk = instance.PK, instance.SK
    return {
        "GetItem": lambda: model.get(pk, sk),
        "PutItem": instance.save,
        "Query": lambda: list(model.query(pk, model.SK.startswith("PAYMENT#"))),
    }


def clients(url: str) -> dict[str, Case]:
    return {
        "dynamorm-gen fast": dynamorm_case(url, "fast"),
        "dynamorm-gen botocore": dynamorm_case(url, "botocore"),
        "boto3 client": boto3_client_case(url),
        "boto3 resource": boto3_resource_case(url),
        "pydynox client": pydynox_case(url),
        "PynamoDB Model": pynamodb_case(url),
    }


# --- measurement -------------------------------------------------------------------------------


def measure(func: Callable[[], object], calls: int) -> tuple[float, float]:
    """(CPU us/op, wall us/op) over ``calls`` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        func()
    return (
        (time.process_time() - cpu) / calls * 1e6,
        (time.perf_counter() - wall) / calls * 1e6,
    )


Samples = dict[tuple[str, str], list[float]]


def measure_rounds(
    cases: dict[str, Case], operations: tuple[str, ...], calls: int, rounds: int
) -> tuple[Samples, Samples]:
    """(CPU, wall) us/op per (client, operation), one sample per round, after a warm-up;
    rounds interleave the clients, so that a slow spell of the machine hits all of them."""
    for case in cases.values():  # warm-up: connections, lazy imports, caches
        for op in operations:
            for _ in range(max(20, calls // 5)):
                case[op]()
    cpu: Samples = {}
    wall: Samples = {}
    for _ in range(rounds):
        for name, case in cases.items():
            for op in operations:
                cpu_us, wall_us = measure(case[op], calls)
                cpu.setdefault((name, op), []).append(cpu_us)
                wall.setdefault((name, op), []).append(wall_us)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--query-items", type=int, default=10)
    args = parser.parse_args()
    os.environ.update(FAKE_ENVIRONMENT)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("DYNAMORM_ENDPOINT_URL", None)

    wire_item = serialization.our_payment().to_item()
    # PynamoDB reads only its own datetime format; the other clients read both.
    for name in ("created_at", "updated_at"):
        wire_item[name] = {"S": wire_item[name]["S"].replace("Z", "+0000")}
    with stub_server(stub_responses(wire_item, args.query_items)) as url:
        cases = clients(url)
        cpu, wall = measure_rounds(cases, OPERATIONS, args.calls, args.rounds)

    med = {key: statistics.median(values) for key, values in cpu.items()}
    print(
        f"client CPU per call against a loopback stub, us/op (median of {args.rounds}"
        f" interleaved rounds of {args.calls} calls; Query = {args.query_items} items)"
    )
    print(
        f"{'client':22} {'op':8} {'CPU us/op':>10} {'wall us/op':>11}"
        f" {'x fast':>7} {'x pydynox':>10}"
    )
    for name in cases:
        for op in OPERATIONS:
            value = med[name, op]
            print(
                f"{name:22} {op:8} {value:10.0f} {statistics.median(wall[name, op]):11.0f}"
                f" {value / med['dynamorm-gen fast', op]:7.2f}"
                f" {value / med['pydynox client', op]:10.2f}"
            )
    print()
    for op in OPERATIONS:
        ratio = med["dynamorm-gen fast", op] / med["pydynox client", op]
        verdict = "met" if ratio <= 0.7 else "MISSED"
        print(f"target fast <= 0.7x pydynox, {op:8} {ratio:5.2f}x  {verdict}")


if __name__ == "__main__":
    main()
