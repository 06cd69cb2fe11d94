"""When transcripts must be issued (thời hạn ký, phát hành học bạ số)."""
from __future__ import annotations

import datetime as dt


def issuance_deadline(grade: int, year: int) -> dt.date:
    """When a grade's transcripts must be signed and issued (HCMC primary học bạ số plan 2024-2025, Kế hoạch 1152/KH-SGDĐT): grade 5 by
    30 May, grades 1-4 by 25 July; secondary grades by 31 July (our assumption, not in the seed)."""
    if grade == 5:
        return dt.date(year, 5, 30)
    if grade < 5:
        return dt.date(year, 7, 25)
    return dt.date(year, 7, 31)
