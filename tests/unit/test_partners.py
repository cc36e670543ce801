"""The partner registry (runtime/partners.py): partners from code, a JSON file or the
environment, checked when made, with errors and reprs that never show a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dynamorm_gen.runtime import ConfigurationError, UnknownPartner
from dynamorm_gen.runtime.partners import Partner, PartnerRegistry
from dynamorm_gen.runtime.sigv4 import Credentials

ARN = "arn:aws:iam::111122223333:role/payments-access"
EXTERNAL_ID = "ext-Secret+Value=42"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _refused(match: str, **settings: Any) -> ConfigurationError:
    options: dict[str, Any] = {"role_arn": ARN, **settings}
    partner_id = options.pop("id", "acme")
    with pytest.raises(ConfigurationError, match=match) as caught:
        Partner(partner_id, **options)
    return caught.value


def test_a_partner_and_its_defaults() -> None:
    partner = Partner("acme", role_arn=ARN, external_id=EXTERNAL_ID, region="eu-west-1")
    assert (partner.id, partner.account_id, partner.role_name) == (
        "acme",
        "111122223333",
        "payments-access",
    )
    assert partner.session_name == "dynamorm-gen"
    assert partner.duration_seconds == 3600
    assert partner.source_credentials is None
    with_path = Partner("p", role_arn="arn:aws-cn:iam::111122223333:role/a/b/c-d@e")
    assert (with_path.role_name, with_path.region, with_path.external_id) == (
        "c-d@e",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("arn", "why"),
    [
        ("", "is not an IAM ARN"),
        ("arn:aws:iam::111122223333", "is not an IAM ARN"),
        ("arn:aws:sts::111122223333:role/x", "is not an IAM ARN"),
        ("arn:aws:iam:us-east-1:111122223333:role/x", "is not an IAM ARN"),
        ("arn:awz:iam::111122223333:role/x", "unknown partition"),
        ("arn:aws:iam::11112222333:role/x", "12 digits"),
        ("arn:aws:iam::11112222333x:role/x", "12 digits"),
        ("arn:aws:iam::111122223333:user/x", "is not a role"),
        ("arn:aws:iam::111122223333:role/", "role name"),
        ("arn:aws:iam::111122223333:role/" + "r" * 65, "role name"),
        ("arn:aws:iam::111122223333:role/bad name", "role name"),
        ("arn:aws:iam::111122223333:role/pa th/x", "path"),
    ],
)
def test_malformed_role_arns_are_refused_without_quoting_them(
    arn: str, why: str
) -> None:
    error = _refused(why, role_arn=arn)
    assert "partner 'acme': role_arn" in str(error)
    if arn:
        assert arn not in str(error)


@pytest.mark.parametrize("duration", [899, 43201, 0, -1, 900.0, "3600", True, None])
def test_durations_outside_sts_limits_are_refused(duration: Any) -> None:
    _refused(
        r"duration_seconds must be a whole number of seconds from 900 to 43200",
        duration_seconds=duration,
    )


@pytest.mark.parametrize("duration", [900, 3600, 43200])
def test_durations_within_sts_limits(duration: int) -> None:
    assert Partner(
        "acme", role_arn=ARN, duration_seconds=duration
    ).duration_seconds == (duration)


@pytest.mark.parametrize(
    "external_id", ["x", "x" * 1225, "has space", "tab\there", "naïve", 42]
)
def test_bad_external_ids_are_refused_without_quoting_them(external_id: Any) -> None:
    error = _refused("the external ID", external_id=external_id)
    if isinstance(external_id, str) and len(external_id) > 1:
        assert external_id not in str(error)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"id": ""}, "partner id"),
        ({"id": "a" * 65}, "partner id"),
        ({"id": "acme corp"}, "partner id may hold only"),
        ({"region": "EU-WEST-1"}, "region must be an AWS region"),
        ({"region": "eu west"}, "region must be an AWS region"),
        ({"session_name": "x"}, "session_name"),
        ({"session_name": "x" * 65}, "session_name"),
        ({"session_name": "with space"}, "session_name"),
        ({"source_credentials": "AKIA..."}, "source_credentials must be"),
    ],
)
def test_other_settings_are_checked(settings: dict[str, Any], match: str) -> None:
    _refused(match, **settings)


def test_reprs_hide_the_external_id_and_source_credentials() -> None:
    partner = Partner(
        "acme",
        role_arn=ARN,
        external_id=EXTERNAL_ID,
        source_credentials=Credentials("AKIASOURCE", SECRET_KEY, "token"),
    )
    shown = repr(partner) + repr(PartnerRegistry([partner]))
    assert EXTERNAL_ID not in shown and SECRET_KEY not in shown
    assert "external_id=***" in shown and "source_credentials=***" in shown
    assert "acme" in shown and "111122223333" in shown


def test_the_registry() -> None:
    acme = Partner("acme", role_arn=ARN)
    registry = PartnerRegistry([acme])
    assert registry.get("acme") is acme and "acme" in registry and len(registry) == 1
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.add(Partner("acme", role_arn=ARN))
    newer = Partner("acme", role_arn=ARN, region="eu-west-1")
    registry.add(newer, replace=True)
    assert registry.get("acme") is newer
    registry.add(Partner("globex", role_arn=ARN))
    assert registry.ids() == ["acme", "globex"]
    assert [p.id for p in registry] == ["acme", "globex"]
    assert registry.remove("acme") is newer
    with pytest.raises(UnknownPartner, match="no partner 'acme' in the registry"):
        registry.get("acme")
    with pytest.raises(UnknownPartner):
        registry.remove("acme")
    with pytest.raises(ConfigurationError, match="holds Partner values"):
        registry.add("acme")  # type: ignore[arg-type]


def test_an_unknown_partner_id_from_outside_is_not_echoed() -> None:
    """Partner ids come from events: one that is not an id is not quoted in the error."""
    with pytest.raises(UnknownPartner) as caught:
        PartnerRegistry().get("x\r\nInjected: log line")
    assert "Injected" not in str(caught.value)
    assert isinstance(caught.value, LookupError)


CONFIG = {
    "partners": {
        "acme": {
            "role_arn": ARN,
            "external_id_env": "ACME_EXTERNAL_ID",
            "region": "eu-west-1",
            "session_name": "payments-api",
            "duration_seconds": 1800,
        },
        "globex": {
            "role_arn": "arn:aws:iam::444455556666:role/dynamo",
            "external_id": "globex-ext",
        },
    }
}


def test_partners_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "partners.json"
    path.write_text(json.dumps(CONFIG))
    registry = PartnerRegistry.from_file(
        path, environ={"ACME_EXTERNAL_ID": EXTERNAL_ID}
    )
    acme, globex = registry.get("acme"), registry.get("globex")
    assert acme.external_id == EXTERNAL_ID and acme.duration_seconds == 1800
    assert (acme.region, acme.session_name) == ("eu-west-1", "payments-api")
    assert globex.external_id == "globex-ext" and globex.account_id == "444455556666"


def test_partners_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "partners.json"
    path.write_text(json.dumps(CONFIG))
    env = {"DYNAMORM_PARTNERS_FILE": str(path), "ACME_EXTERNAL_ID": EXTERNAL_ID}
    assert PartnerRegistry.from_env(env).ids() == ["acme", "globex"]
    inline = {"DYNAMORM_PARTNERS": json.dumps(CONFIG), "ACME_EXTERNAL_ID": "e-x-t"}
    assert PartnerRegistry.from_env(inline).get("acme").external_id == "e-x-t"
    assert len(PartnerRegistry.from_env({})) == 0
    with pytest.raises(ConfigurationError, match="not both"):
        PartnerRegistry.from_env({**env, **inline})
    with pytest.raises(ConfigurationError, match="DYNAMORM_PARTNERS is not valid JSON"):
        PartnerRegistry.from_env({"DYNAMORM_PARTNERS": "{nope"})


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], 'one key, "partners"'),
        ({"partners": {}, "extra": 1}, "one key"),
        ({"partners": []}, "partner ids to their settings"),
        ({"partners": {"acme": "arn"}}, "settings must be an object"),
        ({"partners": {"acme": {}}}, "role_arn is missing"),
        (
            {"partners": {"acme": {"role_arn": ARN, "role_ar": 1}}},
            "unknown setting 'role_ar'",
        ),
        (
            {
                "partners": {
                    "acme": {
                        "role_arn": ARN,
                        "external_id": "a1",
                        "external_id_env": "X",
                    }
                }
            },
            "not both",
        ),
        (
            {"partners": {"acme": {"role_arn": ARN, "external_id_env": "UNSET_VAR"}}},
            "UNSET_VAR .* is not set",
        ),
        (
            {"partners": {"acme": {"role_arn": ARN, "external_id_env": ""}}},
            "must name an environment variable",
        ),
        (
            {"partners": {"acme": {"role_arn": ARN, "duration_seconds": 100}}},
            "duration_seconds",
        ),
    ],
)
def test_bad_configuration_is_reported_clearly(data: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        PartnerRegistry.from_mapping(data, environ={})


def test_a_broken_file_is_reported_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "partners.json"
    path.write_text('{"partners": {"acme": {"external_id": "' + EXTERNAL_ID + '" oops')
    with pytest.raises(
        ConfigurationError, match="is not valid JSON at line 1"
    ) as caught:
        PartnerRegistry.from_file(path)
    assert EXTERNAL_ID not in str(caught.value)
    with pytest.raises(ConfigurationError, match="cannot read the partner file"):
        PartnerRegistry.from_file(tmp_path / "missing.json")
