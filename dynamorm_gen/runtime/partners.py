"""The partner registry: who the partners are, and which role in their account to assume.

A partner is a company whose DynamoDB tables live in its own AWS account. It lets this
function in through an IAM role it created (``role_arn``), whose trust policy names this
function's role and, usually, an external ID agreed with the partner. ``accounts.py`` assumes
that role with STS and sends the partner's requests with the credentials it gets.

Partners are given in code (``Partner(...)``), or loaded from a small JSON file or from the
environment (``PartnerRegistry.from_file``, ``from_env``)::

    {"partners": {
        "acme": {"role_arn": "arn:aws:iam::111122223333:role/payments-access",
                 "external_id_env": "ACME_EXTERNAL_ID", "region": "eu-west-1",
                 "session_name": "payments-api", "duration_seconds": 3600,
                 "kms_key": "alias/payments"}}}

Everything is checked when a partner is made, so that a mistake fails at start-up with the
partner's id and the setting's name, not at the first request. The external ID and source
credentials are secrets: no message or repr shows them (nor the role ARN, whose account id
and role name are shown apart).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from dynamorm_gen.runtime.errors import ConfigurationError, UnknownPartner
from dynamorm_gen.runtime.sigv4 import Credentials

FILE_ENV = "DYNAMORM_PARTNERS_FILE"
INLINE_ENV = "DYNAMORM_PARTNERS"
# STS AssumeRole's limits.
MIN_DURATION = 900
MAX_DURATION = 43200
DEFAULT_DURATION = 3600
DEFAULT_SESSION_NAME = "dynamorm-gen"
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# IAM's character sets: role names and session names; external IDs add ':' and '/'.
_NAME_CHARS = _ALNUM | frozenset("_+=,.@-")
_EXTERNAL_ID_CHARS = _NAME_CHARS | frozenset(":/")
_ID_CHARS = _ALNUM | frozenset("_.-")
_REGION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_SETTINGS = (
    "role_arn",
    "external_id",
    "external_id_env",
    "region",
    "session_name",
    "duration_seconds",
    "kms_key",
)

CredentialsSource = Credentials | Callable[[], Credentials]


class Partner:
    """One partner: its id, the role to assume in its account, and how.

    - ``role_arn``: ``arn:aws:iam::<12-digit account>:role/[<path>/]<name>`` (partitions
      ``aws``, ``aws-cn``, ``aws-us-gov``);
    - ``external_id``: the value the role's trust policy requires (2 to 1224 characters of
      letters, digits and ``_+=,.@:/-``), or None when it requires none;
    - ``region``: where the partner's tables are, and whose STS endpoint is asked; None
      for the function's own region;
    - ``session_name``: the role session's name, shown in the partner's CloudTrail (2 to 64
      characters of letters, digits and ``_+=,.@-``);
    - ``duration_seconds``: how long each session lasts, 900 to 43200 (the role's maximum
      session duration must allow it);
    - ``source_credentials``: the credentials that call STS: a ``Credentials`` value or a
      function returning fresh ones (fast transport only); None for the function's own;
    - ``kms_key``: the KMS key (id, ARN, alias name or alias ARN) in the partner's account
      that seals the encrypted attributes of its items (``encryption.py``); None when its
      tables hold none (writing one then fails closed: ``EncryptionNotConfigured``).
    """

    __slots__ = (
        "account_id",
        "duration_seconds",
        "external_id",
        "id",
        "kms_key",
        "region",
        "role_arn",
        "role_name",
        "session_name",
        "source_credentials",
    )

    def __init__(
        self,
        id: str,
        *,
        role_arn: str,
        external_id: str | None = None,
        region: str | None = None,
        session_name: str = DEFAULT_SESSION_NAME,
        duration_seconds: int = DEFAULT_DURATION,
        source_credentials: CredentialsSource | None = None,
        kms_key: str | None = None,
    ) -> None:
        _check_id(id)
        self.id = id
        self.account_id, self.role_name = _check_role_arn(id, role_arn)
        self.role_arn = role_arn
        if external_id is not None:
            _check_external_id(id, external_id)
        self.external_id = external_id
        if region is not None:
            _check_region(id, region)
        self.region = region
        _check_session_name(id, session_name)
        self.session_name = session_name
        _check_duration(id, duration_seconds)
        self.duration_seconds = duration_seconds
        if source_credentials is not None and not (
            isinstance(source_credentials, Credentials) or callable(source_credentials)
        ):
            raise ConfigurationError(
                f"partner {id!r}: source_credentials must be a Credentials value or a"
                f" function returning one, not {type(source_credentials).__name__}"
            )
        self.source_credentials = source_credentials
        if kms_key is not None:
            _check_kms_key(id, kms_key)
        self.kms_key = kms_key

    def __repr__(self) -> str:
        # The external ID and the source credentials are secrets: never shown.
        secret = ", external_id=***" if self.external_id is not None else ""
        source = ", source_credentials=***" if self.source_credentials else ""
        return (
            f"Partner({self.id!r}, account {self.account_id}, role {self.role_name},"
            f" region {self.region}, {self.duration_seconds}s{secret}{source})"
        )


def _check_id(value: object) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ConfigurationError("a partner id must be a str of 1 to 64 characters")
    if not set(value) <= _ID_CHARS:
        raise ConfigurationError(
            "a partner id may hold only letters, digits and '_', '.', '-'"
        )


def _check_role_arn(partner: str, value: object) -> tuple[str, str]:
    """The account id and role name of an IAM role ARN; ConfigurationError saying what is
    wrong, without quoting the value."""
    where = f"partner {partner!r}: role_arn"
    form = "arn:aws:iam::<12-digit account id>:role/[<path>/]<role name>"
    if not isinstance(value, str):
        raise ConfigurationError(f"{where} must be a str, not {type(value).__name__}")
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[3] != "":
        raise ConfigurationError(f"{where} is not an IAM ARN (expected {form})")
    if parts[1] not in PARTITIONS:
        raise ConfigurationError(
            f"{where} names an unknown partition (expected one of {', '.join(PARTITIONS)})"
        )
    account = parts[4]
    if len(account) != 12 or not account.isascii() or not account.isdigit():
        raise ConfigurationError(f"{where}: the account id must be 12 digits")
    resource = parts[5]
    if not resource.startswith("role/"):
        raise ConfigurationError(f"{where} is not a role (expected {form})")
    path, _, name = resource[len("role/") :].rpartition("/")
    if not 1 <= len(name) <= 64 or not set(name) <= _NAME_CHARS:
        raise ConfigurationError(
            f"{where}: the role name must be 1 to 64 letters, digits or '_+=,.@-'"
        )
    if len(path) > 510 or not (path.isascii() and path.isprintable()) or " " in path:
        raise ConfigurationError(
            f"{where}: the role's path must be printable ASCII without spaces"
        )
    return account, name


def _check_external_id(partner: str, value: object) -> None:
    where = f"partner {partner!r}: the external ID"
    if not isinstance(value, str):
        raise ConfigurationError(f"{where} must be a str, not {type(value).__name__}")
    if not 2 <= len(value) <= 1224 or not set(value) <= _EXTERNAL_ID_CHARS:
        raise ConfigurationError(
            f"{where} must be 2 to 1224 letters, digits or '_+=,.@:/-'"
        )


def _check_region(partner: str, value: object) -> None:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 32
        or not set(value) <= _REGION_CHARS
        or value.startswith("-")
    ):
        raise ConfigurationError(
            f"partner {partner!r}: region must be an AWS region name such as eu-west-1"
        )


def _check_session_name(partner: str, value: object) -> None:
    if (
        not isinstance(value, str)
        or not 2 <= len(value) <= 64
        or not set(value) <= _NAME_CHARS
    ):
        raise ConfigurationError(
            f"partner {partner!r}: session_name must be 2 to 64 letters, digits or"
            " '_+=,.@-'"
        )


def _check_kms_key(partner: str, value: object) -> None:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 2048
        or not (value.isascii() and value.isprintable())
        or " " in value
    ):
        raise ConfigurationError(
            f"partner {partner!r}: kms_key must be a KMS key id, key ARN, alias name or"
            " alias ARN (printable ASCII without spaces)"
        )


def _check_duration(partner: str, value: object) -> None:
    if type(value) is not int or not MIN_DURATION <= value <= MAX_DURATION:
        raise ConfigurationError(
            f"partner {partner!r}: duration_seconds must be a whole number of seconds"
            f" from {MIN_DURATION} to {MAX_DURATION}"
        )


class PartnerRegistry:
    """The partners, by id. Thread-safe; changes apply to the next call of each partner
    (``accounts.py`` drops what it kept for a partner that was replaced or removed)."""

    __slots__ = ("_lock", "_partners")

    def __init__(self, partners: Iterable[Partner] = ()) -> None:
        self._partners: dict[str, Partner] = {}
        self._lock = threading.Lock()
        for partner in partners:
            self.add(partner)

    def add(self, partner: Partner, *, replace: bool = False) -> None:
        """Add ``partner``; one with the same id is an error unless ``replace``."""
        if not isinstance(partner, Partner):
            raise ConfigurationError(
                f"a registry holds Partner values, not {type(partner).__name__}"
            )
        with self._lock:
            if partner.id in self._partners and not replace:
                raise ConfigurationError(
                    f"partner {partner.id!r} is already registered (pass replace=True)"
                )
            self._partners[partner.id] = partner

    def remove(self, partner_id: str) -> Partner:
        """Remove a partner and return it; UnknownPartner if there is none."""
        with self._lock:
            found = self._partners.pop(partner_id, None)
        if found is None:
            raise _unknown(partner_id)
        return found

    def get(self, partner_id: str) -> Partner:
        """The partner with this id; UnknownPartner if there is none."""
        found = self._partners.get(partner_id)
        if found is None:
            raise _unknown(partner_id)
        return found

    def __contains__(self, partner_id: object) -> bool:
        return partner_id in self._partners

    def __len__(self) -> int:
        return len(self._partners)

    def __iter__(self) -> Iterator[Partner]:
        return iter(list(self._partners.values()))

    def ids(self) -> list[str]:
        return sorted(self._partners)

    def __repr__(self) -> str:
        return f"PartnerRegistry({', '.join(self.ids())})"

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls, data: object, *, environ: Mapping[str, str] | None = None
    ) -> PartnerRegistry:
        """Partners from parsed configuration: ``{"partners": {id: settings, ...}}``.

        The settings are those of ``Partner`` (without ``source_credentials``: secrets stay
        out of files), and ``external_id_env``, the name of an environment variable that
        holds the external ID (read from ``environ``, default ``os.environ``), instead of
        ``external_id`` itself.
        """
        if not isinstance(data, Mapping) or set(data) != {"partners"}:
            raise ConfigurationError(
                'partner configuration must be an object with one key, "partners"'
            )
        entries = data["partners"]
        if not isinstance(entries, Mapping):
            raise ConfigurationError(
                '"partners" must be an object of partner ids to their settings'
            )
        env = os.environ if environ is None else environ
        return cls(_partner(pid, settings, env) for pid, settings in entries.items())

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
    ) -> PartnerRegistry:
        """Partners from a JSON file (see ``from_mapping``)."""
        import json

        try:
            with open(path, "rb") as file:
                text = file.read()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the partner file {os.fspath(path)!r}: {type(exc).__name__}"
            ) from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            # The position only: the text may hold an external ID.
            where = getattr(exc, "lineno", None)
            at = f" at line {where}" if where is not None else ""
            raise ConfigurationError(
                f"the partner file {os.fspath(path)!r} is not valid JSON{at}"
            ) from None
        return cls.from_mapping(data, environ=environ)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PartnerRegistry:
        """Partners from ``DYNAMORM_PARTNERS_FILE`` (a JSON file's path) or
        ``DYNAMORM_PARTNERS`` (the JSON itself); an empty registry when neither is set."""
        env = os.environ if environ is None else environ
        path = env.get(FILE_ENV)
        inline = env.get(INLINE_ENV)
        if path and inline:
            raise ConfigurationError(f"set {FILE_ENV} or {INLINE_ENV}, not both")
        if path:
            return cls.from_file(path, environ=env)
        if inline:
            import json

            try:
                data = json.loads(inline)
            except ValueError:
                raise ConfigurationError(f"{INLINE_ENV} is not valid JSON") from None
            return cls.from_mapping(data, environ=env)
        return cls()


def _partner(pid: object, settings: object, env: Mapping[str, str]) -> Partner:
    if not isinstance(pid, str):
        raise ConfigurationError("partner ids must be strings")
    _check_id(pid)
    if not isinstance(settings, Mapping):
        raise ConfigurationError(f"partner {pid!r}: its settings must be an object")
    unknown = sorted(str(key) for key in settings if key not in _SETTINGS)
    if unknown:
        raise ConfigurationError(
            f"partner {pid!r}: unknown setting {unknown[0]!r} (expected"
            f" {', '.join(_SETTINGS)})"
        )
    if "role_arn" not in settings:
        raise ConfigurationError(f"partner {pid!r}: role_arn is missing")
    external_id = settings.get("external_id")
    variable = settings.get("external_id_env")
    if variable is not None:
        if external_id is not None:
            raise ConfigurationError(
                f"partner {pid!r}: give external_id or external_id_env, not both"
            )
        if not isinstance(variable, str) or not variable:
            raise ConfigurationError(
                f"partner {pid!r}: external_id_env must name an environment variable"
            )
        external_id = env.get(variable)
        if not external_id:
            raise ConfigurationError(
                f"partner {pid!r}: the environment variable {variable} (external_id_env)"
                " is not set"
            )
    options: dict[str, Any] = {
        key: settings[key]
        for key in ("region", "session_name", "duration_seconds", "kms_key")
        if key in settings
    }
    return Partner(
        pid, role_arn=settings["role_arn"], external_id=external_id, **options
    )


def _unknown(partner_id: object) -> UnknownPartner:
    shown = repr(partner_id) if isinstance(partner_id, str) else "of that type"
    if isinstance(partner_id, str) and (
        len(partner_id) > 64 or not set(partner_id) <= _ID_CHARS
    ):
        shown = "(not a valid partner id)"  # it may be anything a caller passed
    return UnknownPartner(f"no partner {shown} in the registry")
