"""Encrypted attributes: KMS envelope encryption, each value bound to its item.

An attribute declared ``encrypted: true`` is stored as an envelope, the map of TableTheory's
DMS v0.1 layout, so that services in other languages can parse it::

    {"M": {"v": {"N": "1"},            # the layout's version
           "edk": {"B": <bytes>},      # the data key, encrypted by KMS
           "nonce": {"B": <12 bytes>}, # AES-GCM's nonce, random per value
           "ct": {"B": <bytes>}}}      # the ciphertext, then AES-GCM's 16-byte tag

The value is encrypted with AES-256-GCM (``cryptography``, imported when an encrypted
attribute is first sealed or opened) under a data key from KMS (GenerateDataKey, with an
encryption context naming the table, the entity type and the attribute; cached by
``data_keys.py``). The associated data that AES-GCM authenticates binds the value to its
place: the logical table, the entity type, the stored attribute and the item's primary key
(each attribute name and typed value of the table's key). A ciphertext copied into another
item, or into another attribute, fails to decrypt: ``DecryptionFailed``, naming the entity
and attribute, never the value.

An attribute declared ``encrypted: tabletheory`` is written as TableTheory writes it, for
Go and TypeScript services that read the same attribute: its associated data is
``theorydb:encrypted:v1|attr=<stored name>``, its plaintext TableTheory's JSON form of the
value (``{"t":"S","s":...}``, ``{"t":"B","b":<base64>}``), and its data keys carry no
encryption context. That binds a value to its attribute name only: a ciphertext copied
between items, or between tables, decrypts (docs/guides/encryption.md).

Which KMS key seals a value (``EncryptedField.key_id``): in a partner's account (a partner
table), the partner's ``kms_key``; otherwise the variable named by the schema's
``kms_key_env`` when set, else the schema's ``kms_key``, else ``$DYNAMORM_KMS_KEY``. With
none, ``EncryptionNotConfigured`` and nothing is written. Opening needs no key id: KMS
decrypts with whichever key the encrypted data key names, so values sealed before a key was
rotated or replaced still open.

KMS is reached through the connection the item is written to or read from
(``Connection.data_keys``): the same transport, credentials, account and retry policy as
the table, or the key service given to ``Connection(kms=...)`` (a test double).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dynamorm_gen.runtime.errors import (
    DecryptionFailed,
    DynamormError,
    EncryptionError,
    EncryptionFailed,
    EncryptionNotConfigured,
)
from dynamorm_gen.runtime.table import Connection, default_connection
from dynamorm_gen.runtime.types import AttributeValue

if TYPE_CHECKING:
    from dynamorm_gen.runtime.data_keys import Context, DataKey

KEY_ENV = "DYNAMORM_KMS_KEY"
ENVELOPE_VERSION = "1"
NONCE_BYTES = 12
TAG_BYTES = 16
# The first bytes of the associated data of values bound to their item.
ASSOCIATED_DATA_PREFIX = b"dynamorm-gen:encrypted:v1"
TABLETHEORY_ASSOCIATED_DATA = "theorydb:encrypted:v1|attr={}"
# KMS's refusals of a key or an encrypted data key, and the checks of what KMS gave: an
# EncryptionFailed or DecryptionFailed naming the attribute. Other failures (throttling,
# timeouts, expired credentials) keep their own types: nothing was written either way.
_REFUSALS = frozenset(
    {
        "AccessDeniedException",
        "DisabledException",
        "IncorrectKeyException",
        "InvalidCiphertextException",
        "InvalidGrantTokenException",
        "InvalidKeyUsageException",
        "KMSInvalidStateException",
        "NotFoundException",
        "ValidationException",
        "InvalidDataKey",
        "ResponseMalformed",
    }
)
_BYTES = frozenset((bytes, bytearray))


class EncryptedField:
    """One encrypted attribute of an entity, as generated code declares it.

    ``where`` names it in errors (``Payment.card_token``); ``table`` (the logical name),
    ``entity_type`` (the type tag) and ``stored`` (the stored name) are what a value is
    bound to, with the values of the table's key attributes ``key_names``. ``kms_key`` and
    ``kms_key_env`` are the schema's key settings; ``tabletheory`` selects TableTheory's
    format (see the module docstring); ``binary`` says the attribute holds bytes, not a str.
    """

    __slots__ = (
        "_bound",
        "_key_parts",
        "binary",
        "entity",
        "entity_type",
        "key_names",
        "kms_context",
        "kms_key",
        "kms_key_env",
        "stored",
        "table",
        "tabletheory",
        "where",
    )

    def __init__(
        self,
        where: str,
        *,
        table: str,
        entity_type: str,
        stored: str,
        key_names: tuple[str, ...],
        kms_key: str | None = None,
        kms_key_env: str | None = None,
        tabletheory: bool = False,
        binary: bool = False,
    ) -> None:
        self.where = where
        self.binary = binary
        self.entity = where.partition(".")[0]
        self.table = table
        self.entity_type = entity_type
        self.stored = stored
        self.key_names = key_names
        self.kms_key = kms_key
        self.kms_key_env = kms_key_env
        self.tabletheory = tabletheory
        # What every value of this attribute is bound to, before its item's key values: the
        # same bytes for each value, made once.
        if tabletheory:
            self._bound = TABLETHEORY_ASSOCIATED_DATA.format(stored).encode()
        else:
            bound = bytearray(ASSOCIATED_DATA_PREFIX)
            for text in (table, entity_type, stored):
                _put(bound, text.encode())
            self._bound = bytes(bound)
        self._key_parts = tuple(
            (name, len(name.encode()).to_bytes(4, "big") + name.encode())
            for name in key_names
        )
        # KMS's encryption context of the data keys; TableTheory's have none.
        self.kms_context: Context = (
            ()
            if tabletheory
            else (
                ("dynamorm-attribute", stored),
                ("dynamorm-entity", entity_type),
                ("dynamorm-table", table),
            )
        )

    def __repr__(self) -> str:
        form = ", tabletheory" if self.tabletheory else ""
        return f"EncryptedField({self.where}{form})"

    # --- sealing -------------------------------------------------------------------------------

    def check(self, value: object) -> None:
        """ConstraintViolation unless ``value`` is what this attribute holds: a str, or
        bytes for a binary attribute."""
        if self.binary:
            if not isinstance(value, bytes | bytearray):
                raise _not_a(self, "bytes", value)
        elif type(value) is not str and not isinstance(value, str):
            raise _not_a(self, "a string", value)

    def seal(
        self,
        connection: Connection | None,
        key: Mapping[str, AttributeValue],
        value: str | bytes,
    ) -> AttributeValue:
        """The envelope of ``value`` in the item whose primary key ``key`` holds (an item,
        or a key), sealed with a data key of ``connection``'s account (None: the default
        connection's)."""
        self.check(value)
        if isinstance(value, str):
            if self.tabletheory:
                plaintext = _tabletheory_json({"t": "S", "s": value})
            else:
                plaintext = value.encode()
        elif self.tabletheory:
            encoded = base64.b64encode(value).decode("ascii")
            plaintext = _tabletheory_json({"t": "B", "b": encoded})
        else:
            plaintext = bytes(value)
        return self._seal(connection, key, plaintext)

    def _seal(
        self,
        connection: Connection | None,
        key: Mapping[str, AttributeValue],
        plaintext: bytes,
    ) -> AttributeValue:
        connection = connection or default_connection()
        associated = self.associated_data(key, EncryptionFailed)
        key_id = self.key_id(connection)
        try:
            data_key = connection.data_keys().for_sealing(key_id, self.kms_context)
        except DynamormError as exc:
            raise self._refused(exc, EncryptionFailed, "KMS gave no data key") from None
        cipher = data_key.cipher or _cipher(self, data_key, EncryptionNotConfigured)
        nonce = os.urandom(NONCE_BYTES)
        try:
            sealed = cipher.encrypt(nonce, plaintext, associated)
        except Exception as exc:  # cryptography's own errors never quote the data
            raise _error(
                self, EncryptionFailed, "AES-GCM failed", type(exc).__name__
            ) from None
        return {
            "M": {
                "v": {"N": ENVELOPE_VERSION},
                "edk": {"B": data_key.edk},
                "nonce": {"B": nonce},
                "ct": {"B": sealed},
            }
        }

    def key_id(self, connection: Connection) -> str:
        """The KMS key that seals this attribute's values written through ``connection``
        (see the module docstring); EncryptionNotConfigured when none is set."""
        partner = connection.current_partner()
        if partner is not None:
            if partner.kms_key is None:
                raise _error(
                    self,
                    EncryptionNotConfigured,
                    f"partner {partner.id!r} has no kms_key: a partner's items are"
                    " encrypted with a key of its account",
                    "NoKey",
                )
            return partner.kms_key
        if self.kms_key_env is not None:
            found = os.environ.get(self.kms_key_env)
            if found:
                return _checked_key_id(self, found, f"${self.kms_key_env}")
        if self.kms_key is not None:
            return self.kms_key
        found = os.environ.get(KEY_ENV)
        if found:
            return _checked_key_id(self, found, f"${KEY_ENV}")
        raise _error(
            self,
            EncryptionNotConfigured,
            "no KMS key is configured for it (the schema's kms_key or kms_key_env, or"
            f" ${KEY_ENV}); nothing was written",
            "NoKey",
        )

    # --- opening -------------------------------------------------------------------------------

    def open_text(
        self,
        connection: Connection | None,
        item: Mapping[str, AttributeValue],
        value: AttributeValue,
    ) -> str:
        """The string sealed in the envelope ``value`` of ``item`` (which holds the item's
        primary key); DecryptionFailed if it is not this item's and attribute's, or was
        altered, or KMS refuses its key."""
        plaintext = self._open(connection, item, value)
        if self.tabletheory:
            found = _tabletheory_value(plaintext, "S", "s")
            if isinstance(found, str):
                return found
        else:
            try:
                return plaintext.decode()
            except UnicodeDecodeError:
                pass
        raise _error(
            self, DecryptionFailed, "the plaintext is not a string", "InvalidPlaintext"
        )

    def open_bytes(
        self,
        connection: Connection | None,
        item: Mapping[str, AttributeValue],
        value: AttributeValue,
    ) -> bytes:
        """The bytes sealed in the envelope ``value`` of ``item`` (see ``open_text``)."""
        plaintext = self._open(connection, item, value)
        if not self.tabletheory:
            return plaintext
        found = _tabletheory_value(plaintext, "B", "b")
        if isinstance(found, str):
            try:
                return base64.b64decode(found, validate=True)
            except (binascii.Error, ValueError):
                pass
        raise _error(
            self, DecryptionFailed, "the plaintext is not binary", "InvalidPlaintext"
        )

    def _open(
        self,
        connection: Connection | None,
        item: Mapping[str, AttributeValue],
        value: AttributeValue,
    ) -> bytes:
        edk, nonce, sealed = self._parts(value)
        associated = self.associated_data(item, DecryptionFailed)
        connection = connection or default_connection()
        try:
            data_key = connection.data_keys().for_opening(edk, self.kms_context)
        except DynamormError as exc:
            raise self._refused(
                exc, DecryptionFailed, "KMS did not decrypt its data key"
            ) from None
        cipher = data_key.cipher or _cipher(self, data_key, DecryptionFailed)
        try:
            opened: bytes = cipher.decrypt(nonce, sealed, associated)
        except (
            Exception
        ) as exc:  # InvalidTag: another item's, another attribute's, altered
            raise _error(
                self,
                DecryptionFailed,
                "the ciphertext is not this item's and attribute's, or was altered",
                type(exc).__name__,
            ) from None
        return opened

    def _parts(self, value: AttributeValue) -> tuple[bytes, bytes, bytes]:
        """The encrypted data key, nonce and ciphertext of an envelope; DecryptionFailed
        (InvalidEnvelope) for anything else than the layout above: exactly the four
        fields, each of its one type, version 1, a 12-byte nonce, room for the tag."""
        try:
            fields = value["M"]
            if len(value) == 1 and len(fields) == 4:
                version, edk, nonce, sealed = (
                    fields["v"],
                    fields["edk"],
                    fields["nonce"],
                    fields["ct"],
                )
                if len(version) == len(edk) == len(nonce) == len(sealed) == 1:
                    edk, nonce, sealed = edk.get("B"), nonce.get("B"), sealed.get("B")
                    if (
                        version.get("N") == ENVELOPE_VERSION
                        and type(edk) in _BYTES
                        and type(nonce) in _BYTES
                        and type(sealed) in _BYTES
                        and edk
                        and len(nonce) == NONCE_BYTES
                        and len(sealed) >= TAG_BYTES
                    ):
                        return bytes(edk), bytes(nonce), bytes(sealed)
        except (KeyError, TypeError, AttributeError):
            pass
        raise _error(
            self,
            DecryptionFailed,
            "the stored value is not an encrypted envelope of version"
            f" {ENVELOPE_VERSION} ({{v, edk, nonce, ct}})",
            "InvalidEnvelope",
        )

    # --- what a value is bound to ------------------------------------------------------------

    def associated_data(
        self, key: Mapping[str, AttributeValue], error: type[EncryptionError]
    ) -> bytes:
        """What AES-GCM authenticates with a value: TableTheory's attribute string, or
        (bound to the item) the prefix, then each of table, entity type, attribute and, for
        each key attribute of the table, its name, type and value, each length-prefixed so
        that no two places can give the same bytes. Numbers are written canonically
        (DynamoDB may return ``1.50`` as ``1.5``)."""
        if self.tabletheory:
            return self._bound
        parts = [self._bound]
        for name, encoded in self._key_parts:
            value = key.get(name)
            typed = (
                _key_value(value)
                if type(value) is dict or isinstance(value, Mapping)
                else None
            )
            if typed is None:
                raise _error(
                    self,
                    error,
                    f"the item's key attribute {name} is missing or not a key value",
                    "KeyMissing",
                )
            parts += (encoded, len(typed).to_bytes(4, "big"), typed)
        return b"".join(parts)

    def _refused(
        self, exc: DynamormError, error: type[EncryptionError], why: str
    ) -> DynamormError:
        """KMS's refusal as ``error`` naming the attribute; other failures as they are."""
        if isinstance(exc, EncryptionError) or exc.code not in _REFUSALS:
            return exc
        return _error(self, error, why, exc.code)


def _error(
    field: EncryptedField, error: type[EncryptionError], why: str, code: str
) -> EncryptionError:
    verb = "decrypted" if error is DecryptionFailed else "encrypted"
    made = error(
        f"{field.where} could not be {verb}: {why} ({code})",
        entity=field.entity,
        code=code,
    )
    made.attribute = field.where.partition(".")[2]
    return made


def _not_a(field: EncryptedField, wanted: str, value: object) -> DynamormError:
    from dynamorm_gen.runtime.errors import ConstraintViolation

    return ConstraintViolation(
        f"{field.where} must be {wanted}, not {type(value).__name__}"
    )


def _checked_key_id(field: EncryptedField, value: str, source: str) -> str:
    """A KMS key id, ARN, alias name or alias ARN from the environment: printable ASCII
    without spaces, at most 2048 characters (KMS's limit)."""
    if (
        len(value) <= 2048
        and value.isascii()
        and value.isprintable()
        and " " not in value
    ):
        return value
    raise _error(
        field,
        EncryptionNotConfigured,
        f"{source} is not a KMS key id, ARN or alias",
        "InvalidKeyId",
    )


def _cipher(
    field: EncryptedField, data_key: DataKey, error: type[EncryptionError]
) -> Any:
    """AES-GCM under ``data_key``, made once per key; ``cryptography`` is imported here, on
    the first encrypted attribute, never at import."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise _error(
            field,
            EncryptionNotConfigured if error is not DecryptionFailed else error,
            "encrypted attributes need the cryptography package"
            " (pip install 'dynamorm-gen[encryption]')",
            "NoCryptography",
        ) from None
    cipher = AESGCM(data_key.material)
    data_key.cipher = cipher
    return cipher


def _put(out: bytearray, data: bytes) -> None:
    out += len(data).to_bytes(4, "big")
    out += data


def _key_value(value: Mapping[str, Any]) -> bytes | None:
    """A key attribute's type and value as bytes: S as UTF-8, N canonical, B as is."""
    if len(value) != 1:
        return None
    ((tag, data),) = value.items()
    try:
        if tag == "S" and type(data) is str:
            return b"S" + data.encode()
        if tag == "N" and isinstance(data, str):
            return b"N" + canonical_number(data).encode()
        if tag == "B" and isinstance(data, bytes | bytearray):
            return b"B" + bytes(data)
    except (ArithmeticError, ValueError, UnicodeEncodeError):
        pass
    return None


def canonical_number(text: str) -> str:
    """One spelling of a DynamoDB number, whatever spelling it was given or returned in
    (``1.50``, ``1.5``, ``15E-1``): sign, significant digits without trailing zeros, and
    the exponent: ``15E-1``; zero is ``0``."""
    from decimal import Decimal

    value = Decimal(text)
    if not value.is_finite():
        raise ValueError("not a finite number")
    if not value:
        return "0"
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = "".join(map(str, digits)).lstrip("0")
    stripped = significant.rstrip("0")
    exponent += len(significant) - len(stripped)
    return f"{'-' if sign else ''}{stripped}E{exponent}"


def _tabletheory_json(value: dict[str, str]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _tabletheory_value(plaintext: bytes, tag: str, field: str) -> object:
    """The value of TableTheory's ``{"t": tag, field: ...}``, or None."""
    try:
        decoded = json.loads(plaintext)
    except ValueError:
        return None
    if isinstance(decoded, dict) and decoded.get("t") == tag:
        return decoded.get(field)
    return None
