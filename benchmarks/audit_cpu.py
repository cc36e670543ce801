"""Client CPU per audited write against a plain one, against client_cpu.py's loopback stub.

One schema (an Account with a version attribute) is compiled twice into a temporary folder:
as written, and with ``audit: true``. The plain module's ``put_account``, ``update_account``
and ``delete_account`` send one PutItem, UpdateItem or DeleteItem (optimistically locked on
the version); the audited module's send one TransactWriteItems holding that write and the Put
of its audit record, with a client request token. A boto3 client sending the same two
actions (items built once, no conversion) is the reference for the transaction's cost.

The stub (benchmarks/client_cpu.py, a separate process on 127.0.0.1) answers every request
instantly with ``{}``; its CPU is not counted. ``time.process_time()`` is read around
``--calls`` calls of each (client, operation), after a warm-up, in interleaved rounds; the
median CPU us/op is printed, with wall-clock us/op for reference, and the ratio of each
audited write to the plain one on the same transport. Absolute times drift on shared
machines: compare ratios within one run.

    python benchmarks/audit_cpu.py [--calls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import client_cpu  # benchmarks/client_cpu.py: the stub server and the measurement

SCHEMA = """\
version: 1
tables:
  bank:
    keys: {pk: PK, sk: SK}
entities:
  Account:
    table: bank
AUDIT
    key: {pk: "ACCOUNT#{account_id}", sk: "ACCOUNT"}
    attributes:
      account_id: {type: string}
      owner: {type: string}
      balance: {type: integer}
      currency: {type: string}
      note: {type: string, optional: true}
      version: {type: version}
"""
OPERATIONS = ("put", "update", "delete")
Case = client_cpu.Case


def compiled(folder: Path, name: str, audited: bool) -> ModuleType:
    """The schema compiled into ``folder/name.py`` and imported."""
    from dynamorm_gen.compiler import write
    from dynamorm_gen.compiler.project import Project, compile_project

    schemas = folder / f"{name}_schemas"
    schemas.mkdir()
    text = SCHEMA.replace("AUDIT", "    audit: true" if audited else "")
    (schemas / f"{name}.yaml").write_text(text)
    out = folder / f"{name}_out"
    _, outputs = compile_project(Project(root=folder, schemas=(schemas,), output=out))
    write.write(out, outputs)
    spec = importlib.util.spec_from_file_location(name, out / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dynamorm_case(module: ModuleType, url: str, transport: str, audited: bool) -> Case:
    from dynamorm_gen.runtime import Connection

    table = module.BankTable(
        Connection(region="us-east-1", endpoint_url=url, transport=transport),
        name="bank",
    )
    account = module.Account(
        account_id="a-1", owner="Alice", balance=100, currency="EUR", note="n"
    )
    changes = module.AccountUpdate().set_balance(101).set_note("m")

    def update() -> object:
        if audited:
            return table.update_account(changes, account_id="a-1", expected_version=3)
        return table.update_account(
            changes, account_id="a-1", expected_version=3, returning="none"
        )

    return {
        # The stub accepts every condition: the object's version just keeps growing.
        "put": lambda: table.put_account(account),
        "update": update,
        "delete": lambda: table.delete_account(account_id="a-1", expected_version=3),
    }


def boto3_case(module: ModuleType, url: str) -> Case:
    """The same two actions per write through a boto3 client, built once."""
    import boto3

    from dynamorm_gen.runtime import audit
    from dynamorm_gen.runtime.table import TableHandle

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url)
    handle = TableHandle(module.BANK, name="bank")
    item = module.Account(
        account_id="a-1", owner="Alice", balance=100, currency="EUR", note="n"
    ).to_item()
    key = handle.key_of(item)
    record = audit.record_request(
        handle,
        type_tag="Account",
        key=key,
        operation=audit.PUT,
        changed=list(item),
        old_version=3,
        new_version=4,
    )
    version = {
        "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":v": {"N": "3"}},
    }
    put = {"TableName": "bank", "Item": item, **version}
    update = {
        "TableName": "bank",
        "Key": key,
        "UpdateExpression": "SET #b = :b, #v = #v + :one",
        "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#b": "balance", "#v": "version"},
        "ExpressionAttributeValues": {
            ":b": {"N": "101"},
            ":v": {"N": "3"},
            ":one": {"N": "1"},
        },
    }
    delete = {"TableName": "bank", "Key": key, **version}

    def transact(kind: str, action: dict[str, Any]) -> Callable[[], object]:
        return lambda: client.transact_write_items(
            TransactItems=[{kind: action}, {"Put": record}]
        )

    return {
        "put": transact("Put", put),
        "update": transact("Update", update),
        "delete": transact("Delete", delete),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(client_cpu.FAKE_ENVIRONMENT)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("DYNAMORM_ENDPOINT_URL", None)

    with tempfile.TemporaryDirectory() as folder:
        plain = compiled(Path(folder), "plain_bank", audited=False)
        audited = compiled(Path(folder), "audited_bank", audited=True)
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    server = context.Process(
        target=client_cpu.serve, args=(client_cpu.stub_responses({}, 0), send)
    )
    server.daemon = True
    server.start()
    try:
        if not receive.poll(30):
            raise SystemExit("the stub server did not start")
        url = f"http://127.0.0.1:{receive.recv()}"
        cases: dict[str, Case] = {}
        for transport in ("fast", "botocore"):
            cases[f"plain {transport}"] = dynamorm_case(plain, url, transport, False)
            cases[f"audited {transport}"] = dynamorm_case(audited, url, transport, True)
        cases["boto3 client, 2 actions"] = boto3_case(audited, url)
        cpu, wall = client_cpu.measure_rounds(
            cases, OPERATIONS, args.calls, args.rounds
        )
    finally:
        server.terminate()
        server.join()

    med = {key: statistics.median(values) for key, values in cpu.items()}
    print(
        "client CPU per write against a loopback stub, us/op (median of"
        f" {args.rounds} interleaved rounds of {args.calls} calls)"
    )
    print(
        f"{'client':24} {'op':7} {'CPU us/op':>10} {'wall us/op':>11}"
        f" {'x plain':>8} {'x boto3':>8}"
    )
    for name in cases:
        for op in OPERATIONS:
            value = med[name, op]
            transport = "botocore" if "botocore" in name else "fast"
            versus_plain = (
                f"{value / med[f'plain {transport}', op]:8.2f}"
                if name.startswith(("plain", "audited"))
                else f"{'-':>8}"
            )
            print(
                f"{name:24} {op:7} {value:10.0f}"
                f" {statistics.median(wall[name, op]):11.0f} {versus_plain}"
                f" {value / med['boto3 client, 2 actions', op]:8.2f}"
            )


if __name__ == "__main__":
    main()
