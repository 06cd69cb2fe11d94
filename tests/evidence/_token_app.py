"""The signer's desktop app with a USB token (PKCS#11; SoftHSM2 stands in), as its own process:
it reads what the server prepared (JSON on stdin), signs it on the token and prints the answer
for complete. The key never leaves the token.

    {"module", "token", "pin", "signed_attributes_b64", "summary_b64", "signing_id"} -> the answer
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import sys

from core.signatures.tokens import TokenSigner


def main() -> None:
    job = json.loads(sys.stdin.read())
    signer = TokenSigner(job["module"], job["token"], job["token"], job["pin"])
    raw = signer.sign_raw(base64.b64decode(job["signed_attributes_b64"]))
    summary = signer.sign_detached(base64.b64decode(job["summary_b64"]), dt.datetime.now())
    print(json.dumps({"signing_id": job["signing_id"], "signature_b64": base64.b64encode(raw).decode(),
                      "summary_signature_b64": base64.b64encode(summary).decode()}))


if __name__ == "__main__":
    main()
