"""The transcript issuance page's stacked bars as HTML (dashboards.issuance.issuance_bars): a bar
per school · grade whose segments are as wide as each step's share, with their counts."""
import re

import pandas as pd

from dashboards.issuance import MAX_BARS, issuance_bars


def test_each_school_grade_has_its_steps_as_segments_of_its_share():
    df = pd.DataFrame({"school_code": ["A01", "B02"], "grade": [9, 12], "students": [40, 10], "drafts": [10, 0],
                       "homeroom_signed": [10, 0], "issued": [10, 10]})
    out = issuance_bars(df)
    assert re.findall(r'<span class="sh-stack-name">([^<]*)</span>', out) == ["A01 K9", "B02 K12"]
    segments = re.findall(r'<span style="width:([\d.]+)%;background:#[0-9a-f]{6}" title="([^"]*)"></span>', out)
    assert segments[:4] == [("25.00", "A01 K9 · Chưa lập: 10 học sinh"), ("25.00", "A01 K9 · Bản nháp: 10 học sinh"),
                            ("25.00", "A01 K9 · GVCN đã ký: 10 học sinh"), ("25.00", "A01 K9 · Đã cấp: 10 học sinh")]
    assert segments[4:] == [("100.00", "B02 K12 · Đã cấp: 10 học sinh")]  # no empty segments


def test_a_long_table_shows_its_first_rows_as_bars_and_says_so():
    n = MAX_BARS + 3
    df = pd.DataFrame({"school_code": [f"S{i:03d}" for i in range(n)], "grade": [6] * n, "students": [5] * n,
                       "drafts": [0] * n, "homeroom_signed": [0] * n, "issued": [5] * n})
    out = issuance_bars(df)
    assert out.count('class="sh-stack-row"') == MAX_BARS and f"chỉ {MAX_BARS} dòng đầu" in out
