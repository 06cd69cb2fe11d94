"""A rendered transcript made a PDF/A-3b document (ISO 19005-3) carrying its data as an
associated file (tệp đính kèm liên kết): the transcript's content as JSON
(:mod:`core.transcripts.data`) goes into the PDF before anyone signs, so every signature covers
it, and a reader takes it out again with :func:`embedded_file`.

What the file gets, in one incremental update over ReportLab's page (pyHanko writes it):

- the embedded file: ``/Type /EmbeddedFile``, its MIME type as ``/Subtype``, ``/Params`` with its
  size, MD5 checksum and dates; its file specification with ``/F`` and ``/UF``, ``/Desc`` and
  ``/AFRelationship /Data``, listed in the catalog's ``/Names /EmbeddedFiles`` and ``/AF``
  (ISO 19005-3 6.8);
- an output intent ``/GTS_PDFA1`` with an sRGB ICC profile (LittleCMS's built-in sRGB, made by
  Pillow's ``ImageCms``: the same 588 bytes every time, nothing downloaded, 6.2.3);
- XMP metadata (unfiltered, 6.6.2.1) with ``pdfaid:part 3``, ``pdfaid:conformance B``, and the
  document information dictionary written anew with exactly the same title, author, subject,
  producer and dates (6.6.3);
- the print flag on every annotation of the page (6.3.2).

The signatures added later by :mod:`core.signatures.ltv` leave the XMP and the information
dictionary as they are (the writer's metadata update is off), so they keep agreeing.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
from xml.sax.saxutils import escape

PRODUCER = "sohoa (ReportLab, pyHanko)"
#: The output condition of the sRGB profile (ICC registry name)
SRGB = "sRGB IEC61966-2.1"


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile: LittleCMS's built-in one, written by Pillow (ICC v4, 3 components)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _pdf_date(at: dt.datetime) -> str:
    offset = at.strftime("%z") or "+0000"
    return f"D:{at:%Y%m%d%H%M%S}{offset[0]}{offset[1:3]}'{offset[3:5]}'"


def _xmp(*, title: str, author: str, subject: str, at: dt.datetime) -> bytes:
    stamp = at.isoformat(timespec="seconds")
    body = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
   <pdfaid:part>3</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{escape(author)}</rdf:li></rdf:Seq></dc:creator>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(subject)}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdf:Producer>{escape(PRODUCER)}</pdf:Producer>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
   <xmp:CreatorTool>{escape(PRODUCER)}</xmp:CreatorTool>
   <xmp:CreateDate>{stamp}</xmp:CreateDate>
   <xmp:ModifyDate>{stamp}</xmp:ModifyDate>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return body.encode("utf-8")


def make_pdfa3(pdf: bytes, *, file_name: str, data: bytes, mime_type: str, description: str, title: str,
               author: str, subject: str, at: dt.datetime) -> bytes:
    """``pdf`` (one ReportLab render) as PDF/A-3b with ``data`` attached as ``file_name``
    (relationship ``Data``: the source of what the page shows). ``at`` (aware) is the document's
    and the file's date."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec
    from pyhanko.pdf_utils.generic import pdf_name, pdf_string
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer._update_meta = lambda: None  # the information dictionary and the XMP are written below, once
    stream = EmbeddedFileObject.from_file_data(writer, data, mime_type=mime_type, params=EmbeddedFileParams(
        creation_date=at, modification_date=at))
    spec = FileSpec(file_name, file_name=file_name, embedded_data=stream, description=description,
                    af_relationship=pdf_name("/Data")).as_pdf_object()
    spec_ref = writer.add_object(spec)
    root = writer.root
    root["/Names"] = generic.DictionaryObject({pdf_name("/EmbeddedFiles"): generic.DictionaryObject(
        {pdf_name("/Names"): generic.ArrayObject([pdf_string(file_name), spec_ref])})})
    root["/AF"] = generic.ArrayObject([spec_ref])
    profile = generic.StreamObject({pdf_name("/N"): generic.NumberObject(3)}, stream_data=srgb_profile())
    profile.compress()
    root["/OutputIntents"] = generic.ArrayObject([generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/OutputIntent"), pdf_name("/S"): pdf_name("/GTS_PDFA1"),
        pdf_name("/OutputConditionIdentifier"): pdf_string(SRGB), pdf_name("/Info"): pdf_string(SRGB),
        pdf_name("/DestOutputProfile"): writer.add_object(profile)})])
    root["/Metadata"] = writer.add_object(generic.StreamObject(
        {pdf_name("/Type"): pdf_name("/Metadata"), pdf_name("/Subtype"): pdf_name("/XML")},
        stream_data=_xmp(title=title, author=author, subject=subject, at=at)))
    writer.update_root()
    when = pdf_string(_pdf_date(at))
    writer.set_info(generic.DictionaryObject({
        pdf_name("/Title"): generic.TextStringObject(title), pdf_name("/Author"): generic.TextStringObject(author),
        pdf_name("/Subject"): generic.TextStringObject(subject),
        pdf_name("/Creator"): generic.TextStringObject(PRODUCER),
        pdf_name("/Producer"): generic.TextStringObject(PRODUCER),
        pdf_name("/CreationDate"): when, pdf_name("/ModDate"): when}))
    for page_ref in _pages(writer):
        page = page_ref.get_object()
        for annot_ref in page.get("/Annots", ()):
            annot = annot_ref.get_object()
            if int(annot.get("/F", 0)) & 4 == 0:
                annot["/F"] = generic.NumberObject(int(annot.get("/F", 0)) | 4)
                if isinstance(annot_ref, generic.IndirectObject):
                    writer.mark_update(annot_ref)
                else:
                    writer.mark_update(page_ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pages(writer) -> list:
    found = []

    def walk(node_ref):
        node = node_ref.get_object()
        if node.get("/Type") == "/Pages":
            for kid in node["/Kids"]:
                walk(kid)
        else:
            found.append(node_ref)

    walk(writer.root.raw_get("/Pages"))
    return found


def embedded_file(pdf: bytes, file_name: str) -> bytes | None:
    """The bytes of the file ``file_name`` embedded in ``pdf`` (its latest revision), or None."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    names = reader.root.get("/Names")
    if names is None or "/EmbeddedFiles" not in names:
        return None
    entries = list(names["/EmbeddedFiles"].get("/Names", ()))
    for name, spec in zip(entries[::2], entries[1::2]):
        if str(name) == file_name:
            return spec.get_object()["/EF"]["/F"].get_object().data
    return None
