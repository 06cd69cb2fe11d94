"""The server's receipt of a signed lesson (biên nhận của máy chủ) and the sealed batches of
them: what each attests, byte for byte.

**What a receipt attests.** The HCMC Department of Education and Training's rules for the
digital logbook from school year 2025-2026 have the teacher sign "trong tiết dạy … và chậm nhất
5 phút sau khi kết thúc tiết dạy", and a period not signed so "không được tính giờ giảng". The
server's clock decides (:func:`core.logbook.rules.signing_window.classify_signing`), so the
evidence of a lesson's hours is the server's *decision*: for one entry, that a signature was
received at that moment and judged on time or late. A receipt (:func:`receipt_leaf`) states
exactly that decision —

- ``entry_id``: which lesson period (tiết học);
- ``status``: ``on_time`` or ``late``, as the signing window decided;
- ``received_at``: the server's receipt time, Vietnam time with its offset (``+07:00``);
- ``content_hash``: SHA-256 of the entry's canonical bytes that were signed
  (:func:`core.kernel.documents.entry_document`);
- ``signature_hash``: SHA-256 of the detached CMS signature received;
- ``signer_fingerprint``: SHA-256 of the signing certificate —

as canonical JSON (:func:`core.kernel.documents.canonical_json`), the leaf of a Merkle tree
(:mod:`core.kernel.merkle`, RFC 6962 hashing).

**What a batch attests.** The server seals its receipts in batches (lô biên nhận): the batch
statement (:func:`batch_statement`) names the batch, how many receipts it holds, the root of
their tree and the SHA-256 of the previous batch's statement — so the batches are one hash chain
and none can be left out, replaced or reordered unseen — and when it was sealed. The service
seal signs the statement and a timestamp authority timestamps it (RFC 3161), so that a
receipt's decision is proven to exist no later than the timestamp's time and never to change
after it (:func:`sealed_after_receipt`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from core.kernel.clock import VN_TZ
from core.kernel.documents import canonical_json
from core.kernel.merkle import leaf_hash

RECEIPT_FORMAT = "sohoa.receipt/1"
BATCH_FORMAT = "sohoa.receipt-batch/1"
#: the "previous batch" of the first batch of a chain
GENESIS = "0" * 64
#: the decisions a receipt records (the values of :class:`core.kernel.vocabulary.EntryStatus`)
DECISIONS = ("on_time", "late")

_LEAF_KEYS = {"format", "entry_id", "status", "received_at", "content_hash", "signature_hash",
              "signer_fingerprint"}
_BATCH_KEYS = {"format", "batch_id", "size", "root", "previous", "sealed_at"}


def vietnam_time(moment: dt.datetime) -> str:
    """A stored (naive, Vietnam local) time as ISO 8601 with its offset: ``2025-09-22T08:37:12+07:00``."""
    return moment.replace(tzinfo=VN_TZ).isoformat()


def parse_vietnam_time(text: str) -> dt.datetime:
    """The inverse of :func:`vietnam_time` (naive Vietnam local time)."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(VN_TZ).replace(tzinfo=None)


def receipt_leaf(*, entry_id: int, status: str, received_at: dt.datetime, content_hash: str,
                 signature_hash: str, signer_fingerprint: str) -> dict:
    """The receipt of one decision (see the module's docstring for what each field attests)."""
    if status not in DECISIONS:
        raise ValueError(f"a receipt records on_time or late, not {status!r}")
    return {"format": RECEIPT_FORMAT, "entry_id": int(entry_id), "status": status,
            "received_at": vietnam_time(received_at), "content_hash": content_hash,
            "signature_hash": signature_hash, "signer_fingerprint": signer_fingerprint}


def receipt_hash(leaf: dict) -> str:
    """The leaf hash of a receipt (hex): RFC 6962's ``SHA-256(0x00 || canonical JSON)``."""
    if set(leaf) != _LEAF_KEYS or leaf.get("format") != RECEIPT_FORMAT:
        raise ValueError("not a receipt of format " + RECEIPT_FORMAT)
    return leaf_hash(canonical_json(leaf)).hex()


def batch_statement(*, batch_id: int, size: int, root: str, previous: str, sealed_at: dt.datetime) -> bytes:
    """The bytes the service seal signs and the TSA timestamps for one batch."""
    return canonical_json({"format": BATCH_FORMAT, "batch_id": int(batch_id), "size": int(size), "root": root,
                           "previous": previous, "sealed_at": vietnam_time(sealed_at)})


def read_statement(statement: bytes) -> dict:
    """A batch statement's fields, or ValueError when the bytes are not one (exactly as
    :func:`batch_statement` writes them)."""
    try:
        fields = json.loads(statement)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"not a batch statement: {err}") from err
    if not isinstance(fields, dict) or set(fields) != _BATCH_KEYS or fields["format"] != BATCH_FORMAT:
        raise ValueError("not a batch statement of format " + BATCH_FORMAT)
    if canonical_json(fields) != statement:
        raise ValueError("the batch statement is not in canonical form")
    if not (isinstance(fields["batch_id"], int) and isinstance(fields["size"], int) and fields["size"] > 0):
        raise ValueError("a batch statement names its batch and a positive size")
    parse_vietnam_time(fields["sealed_at"])
    return fields


def batch_hash(statement: bytes) -> str:
    """What the next batch names as ``previous``: SHA-256 (hex) of this statement's bytes."""
    return hashlib.sha256(statement).hexdigest()


#: How far the server's clock and the timestamp authority's may differ (both keep to UTC by NTP;
#: a few seconds is usual): a receipt time up to this much after its seal's timestamp is the
#: clocks' difference, not a receipt written after the fact.
CLOCK_TOLERANCE = dt.timedelta(seconds=60)


def sealed_after_receipt(received_at: dt.datetime, timestamped_at: dt.datetime) -> bool:
    """A receipt can only have been sealed after the server received the signature: its batch's
    timestamp is at or after the receipt time, give or take :data:`CLOCK_TOLERANCE` (a receipt
    time later than that was written after the seal)."""
    return received_at <= timestamped_at + CLOCK_TOLERANCE


def receipt_evidence(*, entry_id: int, status: str, received_at: dt.datetime, signature: bytes,
                     content_hash: str, signer_fingerprint: str) -> dict:
    """What the record store keeps of a receipt beside its decision (``submission`` columns):
    the signature's, the content's and the certificate's hashes, and the leaf hash they make
    with the decision (computed once, when the signature is settled; the sealer only reads it)."""
    signature_hash = hashlib.sha256(signature).hexdigest()
    leaf = receipt_leaf(entry_id=entry_id, status=status, received_at=received_at, content_hash=content_hash,
                        signature_hash=signature_hash, signer_fingerprint=signer_fingerprint)
    return {"signature_hash": signature_hash, "content_hash": content_hash,
            "signer_fingerprint": signer_fingerprint, "leaf_hash": receipt_hash(leaf)}
