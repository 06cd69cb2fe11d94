"""Signing for the principal (Nghị định 30/2020/NĐ-CP, Art. 13): only a vice-principal of the
school, under a written delegation from its principal, limited in time and content, revocable,
lapsing with its giver's role, never passed on. Constructed examples: principal 1, vice-principal
2, teacher 3, at school 10; delegation "05/QĐ-THCS" signed 01/03/2026, valid 02/03–31/07/2026
for transcripts."""
import datetime as dt

import pytest

from core.kernel.errors import RuleViolation
from core.signatures.rules.delegation import (
    DELEGATED_LABEL,
    PRINCIPAL_LABEL,
    RolesAt,
    SigningAct,
    delegation,
    delegation_problem,
    signing_authority,
)

ROLES = RolesAt(principals=frozenset({1}), vice_principals=frozenset({2}))
D5 = delegation(school_id=10, principal_id=1, delegate_id=2, document_no="05/QĐ-THCS", signed_on=dt.date(2026, 3, 1),
                valid_from=dt.date(2026, 3, 2), valid_until=dt.date(2026, 7, 31), acts=["transcript"],
                roles_on_signing=ROLES, delegate_roles=ROLES)
AT = dt.datetime(2026, 5, 30, 16, 0)


def authority(signer=2, at=AT, act=SigningAct.TRANSCRIPT, roles=ROLES, school=10, delegations=(D5,)):
    return signing_authority(school_id=school, signer_id=signer, act=act, at=at, roles=roles, delegations=delegations)


def test_the_principal_signs_as_principal_and_the_vice_principal_under_the_delegation():
    assert (authority(signer=1).capacity, authority(signer=1).label) == ("principal", PRINCIPAL_LABEL)
    granted = authority()
    assert (granted.allowed, granted.capacity, granted.label, granted.delegation) == (True, "delegated",
                                                                                       DELEGATED_LABEL, D5)
    # both ends of the period are included (Vietnam local days)
    assert authority(at=dt.datetime(2026, 3, 2, 0, 0)).allowed
    assert authority(at=dt.datetime(2026, 7, 31, 23, 59, 59)).allowed


@pytest.mark.parametrize("kwargs,why", [
    ({"at": dt.datetime(2026, 3, 1, 23, 59)}, "applies from 02/03/2026"),
    ({"at": dt.datetime(2026, 8, 1, 0, 0)}, "ended on 31/07/2026"),
    ({"act": SigningAct.WEEK_CLOSE}, "does not cover week_close"),
    ({"school": 11}, "holds no written delegation"),
    ({"signer": 3}, "holds no written delegation"),
    ({"delegations": ()}, "holds no written delegation"),
    ({"roles": RolesAt(frozenset({1}), frozenset())}, "not a vice-principal"),
    ({"roles": RolesAt(frozenset({4}), frozenset({2}))}, "no longer holds the role"),
])
def test_a_signature_outside_the_delegation_is_not_covered(kwargs, why):
    refused = authority(**kwargs)
    assert not refused.allowed and refused.capacity == "none" and why in refused.reason and refused.reason_vi


def test_a_revoked_delegation_covers_what_was_signed_before_only():
    revoked = type(D5)(**{**D5.__dict__, "revoked_at": dt.datetime(2026, 5, 30, 12, 0)})
    assert delegation_problem(revoked, school_id=10, signer_id=2, act="transcript",
                              at=dt.datetime(2026, 5, 30, 11, 59), roles=ROLES) is None
    assert "revoked" in delegation_problem(revoked, school_id=10, signer_id=2, act="transcript",
                                           at=dt.datetime(2026, 5, 30, 12, 0), roles=ROLES)[0]


@pytest.mark.parametrize("changes,why", [
    ({"principal_id": 2, "delegate_id": 3}, "only the school's principal gives a delegation"),  # no passing on
    ({"delegate_id": 3}, "only a vice-principal of the school"),
    ({"delegate_id": 1}, "only a vice-principal of the school"),                                  # not to oneself
    ({"valid_until": dt.date(2026, 3, 1)}, "limited in time"),
    ({"valid_from": dt.date(2026, 2, 28)}, "does not start before the day it was written"),
    ({"document_no": " "}, "recorded with its number"),
    ({"acts": []}, "names the acts it covers"),
    ({"acts": ["everything"]}, "is not something the principal signs"),
    ({"valid_until": "2026-07-31"}, "valid_until is a date"),
])
def test_a_delegation_that_cannot_be_recorded(changes, why):
    given = {"school_id": 10, "principal_id": 1, "delegate_id": 2, "document_no": "05/QĐ-THCS",
             "signed_on": dt.date(2026, 3, 1), "valid_from": dt.date(2026, 3, 2), "valid_until": dt.date(2026, 7, 31),
             "acts": ["transcript"], "roles_on_signing": ROLES, "delegate_roles": ROLES, **changes}
    with pytest.raises(RuleViolation, match=why) as caught:
        delegation(**given)
    assert caught.value.message.startswith("Nghị định 30/2020/NĐ-CP, Art. 13")
    assert caught.value.message_vi.startswith("Nghị định 30/2020/NĐ-CP, Điều 13")
