"""The receipts' pure parts: the Merkle tree is RFC 6962's (checked against the RFC's recursive
definitions, for every size up to 64), its inclusion proofs verify with RFC 9162's algorithm and
nothing else does, and the receipt and batch formats are exact."""
import datetime as dt
import hashlib

import pytest

from core.kernel import merkle
from core.logbook.rules.receipts import (
    GENESIS,
    batch_statement,
    read_statement,
    receipt_evidence,
    receipt_hash,
    receipt_leaf,
    sealed_after_receipt,
)


def mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1, as written there (leaves are the data, not yet hashed)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1, as written there."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


@pytest.mark.parametrize("n", range(1, 65))
def test_the_tree_and_its_paths_are_rfc_6962s(n):
    data = [f"leaf {i}".encode() for i in range(n)]
    hashes = [merkle.leaf_hash(d) for d in data]
    root = merkle.root(hashes)
    assert root == mth(data)
    paths = merkle.audit_paths(hashes)
    for m in range(n):
        assert merkle.audit_path(hashes, m) == paths[m] == path(m, data)
        assert merkle.root_from_path(hashes[m], m, n, paths[m]) == root


def test_an_inclusion_proof_proves_one_leaf_at_one_place_in_one_tree():
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(13)]
    root = merkle.root(hashes)
    proof = merkle.audit_path(hashes, 6)
    assert merkle.root_from_path(hashes[6], 6, 13, proof) == root
    assert merkle.root_from_path(hashes[7], 6, 13, proof) != root          # another leaf
    assert merkle.root_from_path(hashes[6], 7, 13, proof) != root          # another place
    other = merkle.root(hashes + [merkle.leaf_hash(b"more")])              # another tree's signed root
    assert merkle.root_from_path(hashes[6], 6, 14, proof) != other
    assert merkle.root_from_path(hashes[6], 13, 13, proof) is None         # outside the tree
    assert merkle.root_from_path(hashes[6], 6, 13, proof[:-1]) != root     # a path cut short
    assert merkle.root_from_path(hashes[6], 6, 13, proof + proof[:1]) is None  # a path too long
    # a node is never a leaf: the inner node over leaves 0 and 1 does not pass for a leaf of the tree
    node = merkle.node_hash(hashes[0], hashes[1])
    assert node not in hashes and merkle.leaf_hash(hashes[0] + hashes[1]) != node
    with pytest.raises(ValueError):
        merkle.audit_path(hashes, 13)


RECEIVED = dt.datetime(2025, 9, 22, 8, 37, 12)


def leaf(**changes):
    fields = dict(entry_id=42, status="on_time", received_at=RECEIVED, content_hash="c" * 64,
                  signature_hash="s" * 64, signer_fingerprint="f" * 64)
    return receipt_leaf(**{**fields, **changes})


def test_a_receipt_states_the_decision_in_vietnam_time_and_any_change_changes_its_leaf():
    base = leaf()
    assert base == {"format": "sohoa.receipt/1", "entry_id": 42, "status": "on_time",
                    "received_at": "2025-09-22T08:37:12+07:00", "content_hash": "c" * 64,
                    "signature_hash": "s" * 64, "signer_fingerprint": "f" * 64}
    expected = hashlib.sha256(b"\x00" + b'{"content_hash":"' + b"c" * 64 + b'","entry_id":42,"format":'
                              b'"sohoa.receipt/1","received_at":"2025-09-22T08:37:12+07:00","signature_hash":"'
                              + b"s" * 64 + b'","signer_fingerprint":"' + b"f" * 64 + b'","status":"on_time"}')
    assert receipt_hash(base) == expected.hexdigest()
    changed = [leaf(status="late"), leaf(received_at=RECEIVED - dt.timedelta(seconds=1)), leaf(entry_id=43),
               leaf(content_hash="d" * 64), leaf(signature_hash="t" * 64), leaf(signer_fingerprint="e" * 64)]
    assert len({receipt_hash(x) for x in [base, *changed]}) == 7
    with pytest.raises(ValueError):
        leaf(status="missed")  # a receipt records a signature the server judged
    with pytest.raises(ValueError):
        receipt_hash({**base, "note": "x"})


def test_the_evidence_kept_is_the_leaf_of_the_signature_received():
    evidence = receipt_evidence(entry_id=42, status="late", received_at=RECEIVED, signature=b"cms",
                                content_hash="c" * 64, signer_fingerprint="f" * 64)
    assert evidence["signature_hash"] == hashlib.sha256(b"cms").hexdigest()
    assert evidence["leaf_hash"] == receipt_hash(leaf(status="late", signature_hash=evidence["signature_hash"]))


def test_a_batch_statement_is_read_back_exactly_or_refused():
    statement = batch_statement(batch_id=7, size=3, root="a" * 64, previous=GENESIS, sealed_at=RECEIVED)
    assert read_statement(statement) == {"format": "sohoa.receipt-batch/1", "batch_id": 7, "size": 3,
                                         "root": "a" * 64, "previous": GENESIS,
                                         "sealed_at": "2025-09-22T08:37:12+07:00"}
    for bad in (b"{}", b"not json", statement.replace(b'"size":3', b'"size":0'), statement + b" ",
                statement.replace(b'"batch_id":7,', b'"batch_id":7,"extra":1,')):
        with pytest.raises(ValueError):
            read_statement(bad)


def test_a_receipt_is_sealed_after_it_was_received():
    assert sealed_after_receipt(RECEIVED, RECEIVED + dt.timedelta(seconds=1))
    assert sealed_after_receipt(RECEIVED, RECEIVED - dt.timedelta(seconds=30))  # the clocks' difference
    assert not sealed_after_receipt(RECEIVED, RECEIVED - dt.timedelta(minutes=5))
