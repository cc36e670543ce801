"""A loopback KMS for the benchmarks: GenerateDataKey and Decrypt over JSON 1.1, answered at once.

What a benchmark measures is the client: moto's server takes milliseconds to answer, this
stub a few hundred microseconds, so that a cold start with encryption on, or pydynox's KMS
calls, show what the client spends rather than the server. It checks no signature and keeps
each data key it issued (by its encrypted form, a random token) for Decrypt. Only 127.0.0.1;
the standard library only. Never a test double for correctness: tests use moto's KMS or
``dynamorm_gen.testing.LocalKms``.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynamorm_gen.testing.loopback import LoopbackServer

KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000"


class KmsStub(LoopbackServer):
    """``with KmsStub() as kms:`` ... point ``DYNAMORM_KMS_ENDPOINT_URL`` at ``kms.url``;
    ``calls`` counts the requests by operation."""

    name = "kms-stub"

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {"GenerateDataKey": 0, "Decrypt": 0}
        self._keys: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                target = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                status, answer = stub._answer(target, request)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _answer(self, target: str, request: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            if target not in self.calls:
                return 400, {"__type": "UnknownOperationException"}
            self.calls[target] += 1
            if target == "GenerateDataKey":
                key, edk = os.urandom(32), b"stub:" + os.urandom(32)
                self._keys[edk] = key
                return 200, {
                    "KeyId": KEY_ARN,
                    "Plaintext": base64.b64encode(key).decode(),
                    "CiphertextBlob": base64.b64encode(edk).decode(),
                }
            found = self._keys.get(base64.b64decode(request.get("CiphertextBlob", "")))
            if found is None:
                return 400, {"__type": "InvalidCiphertextException"}
            return 200, {
                "KeyId": KEY_ARN,
                "Plaintext": base64.b64encode(found).decode(),
            }


def main() -> None:
    """Serve until standard input closes, after printing the stub's URL: a benchmark runs
    the stub in a process of its own, so that its CPU is not counted as the client's."""
    with KmsStub() as stub:
        print(stub.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
