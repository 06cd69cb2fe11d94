"""Lesson-signature speed: our CMS signer and verifier against pyHanko's general-data
signer and validator, measured in the same run on this machine.

- sign: CMS detached signatures (ECDSA P-256 and RSA-2048) over canonical entry bytes;
- verify: full verification — chain to the trusted root (cached per certificate), CRL
  revocation status from the loopback responder (cached until nextUpdate), certificate
  validity at the signing time, and the signature itself.
Both run on all cores (a process per core), as the server would.

Usage: python benchmarks/signatures.py [--seconds 5]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WHEN = dt.datetime(2025, 10, 13, 8, 20)


def _data(i: int) -> bytes:
    return ('{"entry":%d,"lesson_title":"Bài 3: Số nguyên tố","period":2}' % i).encode()


def _sign_worker(args):
    pki_dir, owner, seconds = args
    from core.signatures import KeyStore
    signer = KeyStore(Path(pki_dir)).signer_for(owner)
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(200):
            signer.sign_detached(_data(n), WHEN)
            n += 1
    return n


def _verify_worker(args):
    pki_dir, owner, seconds = args
    from core.signatures import DemoPKI, KeyStore, verify_detached
    pki = DemoPKI.load(Path(pki_dir))
    trust = pki.trust_store(check_revocation=True)
    signer = KeyStore(Path(pki_dir)).signer_for(owner)
    sigs = [(_data(i), signer.sign_detached(_data(i), WHEN)) for i in range(500)]
    n, bad, end = 0, 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for data, sig in sigs:
            bad += not verify_detached(data, sig, trust).valid
        n += len(sigs)
    return n, bad


def _pyhanko_sign_worker(args):
    pki_dir, owner, seconds = args
    from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

    from core.signatures import KeyStore
    theirs = KeyStore(Path(pki_dir)).signer_for(owner).pyhanko_signer()
    attrs = PdfCMSSignedAttributes(signing_time=WHEN.replace(tzinfo=dt.timezone.utc))

    async def run():
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            await theirs.async_sign_general_data(_data(n), "sha256", detached=True, signed_attr_settings=attrs)
            n += 1
        return n
    return asyncio.run(run())


def _pyhanko_verify_worker(args):
    pki_dir, owner, seconds = args
    from asn1crypto import cms
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    from core.signatures import DemoPKI, KeyStore
    pki = DemoPKI.load(Path(pki_dir))
    signer = KeyStore(Path(pki_dir)).signer_for(owner)
    sigs = [(_data(i), cms.ContentInfo.load(signer.sign_detached(_data(i), WHEN))["content"]) for i in range(50)]
    vc = ValidationContext(trust_roots=[asn1_x509.Certificate.load(pki.root.public_bytes(Encoding.DER))],
                           other_certs=[asn1_x509.Certificate.load(pki.issuing.public_bytes(Encoding.DER))],
                           allow_fetching=True, revocation_mode="hard-fail", fetcher_backend=RequestsFetcherBackend())

    async def run():
        n, bad, end = 0, 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            data, sd = sigs[n % len(sigs)]
            status = await async_validate_detached_cms(data, sd, signer_validation_context=vc)
            bad += not status.bottom_line
            n += 1
        return n, bad
    return asyncio.run(run())


def rate(pool, worker, pki_dir, owner, seconds, cores):
    results = pool.map(worker, [(str(pki_dir), owner, seconds)] * cores)
    count = sum(r[0] if isinstance(r, tuple) else r for r in results)
    bad = sum(r[1] for r in results if isinstance(r, tuple))
    return count / seconds, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    from core.signatures import DemoPKI
    from core.signatures.responder import Responder, free_port

    cores = os.cpu_count() or 1
    port = free_port()
    pki_dir = Path(tempfile.mkdtemp(prefix="sohoa-sigbench-"))
    pki = DemoPKI.create(pki_dir, responder_url=f"http://127.0.0.1:{port}")
    pki.issue_personal("ec", "Giáo viên ECDSA")
    pki.issue_personal("rsa", "Giáo viên RSA", key_type="rsa")
    responder = Responder(pki).start(port)
    print(f"{cores} cores, {args.seconds:.0f} s per measurement, revocation from the CRL at 127.0.0.1:{port}")
    try:
        with mp.get_context("fork").Pool(cores) as pool:
            for owner, label in (("ec", "ECDSA P-256"), ("rsa", "RSA-2048")):
                ours_s, _ = rate(pool, _sign_worker, pki_dir, owner, args.seconds, cores)
                base_s, _ = rate(pool, _pyhanko_sign_worker, pki_dir, owner, args.seconds, cores)
                ours_v, bad_v = rate(pool, _verify_worker, pki_dir, owner, args.seconds, cores)
                base_v, bad_b = rate(pool, _pyhanko_verify_worker, pki_dir, owner, args.seconds, cores)
                print(f"{label:12} sign    ours {ours_s:8,.0f}/s   pyHanko general data {base_s:6,.0f}/s   "
                      f"x{ours_s / base_s:,.0f}")
                print(f"{label:12} verify  ours {ours_v:8,.0f}/s   pyHanko validator    {base_v:6,.0f}/s   "
                      f"x{ours_v / base_v:,.0f}   (invalid: {bad_v} / {bad_b})")
    finally:
        responder.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
