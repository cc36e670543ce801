"""Run the payments Lambda (handler.py) on this machine, with no AWS account.

    python examples/lambda/run_local.py             # moto in-process
    python examples/lambda/run_local.py --verbose   # and every log line of the export

DynamoDB is moto's in-process engine, unless DYNAMORM_ENDPOINT_URL names a local server
(`moto_server -H 127.0.0.1 -p 5000`, dynalite). moto in-process intercepts botocore's
requests only, so with it the handler runs on the botocore transport; with an endpoint URL
it runs on the fast transport, the one a deployed function uses by default.
DYNAMORM_TRANSPORT overrides that choice.

The context object is simulated: its remaining time counts down from a budget, like
Lambda's. The export is given a tiny budget, so it is cut off and resumed from its cursor
until done, the way a caller of the deployed function would drive it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE)]  # generated_examples/, handler.py

MERCHANT = "m-42"
SEEDED = 40  # payments of MERCHANT for the export
PAGE_SIZE = 5
# The export's time budget per invocation: the safety margin and time for this many pages.
PAGES_PER_INVOCATION = 2.5


class LocalContext:
    """The parts of Lambda's context object a handler uses; the time left counts down."""

    def __init__(self, budget_ms: int, *, memory_limit_in_mb: int = 512) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + budget_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


@contextlib.contextmanager
def local_lambda_environment() -> Iterator[str]:
    """What Lambda would set, plus a local DynamoDB; yields a description of the engine."""
    defaults = {
        "AWS_ACCESS_KEY_ID": "local",  # fake credentials: nothing can sign a real request
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "payments-local",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "PAYMENTS_TABLE": f"lambda-example-{uuid.uuid4().hex[:8]}",
        "DYNAMORM_CURSOR_KEY": "local-only-cursor-key",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    endpoint = os.environ.get("DYNAMORM_ENDPOINT_URL")
    if endpoint:
        os.environ.setdefault("DYNAMORM_TRANSPORT", "fast")
        yield f"{endpoint} ({os.environ['DYNAMORM_TRANSPORT']} transport)"
        return
    os.environ.setdefault("DYNAMORM_TRANSPORT", "botocore")
    if os.environ["DYNAMORM_TRANSPORT"] != "botocore":
        sys.exit(
            "moto in-process intercepts the botocore transport only: set"
            " DYNAMORM_ENDPOINT_URL to a local server to run on the fast transport"
        )
    from moto import mock_aws

    # Started before the handler is imported, so that its client is intercepted.
    with mock_aws():
        yield "moto in-process (botocore transport)"


def invoke(handler: Any, event: dict[str, Any], budget_ms: int = 3000) -> Any:
    response = handler.handler(event, LocalContext(budget_ms))
    shown = {k: v for k, v in response.items() if k != "capacity"}
    if "payment_ids" in shown:
        shown["payment_ids"] = f"<{len(shown['payment_ids'])}>"
    if shown.get("resume"):
        shown["resume"] = shown["resume"][:12] + "..."
    units = response["capacity"]
    print(
        f"{event['action']:>9}: {shown}"
        f"  [{units['read_units']} RCU, {units['write_units']} WCU]"
    )
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="log the whole export")
    verbose = parser.parse_args().verbose

    with local_lambda_environment() as engine:
        started = time.perf_counter()
        import handler  # the init phase: environment, tuning, connection, table

        init_ms = (time.perf_counter() - started) * 1000
        print(f"engine:      {engine}")
        print(f"environment: {handler.db.environment}")
        print(f"tuning:      {handler.db.tuning}")
        print(f"init:        {init_ms:.0f} ms, table {handler.payments.handle.name}\n")
        handler.payments.handle.create(ttl=False)  # development only
        try:
            run(handler, verbose)
        finally:
            handler.payments.handle.drop()
            handler.db.close()


def run(handler: Any, verbose: bool) -> None:
    start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    seeded = set()
    for n in range(SEEDED):  # written directly, not through the handler
        payment = handler.Payment(
            merchant_id=MERCHANT,
            customer_id=f"c-{n % 7}",
            amount=500 + 25 * n,
            currency="EUR",
            created_at=start + timedelta(minutes=n),
        )
        handler.payments.put_payment(payment)
        seeded.add(payment.payment_id)
    print(f"seeded {SEEDED} payments of merchant {MERCHANT}\n")

    # The handler's log lines: what a deployed function would send to CloudWatch Logs.
    logging.basicConfig(
        stream=sys.stdout, format="    log: %(message)s", level=logging.WARNING
    )
    payment = {"merchant_id": MERCHANT, "payment_id": "p-0001"}
    authorize = {
        "action": "authorize",
        **payment,
        "customer_id": "c-1",
        "amount": 1250,
        "currency": "EUR",
    }
    invoke(handler, authorize)
    invoke(handler, authorize)  # a retry: nothing written twice
    invoke(handler, {"action": "capture", **payment})
    invoke(handler, {"action": "capture", **payment})  # again: already captured
    invoke(handler, {"action": "get", **payment})
    seeded.add("p-0001")

    if not verbose:
        logging.disable(logging.INFO)
    # Local engines answer in a few milliseconds: time one page, and give each invocation
    # the safety margin (which DynamoDB calls never use) plus time for a few pages.
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        handler.payments.query_payment_by_merchant(
            merchant_id=MERCHANT, limit=PAGE_SIZE
        )
        timings.append((time.perf_counter() - started) * 1000)
    page_ms = sorted(timings)[1]
    margin_ms = handler.db.tuning.safety_margin * 1000
    budget_ms = int(margin_ms + PAGES_PER_INVOCATION * page_ms)
    print(
        f"\nexport, {PAGE_SIZE} per page (a page takes {page_ms:.1f} ms here);"
        f" each invocation has {budget_ms} ms: {margin_ms:.0f} ms of margin"
        f" and {budget_ms - margin_ms:.0f} ms for DynamoDB"
    )
    exported: list[str] = []
    event: dict[str, Any] = {
        "action": "export",
        "merchant_id": MERCHANT,
        "page_size": PAGE_SIZE,
    }
    invocations = 0
    while True:  # what a caller of the deployed function does
        invocations += 1
        response = invoke(handler, event, budget_ms)
        exported += response["payment_ids"]
        if response["status"] == "done":
            break
        if not response["payment_ids"]:
            budget_ms *= 2  # not even one page fitted (a slow machine): allow more time
        event["cursor"] = response["resume"]  # call again from where it stopped
    once = len(exported) == len(set(exported)) and set(exported) == seeded
    print(
        f"\nexported {len(exported)} payments in {invocations} invocations;"
        f" every payment exactly once: {once}"
    )
    if not once:
        sys.exit(1)


if __name__ == "__main__":
    main()
