"""A faster reader for PDF hex strings in pyHanko, installed when :mod:`core.signatures.pades`
is imported.

pyHanko's own ``read_hex_string_from_stream`` reads a hex string one character at a time
through its tokenizer. Every signed PDF carries each signature's CMS as a hex string of a few
thousand digits in ``/Contents``, and pyHanko reads the earlier signatures' ``/Contents``
again whenever it adds a signature (DocMDP checks) or validates one: about a third of the
time of the principal's and the seal's signatures went there (benchmarks/transcripts.py).

The replacement reads up to the closing ``>`` in blocks and decodes with ``binascii``. It
gives the same result for every well-formed hex string (whitespace, including NUL, ignored;
an odd final digit padded with 0, ISO 32000-1 7.3.4.3); anything unusual — a comment, a
non-hex character, a string running to the end of the stream — is handed back to pyHanko's
original reader from the same position, so errors stay pyHanko's own. Tested side by side
with the original in tests/signatures/test_pdf_speedups.py.
"""
from __future__ import annotations

import binascii
import os

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PDF_WHITESPACE

_original = generic.read_hex_string_from_stream
_HEX = b"0123456789abcdefABCDEF"


def read_hex_string_from_stream(stream):
    start = stream.tell()
    stream.read(1)  # the opening "<"
    parts = []
    while True:
        block = stream.read(8192)
        if not block:
            stream.seek(start)
            return _original(stream)
        end = block.find(b">")
        if end >= 0:
            parts.append(block[:end])
            stream.seek(end + 1 - len(block), os.SEEK_CUR)
            break
        parts.append(block)
    digits = b"".join(parts).translate(None, PDF_WHITESPACE)
    if digits.translate(None, _HEX):  # a comment or a stray character: pyHanko decides
        stream.seek(start)
        return _original(stream)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
