"""Data keys for encrypted attributes, cached so that KMS is asked rarely, never per item.

Envelope encryption (``encryption.py``) seals each attribute value with a 256-bit data key
from KMS. Asking KMS for each value would cost a round trip per item; ``DataKeys`` keeps the
keys it got, in the process (a Lambda container), under bounds:

- for sealing, one key per (KMS key, encryption context): reused for at most ``max_uses``
  values and ``max_age`` seconds, then replaced by a new one from GenerateDataKey. Each
  value gets its own random 96-bit nonce, so a key may seal billions of values; the bounds
  limit what one leaked key exposes and how long a revoked KMS key goes on being used;
- for opening, the plaintext of each encrypted data key seen (with its context), for
  ``max_age`` seconds, at most ``max_keys`` of them, the least recently used dropped first.
  A key made here for sealing opens its own values too: reading back what was written costs
  no Decrypt.

A cache miss asks KMS while holding this cache's fetch lock: threads that miss together make
one call, not one each. Evicted keys are wiped as far as Python allows: the key's bytes are
kept in a ``bytearray``, zeroed on eviction, and the cipher made from them is dropped. What
Python cannot wipe is said in docs/guides/encryption.md (the immutable copies the KMS answer
was parsed through, and the copy inside the cipher object until it is collected).

Where keys come from is a ``KeyService``: KMS (``kms.KmsKeys``), or a test double such as
``dynamorm_gen.testing.LocalKms``, given to ``Connection(kms=...)``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dynamorm_gen.runtime.errors import DynamormError

MAX_AGE = 300.0  # seconds
MAX_USES = 10_000
MAX_KEYS = 1_024
KEY_BYTES = 32  # AES-256

Context = tuple[tuple[str, str], ...]


class KeyService(Protocol):
    """Where data keys come from: KMS (``kms.KmsKeys``) or a test double."""

    def generate_data_key(
        self, key_id: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]:
        """A new 256-bit data key under ``key_id``: (plaintext, encrypted data key), the
        latter bound to ``context``."""
        ...

    def decrypt_data_key(self, edk: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext of ``edk``, given the ``context`` it was made with."""
        ...


class DataKey:
    """One cached data key: its bytes (wiped on eviction), its encrypted form, and the
    cipher ``encryption.py`` makes from it once."""

    __slots__ = ("cipher", "edk", "made", "material", "uses")

    def __init__(self, material: bytes, edk: bytes, made: float) -> None:
        self.material = bytearray(material)
        self.edk = edk
        self.made = made
        self.uses = 0
        self.cipher: Any = None

    def __repr__(self) -> str:
        return f"DataKey({len(self.edk)}-byte edk, {self.uses} uses)"

    def wipe(self) -> None:
        """Zero the key's bytes and drop the cipher made from them."""
        self.material[:] = bytes(len(self.material))
        self.cipher = None


class DataKeys:
    """The data keys of one account and region (see the module docstring). Thread-safe.

    ``service`` is asked on cache misses; ``max_age`` (seconds), ``max_uses`` and
    ``max_keys`` bound the cache; ``clock`` (seconds, monotonic) is injected in tests.
    ``calls`` counts the requests made to ``service``, by operation.
    """

    def __init__(
        self,
        service: KeyService,
        *,
        max_age: float = MAX_AGE,
        max_uses: int = MAX_USES,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_age > 0 or type(max_uses) is not int or max_uses < 1:
            raise ValueError("max_age must be positive, max_uses a positive integer")
        if type(max_keys) is not int or max_keys < 1:
            raise ValueError("max_keys must be a positive integer")
        self.service = service
        self.max_age = max_age
        self.max_uses = max_uses
        self.max_keys = max_keys
        self.clock = clock
        self.calls = {"GenerateDataKey": 0, "Decrypt": 0}
        self._sealing: dict[tuple[str, Context], DataKey] = {}
        self._opening: OrderedDict[tuple[bytes, Context], DataKey] = OrderedDict()
        self._lock = threading.Lock()
        self._fetching = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"DataKeys({self.service!r}, {len(self._sealing)} sealing,"
            f" {len(self._opening)} opening)"
        )

    def for_sealing(self, key_id: str, context: Context) -> DataKey:
        """A data key under ``key_id`` for one more value, bound to ``context``: the cached
        one while it is young enough and has uses left, else a new one from the service."""
        slot = (key_id, context)
        found = self._use(slot)
        if found is not None:
            return found
        with self._fetching:
            found = self._use(slot)
            if found is not None:
                return found
            self.calls["GenerateDataKey"] += 1
            material, edk = self.service.generate_data_key(key_id, dict(context))
            made = DataKey(_checked(material, "GenerateDataKey"), edk, self.clock())
            made.uses = 1
            with self._lock:
                old = self._sealing.pop(slot, None)
                if old is not None and self._opening.get((old.edk, context)) is not old:
                    old.wipe()
                self._sealing[slot] = made
                self._keep_for_opening((edk, context), made)
            return made

    def _use(self, slot: tuple[str, Context]) -> DataKey | None:
        with self._lock:
            found = self._sealing.get(slot)
            if found is None:
                return None
            if found.uses < self.max_uses and self.clock() - found.made < self.max_age:
                found.uses += 1
                return found
            del self._sealing[slot]
            if self._opening.get((found.edk, slot[1])) is not found:
                found.wipe()
            return None

    def for_opening(self, edk: bytes, context: Context) -> DataKey:
        """The data key that ``edk`` encrypts, for ``context``: cached, or from the service."""
        slot = (edk, context)
        found = self._recall(slot)
        if found is not None:
            return found
        with self._fetching:
            found = self._recall(slot)
            if found is not None:
                return found
            self.calls["Decrypt"] += 1
            material = self.service.decrypt_data_key(edk, dict(context))
            made = DataKey(_checked(material, "Decrypt"), edk, self.clock())
            with self._lock:
                self._keep_for_opening(slot, made)
            return made

    def _recall(self, slot: tuple[bytes, Context]) -> DataKey | None:
        with self._lock:
            found = self._opening.get(slot)
            if found is None:
                return None
            if self.clock() - found.made < self.max_age:
                self._opening.move_to_end(slot)
                return found
            self._forget(slot)
            return None

    def _keep_for_opening(self, slot: tuple[bytes, Context], key: DataKey) -> None:
        """Called holding the lock."""
        if slot in self._opening:
            self._forget(slot)
        self._opening[slot] = key
        while len(self._opening) > self.max_keys:
            self._forget(next(iter(self._opening)))

    def _forget(self, slot: tuple[bytes, Context]) -> None:
        """Drop an opening key, wiping it unless it still seals; called holding the lock."""
        key = self._opening.pop(slot)
        if not any(kept is key for kept in self._sealing.values()):
            key.wipe()

    def clear(self) -> None:
        """Drop and wipe every cached key: the next values ask the service again."""
        with self._lock:
            for key in [*self._sealing.values(), *self._opening.values()]:
                key.wipe()
            self._sealing.clear()
            self._opening.clear()

    def close(self) -> None:
        """Wipe the cache and close the service's connections (when it has any)."""
        self.clear()
        close = getattr(self.service, "close", None)
        if close is not None:
            close()


def as_data_keys(kms: object) -> DataKeys:
    """What ``Connection(kms=...)`` takes, as a ``DataKeys``: a ``DataKeys`` as it is, a
    ``Client`` of KMS or a key service (such as a test double) cached with the default
    bounds."""
    from dynamorm_gen.runtime.client import Client

    if isinstance(kms, DataKeys):
        return kms
    if isinstance(kms, Client):
        from dynamorm_gen.runtime.kms import KmsKeys

        return DataKeys(KmsKeys(kms))
    if callable(getattr(kms, "generate_data_key", None)) and callable(
        getattr(kms, "decrypt_data_key", None)
    ):
        service: KeyService = kms  # type: ignore[assignment]
        return DataKeys(service)
    from dynamorm_gen.runtime.errors import ConfigurationError

    raise ConfigurationError(
        f"kms= takes a key service, a KMS Client or DataKeys, not {type(kms).__name__}"
    )


def _checked(material: object, operation: str) -> bytes:
    if not isinstance(material, bytes | bytearray) or len(material) != KEY_BYTES:
        raise DynamormError(
            f"{operation} gave a data key that is not {KEY_BYTES} bytes",
            operation=operation,
            code="InvalidDataKey",
        )
    return bytes(material)
