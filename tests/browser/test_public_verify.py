"""The public check in Chromium: opened on a phone from the link of a transcript's QR code, it
reads without sideways scrolling and answers a code and an upload; the four answers a checker
meets — valid, not matching, not found, cancelled — differ in word, icon and border, so that
they read apart without colour too."""
import re

from sqlalchemy import select

from core.demo.synthetic import Scale
from core.kernel.vocabulary import TranscriptStatus
from core.storage.models import Transcript
from core.transcripts import workflow
from tests.browser.conftest import actor, fits, school_id, watch

DEMO_SCALE = Scale(districts=1, schools_per_district=1, classes_per_school=1, weeks=1, students_per_class=4,
                   seed=13)
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True,
         "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/126.0 Mobile Safari/537.36"}


def prepare_demo(db, pki_dir):
    from core.demo.gradebook import generate_transcripts

    generate_transcripts(db, pki_dir=pki_dir, classes_per_school=1, stages=("issued",), seed=13,
                         renew_certificates=True)


def issued(demo, n: int = 0) -> Transcript:
    with demo.db.reading() as session:
        return session.scalars(select(Transcript).where(Transcript.school_id == school_id(demo.db, "S0001"),
                                                        Transcript.status == TranscriptStatus.ISSUED)
                               .order_by(Transcript.id)).all()[n]


def test_the_qr_link_opens_a_page_that_works_on_a_phone(browser, demo, tmp_path):
    row = issued(demo)
    link = re.search(rb"/URI \((http[^)]*)\)", row.document).group(1).decode()   # what the QR code holds
    assert link.endswith(f"/verify?code={row.verification_code}")
    context = browser.new_context(**PHONE)
    page = watch(context.new_page())
    page.goto(demo.url + link[link.index("/verify"):])
    page.wait_for_selector("#verdict >> text=HỢP LỆ", timeout=30000)
    assert fits(page), "the page scrolls sideways on a phone"
    for selector in ("#code", "#by-code button", "#pdf", "#by-file button", "#facts", "#signatures"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    assert float(page.eval_on_selector("#verdict .word", "e => parseFloat(getComputedStyle(e).fontSize)")) >= 20
    assert row.verification_code in page.inner_text("#facts")
    # a code typed on the phone's keyboard, in lower case with a space
    page.fill("#code", f"{row.verification_code[:5].lower()} {row.verification_code[5:].lower()}")
    page.tap("#by-code button")
    page.wait_for_url("**/verify?code=*")
    page.wait_for_selector("#verdict >> text=HỢP LỆ", timeout=30000)
    # the file itself, picked on the phone
    pdf = tmp_path / "hoc-ba.pdf"
    pdf.write_bytes(row.document)
    page.locator("#pdf").set_input_files(str(pdf))
    page.tap("#by-file button")
    page.wait_for_selector("text=Mã băm SHA-256 của tệp bạn tải lên", timeout=60000)
    assert page.locator("#verdict").get_attribute("data-verdict") == "valid" and fits(page)
    assert page.errors == []
    context.close()


def test_the_four_answers_differ_in_word_icon_and_border(page, demo, tmp_path):
    genuine, other = issued(demo, 0), issued(demo, 1)
    workflow.cancel_and_reissue(demo.db, actor(demo.db, "ht.s0001"), other.id, "Sai ngày sinh của học sinh")
    looks = {}

    def look(expected: str):
        page.wait_for_selector(f'#verdict[data-verdict="{expected}"]', timeout=60000)
        looks[expected] = page.eval_on_selector("#verdict", """e => {
            const s = getComputedStyle(e);
            return [e.querySelector('.word').innerText, e.querySelector('.icon').innerText, s.borderTopStyle,
                    s.color, s.backgroundColor];
        }""")

    page.goto(f"{demo.url}/verify?code={genuine.verification_code}")
    look("valid")
    page.goto(f"{demo.url}/verify?code=ABCDEFGHJK")
    look("unknown")
    page.goto(f"{demo.url}/verify?code={other.verification_code}")
    look("cancelled")
    assert "Sai ngày sinh" not in page.content()
    altered = tmp_path / "sua.pdf"
    altered.write_bytes(genuine.document.replace(b"/Reason", b"/Reason ", 1))
    page.locator("#pdf").set_input_files(str(altered))
    page.click("#by-file button")
    look("altered")
    assert {v[0] for v in looks.values()} == {"HỢP LỆ", "KHÔNG TÌM THẤY", "ĐÃ HỦY", "KHÔNG KHỚP"}
    for part in range(1, 5):  # icon, border style, text colour, background: each tells the four apart
        assert len({v[part] for v in looks.values()}) == 4, (part, looks)
    assert page.errors == []
