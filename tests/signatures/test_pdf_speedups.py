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
