"""Resending: one policy and one loop for every request, whatever the transport.

A transport does one exchange (``transport.py``); this module decides whether to send again.
It judges each failed attempt by what the server may have done with it:

- refused: the request was not applied (it never left, or the service answered with a
  throttling or other refusal); another attempt may succeed;
- unknown: it may have been applied (the connection broke or timed out after the request
  was written, or the service answered 5xx);
- applied: the service answered 2xx, then the body was cut short, failed its checksum or
  was not JSON;
- failed: a definitive error (a failed condition, a validation error...): not applied, and
  sending it again cannot help.

and by the kind of the request, which the code that builds it declares, because only it
knows what a second application would do:

============  =========================================  ============================
kind          what a resend does                         resent after "unknown"?
============  =========================================  ============================
READ          nothing                                    yes
IDEMPOTENT    the same effect again (an unconditional    yes
              put or delete, a batch write, a
              transaction with its client token)
CONDITIONAL   nothing, or fails its condition (a         yes; a condition failure
              versioned or conditional write)            then carries
                                                         ``after_uncertain``
UNSAFE        applies it again (ADD of a number, list    never: ``OutcomeUnknown``
              append, a version increment without
              an expected version)
============  =========================================  ============================

After "applied", a write that needs nothing from the response has succeeded; one that asked
for returned values raises ``ResponseLost`` (reads and idempotent writes are simply resent).

Resends are bounded by the policy's attempts, the invocation's deadline (a pause that would
end past it is not taken) and a retry quota shared by one client's calls (botocore's
standard mode: an outage that fails every call soon stops resending instead of multiplying
the load). Backoff is exponential with full jitter, per error class.
"""

from __future__ import annotations

import random as _random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from dynamorm_gen.runtime.deadline import current as current_deadline
from dynamorm_gen.runtime.errors import (
    ConditionFailed,
    ConfigurationError,
    DeadlineExceeded,
    DynamormError,
    OutcomeUnknown,
    OutcomeUnknownAtDeadline,
    ResponseLost,
    TransactionCancelled,
    for_code,
)
from dynamorm_gen.runtime.transport import (
    CHECKSUM_MISMATCH,
    RESPONSE_INCOMPLETE,
    RESPONSE_MALFORMED,
    ExchangeError,
    Transport,
)

Kind = Literal["read", "idempotent", "conditional", "unsafe"]
READ: Kind = "read"
IDEMPOTENT: Kind = "idempotent"
CONDITIONAL: Kind = "conditional"
UNSAFE: Kind = "unsafe"

# The service refused the request because of load: not applied; the backoff is longer.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "EC2ThrottledException",
    }
)
# 4xx answers that refuse a request for now, not for good: another attempt may succeed.
TRANSIENT_CODES = frozenset(
    {
        "TransactionInProgressException",  # a transaction with this token is running
        "TransactionConflictException",  # the item is held by another transaction
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
# A response whose body could not be read: its status says what happened.
_BROKEN_RESPONSE = frozenset(
    (RESPONSE_INCOMPLETE, RESPONSE_MALFORMED, CHECKSUM_MISMATCH)
)

Outcome = Literal["refused", "unknown", "applied", "failed"]

# Response metadata key: an earlier attempt of this call may have been applied.
UNCERTAIN = "EarlierAttemptUncertain"


def judge(failure: ExchangeError) -> Outcome:
    """What the server may have done with the request of a failed attempt."""
    status = failure.status
    if status is None:
        return "unknown" if failure.sent else "refused"
    if 200 <= status < 300:
        return "applied"
    if 400 <= status < 500:
        code = failure.code
        if (
            code in THROTTLING_CODES
            or code in TRANSIENT_CODES
            or code in _BROKEN_RESPONSE
        ):
            return "refused"
        return "failed"
    return "unknown"  # 5xx: the service may have done the work before failing


class RetryPolicy:
    """How a client resends; immutable (``replace`` returns a changed copy).

    ``max_attempts`` counts every attempt, the first included. The pause before resend n
    (from 0) is a random fraction of ``min(max_delay, base * 2**n)`` (full jitter, which
    spreads out clients that failed at the same moment), with ``throttle_base_delay`` as
    the base after throttling, which needs longer to clear. ``sleep`` and ``random`` are
    injected so that tests control time and chance.
    """

    __slots__ = (
        "base_delay",
        "max_attempts",
        "max_delay",
        "random",
        "sleep",
        "throttle_base_delay",
    )

    max_attempts: int
    base_delay: float
    throttle_base_delay: float
    max_delay: float
    sleep: Callable[[float], None]
    random: Callable[[], float]

    def __init__(
        self,
        *,
        max_attempts: int = 4,
        base_delay: float = 0.05,
        throttle_base_delay: float = 0.1,
        max_delay: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if type(max_attempts) is not int or max_attempts < 1:
            raise ConfigurationError("max_attempts must be an integer of at least 1")
        for name, value in (
            ("base_delay", base_delay),
            ("throttle_base_delay", throttle_base_delay),
            ("max_delay", max_delay),
        ):
            if not 0 <= value < float("inf"):
                raise ConfigurationError(f"{name} must be a finite number of seconds")
        # Set once, here; __setattr__ refuses any later change.
        object.__setattr__(self, "max_attempts", max_attempts)
        object.__setattr__(self, "base_delay", base_delay)
        object.__setattr__(self, "throttle_base_delay", throttle_base_delay)
        object.__setattr__(self, "max_delay", max_delay)
        object.__setattr__(self, "sleep", sleep)
        object.__setattr__(self, "random", random)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a RetryPolicy cannot be changed: use replace()")

    def replace(
        self,
        *,
        max_attempts: int | None = None,
        base_delay: float | None = None,
        throttle_base_delay: float | None = None,
        max_delay: float | None = None,
        sleep: Callable[[float], None] | None = None,
        random: Callable[[], float] | None = None,
    ) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts if max_attempts is None else max_attempts,
            base_delay=self.base_delay if base_delay is None else base_delay,
            throttle_base_delay=(
                self.throttle_base_delay
                if throttle_base_delay is None
                else throttle_base_delay
            ),
            max_delay=self.max_delay if max_delay is None else max_delay,
            sleep=self.sleep if sleep is None else sleep,
            random=self.random if random is None else random,
        )

    def delay(self, resend: int, *, throttled: bool) -> float:
        """The pause before resend number ``resend`` (0 for the first)."""
        base = self.throttle_base_delay if throttled else self.base_delay
        return self.random() * min(self.max_delay, base * 2.0**resend)

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, base_delay={self.base_delay},"
            f" throttle_base_delay={self.throttle_base_delay}, max_delay={self.max_delay})"
        )


class RetryQuota:
    """The resends one client may still make, as botocore's standard retry mode keeps them:
    a resend takes ``cost`` (``timeout_cost`` after a timeout) from a bucket of
    ``capacity``; a call that succeeds returns what its resends took, or ``refill`` when it
    needed none. Thread-safe."""

    __slots__ = ("_lock", "available", "capacity", "cost", "refill", "timeout_cost")

    def __init__(
        self,
        capacity: int = 500,
        *,
        cost: int = 5,
        timeout_cost: int = 10,
        refill: int = 1,
    ) -> None:
        self.capacity = capacity
        self.available = capacity
        self.cost = cost
        self.timeout_cost = timeout_cost
        self.refill = refill
        self._lock = threading.Lock()

    def take(self, *, timed_out: bool) -> int:
        """What one resend costs, taken from the bucket; 0 (and nothing taken) when the
        bucket cannot pay for it."""
        amount = self.timeout_cost if timed_out else self.cost
        with self._lock:
            if amount > self.available:
                return 0
            self.available -= amount
        return amount

    def give_back(self, amount: int) -> None:
        with self._lock:
            self.available = min(self.capacity, self.available + amount)

    def __repr__(self) -> str:
        return f"RetryQuota({self.available} of {self.capacity})"


def wants_values(params: Mapping[str, Any]) -> bool:
    """Whether a write asks for values in its response (ReturnValues other than NONE)."""
    return bool(params.get("ReturnValues", "NONE") != "NONE")


def run(
    transport: Transport,
    operation: str,
    params: Mapping[str, Any],
    body: bytes,
    kind: Kind,
    *,
    policy: RetryPolicy,
    quota: RetryQuota,
    table: str = "",
    entity: str = "",
    on_resend: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Send a request until it succeeds, or until a resend is not allowed or not possible;
    the response, or a typed error. ``on_resend`` is told each resend's reason (a code)."""
    where = {"operation": operation, "table": table, "entity": entity}
    deadline = current_deadline()
    resends = 0
    uncertain = False  # an attempt may have been applied
    applied = False  # an attempt was applied (its answer was lost)
    taken = 0  # what this call's resends took from the quota
    failure: ExchangeError | None = None  # the last attempt's
    while True:
        timeout = None
        if deadline is not None:
            timeout = deadline.remaining()
            if timeout <= 0 and failure is None:
                raise DeadlineExceeded(
                    "no time left before the deadline to start the request",
                    sent=False,
                    **where,
                )
            if timeout <= 0 and failure is not None:
                # A pause that fitted ended late: report what the attempts got, so that a
                # write that may have been applied never looks unsent.
                raise _out_of_time(failure, kind, uncertain, applied, where)
        try:
            response = transport.exchange(operation, params, body, timeout)
        except ExchangeError as error:
            # Without its traceback: the frames it holds would keep the failed exchange's
            # objects (a response, a socket) alive until the cycle collector runs.
            failure = error.with_traceback(None)
        else:
            quota.give_back(taken or quota.refill)
            metadata = response.setdefault("ResponseMetadata", {})
            metadata["RetryAttempts"] = resends
            if uncertain:
                metadata[UNCERTAIN] = True
            return response
        outcome = judge(failure)
        if outcome == "failed":
            raise _typed(failure, kind, uncertain, applied, where)
        # The deadline capped this attempt's socket waits: no time is left to go on.
        cut = deadline is not None and failure.timed_out and deadline.remaining() <= 0
        if outcome == "applied":
            applied = True
            if kind in (CONDITIONAL, UNSAFE):
                # Sending it again could only fail its condition or apply it twice.
                if wants_values(params):
                    raise _lost(failure, where)
                quota.give_back(taken or quota.refill)  # it succeeded
                return {"ResponseMetadata": {"RetryAttempts": resends}}
        elif outcome == "unknown":
            uncertain = True
            if kind == UNSAFE:
                if cut:
                    raise _out_of_time(failure, kind, uncertain, applied, where)
                raise _unknown(failure, where)
        if cut:
            raise _out_of_time(failure, kind, uncertain, applied, where)
        if resends + 1 >= policy.max_attempts:
            raise _typed(failure, kind, uncertain, applied, where)
        cost = quota.take(timed_out=failure.timed_out)
        if not cost:
            raise _typed(failure, kind, uncertain, applied, where)
        pause = policy.delay(resends, throttled=failure.code in THROTTLING_CODES)
        if deadline is not None and deadline.remaining() <= pause:
            quota.give_back(cost)
            raise _typed(failure, kind, uncertain, applied, where)
        taken += cost
        resends += 1
        if on_resend is not None:
            on_resend(failure.code)
        policy.sleep(pause)


def _typed(
    failure: ExchangeError,
    kind: Kind,
    uncertain: bool,
    applied: bool,
    where: dict[str, str],
) -> DynamormError:
    """The error a call ends with after ``failure``, its last attempt. For a write, what an
    earlier attempt may have done outweighs the last answer, except a failed condition or a
    cancelled transaction, which the caller settles (``after_uncertain``)."""
    error = for_code(failure.code, **where)
    error.server_message = failure.server_message
    if isinstance(error, ConditionFailed):
        error.item = failure.item
        error.after_uncertain = uncertain
        return error
    if isinstance(error, TransactionCancelled):
        reasons = [r if isinstance(r, dict) else {} for r in failure.reasons or []]
        error.reasons = [
            (i, "", str(r.get("Code", "Unknown")))
            for i, r in enumerate(reasons)
            if r.get("Code") not in (None, "None")
        ]
        error.items = [r.get("Item") for r in reasons]
        return error
    if kind != READ and applied:
        return _lost(failure, where)
    if kind != READ and uncertain:
        return _unknown(failure, where)
    return error


def _out_of_time(
    failure: ExchangeError,
    kind: Kind,
    uncertain: bool,
    applied: bool,
    where: dict[str, str],
) -> DynamormError:
    """The error when the deadline ends a call after ``failure``: DeadlineExceeded, saying
    whether a request left; for a write that may have been applied, one that is also an
    OutcomeUnknown; for one that was applied, ResponseLost."""
    if kind != READ and applied:
        return _lost(failure, where)
    cls = OutcomeUnknownAtDeadline if kind != READ and uncertain else DeadlineExceeded
    late = cls(
        "the request ran out of time before the deadline"
        + (
            ": the write may or may not have been applied"
            if cls is not DeadlineExceeded
            else ""
        ),
        code=failure.code,
        sent=failure.sent or uncertain,
        **where,
    )
    late.server_message = failure.server_message
    return late


def _unknown(failure: ExchangeError, where: dict[str, str]) -> OutcomeUnknown:
    error = OutcomeUnknown(
        f"the write may or may not have been applied ({failure.code})",
        code=failure.code,
        **where,
    )
    error.server_message = failure.server_message
    return error


def _lost(failure: ExchangeError, where: dict[str, str]) -> ResponseLost:
    return ResponseLost(
        f"the write was applied, but its response was lost ({failure.code})",
        code=failure.code,
        **where,
    )
