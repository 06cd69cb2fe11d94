"""The transcript's data, machine-readable (docs/transcript-data.md): every issued transcript
carries its data as JSON, valid against the published schema, attached to the PDF (PDF/A-3,
relationship Data) before anyone signs: taken back out of the issued PDF it equals what the
record gives, the issued PDF still verifies PASSED in every role, and a PDF whose attached data
were changed after signing does not."""
import io
import json
import re

import jsonschema
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from core.kernel.documents import canonical_json, sha256_hex
from core.kernel.vocabulary import TranscriptStatus
from core.signatures.pades import verify_pdf
from core.storage.models import Transcript
from core.transcripts.data import FILE_NAME, SCHEMA_VERSION, data_of_pdf, schema, transcript_data
from core.transcripts.pdfa import SRGB, srgb_profile
from core.transcripts.verification import verify_transcript
from tests.services.test_transcripts import issue_all, with_seal


@pytest.fixture
def issued(world):
    school = with_seal(world)
    issue_all(school)
    with school.db.reading() as s:
        rows = s.scalars(select(Transcript).where(Transcript.status == TranscriptStatus.ISSUED)
                         .order_by(Transcript.id)).all()
        school.issued = [(r.verification_code, r.content, r.content_hash, r.document) for r in rows]
    assert len(school.issued) == 2
    return school


def test_the_issued_pdf_carries_its_data_equal_to_the_record_and_valid_against_the_schema(issued):
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    for code, content, content_hash, document in issued.issued:
        carried = data_of_pdf(document)
        assert carried == transcript_data(content, code, content_hash)
        assert list(validator.iter_errors(carried)) == []
        assert carried["phienbanluocdo"] == SCHEMA_VERSION and carried["madinhdanhhocba"] == code
        assert carried["bamnoidung"] == sha256_hex(canonical_json(content))
        assert [s["mamonhoc"] for s in carried["ketquamonhoc"]] == [s["code"] for s in content["subjects"]]
        assert carried["ketquamonhoc"][0]["diemhk1"] == "7.8" and carried["lop"]["khoi"] == 6
        check = verify_transcript(issued.db, issued.pki.trust_store(), pdf=document)
        assert check.current and check.matches, check.report
        assert [s.verification.indication for s in check.report.signatures] == ["PASSED"] * 3


def test_the_schema_refuses_what_a_transcript_cannot_say(issued):
    code, content, content_hash, _ = issued.issued[0]
    good = transcript_data(content, code, content_hash)
    validator = jsonschema.Draft202012Validator(schema())
    for path, value in ((("ketquamonhoc", 0, "diemhk1"), "10.5"), (("ketquamonhoc", 0, "diemhk1"), "7,5"),
                        (("hocsinh", "sodinhdanhcanhan"), "12345"), (("madinhdanhhocba",), "O0I1O0I1O0"),
                        (("lop", "khoi"), 13), (("phienbanluocdo",), "2.0"), (("hocsinh", "ngaysinh"), "03/04/2014")):
        bad = json.loads(json.dumps(good))
        target = bad
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert list(validator.iter_errors(bad)), (path, value)
    bad = json.loads(json.dumps(good))
    bad["hocsinh"]["diachi"] = "somewhere"  # nothing beyond the schema: no personal data it does not name
    assert list(validator.iter_errors(bad))


def test_the_issued_pdf_has_the_pdfa3_parts(issued):
    """What was checked of ISO 19005-3 (no independent validator installs here: veraPDF comes
    only from its own site): header, output intent and its ICC profile, XMP identification and
    its agreement with the information dictionary, the associated file, embedded fonts, the
    print flag on annotations, the document ID."""
    _, content, _, document = issued.issued[0]
    assert re.match(rb"%PDF-1\.[0-7]\r?\n", document)
    reader = PdfFileReader(io.BytesIO(document))
    root = reader.root
    intent = root["/OutputIntents"][0]
    assert (intent["/S"], str(intent["/OutputConditionIdentifier"])) == ("/GTS_PDFA1", SRGB)
    profile = intent["/DestOutputProfile"]
    assert profile["/N"] == 3 and profile.data == srgb_profile() and profile.data[36:40] == b"acsp"
    metadata = root["/Metadata"]
    assert "/Filter" not in metadata and metadata["/Subtype"] == "/XML"
    xmp = metadata.data.decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    info = reader.trailer["/Info"]
    for key, tag in (("/Title", "dc:title"), ("/Author", "dc:creator"), ("/Subject", "dc:description"),
                     ("/Producer", "pdf:Producer")):
        assert re.search(rf"<{tag}>.*>{re.escape(str(info[key]))}</rdf:li>.*</{tag}>|<{tag}>{re.escape(str(info[key]))}"
                         rf"</{tag}>", xmp, re.S), key
    created = re.search(r"<xmp:CreateDate>(.*)</xmp:CreateDate>", xmp).group(1)
    assert str(info["/CreationDate"]).startswith("D:" + re.sub(r"[-:T]", "", created[:19]))
    assert str(info["/Title"]) == f"Học bạ {content['student']['full_name']} {content['year']}"
    (spec,) = [s.get_object() for s in root["/AF"]]
    assert spec["/AFRelationship"] == "/Data" and str(spec["/F"]) == str(spec["/UF"]) == FILE_NAME
    stream = spec["/EF"]["/F"]
    assert stream["/Subtype"] == "/application/json" and stream["/Params"]["/Size"] == len(stream.data)
    names = list(root["/Names"]["/EmbeddedFiles"]["/Names"])
    assert str(names[0]) == FILE_NAME
    page = root["/Pages"]["/Kids"][0]
    fonts = _fonts(page["/Resources"])
    widgets = 0
    for annot in page["/Annots"]:
        annot = annot.get_object()
        assert int(annot["/F"]) & 4, annot["/Subtype"]  # printed (6.3.2)
        if annot["/Subtype"] == "/Widget":  # the three signatures' appearances: drawn, no unembedded font
            widgets += 1
            fonts += _fonts(annot["/AP"]["/N"].get("/Resources", {}))
    assert widgets == 3 and fonts
    for font in fonts:
        assert any(k in font["/FontDescriptor"] for k in ("/FontFile", "/FontFile2", "/FontFile3")), font["/BaseFont"]
    assert len(reader.trailer["/ID"]) == 2


def _fonts(resources, seen=None) -> list:
    """Every font a resource dictionary reaches, through its form XObjects."""
    seen = set() if seen is None else seen
    resources = resources.get_object()
    found = [f.get_object() for f in resources.get("/Font", {}).get_object().values()] if "/Font" in resources else []
    for xobject in (resources["/XObject"].values() if "/XObject" in resources else ()):
        xobject = xobject.get_object()
        if id(xobject) not in seen and "/Resources" in xobject:
            seen.add(id(xobject))
            found += _fonts(xobject["/Resources"], seen)
    return found


def test_data_changed_after_signing_breaks_the_signatures(issued):
    code, _, _, document = issued.issued[0]
    writer = IncrementalPdfFileWriter(io.BytesIO(document))
    spec_ref = writer.root["/AF"].raw_get(0)
    spec = spec_ref.get_object()
    data = data_of_pdf(document)
    data["ketquamonhoc"][0]["diemhk1"] = "9.8"
    forged = EmbeddedFileObject.from_file_data(writer, json.dumps(data).encode(), mime_type="application/json")
    spec["/EF"] = generic.DictionaryObject({generic.pdf_name("/F"): forged.ef_stream_ref,
                                            generic.pdf_name("/UF"): forged.ef_stream_ref})
    writer.mark_update(spec_ref)
    out = io.BytesIO()
    writer.write(out)
    tampered = out.getvalue()
    assert data_of_pdf(tampered)["ketquamonhoc"][0]["diemhk1"] == "9.8"
    results = verify_pdf(tampered, issued.pki.trust_store(), online=False)
    assert results and not all(v.valid for _, v in results), results
    check = verify_transcript(issued.db, issued.pki.trust_store(), pdf=tampered)
    assert not check.current and check.verdict == "altered"
