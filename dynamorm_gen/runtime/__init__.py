"""The thin runtime that generated modules import; what a Lambda loads.

Only the standard library is imported here. botocore is imported when the first client is
created, never at import time; jinja2, yaml, jsonschema and click are never imported.
"""

from dynamorm_gen.runtime.batch import BatchGet
from dynamorm_gen.runtime.cursor import set_cursor_key
from dynamorm_gen.runtime.errors import (
    AccessDenied,
    AssumeRoleFailed,
    ConditionFailed,
    ConfigurationError,
    ConstraintViolation,
    CredentialsExpired,
    DeadlineExceeded,
    DecryptionFailed,
    DynamormError,
    EncryptionFailed,
    EncryptionNotConfigured,
    InvalidCursor,
    ItemDecodeError,
    ItemTooLarge,
    KeyViolation,
    NotFound,
    OutcomeUnknown,
    OutcomeUnknownAtDeadline,
    PartnerAccessDenied,
    PartnerRequired,
    RegionDisabled,
    ResponseLost,
    RuntimeIncompatible,
    SourceCredentialsExpired,
    TableNotFound,
    Throttled,
    TransactionCancelled,
    UnknownPartner,
    ValidationFailed,
)
from dynamorm_gen.runtime.table import Connection, Page, TableDefinition, TableHandle
from dynamorm_gen.runtime.transact import TransactGet, TransactWrite
from dynamorm_gen.runtime.wire import FieldEncryptor, set_field_encryptor

__all__ = [
    "AccessDenied",
    "AssumeRoleFailed",
    "BatchGet",
    "ConditionFailed",
    "ConfigurationError",
    "Connection",
    "ConstraintViolation",
    "CredentialsExpired",
    "DeadlineExceeded",
    "DecryptionFailed",
    "DynamormError",
    "EncryptionFailed",
    "EncryptionNotConfigured",
    "FieldEncryptor",
    "InvalidCursor",
    "ItemDecodeError",
    "ItemTooLarge",
    "KeyViolation",
    "NotFound",
    "OutcomeUnknown",
    "OutcomeUnknownAtDeadline",
    "Page",
    "PartnerAccessDenied",
    "PartnerRequired",
    "RegionDisabled",
    "ResponseLost",
    "RuntimeIncompatible",
    "SourceCredentialsExpired",
    "TableDefinition",
    "TableHandle",
    "TableNotFound",
    "Throttled",
    "TransactGet",
    "TransactWrite",
    "TransactionCancelled",
    "UnknownPartner",
    "ValidationFailed",
    "set_cursor_key",
    "set_field_encryptor",
]
