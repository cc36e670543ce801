"""A payments Lambda on the generated payment module: authorize, capture, get and export.

Deploy with the handler ``handler.handler`` (this file, ``generated_examples/`` and
``dynamorm_gen/`` at the root of the bundle); run it locally with ``run_local.py``. Events:

    {"action": "authorize", "merchant_id": "m-1", "payment_id": "p-1",
     "customer_id": "c-1", "amount": 1250, "currency": "EUR"}
    {"action": "capture", "merchant_id": "m-1", "payment_id": "p-1"}
    {"action": "get", "merchant_id": "m-1", "payment_id": "p-1"}
    {"action": "export", "merchant_id": "m-1", "page_size": 100, "cursor": null}

Every response carries ``capacity``: the read and write units this invocation consumed and
their estimated cost. Logs name actions, operations and tables, never item values.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from dynamorm_gen.runtime import ConditionFailed, DeadlineExceeded, InvalidCursor
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase, detect
from dynamorm_gen.runtime.hooks import StructuredLog
from generated_examples.payment import Payment, PaymentsTable

log = logging.getLogger("payments")
log.setLevel(logging.INFO)

# --- init phase: runs once per execution environment, before the first invocation ----------

environment = detect()
db = LambdaDatabase(
    environment=environment,
    observers=(StructuredLog(log),),  # one JSON line per DynamoDB request
    # Open the connection now, not in the first invocation. Not under SnapStart: a
    # connection frozen into the snapshot would be stale when it is restored.
    prewarm=environment.initialization_type != "snap-start",
)
payments = db.table(PaymentsTable)  # the table name comes from $PAYMENTS_TABLE

if environment.in_lambda and not os.environ.get("DYNAMORM_CURSOR_KEY"):
    # Each execution environment would sign cursors with a key of its own: an export
    # resumed in another one would be refused with InvalidCursor.
    log.warning(
        "DYNAMORM_CURSOR_KEY is not set: export cursors work in one environment only"
    )


# --- actions -------------------------------------------------------------------------------


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    """Create a pending payment; the caller's payment_id makes a repeated request harmless."""
    payment = Payment(
        merchant_id=event["merchant_id"],
        payment_id=event["payment_id"],
        customer_id=event["customer_id"],
        amount=event["amount"],
        currency=event["currency"],
    )
    try:
        payments.put_payment(payment, if_not_exists=True)
    except ConditionFailed:
        return {"status": "duplicate"}  # authorized before: nothing written
    return {"status": payment.status, "version": payment.version}


def capture(event: dict[str, Any]) -> dict[str, Any]:
    """pending -> captured, optimistically locked: the put applies only if nobody wrote the
    payment since it was read. A DeadlineExceeded here fails the invocation; retrying is safe
    whether or not the put was applied (``exc.sent``), because capture reads first."""
    key = {"merchant_id": event["merchant_id"], "payment_id": event["payment_id"]}
    payment = payments.get_payment(**key, consistent=True)
    if payment is None:
        return {"status": "not_found"}
    if payment.status != "pending":
        # Captured already (a retry, say), or refunded or failed: reported as it is.
        return {"status": payment.status, "version": payment.version}
    payment.status = "captured"
    try:
        # Applied only if the stored version is still the one read.
        payments.put_payment(payment)
    except ConditionFailed:
        return {"status": "conflict"}  # written by someone else meanwhile: call again
    return {"status": payment.status, "version": payment.version}


def get(event: dict[str, Any]) -> dict[str, Any]:
    payment = payments.get_payment(
        merchant_id=event["merchant_id"], payment_id=event["payment_id"]
    )
    if payment is None:
        return {"status": "not_found"}
    return {
        "status": "found",
        "payment": {
            "payment_id": payment.payment_id,
            "status": payment.status,
            "amount": payment.amount,
            "currency": payment.currency,
            "version": payment.version,
            "created_at": payment.created_at.isoformat(),
        },
    }


def export(event: dict[str, Any]) -> dict[str, Any]:
    """A merchant's payment ids, page after page, for as long as the invocation has time.

    When time runs out, the ids read so far come back with status "partial" and ``resume``,
    the cursor to call again with (None if cut off before the first page: from the start
    again). Only status "done" says the export is complete.
    """
    ids: list[str] = []
    try:
        for payment in payments.iter_payment_by_merchant(
            merchant_id=event["merchant_id"],
            cursor=event.get("cursor"),
            page_size=event.get("page_size", 100),
        ):
            ids.append(payment.payment_id)
    except DeadlineExceeded as exc:
        return {"status": "partial", "payment_ids": ids, "resume": exc.cursor}
    except InvalidCursor:
        return {"status": "invalid_cursor"}  # altered, or signed with another key
    return {"status": "done", "payment_ids": ids, "resume": None}


ACTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "authorize": authorize,
    "capture": capture,
    "get": get,
    "export": export,
}


# --- the handler: each call runs under its context's deadline ---------------------------------


@db.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = ACTIONS.get(event.get("action", ""))
    outcome = "unknown_action"
    response: dict[str, Any]
    try:
        response = {"status": outcome} if run is None else run(event)
        outcome = response["status"]
    except Exception as exc:
        outcome = type(exc).__name__  # the error's class: enough, and never a value
        raise
    finally:
        capacity = db.capacity.summary()  # this invocation's units and estimated cost
        log.info(
            json.dumps(
                {
                    "event": "invocation",
                    "action": event.get("action"),
                    "request_id": getattr(context, "aws_request_id", None),
                    "outcome": outcome,
                    "capacity": capacity,
                },
                separators=(",", ":"),
            )
        )
    response["capacity"] = capacity
    return response
