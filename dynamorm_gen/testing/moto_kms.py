"""KMS keys in moto's server, for tests of encrypted attributes over HTTP.

moto's server speaks KMS beside DynamoDB and STS, each account apart: a key made with a
partner's assumed-role credentials is in the partner's account, and only those credentials
may use it. ``MotoKms`` makes keys and aliases there through botocore (test code only; the
runtime never imports this module). A reset of the server forgets every key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dynamorm_gen.testing.engines import FAKE_CREDENTIALS, HOST

if TYPE_CHECKING:
    from dynamorm_gen.runtime.partners import Partner


class MotoKms:
    """Keys in the moto server at ``url`` (on 127.0.0.1), in ``region``."""

    def __init__(self, url: str, region: str = "us-east-1") -> None:
        if not url.startswith(f"http://{HOST}:"):
            raise ValueError(f"moto's server must listen on {HOST}")
        self.url = url
        self.region = region
        # The key the dynamorm_kms fixture made in the function's own account.
        self.key_id = ""

    def __repr__(self) -> str:
        return f"MotoKms({self.url})"

    def create_key(self, partner: Partner | None = None) -> str:
        """A new symmetric key's ARN, in ``partner``'s account (its role assumed through
        moto's STS), else in the account of the test credentials."""
        client = self._client(partner)
        try:
            made = client.create_key(
                KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT"
            )
            return str(made["KeyMetadata"]["Arn"])
        finally:
            client.close()

    def create_alias(
        self, alias: str, key_id: str, partner: Partner | None = None
    ) -> None:
        """Make ``alias`` (``alias/...``) name ``key_id``."""
        client = self._client(partner)
        try:
            client.create_alias(AliasName=alias, TargetKeyId=key_id)
        finally:
            client.close()

    def disable_key(self, key_id: str, partner: Partner | None = None) -> None:
        """Disable ``key_id`` (an id or ARN): KMS then refuses it (DisabledException)."""
        client = self._client(partner)
        try:
            found = client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"]
            client.disable_key(KeyId=found)  # moto's takes the id, not the ARN
        finally:
            client.close()

    def _client(self, partner: Partner | None) -> Any:
        import botocore.session

        session = botocore.session.Session()
        credentials = {
            "aws_access_key_id": FAKE_CREDENTIALS.access_key,
            "aws_secret_access_key": FAKE_CREDENTIALS.secret_key,
            "aws_session_token": FAKE_CREDENTIALS.token,
        }
        if partner is not None:
            sts = session.create_client(
                "sts", region_name=self.region, endpoint_url=self.url, **credentials
            )
            try:
                assumed = sts.assume_role(
                    RoleArn=partner.role_arn,
                    RoleSessionName="dynamorm-test-keys",
                    **(
                        {"ExternalId": partner.external_id}
                        if partner.external_id
                        else {}
                    ),
                )["Credentials"]
            finally:
                sts.close()
            credentials = {
                "aws_access_key_id": assumed["AccessKeyId"],
                "aws_secret_access_key": assumed["SecretAccessKey"],
                "aws_session_token": assumed["SessionToken"],
            }
        return session.create_client(
            "kms", region_name=self.region, endpoint_url=self.url, **credentials
        )
