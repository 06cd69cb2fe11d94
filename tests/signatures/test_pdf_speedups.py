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


def _tokenizer_samples(pki) -> list[bytes]:
    """A signed transcript's bytes (objects, names, dictionaries, the xref and trailer) and
    hand-made edge cases: escaped names, comments, whitespace runs, the end of the stream."""
    from core.signatures import KeyStore
    from core.signatures.pades import sign_pdf
    from core.transcripts.pdf import HOMEROOM_FIELD, SIGNATURE_FIELDS, render_transcript

    content = {"student": {"full_name": "Nguyễn Văn Tốc", "personal_id": "079213000001", "birth_date": "01/01/2013",
                           "sex": "Nam"}, "school": "S", "class": "6A1", "grade": 6, "year": "2025-2026",
               "level_name": "THCS", "version": 1, "subjects": [], "summary": [], "comment": ""}
    pki.issue_personal("speedups", "Nguyễn Văn Tốc")
    pdf = sign_pdf(render_transcript(content, "SPEED00001", "http://x/verify?code=SPEED00001"),
                   KeyStore(pki.directory).signer_for("speedups"), HOMEROOM_FIELD, certify=True, reason="thử",
                   new_fields=SIGNATURE_FIELDS)
    return [pdf[:6000], pdf[-6000:], b"/Name#20With#23Escapes /A/B/C<</Type/Page>>[/x/y]",
            b"  \n\r\t\x0c\x00  % comment\n  /Tail", b"/" + b"N" * 700 + b" ", b"/EndOfStream", b"   ", b""]


def test_tokenizer_speedups_give_pyhankos_results_at_every_position(pki):
    """At every byte of the samples: the same token, the same stream position, the same error as
    pyHanko's own reader; names written byte for byte the same."""
    checked = 0
    for data in _tokenizer_samples(pki):
        for pos in range(len(data) + 1):
            ours, theirs = io.BytesIO(data), io.BytesIO(data)
            ours.seek(pos)
            theirs.seek(pos)
            assert pdf_speedups.read_until_delimiter(ours) == pdf_speedups._original_read_until_delimiter(theirs)
            assert ours.tell() == theirs.tell(), pos
            for seek_back in (False, True):
                ours.seek(pos)
                theirs.seek(pos)
                try:
                    expected, error = pdf_speedups._original_read_non_whitespace(theirs, seek_back, True), None
                except Exception as err:  # noqa: BLE001 - compared below
                    expected, error = None, type(err)
                if error is not None:
                    with pytest.raises(error):
                        pdf_speedups.read_non_whitespace(ours, seek_back, True)
                    continue
                assert pdf_speedups.read_non_whitespace(ours, seek_back, True) == expected
                assert ours.tell() == theirs.tell(), (pos, seek_back)
            if data[pos:pos + 1] == b"/":
                ours.seek(pos)
                theirs.seek(pos)
                try:
                    expected, error = pdf_speedups._original_name_read(theirs), None
                except Exception as err:  # noqa: BLE001 - a byte that must be escaped, in binary data
                    expected, error = None, type(err)
                if error is not None:
                    with pytest.raises(error):
                        pdf_speedups.name_read_from_stream(ours)
                    continue
                got = pdf_speedups.name_read_from_stream(ours)
                assert got == expected and ours.tell() == theirs.tell(), pos
                a, b = io.BytesIO(), io.BytesIO()
                pdf_speedups.name_write_to_stream(got, a)
                pdf_speedups._original_name_write(got, b)
                assert a.getvalue() == b.getvalue()
                checked += 1
    assert checked > 100


def test_tokenizer_speedups_installed_for_pyhanko():
    from pyhanko.pdf_utils import generic, misc

    import core.signatures.pades  # noqa: F401 - installs them

    assert misc.read_until_delimiter is generic.read_until_delimiter is pdf_speedups.read_until_delimiter
    assert misc.read_non_whitespace is pdf_speedups.read_non_whitespace
    assert generic.NameObject.write_to_stream is pdf_speedups.name_write_to_stream
