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
import re

from pyhanko.pdf_utils import generic, misc
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


# ---------------------------------------------------------------- the tokenizer (names, delimiters)
# pyHanko reads a name or any delimited token one byte at a time through a generator
# (``misc._read_until_class``) and writes names one byte at a time. A B-LTA transcript is
# parsed and written four times at issuance (homeroom, principal, seal, DSS + document
# timestamp), growing each time: a measurable share of issuance (benchmarks/transcripts.py).
# Same contract as the hex reader: the same result and stream position for the common case,
# and anything unusual handed back to pyHanko's own code from the same position.

_DELIMITER = re.compile(rb"[ \n\r\t\x0c\x00()<>\[\]{}/%]")
_SIMPLE_NAME = re.compile(rb"[!-~]*")  # printable ASCII; delimiters and '#' make it fall back
_SIMPLE_NAME_TEXT = re.compile(r"/[!\"$&'*+,\-.0-9:;=?@A-Z\\^_`a-z|~]*")
_NOT_WHITESPACE = re.compile(rb"[^ \n\r\t\x0c\x00]")
_original_read_until_delimiter = misc.read_until_delimiter
_original_read_non_whitespace = misc.read_non_whitespace
_original_name_read = generic.NameObject.read_from_stream
_original_name_write = generic.NameObject.write_to_stream


def read_until_delimiter(stream) -> bytes:
    start = stream.tell()
    parts = []
    while True:
        block = stream.read(256)
        if not block:  # end of stream: pyHanko returns what it read, without seeking back
            return b"".join(parts)
        found = _DELIMITER.search(block)
        if found:
            parts.append(block[:found.start()])
            stream.seek(start + sum(map(len, parts)))
            return b"".join(parts)
        parts.append(block)


def read_non_whitespace(stream, seek_back=False, allow_eof=False):
    start = stream.tell()
    block = stream.read(64)
    found = _NOT_WHITESPACE.search(block)
    if found is None or block[found.start()] == 0x25:  # whitespace to the end of the block, or a comment
        stream.seek(start)
        return _original_read_non_whitespace(stream, seek_back=seek_back, allow_eof=allow_eof)
    stream.seek(start + found.start() + (0 if seek_back else 1))
    return block[found.start():found.start() + 1]


def name_read_from_stream(stream):
    start = stream.tell()
    if stream.read(1) != b"/":
        stream.seek(start)
        return _original_name_read(stream)
    name = read_until_delimiter(stream)
    if b"#" in name or _SIMPLE_NAME.fullmatch(name) is None:
        stream.seek(start)
        return _original_name_read(stream)
    return generic.NameObject("/" + name.decode("ascii"))


def name_write_to_stream(self, stream, handler=None, container_ref=None):
    if _SIMPLE_NAME_TEXT.fullmatch(self):
        stream.write(self.encode("ascii"))
    else:
        _original_name_write(self, stream, handler, container_ref)


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    misc.read_until_delimiter = generic.read_until_delimiter = read_until_delimiter
    misc.read_non_whitespace = generic.read_non_whitespace = read_non_whitespace
    generic.NameObject.read_from_stream = staticmethod(name_read_from_stream)
    generic.NameObject.write_to_stream = name_write_to_stream
