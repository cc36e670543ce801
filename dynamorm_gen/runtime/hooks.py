"""Observability hooks: one call before and one after every AWS request.

A hook sees the service, operation, table, entity, partner, latency, retries, consumed
capacity and error code of each request (DynamoDB's, STS's AssumeRole for partners' roles, and
KMS's GenerateDataKey and Decrypt for encrypted attributes), never its items, keys or
credentials (they hold financial data and secrets). Hooks are
registered once per process (at a Lambda's init); with none registered a request pays one
tuple check.

Three come with the runtime:

- ``CapacityMeter``: consumed read and write units per table, summed until ``reset()``, with
  an estimated cost from a ``PriceTable``; ``aws_lambda.LambdaDatabase`` resets it per
  invocation.
- ``StructuredLog``: one JSON log line per request.
- ``XRay``: one subsegment per request, when aws-xray-sdk is installed (``pip install
  "dynamorm-gen[xray]"``) or a recorder is given.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import logging  # imported when a logging hook is made: ~5 ms a Lambda need not pay

_INFO = 20  # logging.INFO
_THROTTLING = frozenset(
    (
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    )
)

# X-Ray's names of the services (subsegments are named <Service>.<Operation>).
_XRAY_SERVICES = {"dynamodb": "DynamoDB", "sts": "STS", "kms": "KMS"}

# Operations that take ReturnConsumedCapacity, and the kind of units they consume.
_READS = frozenset(("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"))
_WRITES = frozenset(
    ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
)
CAPACITY_OPERATIONS = _READS | _WRITES


class CallInfo:
    """One request as hooks see it. ``latency_ms``, ``consumed`` and ``error`` are filled in
    before ``after_call``; ``resends`` gains the reason (an error code) of each resend
    before ``on_resend``, and ``retries`` counts them; ``state`` is for hooks to keep what
    they need between calls (e.g. a tracing span), keyed by anything of their own.

    ``service`` is ``"dynamodb"``, ``"sts"`` or ``"kms"``; ``partner`` the id of the partner whose
    account the request went to (None: the function's own). Hooks run in the caller's
    context, so the partner being served is also ``context.current().partner``."""

    __slots__ = (
        "consumed",
        "entity",
        "error",
        "latency_ms",
        "operation",
        "partner",
        "resends",
        "retries",
        "service",
        "state",
        "table",
    )

    def __init__(
        self,
        operation: str,
        table: str,
        entity: str,
        *,
        partner: str | None = None,
        service: str = "dynamodb",
    ) -> None:
        self.operation = operation
        self.table = table
        self.entity = entity
        self.partner = partner
        self.service = service
        self.latency_ms = 0.0
        self.retries = 0
        self.resends: list[str] = []
        self.consumed: list[dict[str, Any]] = []
        self.error: str | None = None
        self.state: dict[object, Any] = {}

    @property
    def read_units(self) -> float:
        return sum(
            (_units(c, "Read", self.operation in _READS) for c in self.consumed), 0.0
        )

    @property
    def write_units(self) -> float:
        return sum(
            (_units(c, "Write", self.operation in _WRITES) for c in self.consumed), 0.0
        )

    def __repr__(self) -> str:
        partner = f" partner {self.partner}" if self.partner is not None else ""
        return (
            f"CallInfo({self.operation} {self.table} {self.entity}{partner},"
            f" {self.latency_ms:.1f} ms, retries {self.retries}, error {self.error})"
        )


def _units(consumed: dict[str, Any], kind: str, default_kind: bool) -> float:
    """Read or write units of one ConsumedCapacity; TOTAL gives only CapacityUnits for
    single-item operations, which are of the operation's own kind."""
    value = consumed.get(f"{kind}CapacityUnits")
    if value is None:
        value = consumed.get("CapacityUnits", 0.0) if default_kind else 0.0
    return float(value)


class Hook(Protocol):
    """What a hook implements. ``wants_capacity``: ask DynamoDB to report consumed capacity
    (``ReturnConsumedCapacity=TOTAL``) on requests that take it. ``on_resend``, called
    before each resend of a request (``call.resends[-1]`` says why), is optional."""

    wants_capacity: bool

    def before_call(self, call: CallInfo) -> None: ...

    def after_call(self, call: CallInfo) -> None: ...


_hooks: tuple[Hook, ...] = ()
_wants_capacity = False
_lock = threading.Lock()


def add_hook(hook: Hook) -> None:
    """Register ``hook`` for every request of this process (once; registering it again is a
    no-op)."""
    global _hooks, _wants_capacity
    with _lock:
        if hook not in _hooks:
            _hooks = (*_hooks, hook)
            _wants_capacity = any(h.wants_capacity for h in _hooks)


def remove_hook(hook: Hook) -> None:
    global _hooks, _wants_capacity
    with _lock:
        _hooks = tuple(h for h in _hooks if h is not hook)
        _wants_capacity = any(h.wants_capacity for h in _hooks)


def active() -> tuple[Hook, ...]:
    return _hooks


def wants_capacity() -> bool:
    return _wants_capacity


def notify(hooks: tuple[Hook, ...], method: str, call: CallInfo) -> None:
    """Run one side of every hook. A failing hook is logged, never raised: observability
    must not fail a payment."""
    for hook in hooks:
        function = getattr(hook, method, None)
        if function is None:
            continue  # an optional method this hook does not implement
        try:
            function(call)
        except Exception:
            import logging

            logging.getLogger("dynamorm_gen").warning(
                "dynamorm_gen hook %s.%s failed",
                type(hook).__name__,
                method,
                exc_info=True,
            )


# --- capacity and cost -------------------------------------------------------------------------


class PriceTable:
    """US dollars per million request units. The defaults are on-demand prices in us-east-1
    (standard table class, from November 2024); pass your region's, or your provisioned
    equivalent, to estimate costs that match your bill."""

    __slots__ = ("read_per_million", "write_per_million")

    def __init__(
        self, *, read_per_million: float = 0.125, write_per_million: float = 0.625
    ) -> None:
        self.read_per_million = read_per_million
        self.write_per_million = write_per_million

    def cost(self, read_units: float, write_units: float) -> float:
        return (
            read_units * self.read_per_million + write_units * self.write_per_million
        ) / 1_000_000


class TableUsage:
    """What one table consumed: requests, retries, read and write units."""

    __slots__ = ("read_units", "requests", "retries", "write_units")

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.read_units = 0.0
        self.write_units = 0.0


class CapacityMeter:
    """Sums consumed capacity per table between ``reset()`` calls (one Lambda invocation).

    Thread-safe; reads its totals as ``usage``, ``read_units``, ``write_units`` and
    ``estimated_cost()``. A partner's tables are counted apart, as ``<partner>/<table>``
    (their capacity is billed to the partner's account); STS calls are not counted.
    """

    wants_capacity = True

    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices = prices or PriceTable()
        self.usage: dict[str, TableUsage] = {}
        self._lock = threading.Lock()

    def before_call(self, call: CallInfo) -> None:
        pass

    def after_call(self, call: CallInfo) -> None:
        if call.service != "dynamodb":
            return
        read, write = call.read_units, call.write_units
        table = call.table
        if call.partner is not None:
            table = f"{call.partner}/{table}"
        with self._lock:
            usage = self.usage.get(table)
            if usage is None:
                usage = self.usage[table] = TableUsage()
            usage.requests += 1
            usage.retries += call.retries
            usage.read_units += read
            usage.write_units += write

    def reset(self) -> None:
        with self._lock:
            self.usage = {}

    @property
    def read_units(self) -> float:
        return sum((u.read_units for u in self.usage.values()), 0.0)

    @property
    def write_units(self) -> float:
        return sum((u.write_units for u in self.usage.values()), 0.0)

    def estimated_cost(self) -> float:
        """US dollars, from the price table."""
        return self.prices.cost(self.read_units, self.write_units)

    def summary(self) -> dict[str, Any]:
        """Totals and per-table figures, ready for a log line."""
        return {
            "requests": sum(u.requests for u in self.usage.values()),
            "retries": sum(u.retries for u in self.usage.values()),
            "read_units": self.read_units,
            "write_units": self.write_units,
            "estimated_cost_usd": round(self.estimated_cost(), 10),
            "tables": {
                name: {
                    "requests": u.requests,
                    "read_units": u.read_units,
                    "write_units": u.write_units,
                }
                for name, u in sorted(self.usage.items())
            },
        }


# --- adapters ----------------------------------------------------------------------------------


class StructuredLog:
    """One JSON line per request on ``logger`` (default ``dynamorm_gen.calls``, INFO):
    operation, table, entity, partner, latency, retries, units and error code; never item
    values or credentials. DynamoDB's lines have the event ``dynamodb_call``, STS's
    ``sts_call``."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        level: int = _INFO,
        *,
        capacity: bool = True,
    ) -> None:
        import logging

        self.logger = logger or logging.getLogger("dynamorm_gen.calls")
        self.level = level
        self.wants_capacity = capacity

    def before_call(self, call: CallInfo) -> None:
        pass

    def after_call(self, call: CallInfo) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        record = {
            "event": f"{call.service}_call",
            "operation": call.operation,
            "table": call.table,
            "entity": call.entity,
            "partner": call.partner,
            "latency_ms": round(call.latency_ms, 3),
            "retries": call.retries,
            "resends": call.resends,
            "read_units": call.read_units,
            "write_units": call.write_units,
            "error": call.error,
        }
        self.logger.log(self.level, json.dumps(record, separators=(",", ":")))


class XRay:
    """An AWS X-Ray subsegment per request (namespace ``aws``), annotated with the table,
    entity and operation, with retries and consumed capacity as metadata; errors flag it.

    ``recorder`` defaults to aws-xray-sdk's global ``xray_recorder``, imported here, so
    that a Lambda without the optional ``xray`` extra never pays for it.
    """

    wants_capacity = True

    def __init__(self, recorder: Any = None) -> None:
        if recorder is None:
            import importlib

            try:
                recorder = importlib.import_module("aws_xray_sdk.core").xray_recorder
            except ImportError:
                from dynamorm_gen.runtime.errors import ConfigurationError

                raise ConfigurationError(
                    "the X-Ray hook needs aws-xray-sdk: pip install 'dynamorm-gen[xray]'"
                ) from None
        self.recorder = recorder

    @staticmethod
    def available() -> bool:
        """Whether aws-xray-sdk can be imported (without importing it)."""
        import importlib.util

        return importlib.util.find_spec("aws_xray_sdk") is not None

    def before_call(self, call: CallInfo) -> None:
        service = _XRAY_SERVICES.get(call.service, call.service)
        call.state[self] = self.recorder.begin_subsegment(
            f"{service}.{call.operation}", "aws"
        )

    def after_call(self, call: CallInfo) -> None:
        subsegment = call.state.pop(self, None)
        if subsegment is None:
            return  # no segment to attach to (X-Ray not active): nothing was started
        subsegment.put_annotation("table", call.table)
        subsegment.put_annotation("entity", call.entity)
        subsegment.put_annotation("operation", call.operation)
        if call.partner is not None:
            subsegment.put_annotation("partner", call.partner)
        subsegment.put_metadata(
            "dynamodb",
            {
                "retries": call.retries,
                "resends": call.resends,
                "read_units": call.read_units,
                "write_units": call.write_units,
            },
            "dynamorm_gen",
        )
        if call.error is not None:
            subsegment.put_annotation("error", call.error)
            if call.error in _THROTTLING:
                subsegment.add_throttle_flag()
            subsegment.add_error_flag()
        self.recorder.end_subsegment()
