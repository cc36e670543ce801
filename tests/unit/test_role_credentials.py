"""A partner's refreshing credentials (runtime/role_credentials.py) on a fake clock: assumed on
first use, kept, refreshed in the advisory and mandatory windows by one caller at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from dynamorm_gen.runtime import (
    AssumeRoleFailed,
    CredentialsExpired,
    PartnerAccessDenied,
)
from dynamorm_gen.runtime.role_credentials import (
    RETRY_PAUSE,
    Issued,
    RoleCredentials,
    refresh_windows,
)
from dynamorm_gen.runtime.sigv4 import Credentials
from dynamorm_gen.runtime.sts import error_for_code

START = 1_800_000_000.0
LIFETIME = 3600.0
SECRET = "s3cr3t/Key+ForTheRole"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Sts:
    """A fake AssumeRole: new credentials valid for LIFETIME from the clock's now, or the
    scripted failures; ``pause`` holds each call (to make callers overlap)."""

    def __init__(self, clock: Clock, partner: str = "acme") -> None:
        self.clock = clock
        self.partner = partner
        self.calls = 0
        self.failures: list[str] = []
        self.pause: threading.Event | None = None
        self.lock = threading.Lock()

    def __call__(self) -> Issued:
        with self.lock:
            self.calls += 1
            number = self.calls
            failure = self.failures.pop(0) if self.failures else None
        if self.pause is not None:
            self.pause.wait(5)
        if failure is not None:
            raise error_for_code(self.partner, failure)
        return (
            Credentials(f"ASIA{number:012d}", SECRET, f"token-{number}"),
            self.clock.now + LIFETIME,
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_assumed_on_first_use_then_kept(clock: Clock) -> None:
    sts = Sts(clock)
    role = RoleCredentials("acme", sts, clock=clock)
    assert sts.calls == 0 and role.expiry is None  # nothing assumed when made
    first = role()
    assert sts.calls == 1 and role.expiry == START + LIFETIME
    clock.now += LIFETIME - 15 * 60 - 1  # one second before the advisory window
    assert role() is first and sts.calls == 1


def test_refreshed_once_in_the_advisory_window(clock: Clock) -> None:
    sts = Sts(clock)
    role = RoleCredentials("acme", sts, clock=clock)
    first = role()
    clock.now += LIFETIME - 14 * 60  # inside the advisory window, before the mandatory
    second = role()
    assert second is not first and sts.calls == 2
    assert role() is second and sts.calls == 2


def test_an_advisory_failure_keeps_the_valid_credentials_and_pauses(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    sts = Sts(clock)
    role = RoleCredentials("acme", sts, clock=clock)
    first = role()
    clock.now += LIFETIME - 14 * 60
    sts.failures = ["Throttling"]
    with caplog.at_level(logging.WARNING, logger="dynamorm_gen"):
        assert role() is first
    assert sts.calls == 2
    assert "failed in the advisory window" in caplog.text and "acme" in caplog.text
    assert SECRET not in caplog.text
    clock.now += RETRY_PAUSE - 1
    assert role() is first and sts.calls == 2  # not on every call
    clock.now += 2
    assert role() is not first and sts.calls == 3


def test_a_mandatory_failure_raises_its_typed_error(clock: Clock) -> None:
    sts = Sts(clock)
    role = RoleCredentials("acme", sts, clock=clock)
    role()
    clock.now += LIFETIME - 9 * 60  # inside the mandatory window
    sts.failures = ["AccessDenied"]
    with pytest.raises(PartnerAccessDenied) as caught:
        role()
    assert caught.value.partner == "acme" and caught.value.code == "AccessDenied"
    assert role().access_key == "ASIA000000000003"  # the next call tries again


def test_no_credentials_yet_and_a_failure_raises(clock: Clock) -> None:
    sts = Sts(clock)
    sts.failures = ["RegionDisabledException"]
    role = RoleCredentials("acme", sts, clock=clock)
    with pytest.raises(AssumeRoleFailed, match="not activated"):
        role()


def test_credentials_that_arrive_expired_are_an_error(clock: Clock) -> None:
    def stale() -> Issued:
        return Credentials("ASIA1", SECRET, "t"), clock.now - 1

    with pytest.raises(CredentialsExpired, match="clock"):
        RoleCredentials("acme", stale, clock=clock)()


def test_short_sessions_get_shorter_windows() -> None:
    assert refresh_windows(3600) == (900.0, 600.0)
    assert refresh_windows(43200) == (900.0, 600.0)
    assert refresh_windows(900) == (450.0, 300.0)  # not refreshed on every call


def test_the_repr_shows_no_secret(clock: Clock) -> None:
    role = RoleCredentials("acme", Sts(clock), clock=clock)
    assert repr(role) == "RoleCredentials('acme', none yet)"
    role()
    assert repr(role) == "RoleCredentials('acme', 3600s left)"
    assert SECRET not in repr(role) and "ASIA" not in repr(role)


def _together(threads: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``threads`` threads released at once; their results."""
    barrier = threading.Barrier(threads)
    results: list[object] = [None] * threads

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(10)
    return results


@pytest.mark.parametrize(
    ("phase", "offset"),
    [
        ("first use", None),
        ("advisory window", LIFETIME - 14 * 60),
        ("mandatory window", LIFETIME - 5 * 60),
        ("expired", LIFETIME + 1),
    ],
)
def test_32_threads_on_4_partners_make_one_assume_role_per_partner(
    clock: Clock, phase: str, offset: float | None
) -> None:
    partners = [f"partner-{n}" for n in range(4)]
    fakes = {p: Sts(clock, p) for p in partners}
    roles = {p: RoleCredentials(p, fakes[p], clock=clock) for p in partners}
    if offset is not None:
        for role in roles.values():
            role()
        clock.now = START + offset
    gate = threading.Event()
    for fake in fakes.values():
        fake.calls = 0
        fake.pause = (
            gate  # every AssumeRole is slow: the other threads arrive meanwhile
        )
    releaser = threading.Timer(0.2, gate.set)
    releaser.start()
    results = _together(32, lambda i: roles[partners[i % 4]]())
    releaser.join()
    assert {p: fakes[p].calls for p in partners} == {p: 1 for p in partners}, phase
    assert all(isinstance(r, Credentials) for r in results)
    # After the refresh, every thread of a partner holds credentials that are now current.
    for i, result in enumerate(results):
        current = roles[partners[i % 4]]()
        if phase != "advisory window":
            assert result is current
