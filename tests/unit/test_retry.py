"""The retry loop and policy (runtime/retry.py) against a scripted transport.

Time and chance are injected: the policy's ``sleep`` records pauses instead of sleeping, its
``random`` returns a fixed fraction, and deadlines read a fake clock. Each test names the
behaviour it pins, so that removing jitter, a resendable code or the deadline check fails one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    ConditionFailed,
    ConfigurationError,
    DeadlineExceeded,
    DynamormError,
    OutcomeUnknown,
    OutcomeUnknownAtDeadline,
    ResponseLost,
    Throttled,
    TransactionCancelled,
    ValidationFailed,
    hooks,
    retry,
)
from dynamorm_gen.runtime import deadline as deadline_module
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.hooks import CallInfo
from dynamorm_gen.runtime.retry import (
    CONDITIONAL,
    IDEMPOTENT,
    READ,
    UNCERTAIN,
    UNSAFE,
    Kind,
    RetryPolicy,
    RetryQuota,
    judge,
)
from dynamorm_gen.runtime.transport import ExchangeError

SECRET = "4111-1111-1111-1111"


class Script:
    """A transport answering each exchange with the next scripted outcome: a response dict,
    or an ExchangeError to raise. Records the timeouts it was given."""

    endpoint_url = "http://scripted.invalid"
    region = "us-east-1"

    def __init__(self, *outcomes: dict[str, Any] | ExchangeError) -> None:
        self.outcomes = list(outcomes)
        self.timeouts: list[float | None] = []

    def exchange(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        timeout: float | None,
    ) -> dict[str, Any]:
        self.timeouts.append(timeout)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, ExchangeError):
            raise outcome
        return dict(outcome)

    @property
    def attempts(self) -> int:
        return len(self.timeouts)

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass


class Clock:
    """Stands in for deadline.py's ``time``; pauses move it on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(deadline_module, "time", fake)
    return fake


def service(code: str, status: int = 400, **extra: Any) -> ExchangeError:
    return ExchangeError(code, sent=True, status=status, server_message=SECRET, **extra)


def unknown(code: str = "ConnectionClosedError") -> ExchangeError:
    return ExchangeError(code, sent=True)


def unsent(code: str = "EndpointConnectionError") -> ExchangeError:
    return ExchangeError(code, sent=False)


def broken(status: int = 200, code: str = "CRC32CheckFailed") -> ExchangeError:
    return ExchangeError(code, sent=True, status=status)


OK: dict[str, Any] = {"Count": 1}


def run(
    script: Script,
    kind: Kind,
    *,
    params: dict[str, Any] | None = None,
    sleeps: list[float] | None = None,
    jitter: float = 0.5,
    policy: RetryPolicy | None = None,
    quota: RetryQuota | None = None,
) -> dict[str, Any]:
    policy = policy or RetryPolicy(
        sleep=(sleeps if sleeps is not None else []).append, random=lambda: jitter
    )
    client = Client(script, policy)
    if quota is not None:
        client.quota = quota
    return client.call(
        "UpdateItem", params or {"TableName": "t"}, kind, table="t", entity="Thing"
    )


# --- judging one failed attempt ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        (unsent(), "refused"),
        (unsent("ConnectTimeoutError"), "refused"),
        (unknown(), "unknown"),
        (unknown("ReadTimeoutError"), "unknown"),
        (service("InternalServerError", 500), "unknown"),
        (service("ServiceUnavailable", 503), "unknown"),
        (service("502", 502), "unknown"),
        (service("504", 504), "unknown"),
        (broken(200), "applied"),
        (broken(200, "ResponseMalformed"), "applied"),
        (broken(200, "ResponseIncomplete"), "applied"),
        (broken(400), "refused"),  # a refusal we could not read: ask again
        (broken(500), "unknown"),
        (service("ConditionalCheckFailedException"), "failed"),
        (service("ValidationException"), "failed"),
        (service("AccessDeniedException"), "failed"),
        (service("ResourceNotFoundException"), "failed"),
    ],
)
def test_judge(failure: ExchangeError, outcome: str) -> None:
    assert judge(failure) == outcome


# Written out, not read from retry.py: removing one there must fail here.
REFUSALS = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "TransactionConflictException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "EC2ThrottledException",
]


@pytest.mark.parametrize("code", REFUSALS)
@pytest.mark.parametrize("kind", [READ, IDEMPOTENT, CONDITIONAL, UNSAFE])
def test_refusals_are_resent_for_every_kind(code: str, kind: Kind) -> None:
    script = Script(service(code), OK)
    assert run(script, kind)["ResponseMetadata"]["RetryAttempts"] == 1
    assert script.attempts == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("kind", [READ, IDEMPOTENT, CONDITIONAL])
def test_server_errors_are_resent_when_a_resend_is_safe(
    status: int, kind: Kind
) -> None:
    script = Script(service("InternalServerError", status), OK)
    response = run(script, kind)
    assert script.attempts == 2 and response["Count"] == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_end_an_unsafe_write_as_outcome_unknown(status: int) -> None:
    script = Script(service("InternalServerError", status), OK)
    with pytest.raises(OutcomeUnknown) as caught:
        run(script, UNSAFE)
    assert script.attempts == 1
    error = caught.value
    assert error.code == "InternalServerError" and error.entity == "Thing"
    assert error.server_message == SECRET
    assert SECRET not in str(error) and SECRET not in repr(error)


def test_a_request_that_never_left_is_resent_even_when_unsafe() -> None:
    script = Script(unsent(), unsent("ConnectTimeoutError"), OK)
    assert run(script, UNSAFE)["ResponseMetadata"]["RetryAttempts"] == 2


def test_definitive_errors_are_not_resent() -> None:
    for code, error_class in (
        ("ValidationException", ValidationFailed),
        ("ConditionalCheckFailedException", ConditionFailed),
    ):
        script = Script(service(code), OK)
        with pytest.raises(error_class) as caught:
            run(script, READ)
        assert script.attempts == 1 and caught.value.server_message == SECRET


# --- a response lost after a 2xx ---------------------------------------------------------------


@pytest.mark.parametrize("kind", [CONDITIONAL, UNSAFE])
def test_a_broken_2xx_means_a_write_was_applied(kind: Kind) -> None:
    script = Script(broken(200), OK)
    response = run(script, kind)  # nothing asked back: done, not sent again
    assert script.attempts == 1 and "Count" not in response
    script = Script(broken(200), OK)
    with pytest.raises(ResponseLost):
        run(script, kind, params={"TableName": "t", "ReturnValues": "ALL_NEW"})
    assert script.attempts == 1


@pytest.mark.parametrize("kind", [READ, IDEMPOTENT])
def test_a_broken_2xx_is_asked_again_for_reads_and_idempotent_writes(
    kind: Kind,
) -> None:
    script = Script(broken(200), OK)
    assert run(script, kind)["Count"] == 1 and script.attempts == 2


def test_an_idempotent_write_applied_then_out_of_attempts_is_response_lost() -> None:
    script = Script(broken(200), *(service("InternalServerError", 500),) * 3)
    with pytest.raises(ResponseLost):
        run(script, IDEMPOTENT)


# --- writes whose earlier attempt may have been applied ----------------------------------------


def test_a_condition_failure_after_an_uncertain_attempt_is_flagged() -> None:
    old = {"pk": {"S": "k"}}
    script = Script(unknown(), service("ConditionalCheckFailedException", item=old))
    with pytest.raises(ConditionFailed) as caught:
        run(script, CONDITIONAL)
    assert caught.value.after_uncertain is True and caught.value.item == old
    script = Script(
        service("ThrottlingException"), service("ConditionalCheckFailedException")
    )
    with pytest.raises(ConditionFailed) as caught:
        run(script, CONDITIONAL)
    assert caught.value.after_uncertain is False  # a refusal applied nothing


def test_success_after_an_uncertain_attempt_is_marked_in_the_metadata() -> None:
    metadata = run(Script(unknown(), OK), IDEMPOTENT)["ResponseMetadata"]
    assert metadata[UNCERTAIN] is True and metadata["RetryAttempts"] == 1
    metadata = run(Script(unsent(), OK), IDEMPOTENT)["ResponseMetadata"]
    assert UNCERTAIN not in metadata


def test_a_write_out_of_attempts_after_an_uncertain_one_is_outcome_unknown() -> None:
    script = Script(unknown(), *(service("ThrottlingException"),) * 3)
    with pytest.raises(OutcomeUnknown) as caught:
        run(script, IDEMPOTENT)
    assert caught.value.code == "ThrottlingException" and script.attempts == 4
    # A read that runs out says what its last attempt got.
    script = Script(unknown(), *(service("ThrottlingException"),) * 3)
    with pytest.raises(Throttled):
        run(script, READ)


def test_cancellation_reasons_and_returned_items() -> None:
    reasons = [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Item": {"n": {"N": "1"}}},
        "junk",
    ]
    script = Script(service("TransactionCanceledException", reasons=reasons))
    with pytest.raises(TransactionCancelled) as caught:
        run(script, IDEMPOTENT)
    assert caught.value.reasons == [(1, "", "ConditionalCheckFailed")]
    assert caught.value.items == [None, {"n": {"N": "1"}}, None]


# --- backoff -----------------------------------------------------------------------------------


def test_backoff_is_full_jitter_of_a_doubling_base() -> None:
    sleeps: list[float] = []
    script = Script(*(unknown(),) * 3, OK)
    run(script, READ, sleeps=sleeps, jitter=0.3)
    # 0.3 of 0.05, 0.1, 0.2: without jitter these would be the whole steps.
    assert sleeps == pytest.approx([0.015, 0.03, 0.06])


def test_throttling_backs_off_from_its_own_base() -> None:
    sleeps: list[float] = []
    run(Script(service("ThrottlingException"), OK), READ, sleeps=sleeps, jitter=1.0)
    run(Script(unknown(), OK), READ, sleeps=sleeps, jitter=1.0)
    assert sleeps == pytest.approx([0.1, 0.05])


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_attempts=8, max_delay=0.3, random=lambda: 1.0)
    assert [policy.delay(n, throttled=False) for n in range(5)] == pytest.approx(
        [0.05, 0.1, 0.2, 0.3, 0.3]
    )


def test_attempts_are_bounded_by_the_policy() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=2, sleep=sleeps.append)
    script = Script(*(service("ThrottlingException"),) * 5)
    with pytest.raises(Throttled):
        run(script, READ, policy=policy)
    assert script.attempts == 2 and len(sleeps) == 1


# --- deadlines ---------------------------------------------------------------------------------


def test_no_attempt_without_time_left(clock: Clock) -> None:
    script = Script(OK)
    with bind(Deadline(clock.now)), pytest.raises(DeadlineExceeded) as caught:
        run(script, UNSAFE)
    assert caught.value.sent is False and script.attempts == 0
    # The loop itself checks too, for callers other than Client.call.
    with bind(Deadline(clock.now)), pytest.raises(DeadlineExceeded) as caught:
        retry.run(
            script,
            "GetItem",
            {},
            b"{}",
            READ,
            policy=RetryPolicy(),
            quota=RetryQuota(),
        )
    assert caught.value.sent is False and script.attempts == 0


def test_each_attempt_gets_the_time_left(clock: Clock) -> None:
    def sleep(seconds: float) -> None:
        clock.now += seconds

    script = Script(unknown(), OK)
    policy = RetryPolicy(sleep=sleep, random=lambda: 1.0)
    with bind(Deadline(clock.now + 2.0)):
        run(script, READ, policy=policy)
    assert script.timeouts == pytest.approx([2.0, 1.95])


def test_a_pause_that_would_end_past_the_deadline_is_not_taken(clock: Clock) -> None:
    sleeps: list[float] = []
    script = Script(*(service("ThrottlingException"),) * 4)
    with bind(Deadline(clock.now + 0.15)), pytest.raises(Throttled):
        run(script, READ, sleeps=sleeps, jitter=1.0)
    # 0.1 s fits in 0.15 s; the next, 0.2 s, does not: two attempts, one pause.
    assert sleeps == pytest.approx([0.1]) and script.attempts == 2


def test_a_timeout_cut_by_the_deadline_is_deadline_exceeded(clock: Clock) -> None:
    class Cut(Script):
        def exchange(
            self,
            operation: str,
            params: Mapping[str, Any],
            body: bytes,
            timeout: float | None,
        ) -> dict[str, Any]:
            clock.now += timeout or 0  # the socket waited the time there was
            return super().exchange(operation, params, body, timeout)

    script = Cut(unknown("ReadTimeoutError"), OK)
    with bind(Deadline(clock.now + 1.0)), pytest.raises(DeadlineExceeded) as caught:
        run(script, READ)
    assert caught.value.sent is True and caught.value.code == "ReadTimeoutError"
    assert not isinstance(caught.value, OutcomeUnknown) and script.attempts == 1
    # A write it cut may have been applied: both errors at once, whatever its kind.
    for kind in (IDEMPOTENT, CONDITIONAL, UNSAFE):
        script = Cut(unknown("ReadTimeoutError"), OK)
        with bind(Deadline(clock.now + 1.0)), pytest.raises(OutcomeUnknown) as unknown_:
            run(script, kind)
        assert isinstance(unknown_.value, OutcomeUnknownAtDeadline)
        assert isinstance(unknown_.value, DeadlineExceeded) and unknown_.value.sent
        assert script.attempts == 1


def test_a_pause_that_ends_late_never_reports_a_sent_write_as_unsent(
    clock: Clock,
) -> None:
    def late(seconds: float) -> None:
        clock.now += seconds + 0.1

    policy = RetryPolicy(sleep=late, random=lambda: 1.0)
    with bind(Deadline(clock.now + 0.08)), pytest.raises(OutcomeUnknown):
        run(Script(service("InternalServerError", 500), OK), IDEMPOTENT, policy=policy)
    with bind(Deadline(clock.now + 0.08)), pytest.raises(DeadlineExceeded) as caught:
        run(Script(unsent(), OK), IDEMPOTENT, policy=policy)
    assert caught.value.sent is False


# --- the retry quota ---------------------------------------------------------------------------


def test_an_empty_quota_stops_resending() -> None:
    quota = RetryQuota(capacity=10, cost=5, timeout_cost=10)
    script = Script(*(service("ThrottlingException"),) * 4)
    with pytest.raises(Throttled):
        run(script, READ, quota=quota)
    assert script.attempts == 3 and quota.available == 0  # two resends paid for


def test_timeouts_cost_more_and_success_gives_back() -> None:
    quota = RetryQuota(capacity=500)
    run(Script(unknown("ReadTimeoutError"), OK), READ, quota=quota)
    assert quota.available == 500  # the resend's 10 returned on success
    quota.available = 100
    run(Script(OK), READ, quota=quota)
    assert quota.available == 101  # a call that needed no resend adds 1
    assert quota.take(timed_out=True) == 10 and quota.take(timed_out=False) == 5
    assert repr(quota) == "RetryQuota(86 of 500)"


# --- the policy --------------------------------------------------------------------------------


def test_the_policy_is_immutable_and_checked() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 9
    assert policy.replace(max_attempts=9).max_attempts == 9 and policy.max_attempts == 4
    for bad in (
        {"max_attempts": 0},
        {"max_attempts": 2.5},
        {"base_delay": -1.0},
        {"max_delay": float("inf")},
        {"throttle_base_delay": float("nan")},
    ):
        with pytest.raises(ConfigurationError):
            RetryPolicy(**bad)
    assert "max_attempts=4" in repr(policy)


# --- hooks see every resend --------------------------------------------------------------------


class Recorder:
    wants_capacity = False

    def __init__(self) -> None:
        self.events: list[tuple[str, list[str]]] = []

    def before_call(self, call: CallInfo) -> None:
        self.events.append(("before", list(call.resends)))

    def on_resend(self, call: CallInfo) -> None:
        self.events.append(("resend", list(call.resends)))

    def after_call(self, call: CallInfo) -> None:
        self.events.append(("after", list(call.resends)))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    hook = Recorder()
    hooks.add_hook(hook)
    yield hook
    hooks.remove_hook(hook)


def test_hooks_see_each_resend_and_why(recorder: Recorder) -> None:
    run(Script(service("ThrottlingException"), unknown(), OK), READ)
    assert recorder.events == [
        ("before", []),
        ("resend", ["ThrottlingException"]),
        ("resend", ["ThrottlingException", "ConnectionClosedError"]),
        ("after", ["ThrottlingException", "ConnectionClosedError"]),
    ]


def test_hooks_see_the_error_a_call_ends_with(recorder: Recorder) -> None:
    seen: list[CallInfo] = []

    class Last:
        wants_capacity = False

        def before_call(self, call: CallInfo) -> None:
            pass

        def after_call(self, call: CallInfo) -> None:
            seen.append(call)

    last = Last()  # no on_resend: optional
    hooks.add_hook(last)
    try:
        with pytest.raises(DynamormError):
            run(Script(unknown()), UNSAFE)
    finally:
        hooks.remove_hook(last)
    assert seen[0].error == "ConnectionClosedError" and seen[0].retries == 0
