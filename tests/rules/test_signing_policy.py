"""The signing policy's rules on worked examples: a person signs only in the role they held, at
their school, with a valid personal certificate; a seal stands only for the unit it is bound to
(registered, or its CA's organisation policy and the unit's identifier)."""
import datetime as dt

import pytest

from core.signatures.rules.signing_policy import (
    NOT_AUTHORISED,
    PERSONAL,
    SEAL,
    OrganisationClaims,
    Registration,
    holds_role_at,
    indication_of,
    personal_signature_problem,
    seal_problem,
    unit_identifier,
)

T = dt.datetime(2026, 5, 20, 9, 0)
LAN = Registration(PERSONAL, 7, "A01", dt.datetime(2025, 1, 1), dt.datetime(2027, 12, 31), None)
SEAL_A = Registration(SEAL, None, "A01", dt.datetime(2025, 1, 1), dt.datetime(2027, 12, 31), None)
POLICY = "2.25.1"
GOOD_SEAL = OrganisationClaims(frozenset({POLICY}), frozenset({"MDV:A01"}), True)


def person(registration, holder=7, unit="A01", when=T, terms=None):
    return personal_signature_problem("homeroom", registration, holder_staff_id=holder, unit_code=unit,
                                      signing_time=when, terms=terms)


def test_the_holder_of_record_with_a_valid_personal_certificate_signs():
    assert person(LAN) is None
    assert person(LAN, terms=[(dt.date(2025, 9, 1), None)]) is None


@pytest.mark.parametrize("registration,kwargs,sub,words", [
    (None, {}, NOT_AUTHORISED, "chưa được đăng ký"),                                    # a CA-trusted stranger
    (SEAL_A, {}, NOT_AUTHORISED, "của tổ chức"),                                        # a seal signing as a person
    (LAN, {"unit": "B01"}, NOT_AUTHORISED, "đơn vị khác"),                              # another school's teacher
    (LAN, {"holder": 8}, NOT_AUTHORISED, "không phải là giáo viên chủ nhiệm"),           # not the homeroom of record
    (LAN, {"holder": None}, NOT_AUTHORISED, "không phải"),
    (Registration(PERSONAL, 7, "A01", LAN.not_before, LAN.not_after, T), {}, "REVOKED", "thu hồi"),
    (Registration(PERSONAL, 7, "A01", LAN.not_before, dt.datetime(2026, 1, 1), None), {}, "EXPIRED", "hết hạn"),
    (LAN, {"terms": [(dt.date(2025, 9, 1), dt.date(2026, 1, 31))]}, NOT_AUTHORISED, "không giữ vai trò"),
    (LAN, {"terms": []}, NOT_AUTHORISED, "không giữ vai trò"),
])
def test_a_person_who_may_not_sign_in_the_role_is_refused(registration, kwargs, sub, words):
    problem = person(registration, **kwargs)
    assert problem is not None and problem[0] == sub and words in problem[2], problem
    assert problem[1] and problem[1] != problem[2]                   # both languages


def test_revocation_after_signing_leaves_the_signature_standing():
    later = Registration(PERSONAL, 7, "A01", LAN.not_before, LAN.not_after, T + dt.timedelta(seconds=1))
    assert person(later) is None


def test_terms_include_both_ends_and_an_open_end():
    terms = [(dt.date(2025, 9, 1), dt.date(2026, 5, 20))]
    assert holds_role_at(terms, dt.date(2025, 9, 1)) and holds_role_at(terms, dt.date(2026, 5, 20))
    assert not holds_role_at(terms, dt.date(2026, 5, 21)) and not holds_role_at(terms, dt.date(2025, 8, 31))
    assert holds_role_at([(dt.date(2025, 9, 1), None)], dt.date(2040, 1, 1))
    assert holds_role_at(None, dt.date(2040, 1, 1))                   # no history kept: the record decides


def seal(registration, claims=GOOD_SEAL, unit="A01", registered=False, policies=frozenset({POLICY})):
    return seal_problem(registration, claims, unit_code=unit, unit_has_registered_seal=registered,
                        seal_policies=policies, signing_time=T)


def test_a_registered_seal_and_a_ca_bound_seal_stand_for_their_unit():
    assert seal(SEAL_A, registered=True) is None
    assert seal(None) is None                               # unit without a registered seal: the CA binds it
    assert unit_identifier("A01") == "MDV:A01"


@pytest.mark.parametrize("registration,kwargs,words", [
    (LAN, {"registered": True}, "cá nhân"),                                         # a teacher's key as the seal
    (SEAL_A, {"unit": "B01", "registered": True}, "đơn vị khác"),                  # school A's seal for school B
    (None, {"registered": True}, "không phải con dấu số đã đăng ký"),              # unregistered, unit has one
    (None, {"claims": OrganisationClaims(frozenset(), frozenset({"MDV:A01"}), True)}, "chứng thư số tổ chức"),
    (None, {"policies": frozenset()}, "chứng thư số tổ chức"),                    # its CA has no seal policy
    (None, {"claims": OrganisationClaims(frozenset({POLICY}), frozenset({"MDV:A01"}), False)}, "cam kết"),
    (None, {"claims": OrganisationClaims(frozenset({POLICY}), frozenset({"MDV:B01"}), True)}, "mã định danh"),
    (None, {"claims": OrganisationClaims(frozenset({POLICY}), frozenset({"A01"}), True)}, "mã định danh"),
])
def test_a_seal_not_bound_to_the_unit_is_refused(registration, kwargs, words):
    problem = seal(registration, **kwargs)
    assert problem is not None and problem[0] == NOT_AUTHORISED and words in problem[2], problem
    assert indication_of(problem) == "FAILED"


def test_a_registered_seal_outside_its_validity_is_indeterminate():
    expired = Registration(SEAL, None, "A01", dt.datetime(2024, 1, 1), dt.datetime(2025, 1, 1), None)
    problem = seal(expired, registered=True)
    assert problem[0] == "EXPIRED" and indication_of(problem) == "INDETERMINATE"
