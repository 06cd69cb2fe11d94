"""The fast hex-string reader gives exactly what pyHanko's own reader gives, and leaves the
stream where pyHanko's would; odd inputs fall back to pyHanko's reader and its errors."""
import io

import pytest
from pyhanko.pdf_utils.misc import PdfStreamError

from core.signatures import pdf_speedups


@pytest.mark.parametrize("text", [
    b"<48656c6c6f> rest", b"<48 65\n6c\r6c\t6f\x00> rest", b"<4> rest", b"<> rest", b"<abcDEF0> rest",
    b"<" + b"3082" * 5000 + b"> rest", b"<48656c % a comment\n6c6f> rest",
])
def test_same_result_and_position_as_pyhanko(text):
    ours, theirs = io.BytesIO(text), io.BytesIO(text)
    assert pdf_speedups.read_hex_string_from_stream(ours) == pdf_speedups._original(theirs)
    assert ours.tell() == theirs.tell() and ours.read() == b" rest"


@pytest.mark.parametrize("text", [b"<48zz>", b"<4865"])
def test_malformed_strings_fail_as_in_pyhanko(text):
    with pytest.raises(PdfStreamError):
        pdf_speedups._original(io.BytesIO(text))
    with pytest.raises(PdfStreamError):
        pdf_speedups.read_hex_string_from_stream(io.BytesIO(text))


def test_installed_for_pyhanko():
    from pyhanko.pdf_utils import generic

    import core.signatures.pades  # noqa: F401 - installs it

    assert generic.read_hex_string_from_stream is pdf_speedups.read_hex_string_from_stream


def test_pdf_signing_and_validation_work_inside_a_running_event_loop(pki):
    """A Jupyter kernel or an async handler already runs a loop: asyncio.run would be refused."""
    import asyncio

    from core.signatures import KeyStore
    from core.signatures.pades import add_signature_fields, sign_pdf, verify_pdf
    from core.transcripts.pdf import HOMEROOM_FIELD, SIGNATURE_FIELDS, render_transcript

    pki.issue_personal("loop-teacher", "Lê Văn Vòng")
    signer = KeyStore(pki.directory).signer_for("loop-teacher")
    content = {"student": {"full_name": "A", "personal_id": "079213000001", "birth_date": "01/01/2013", "sex": "Nam"},
               "school": "S", "class": "6A1", "grade": 6, "year": "2025-2026", "level_name": "THCS", "version": 1,
               "subjects": [], "summary": [], "comment": ""}

    async def inside_a_loop():
        pdf = add_signature_fields(render_transcript(content, "CODE", "http://x/verify"), SIGNATURE_FIELDS)
        signed = sign_pdf(pdf, signer, HOMEROOM_FIELD, certify=True, reason="test")
        return verify_pdf(signed, pki.trust_store())

    results = asyncio.run(inside_a_loop())
    assert [(field, r.indication) for field, r in results] == [(HOMEROOM_FIELD, "PASSED")]
