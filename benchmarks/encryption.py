"""Encrypted attributes: per-item cost of sealing and opening one attribute, next to pydynox's
EncryptedAttribute, in one run.

One value, the Payment's card token (``"tok_4242424242424242"``), encrypted and decrypted
per item by:

- **dynamorm-gen, data key cached**: the generated ``_ENCRYPTED_PAYMENT_CARD_TOKEN`` field,
  ``seal(connection, key, token)`` and ``open_text(connection, item, envelope)``: the
  associated data built from the item's key, AES-256-GCM (``cryptography``), the DMS
  envelope. Its data key comes from the connection's cache (``data_keys.py``, warm: what
  steady state looks like; KMS is asked once, before timing).
- **dynamorm-gen, KMS call each**: the same with a cache that keeps a sealing key for one
  value (``DataKeys(max_uses=1)``) and is emptied before each opening: one GenerateDataKey or
  Decrypt per value, signed and sent by the fast transport (JSON 1.1 over a kept-alive
  loopback connection). What a value costs when the cache cannot help.
- **pydynox EncryptedAttribute**: ``EncryptedAttribute(key_id=...).serialize(token)`` and
  ``.deserialize(stored)``: its Rust ``KmsEncryptor``, envelope encryption with AES-256-GCM and
  no associated data. It keeps no data key between values: one KMS call per value, as its
  own metrics say (``kms_calls``, printed).

KMS is ``benchmarks/kms_stub.py`` in a process of its own on 127.0.0.1 (both clients reach
it: ours through ``DYNAMORM_KMS_ENDPOINT_URL``, pydynox through ``AWS_ENDPOINT_URL_KMS``), so
that its CPU is not counted as the client's; it answers at once, checks no signature, and
never reaches AWS. ``time.process_time`` (all of this process's threads: pydynox's Rust
runtime counts) and ``perf_counter`` are read around ``--calls`` calls of each (case,
operation), after a warm-up, in ``--rounds`` interleaved rounds; the medians are printed in
microseconds per value with ratios to pydynox's. The wall times of the rows that call KMS are
mostly the loopback round trip to the stub, which on a loaded machine varies more than the
clients differ; the CPU times are what each client spends. Absolute times drift on shared
machines: compare ratios within one run.

    python benchmarks/encryption.py [--rounds 5] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "DYNAMORM_KMS_KEY": "alias/payments",
}
TOKEN = "tok_4242424242424242"
CACHED = "dynamorm-gen, data key cached"
EACH = "dynamorm-gen, KMS call each"
PYDYNOX = "pydynox EncryptedAttribute"
OPERATIONS = ("encrypt", "decrypt")

Cases = dict[str, dict[str, Callable[[], object]]]


def start_stub() -> tuple[subprocess.Popen[str], str]:
    stub = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "kms_stub.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stub.stdout is not None
    url = stub.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        stub.kill()
        raise SystemExit("the stub KMS did not start")
    return stub, url


def our_cases() -> tuple[Cases, dict[str, float]]:
    from dynamorm_gen.runtime.data_keys import DataKeys
    from dynamorm_gen.runtime.kms import KmsKeys, client_beside
    from dynamorm_gen.runtime.table import Connection
    from generated_examples import payment

    field = payment._ENCRYPTED_PAYMENT_CARD_TOKEN
    item = payment.Payment(
        merchant_id="m-1042", customer_id="c-77812", amount=1, currency="EUR"
    ).to_item()
    cached = Connection(transport="fast")
    envelope = field.seal(cached, item, TOKEN)
    assert field.open_text(cached, item, envelope) == TOKEN
    each_keys = DataKeys(KmsKeys(client_beside(cached.client)), max_uses=1)
    each = Connection(transport="fast", kms=each_keys)
    each_envelope = field.seal(each, item, TOKEN)

    def open_each() -> object:
        each_keys.clear()
        return field.open_text(each, item, each_envelope)

    cases: Cases = {
        CACHED: {
            "encrypt": lambda: field.seal(cached, item, TOKEN),
            "decrypt": lambda: field.open_text(cached, item, envelope),
        },
        EACH: {
            "encrypt": lambda: field.seal(each, item, TOKEN),
            "decrypt": open_each,
        },
    }
    # KMS calls per value: counted over 100 values of each.
    calls = {}
    for name, connection in ((CACHED, cached), (EACH, each)):
        counts = connection.data_keys().calls
        before = counts["GenerateDataKey"] + counts["Decrypt"]
        for _ in range(50):
            cases[name]["encrypt"]()
            cases[name]["decrypt"]()
        calls[name] = (counts["GenerateDataKey"] + counts["Decrypt"] - before) / 100
    return cases, calls


def pydynox_cases() -> tuple[Cases, dict[str, float]]:
    from pydynox import pydynox_core
    from pydynox.attributes import EncryptedAttribute

    attribute = EncryptedAttribute(key_id="alias/payments", region="us-east-1")
    stored = attribute.serialize(TOKEN)
    assert attribute.deserialize(stored) == TOKEN
    probe = pydynox_core.KmsEncryptor(
        key_id="alias/payments",
        region="us-east-1",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_KMS"],
    )
    sealed = probe.sync_encrypt_with_metrics(TOKEN)
    opened = probe.sync_decrypt_with_metrics(sealed.ciphertext)
    per_value = (sealed.metrics.kms_calls + opened.metrics.kms_calls) / 2
    return (
        {
            PYDYNOX: {
                "encrypt": lambda: attribute.serialize(TOKEN),
                "decrypt": lambda: attribute.deserialize(stored),
            }
        },
        {PYDYNOX: per_value},
    )


def measure(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """CPU and wall microseconds per call, over ``calls`` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (
        (time.process_time() - cpu) / calls * 1e6,
        (time.perf_counter() - wall) / calls * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="per measurement")
    args = parser.parse_args()
    os.environ.update(FAKE_ENVIRONMENT)
    for name in ("AWS_PROFILE", "DYNAMORM_ENDPOINT_URL"):
        os.environ.pop(name, None)
    stub, url = start_stub()
    try:
        os.environ["DYNAMORM_KMS_ENDPOINT_URL"] = url
        os.environ["AWS_ENDPOINT_URL_KMS"] = url
        cases, calls = our_cases()
        try:
            theirs, their_calls = pydynox_cases()
        except ImportError:
            theirs, their_calls = {}, {}
        cases.update(theirs)
        calls.update(their_calls)
        for operations in cases.values():  # warm-up
            for call in operations.values():
                measure(call, 20)
        cpu: dict[tuple[str, str], list[float]] = {}
        wall: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, operations in cases.items():
                for operation, call in operations.items():
                    c, w = measure(call, args.calls)
                    cpu.setdefault((name, operation), []).append(c)
                    wall.setdefault((name, operation), []).append(w)
    finally:
        assert stub.stdin is not None
        stub.stdin.close()
        stub.wait(10)
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    median_wall = {k: statistics.median(v) for k, v in wall.items()}
    version = sys.version.split()[0]
    print(
        f"one encrypted attribute per item, us/value; median of {args.rounds} interleaved"
        f" rounds of {args.calls} values; KMS: a loopback stub in its own process"
        f" (Python {version})"
    )
    print(
        f"{'case':32} {'op':8} {'CPU us':>9} {'wall us':>9} {'KMS/value':>9}"
        f" {'CPU x pydynox':>13} {'wall x pydynox':>14}"
    )
    for name in cases:
        for operation in OPERATIONS:
            key = (name, operation)
            theirs = (PYDYNOX, operation)
            ratios = (
                f"{median_cpu[key] / median_cpu[theirs]:13.3f}"
                f" {median_wall[key] / median_wall[theirs]:14.3f}"
                if theirs in median_wall
                else f"{'-':>13} {'-':>14}"
            )
            print(
                f"{name:32} {operation:8} {median_cpu[key]:9.1f} {median_wall[key]:9.1f}"
                f" {calls[name]:9.2f} {ratios}"
            )
    if PYDYNOX not in cases:
        print("pydynox: not installed")
        return
    print()
    for operation in OPERATIONS:
        theirs = (PYDYNOX, operation)
        cached = median_cpu[theirs] / median_cpu[(CACHED, operation)]
        each = median_cpu[theirs] / median_cpu[(EACH, operation)]
        print(
            f"  {operation}: pydynox's client CPU is {cached:.0f}x ours with the data key"
            f" cached, {each:.2f}x ours with a KMS call each"
        )


if __name__ == "__main__":
    main()
