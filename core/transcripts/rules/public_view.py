"""What the public check of a transcript shows (tra cứu, xác thực học bạ công khai): enough for a
checker holding a paper or a file to compare it with what was issued, and no more.

Personal data is processed only as far as its purpose needs (Nghị định 13/2023/NĐ-CP on the
protection of personal data, Art. 3: data collected and processed "phù hợp và giới hạn trong
phạm vi, mục đích cần xử lý"). The checker already holds the document; the page confirms it:
the school, the class, the school year, the issue date, the document's fingerprint, its status
— and the student's name partly masked, enough to match the paper without publishing it to
whoever types a code. A cancelled transcript's reason (free text a school wrote, possibly
about the student) is not shown; its replacement is.
"""
from __future__ import annotations

import re

#: A verification code as printed under the QR code: 10 characters of the 32-letter alphabet
#: without 0/O and 1/I (core.transcripts.workflow.CODE_ALPHABET)
CODE = re.compile(r"[A-HJ-NP-Z2-9]{10}")
#: The longest input read as a code (spaces and dashes a person may type included); anything
#: longer is refused before it reaches the database
CODE_INPUT_MAX = 32


def masked_name(full_name: str) -> str:
    """Each word's first letter, the rest masked with one ``*`` per letter:
    ``Nguyễn Văn An`` → ``N***** V** A*``."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in full_name.split())


def normal_code(typed: str | None) -> str | None:
    """The code a person typed or scanned (case, spaces and dashes ignored), or None when it
    cannot be a code — too long, or outside the alphabet — so it is refused without a lookup."""
    if not typed or len(typed) > CODE_INPUT_MAX:
        return None
    code = re.sub(r"[\s-]", "", typed).upper()
    return code if CODE.fullmatch(code) else None
