"""Merkle trees as Certificate Transparency defines them (cây Merkle): RFC 6962 §2.1, restated
in RFC 9162 §2.1, with SHA-256.

- a leaf's hash is ``SHA-256(0x00 || leaf)`` and an inner node's ``SHA-256(0x01 || left ||
  right)`` (RFC 6962 §2.1: the prefixes keep a leaf from ever passing for a node);
- the tree over n leaves splits at k, the largest power of two below n: MTH(D[n]) =
  SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]));
- an inclusion proof (audit path) of leaf m is the list of sibling hashes from the leaf up to
  the root, PATH(m, D[n]) of RFC 6962 §2.1.1; it is checked with the algorithm of RFC 9162
  §2.1.3.2 (:func:`root_from_path`), which needs nothing but the leaf hash, its index, the
  tree's size and the path.

The trees are built level by level — pair the nodes of a level left to right, carry an odd last
node up unchanged — which gives exactly RFC 6962's tree (its left subtrees are the largest
complete ones) in O(n) hashes; ``tests/rules/test_merkle.py`` checks it against the RFC's
recursive definition and against the RFC's algorithm for every size up to 64.

Why not a library: ``pymerkle`` (the maintained Python implementation) is GPL-3.0-or-later,
which this product's licence cannot take, its author asks for an audit before use, and it
hashes the entries itself while the record store keeps each receipt's leaf hash already
computed. The two algorithms the product needs are these few lines, tested against the RFC.
"""
from __future__ import annotations

import hashlib

LEAF_PREFIX, NODE_PREFIX = b"\x00", b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf (RFC 6962 §2.1: ``SHA-256(0x00 || d)``)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node (RFC 6962 §2.1: ``SHA-256(0x01 || left || right)``)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the tree over these leaf hashes, from the leaves up to the root."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])  # an odd last node is carried up as it is
        levels.append(above)
    return levels


def root(leaves: list[bytes]) -> bytes:
    """MTH of the leaf hashes (RFC 6962 §2.1); the empty tree's root is SHA-256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    return _levels(leaves)[-1][0]


def audit_path(leaves: list[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 §2.1.1: the sibling hashes from the leaf up to the root."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    path = []
    for level in _levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):  # no sibling: the node is carried up, nothing to prove
            path.append(level[sibling])
        index //= 2
    return path


def audit_paths(leaves: list[bytes]) -> list[list[bytes]]:
    """:func:`audit_path` of every leaf, building the tree once."""
    levels = _levels(leaves)[:-1]
    paths = []
    for index in range(len(leaves)):
        path, at = [], index
        for level in levels:
            if at ^ 1 < len(level):
                path.append(level[at ^ 1])
            at //= 2
        paths.append(path)
    return paths


def root_from_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None when the proof cannot
    be a proof of leaf ``index`` in a tree of ``size`` (index out of range, a path too long or
    too short). The proof holds when this equals the tree's signed root."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None
