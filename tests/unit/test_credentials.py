"""Credentials refuse what cannot go into a request header, naming the field, never the value."""

from __future__ import annotations

from typing import Any

import pytest

from dynamorm_gen.runtime.errors import ConfigurationError, DynamormError
from dynamorm_gen.runtime.sigv4 import Credentials

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDH+token/with+base64=="

FIELDS = {
    "access key": lambda v: Credentials(v, SECRET, TOKEN),
    "secret key": lambda v: Credentials(ACCESS, v, TOKEN),
    "session token": lambda v: Credentials(ACCESS, SECRET, v),
}


def _refused(field: str, value: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        FIELDS[field](value)
    error = caught.value
    assert f"the {field} " in str(error)
    assert error.__cause__ is None and error.__context__ is None
    return error


def _assert_hidden(error: ConfigurationError, secret: str) -> None:
    shown = f"{error!s} {error!r} {error.args!r}"
    assert len(secret) < 4 or secret not in shown
    # Any piece of the value: every bad value here is built around SECRET.
    for piece in ("wJal", "XUtn", "EXAMPLEKEY", "MDENG"):
        assert piece not in shown


def test_valid_credentials() -> None:
    credentials = Credentials(ACCESS, SECRET, TOKEN)
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        ACCESS,
        SECRET,
        TOKEN,
    )
    assert Credentials(ACCESS, SECRET).token is None
    assert Credentials(ACCESS, SECRET, None).token is None


def test_an_empty_token_is_no_token() -> None:
    credentials = Credentials(ACCESS, SECRET, "")
    assert credentials.token is None
    assert credentials == Credentials(ACCESS, SECRET)
    assert hash(credentials) == hash(Credentials(ACCESS, SECRET))


def test_every_printable_ascii_character_but_the_space_is_allowed_in_keys() -> None:
    printable = "".join(chr(c) for c in range(0x21, 0x7F))
    assert Credentials(printable, printable).secret_key == printable


def test_a_token_may_hold_spaces() -> None:
    assert Credentials(ACCESS, SECRET, "token with spaces").token == "token with spaces"


BAD_CHARACTERS = [
    "\r",
    "\n",
    "\r\n",
    "\x00",
    "\t",
    "\x7f",
    "é",
    "€",
    "💳",
    "\ud800",
    "\u00a0",
]


@pytest.mark.parametrize("field", ["access key", "secret key", "session token"])
@pytest.mark.parametrize("character", BAD_CHARACTERS)
def test_control_and_non_ascii_characters_are_refused(
    field: str, character: str
) -> None:
    for value in (
        f"{SECRET}{character}",
        f"{character}{SECRET}",
        f"{SECRET[:10]}{character}{SECRET[10:]}",
    ):
        _assert_hidden(_refused(field, value), value)


@pytest.mark.parametrize("field", ["access key", "secret key"])
@pytest.mark.parametrize("value", [" ", f"{SECRET} ", f" {SECRET}", "wJal rXUt"])
def test_spaces_are_refused_in_keys(field: str, value: str) -> None:
    error = _refused(field, value)
    assert "whitespace" in str(error)
    _assert_hidden(error, value)


@pytest.mark.parametrize("field", ["access key", "secret key"])
def test_empty_keys_are_refused(field: str) -> None:
    assert "empty" in str(_refused(field, ""))


@pytest.mark.parametrize("field", ["access key", "secret key", "session token"])
@pytest.mark.parametrize(
    "value", [b"wJalrXUtnFEMI", 12345, ["wJalrXUtnFEMI"], object()]
)
def test_values_that_are_not_strings_are_refused(field: str, value: Any) -> None:
    error = _refused(field, value)
    assert "must be a str" in str(error)
    assert "wJalrXUtnFEMI" not in f"{error!s} {error!r}"
    assert "12345" not in str(error)


@pytest.mark.parametrize("field", ["access key", "secret key"])
def test_a_missing_key_is_refused(field: str) -> None:
    assert "must be a str, not NoneType" in str(_refused(field, None))


def test_the_error_is_a_configuration_error() -> None:
    with pytest.raises(DynamormError):
        Credentials(ACCESS, "sec\r\nret")
    with pytest.raises(ConfigurationError, match="secret key"):
        Credentials(ACCESS, "sec\r\nret")


def test_the_first_bad_field_is_named() -> None:
    with pytest.raises(ConfigurationError, match="access key"):
        Credentials("AK\n", "sec\n", "tok\n")


def test_repr_hides_the_secrets() -> None:
    shown = repr(Credentials(ACCESS, SECRET, TOKEN))
    assert ACCESS in shown
    assert SECRET not in shown
    assert TOKEN not in shown


def test_equality_and_hashing() -> None:
    assert Credentials(ACCESS, SECRET, TOKEN) == Credentials(ACCESS, SECRET, TOKEN)
    assert Credentials(ACCESS, SECRET, TOKEN) != Credentials(ACCESS, SECRET)
    assert Credentials(ACCESS, SECRET) != Credentials(ACCESS, SECRET + "x")
    assert (
        len({Credentials(ACCESS, SECRET, TOKEN), Credentials(ACCESS, SECRET, TOKEN)})
        == 1
    )
    assert Credentials(ACCESS, SECRET) != (ACCESS, SECRET, None)
