"""A Lambda importing generated code must not pay for the compiler (or botocore) at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dynamorm_gen.testing import LocalEngine, MotoKms, StsStub
from tests.conftest import ROOT

FORBIDDEN = (
    "jinja2",
    "yaml",
    "jsonschema",
    "click",
    "botocore",
    "boto3",
    "dynamorm_gen.compiler",
    # The test support: pytest loads it; the runtime never does.
    "dynamorm_gen.testing",
    "pytest",
    "_pytest",
    "moto",
)

PROBE = """
import json, sys
before = set(sys.modules)
import generated_examples.payment, generated_examples.basic
import dynamorm_gen.runtime
table = generated_examples.payment.PaymentsTable()
item = generated_examples.basic.Todo(user_id="u", title="t").to_item()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_generated_modules_import_only_runtime_and_stdlib() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    loaded = json.loads(result.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"imported on the Lambda path: {bad}"
    ours = [m for m in loaded if m.startswith("dynamorm_gen")]
    assert ours and all(
        m.startswith(("dynamorm_gen.runtime", "dynamorm_gen")) for m in ours
    )
    assert "dynamorm_gen.runtime.wire" in loaded
    # Encrypted attributes are declared at import; KMS and cryptography wait for their use.
    assert "dynamorm_gen.runtime.encryption" in loaded
    lazy = (
        "cryptography",
        "dynamorm_gen.runtime.kms",
        "dynamorm_gen.runtime.data_keys",
    )
    early = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in lazy)]
    assert early == [], f"imported before an encrypted attribute was used: {early}"


LAMBDA_PROBE = """
import json, sys

def no_network(event, args):
    if event in (
        "socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
        "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg",
    ):
        raise RuntimeError(f"the Lambda path used the network: {event}")

sys.addaudithook(no_network)
before = set(sys.modules)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from generated_examples.payment import Payment, PaymentsTable

db = LambdaDatabase(transport="fast", region="us-east-1")
payments = db.table(PaymentsTable)
payment = Payment(merchant_id="m-1", customer_id="c-1", amount=100, currency="EUR")
item = payment.to_item()
item["version"] = {"N": "1"}
request = payments.handle.put_request(item, version="version", expected_version=0)
signed = payments.handle.connection.client.transport.prepare("PutItem", request)
assert signed.startswith(b"POST / HTTP/1.1\\r\\n"), signed[:40]
assert b"\\r\\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/" in signed
assert b"\\r\\nX-Amz-Target: DynamoDB_20120810.PutItem\\r\\n" in signed
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_lambda_fast_path_to_a_signed_put_imports_no_botocore_or_compiler() -> None:
    """LambdaDatabase (fast transport) to a built and signed PutItem: nothing sent (an audit
    hook refuses sockets), and none of botocore, boto3 or the compiler's dependencies."""
    result = subprocess.run(
        [sys.executable, "-c", LAMBDA_PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"imported on the Lambda fast path: {bad}"
    assert "dynamorm_gen.runtime.fast" in loaded


# The preamble of probes that may reach one loopback port (a stub STS, moto's KMS), given
# in $LOOPBACK_PORT: every other connection, DNS look-up or send is refused.
ONLY_LOOPBACK_PORT = """
import json, os, sys

ALLOWED = ("127.0.0.1", int(os.environ["LOOPBACK_PORT"]))

def only_the_allowed_port(event, args):
    if event == "socket.connect" and args[1] == ALLOWED:
        return
    if event == "socket.getaddrinfo" and (args[0], args[1]) == ALLOWED:
        return
    if event in (
        "socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
        "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg",
    ):
        raise RuntimeError(f"the Lambda path used the network: {event}")

sys.addaudithook(only_the_allowed_port)
"""

PARTNER_PROBE = (
    ONLY_LOOPBACK_PORT
    + """
before = set(sys.modules)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.partners import Partner, PartnerRegistry
from generated_examples.payment import Payment, PaymentsTable

partners = PartnerRegistry(
    [Partner("acme", role_arn="arn:aws:iam::111122223333:role/payments", external_id="x-1")]
)
db = LambdaDatabase(transport="fast", region="us-east-1", partners=partners)
payments = db.partner_table(PaymentsTable)
payment = Payment(merchant_id="m-1", customer_id="c-1", amount=100, currency="EUR")
item = payment.to_item()
item["version"] = {"N": "1"}
request = payments.handle.put_request(item, version="version", expected_version=0)
with db.partner("acme"):
    transport = payments.handle.connection.client.transport
    signed = transport.prepare("PutItem", request)  # AssumeRole first, over loopback
assert b"\\r\\nAuthorization: AWS4-HMAC-SHA256 Credential=ASIA" in signed, signed[:300]
assert b"\\r\\nX-Amz-Security-Token: " in signed
print(json.dumps(sorted(set(sys.modules) - before)))
"""
)


def test_lambda_fast_path_in_a_partners_account_imports_no_botocore() -> None:
    """A partner table's first request: AssumeRole sent to a loopback STS (the only network
    the audit hook allows), then the PutItem signed with the role's credentials; none of
    botocore, boto3, the compiler's dependencies or the test support is imported."""
    with StsStub() as stub:
        env = {**os.environ, "DYNAMORM_STS_ENDPOINT_URL": stub.url}
        env["LOOPBACK_PORT"] = stub.url.rpartition(":")[2]
        env.pop("DYNAMORM_ENDPOINT_URL", None)
        result = subprocess.run(
            [sys.executable, "-c", PARTNER_PROBE],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=60,
        )
        assumed = stub.assumed()
    assert result.returncode == 0, result.stderr
    assert assumed == 1
    loaded = json.loads(result.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"imported on the Lambda fast path: {bad}"
    assert "dynamorm_gen.runtime.sts" in loaded and "xml.parsers.expat" in loaded
    assert "xml.etree.ElementTree" not in loaded  # ~6 ms of a cold start, not needed


ENCRYPTION_PROBE = (
    ONLY_LOOPBACK_PORT
    + """
before = set(sys.modules)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from generated_examples.payment import Payment, PaymentsTable

db = LambdaDatabase(transport="fast", region="us-east-1")
payments = db.table(PaymentsTable)
imported = set(sys.modules) - before
payment = Payment(
    merchant_id="m-1", customer_id="c-1", amount=100, currency="EUR", card_token="tok"
)
item = payment.to_item(payments.handle.connection)  # GenerateDataKey over loopback
item["version"] = {"N": "1"}
request = payments.handle.put_request(item, version="version", expected_version=0)
signed = payments.handle.connection.client.transport.prepare("PutItem", request)
assert set(item["card_token"]["M"]) == {"v", "edk", "nonce", "ct"}
assert Payment.from_item(item, payments.handle.connection).card_token == "tok"
print(json.dumps([sorted(imported), sorted(set(sys.modules) - before)]))
"""
)


def test_an_encrypted_attribute_on_the_lambda_fast_path_imports_no_botocore(
    dynamorm_moto: LocalEngine,
) -> None:
    """The first encrypted attribute a Lambda writes: GenerateDataKey over loopback to
    moto's KMS (the only network the audit hook allows), AES-GCM, the PutItem signed;
    cryptography imported then and not before, botocore never."""
    dynamorm_moto.reset()
    key = MotoKms(dynamorm_moto.url).create_key()
    env = {
        **os.environ,
        "DYNAMORM_KMS_ENDPOINT_URL": dynamorm_moto.url,
        "DYNAMORM_KMS_KEY": key,
        "LOOPBACK_PORT": dynamorm_moto.url.rpartition(":")[2],
    }
    env.pop("DYNAMORM_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", ENCRYPTION_PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    at_import, loaded = json.loads(result.stdout)
    assert not [m for m in at_import if m.startswith("cryptography")]
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"imported on the Lambda fast path: {bad}"
    assert "dynamorm_gen.runtime.kms" in loaded
    assert "cryptography.hazmat.primitives.ciphers.aead" in loaded
