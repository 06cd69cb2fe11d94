"""USB tokens (PKCS#11): the key never leaves the device; signing goes through the token's
PKCS#11 module with pyHanko's ``PKCS11Signer`` (python-pkcs11 underneath).

Tests and the demo stand a SoftHSM2 token in for a USB token (Debian package ``softhsm2``):
:func:`provision_softhsm` creates a token and loads demo credentials into it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from core.signatures.signer import KeyAccessError, PyHankoKeySigner

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


#: Open sessions per (module, token): PKCS#11 logins are per application, so a token is
#: opened once per process and shared by every signer on it.
_SESSIONS: dict[tuple[str, str], tuple[object, str]] = {}


def _session(module: str, token_label: str, pin: str):
    from pkcs11 import exceptions as p11_errors
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import open_pkcs11_session

    cached = _SESSIONS.get((module, token_label))
    if cached is not None:
        if cached[1] != pin:
            raise KeyAccessError(f"token {token_label}: wrong PIN")
        return cached[0]
    try:
        session = open_pkcs11_session(module, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
    except p11_errors.PinIncorrect as err:
        raise KeyAccessError(f"token {token_label}: wrong PIN") from err
    except (p11_errors.PKCS11Error, OSError) as err:
        raise KeyAccessError(f"token {token_label} cannot be opened: {type(err).__name__} {err}") from err
    _SESSIONS[(module, token_label)] = (session, pin)
    return session


class TokenSigner(PyHankoKeySigner):
    """A key on a PKCS#11 token, opened with the user's PIN."""

    def __init__(self, module: str, token_label: str, key_label: str, pin: str):
        from pyhanko.sign.pkcs11 import PKCS11Signer

        session = _session(module, token_label, pin)
        signer = PKCS11Signer(session, cert_label=key_label, key_label=key_label, other_certs_to_pull=None)
        cert = signer.signing_cert
        chain = [c.dump() for c in signer.cert_registry if c.dump() != cert.dump()]
        algo = "ec" if cert.public_key.algorithm == "ec" else "rsa"
        # Many tokens (SoftHSM2 included) only do raw ECDSA on a digest: pyHanko hashes first.
        signer.use_raw_mechanism = algo == "ec"
        super().__init__(signer, cert.dump(), chain, algo)



def provision_softhsm(token_dir: Path, pin: str, credentials: dict[str, tuple[Path, str]],
                      chain_der: list[bytes] = (), so_pin: str = "5678") -> dict[str, str]:
    """Create one SoftHSM2 token per credential in ``token_dir`` (label → (PKCS#12 path, its
    PIN)), like one USB token per person: the token and its key share the label; the CA chain
    is stored beside the key. Returns the environment (``SOFTHSM2_CONF``) to use; the
    variable must be set before the PKCS#11 module is first loaded in a process."""
    token_dir = Path(token_dir)
    (token_dir / "tokens").mkdir(parents=True, exist_ok=True)
    conf = token_dir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    os.environ["SOFTHSM2_CONF"] = str(conf)
    if not Path(SOFTHSM_MODULE).exists():
        raise KeyAccessError(f"{SOFTHSM_MODULE} is missing: install the Debian package softhsm2")
    jobs = []
    for index, (label, (p12_path, p12_pin)) in enumerate(credentials.items(), start=1):
        _run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin], env)
        key, cert, _ = pkcs12.load_key_and_certificates(Path(p12_path).read_bytes(), p12_pin.encode())
        with tempfile.NamedTemporaryFile(suffix=".pem") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
            fh.flush()
            _run(["softhsm2-util", "--import", fh.name, "--token", label, "--label", label,
                  "--id", f"{index:04x}", "--pin", pin], env)
        objects = [(label, f"{index:04x}", cert.public_bytes(serialization.Encoding.DER).hex())]
        objects += [(f"ca-{n}", f"ff{n:02x}", der.hex()) for n, der in enumerate(chain_der)]
        jobs.append({"token": label, "pin": pin, "objects": objects})
    # A PKCS#11 library sees only the tokens that existed when it was loaded: store the
    # certificates from a fresh process.
    done = subprocess.run([sys.executable, "-m", "core.signatures.tokens"], input=json.dumps(jobs), env=env,
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        raise KeyAccessError(f"storing certificates on the tokens failed: {done.stderr.strip()[-400:]}")
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise KeyAccessError(f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")


def _store_certificates(jobs: list[dict]) -> None:
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    lib = pkcs11.lib(SOFTHSM_MODULE)
    for job in jobs:
        with lib.get_token(token_label=job["token"]).open(rw=True, user_pin=job["pin"]) as session:
            for label, obj_id, der_hex in job["objects"]:
                der = bytes.fromhex(der_hex)
                parsed = asn1_x509.Certificate.load(der)
                session.create_object({
                    Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: bytes.fromhex(obj_id),
                    Attribute.VALUE: der, Attribute.SUBJECT: parsed.subject.dump(),
                    Attribute.ISSUER: parsed.issuer.dump(),
                    Attribute.SERIAL_NUMBER: parsed["tbs_certificate"]["serial_number"].dump(),
                })


if __name__ == "__main__":
    _store_certificates(json.loads(sys.stdin.read()))
