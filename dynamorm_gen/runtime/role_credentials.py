"""A partner's temporary credentials: assumed on first use, kept, refreshed ahead of expiry.

The fast transport asks its credentials source before every request, so this is on the hot
path: while the credentials have more than the advisory window left, a call is one clock read
and a comparison, without a lock. The windows are botocore's (its refreshable credentials,
which the botocore transport uses for partners):

- advisory (15 minutes before expiry): one caller refreshes; the others carry on with the
  still-valid credentials instead of waiting. A failed refresh keeps them too (logged as a
  warning), and is tried again after ``RETRY_PAUSE`` seconds, not on every call;
- mandatory (10 minutes before expiry), or none assumed yet: every caller needs new ones; one
  refreshes while the others wait for it, then use what it got. A failed refresh raises its
  typed error (``AssumeRoleFailed`` and subclasses).

So under concurrency there is one AssumeRole per partner per refresh, never a thundering herd.
Sessions shorter than 30 minutes get windows of a half and a third of their duration, so that a
15-minute session is not refreshed on every call (``refresh_windows``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dynamorm_gen.runtime.errors import CredentialsExpired, DynamormError
from dynamorm_gen.runtime.sigv4 import Credentials

ADVISORY_REFRESH = 15 * 60  # seconds before expiry
MANDATORY_REFRESH = 10 * 60
RETRY_PAUSE = 30.0  # seconds between refreshes that failed in the advisory window

Issued = tuple[Credentials, float]
"""Credentials and their expiry, in seconds since the epoch."""


def refresh_windows(duration_seconds: int) -> tuple[float, float]:
    """The advisory and mandatory windows (seconds before expiry) for sessions of
    ``duration_seconds``: botocore's 15 and 10 minutes, or a half and a third of the session
    when that is shorter."""
    return (
        min(float(ADVISORY_REFRESH), duration_seconds / 2),
        min(float(MANDATORY_REFRESH), duration_seconds / 3),
    )


class RoleCredentials:
    """The credentials ``fetch`` issues (``sts.assume_role`` for a partner), as a
    credentials source: calling it returns credentials valid for at least the mandatory
    window. ``clock`` (seconds since the epoch: STS's expiry is a wall-clock time) is
    injected in tests. Thread-safe."""

    __slots__ = (
        "_clock",
        "_credentials",
        "_expiry",
        "_fetch",
        "_lock",
        "_retry_at",
        "advisory",
        "mandatory",
        "partner",
    )

    def __init__(
        self,
        partner: str,
        fetch: Callable[[], Issued],
        *,
        advisory: float = ADVISORY_REFRESH,
        mandatory: float = MANDATORY_REFRESH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.partner = partner
        self.advisory = advisory
        self.mandatory = mandatory
        self._fetch = fetch
        self._clock = clock
        self._credentials: Credentials | None = None
        self._expiry = 0.0
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def expiry(self) -> float | None:
        """When the current credentials expire (seconds since the epoch); None before the
        first refresh."""
        return None if self._credentials is None else self._expiry

    def __repr__(self) -> str:
        if self._credentials is None:
            return f"RoleCredentials({self.partner!r}, none yet)"
        left = self._expiry - self._clock()
        return f"RoleCredentials({self.partner!r}, {left:.0f}s left)"

    def __call__(self) -> Credentials:
        credentials = self._credentials
        if credentials is not None:
            now = self._clock()
            left = self._expiry - now
            if left > self.advisory or (left > self.mandatory and now < self._retry_at):
                return credentials
        if self._lock.acquire(blocking=False):
            try:
                return self._refresh()
            finally:
                self._lock.release()
        # Another caller is refreshing: in the advisory window the current credentials
        # still serve; past the mandatory point, wait for the new ones.
        credentials = self._credentials
        if credentials is not None and self._expiry - self._clock() > self.mandatory:
            return credentials
        with self._lock:
            return self._refresh()

    def _refresh(self) -> Credentials:
        """Refresh unless another caller just did; called holding the lock."""
        now = self._clock()
        credentials = self._credentials
        left = self._expiry - now
        if credentials is not None and left > self.advisory:
            return credentials  # refreshed while this caller waited for the lock
        try:
            fresh, expiry = self._fetch()
        except DynamormError:
            if credentials is None or left <= self.mandatory:
                raise
            self._retry_at = now + RETRY_PAUSE
            _log_advisory_failure(self.partner, left)
            return credentials
        if expiry <= now:
            raise CredentialsExpired(
                f"partner {self.partner!r}: STS gave credentials that have already"
                " expired (is this machine's clock right?)",
                operation="AssumeRole",
                code="ExpiredOnArrival",
            )
        self._credentials, self._expiry, self._retry_at = fresh, expiry, 0.0
        return fresh


def _log_advisory_failure(partner: str, left: float) -> None:
    import logging

    # With the traceback: runtime errors name the partner and STS's code, never secrets.
    logging.getLogger("dynamorm_gen").warning(
        "dynamorm_gen: refreshing partner %r's credentials failed in the advisory window;"
        " the current ones are valid for another %.0f s",
        partner,
        left,
        exc_info=True,
    )
