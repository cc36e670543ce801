"""A key service for tests: data keys made and unwrapped in this process, the way KMS does.

``Connection(kms=LocalKms())`` is the one way to run encrypted attributes without KMS: the
envelope, the associated data that binds each value to its item, AES-256-GCM and the data-key
cache are the real ones; only GenerateDataKey and Decrypt are answered here. Each key id (an
id, an ARN or an alias: any text) gets its own random master key, made when first used; an
encrypted data key names its key id and is bound to the encryption context it was made with,
so Decrypt under another context fails as KMS's does (``InvalidCiphertextException``).

    kms = LocalKms(keys=["alias/payments"])    # only these keys exist (None: any key id)
    table = PaymentsTable(Connection(kms=kms))
    ...
    assert kms.calls == {"GenerateDataKey": 1, "Decrypt": 0}
    kms.disable("alias/payments")              # DisabledException from now on

For KMS over HTTP (both transports, partners' accounts), use moto's server instead: the
``dynamorm_kms`` fixture.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping

from dynamorm_gen.runtime.errors import DynamormError

_MAGIC = b"local-kms:1:"
_NONCE = 12


class LocalKms:
    """A ``data_keys.KeyService`` (see the module docstring). Thread-safe."""

    def __init__(self, keys: Iterable[str] | None = None) -> None:
        self._known = None if keys is None else frozenset(keys)
        self._masters: dict[str, bytes] = {}
        self._disabled: set[str] = set()
        self._lock = threading.Lock()
        self.calls = {"GenerateDataKey": 0, "Decrypt": 0}

    def __repr__(self) -> str:
        return f"LocalKms({len(self._masters)} keys)"

    def disable(self, key_id: str) -> None:
        """Refuse ``key_id`` from now on (DisabledException), as a disabled KMS key."""
        with self._lock:
            self._disabled.add(key_id)

    def generate_data_key(
        self, key_id: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with self._lock:
            self.calls["GenerateDataKey"] += 1
        master = self._master(key_id, "GenerateDataKey")
        plaintext = os.urandom(32)
        nonce = os.urandom(_NONCE)
        name = key_id.encode()
        sealed = AESGCM(master).encrypt(nonce, plaintext, _context_bytes(context))
        edk = _MAGIC + len(name).to_bytes(2, "big") + name + nonce + sealed
        return plaintext, edk

    def decrypt_data_key(self, edk: bytes, context: Mapping[str, str]) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with self._lock:
            self.calls["Decrypt"] += 1
        if not edk.startswith(_MAGIC) or len(edk) < len(_MAGIC) + 2:
            raise _refusal("InvalidCiphertextException", "Decrypt")
        rest = edk[len(_MAGIC) :]
        length = int.from_bytes(rest[:2], "big")
        key_id = rest[2 : 2 + length].decode(errors="replace")
        nonce = rest[2 + length : 2 + length + _NONCE]
        sealed = rest[2 + length + _NONCE :]
        master = self._master(key_id, "Decrypt", existing=True)
        try:
            plaintext: bytes = AESGCM(master).decrypt(
                nonce, sealed, _context_bytes(context)
            )
        except Exception:
            raise _refusal("InvalidCiphertextException", "Decrypt") from None
        return plaintext

    def _master(self, key_id: str, operation: str, *, existing: bool = False) -> bytes:
        with self._lock:
            if key_id in self._disabled:
                raise _refusal("DisabledException", operation)
            found = self._masters.get(key_id)
            if found is not None:
                return found
            if existing or (self._known is not None and key_id not in self._known):
                code = "InvalidCiphertextException" if existing else "NotFoundException"
                raise _refusal(code, operation)
            made = self._masters[key_id] = os.urandom(32)
            return made


def _context_bytes(context: Mapping[str, str]) -> bytes:
    return "\n".join(f"{k}={v}" for k, v in sorted(context.items())).encode()


def _refusal(code: str, operation: str) -> DynamormError:
    return DynamormError(code, operation=operation, code=code)
