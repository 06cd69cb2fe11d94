"""The compliance page's two figures as HTML (dashboards.compliance.heatmap_html and
late_histogram): every cell and bar carries its own figure, in vi-VN."""
import re

import pandas as pd

from dashboards.compliance import heatmap_html, late_histogram


def test_the_heatmap_has_a_cell_per_weekday_and_period_coloured_from_lowest_to_highest():
    df = pd.DataFrame({"weekday": [2, 2, 8], "period_no": [1, 2, 1], "periods": [40, 10, 4],
                       "on_time": [30, 10, 1], "on_time_rate": [0.75, 1.0, 0.25]})
    out = heatmap_html(df)
    assert re.findall(r"<th>(T\d|CN)</th>", out) == ["T2", "CN"] and "<th>Tiết 2</th>" in out
    cells = re.findall(r'<td style="background:(#[0-9a-f]{6});[^"]*" title="([^"]*)">([^<]*)</td>', out)
    assert [c[2] for c in cells] == ["75 %", "25 %", "100 %"]  # row by row: period 1 (T2, CN), period 2 (T2)
    assert cells[0][1] == "T2, tiết 1: 75,0 % đúng hạn (40 tiết)"
    assert "<td></td>" in out  # Sunday has no period 2
    red, green = cells[1][0], cells[2][0]  # the lowest and the highest rate
    assert int(red[1:3], 16) > int(red[3:5], 16) and int(green[3:5], 16) > int(green[1:3], 16)
    assert "thấp nhất 25,0 %" in out and "cao nhất 100,0 %" in out


def test_the_late_histogram_has_a_bar_per_bucket_empty_ones_included():
    df = pd.DataFrame({"minutes_after_end": [5, 15], "entries": [8, 2]})
    out = late_histogram(df, 5)
    bars = re.findall(r'title="([^"]*)"><div class="sh-hist-bar" style="height:([\d.]+)%"', out)
    assert bars == [("5–10 phút: 8 tiết", "100.0"), ("10–15 phút: 0 tiết", "0.0"), ("15–20 phút: 2 tiết", "25.0")]
    assert "cao nhất 8 tiết" in out
