"""The signing API's routes: sign in, the week's timetable, an entry's content and canonical
bytes, fill an entry, submit its signature (idempotent), ask for a timetable change, teaching
hours, the weekly close (chốt sổ tuần) by the homeroom teacher and the principal, and the
subject teacher's results (sổ điểm): enter, see what is missing, confirm with a signature. Every call
goes through core's services and authorization, exactly as the console's do; this module only
maps HTTP to them. What a route needs (the record store, the trust anchors, the batcher) is the
app's :class:`ApiState`."""
from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import functools
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.batching import Batcher
from api.hotpath import receipt_json
from api.models import (
    ChangeRequestIn,
    ChangeRequestOut,
    ClassId,
    ClassStatus,
    ClassWeek,
    ClassWeekSigned,
    CompleteIn,
    ConfirmationIn,
    Content,
    CredentialCheckOut,
    CredentialIn,
    CredentialOut,
    Credentials,
    EntryForSigning,
    EntryId,
    ErrorBody,
    EvaluationsIn,
    Health,
    Hours,
    Period,
    PinIn,
    PreparedOut,
    PrepareIn,
    ReceiptOut,
    ReceiptProof,
    Revoked,
    SignatureIn,
    SubjectId,
    SubjectResultsIn,
    SubjectSheet,
    Token,
    TranscriptId,
    WeekId,
)
from core.access.accounts import API, SESSION_LIFETIME, TokenCache, sign_in, sign_out, sign_out_everywhere
from core.access.authz import Actor
from core.kernel import clock
from core.kernel.errors import BadRequest, PermissionDenied, SigningNotOffered, SohoaError, Unauthorized
from core.logbook.entries import EntryContent, entry_for_signing, fill_entry, teacher_week, teaching_hours
from core.logbook.receipts import receipt_proof
from core.logbook.weekly_close import (
    HOMEROOM,
    PRINCIPAL,
    REMOTE_CSC,
    class_week_close,
    complete_week_signing,
    homeroom_sign_week,
    prepare_week_signing,
    prepared_document,
    principal_close_week,
    weeks_to_close,
)
from core.signatures.held_keys import unlock_signing_key
from core.storage.db import Database
from core.timetable.services import request_change
from core.transcripts.credential import (
    MEDIA_TYPE,
    issue_credential,
    school_of_transcript,
    unlock_school_seal,
    verify_credential,
)
from core.transcripts.gradebook import confirm_subject, enter_and_show, enter_evaluation, subject_sheet
from core.transcripts.workflow import class_status

ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503)}
router = APIRouter()
bearer = HTTPBearer(auto_error=False)


@dataclass
class ApiState:
    """What the routes share in one API process."""

    db: Database
    trust: object
    batcher: Batcher
    pki_dir: object = None   # the server-held keys (core.signatures.held_keys.HeldKeys, demo), or None
    token_cache_seconds: float = 10.0
    #: the bearer tokens' actors, evicted in every process at a revocation (core.access.accounts.TokenCache)
    tokens: TokenCache = None
    ready: bool = False
    certificates_checked: int = 0
    remote_signing: object = None   # core.signatures.remote.RemoteSigning, or None
    #: writes checkpoints outside the database (core.evidence.checkpoints.Checkpointer), or None
    checkpoints: object = None

    def __post_init__(self):
        if self.tokens is None:
            self.tokens = TokenCache(self.db, self.token_cache_seconds, kind=API)


def api_state(request: Request) -> ApiState:
    return request.app.state.sohoa


async def run(fn, *args):
    """A core service on a worker thread (they are synchronous)."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def teacher(credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                  state: ApiState = Depends(api_state)) -> Actor:
    """The signed-in user of the bearer token (kept a few seconds, evicted at once in every
    process when it is revoked: :class:`core.access.accounts.TokenCache`)."""
    if credentials is None:
        raise Unauthorized("sign in first: Authorization: Bearer <token>", message_vi="Hãy đăng nhập trước")
    token = credentials.credentials
    actor = state.tokens.cached(token)
    if actor is not None:
        return actor
    try:
        return await run(state.tokens.lookup, token)
    except PermissionDenied as err:
        raise Unauthorized(err.message, message_vi=err.message_vi) from err


def _monday(monday: dt.date) -> dt.date:
    if monday.weekday() != 0:
        raise BadRequest("monday must be a Monday", message_vi="Ngày bắt đầu tuần phải là thứ Hai")
    return monday


@router.get("/api/v1/health", response_model=Health, tags=["service"],
            summary="Is this process ready for the bell (certificates checked)?")
async def health(state: ApiState = Depends(api_state)):
    return Health(status="ok", ready=state.ready, certificates_checked=state.certificates_checked)


@router.post("/api/v1/token", response_model=Token, responses=ERRORS, tags=["sign-in"],
             summary="Sign in (đăng nhập): a bearer token for the other calls")
async def token(body: Credentials, request: Request, state: ApiState = Depends(api_state)):
    """The same answer for an unknown name and a wrong password (401); a device that failed too
    often waits (429, Retry-After) — never the account itself (core.access.accounts.sign_in).
    The token is for the API only: the console's cookie is another kind."""
    client = request.client.host if request.client else None
    try:
        value = await run(functools.partial(sign_in, client=client, kind=API), state.db, body.username,
                          body.password)
    except PermissionDenied as err:
        raise Unauthorized(err.message, message_vi=err.message_vi) from err
    return Token(access_token=value, expires_in=int(SESSION_LIFETIME.total_seconds()))


@router.post("/api/v1/logout", status_code=204, responses=ERRORS, tags=["sign-in"],
             summary="Sign out (đăng xuất): this bearer token stops working at once")
async def logout(actor: Actor = Depends(teacher), credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                 state: ApiState = Depends(api_state)):
    await run(functools.partial(sign_out, kind=API), state.db, credentials.credentials)
    state.tokens.evict_token(credentials.credentials)  # the other processes hear it from the database


@router.post("/api/v1/me/sessions/revoke", response_model=Revoked, responses=ERRORS, tags=["sign-in"],
             summary="Revoke every token of the signed-in user (a lost phone): the apps' and the console's")
async def revoke(actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    ended = await run(sign_out_everywhere, state.db, actor)
    state.tokens.evict_user(actor.user_id)  # the other processes hear it from the database
    return Revoked(sessions_ended=ended)


@router.get("/api/v1/me/timetable", response_model=list[Period], responses=ERRORS, tags=["logbook"],
            summary="The signed-in teacher's periods in one week (thời khóa biểu)")
async def timetable(monday: dt.date = Query(description="the week's Monday"), actor: Actor = Depends(teacher),
                    state: ApiState = Depends(api_state)):
    return await run(teacher_week, state.db, actor, _monday(monday))


@router.get("/api/v1/entries/{entry_id}", response_model=EntryForSigning, responses=ERRORS, tags=["logbook"],
            summary="One of my periods, with the exact bytes to sign")
async def entry(entry_id: EntryId, actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    row = await run(entry_for_signing, state.db, actor, entry_id)
    return {**row, "canonical_bytes": base64.b64encode(row["canonical_bytes"]).decode()}


@router.put("/api/v1/entries/{entry_id}/content", status_code=204, responses=ERRORS, tags=["logbook"],
            summary="Record what was taught (before signing)")
async def content(entry_id: EntryId, body: Content, actor: Actor = Depends(teacher),
                  state: ApiState = Depends(api_state)):
    await run(fill_entry, state.db, actor, entry_id, EntryContent(**body.model_dump()))


@router.post("/api/v1/entries/{entry_id}/signature", response_model=ReceiptOut, responses=ERRORS,
             tags=["logbook"], summary="Submit my signature of a period (ký số tiết học)")
async def signature(entry_id: EntryId, body: SignatureIn,
                    idempotency_key: str = Header(alias="Idempotency-Key", min_length=1, max_length=100,
                                                  description="the same key for every retry of this submission"),
                    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
                    state: ApiState = Depends(api_state)):
    # the framework's path; a well-formed submission takes api.hotpath.SignatureHotPath to the
    # same batcher and gets the same answer
    received = clock.now()  # the server's receipt time decides on time or late
    if credentials is None:
        raise Unauthorized("sign in first: Authorization: Bearer <token>", message_vi="Hãy đăng nhập trước")
    try:
        raw = base64.b64decode(body.signature, validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadRequest("the signature is not valid base64",
                         message_vi="Chữ ký không đúng định dạng base64") from err
    # the token is resolved with the rest of the batch: one query for all of them
    answer = await state.batcher.submit(credentials.credentials, entry_id, raw, idempotency_key, received)
    if isinstance(answer, SohoaError):
        raise answer
    return JSONResponse(receipt_json(answer))


@router.get("/api/v1/entries/{entry_id}/receipt", response_model=ReceiptProof, responses=ERRORS, tags=["logbook"],
            summary="The server's sealed receipt of a signed period, with its inclusion proof (biên nhận)")
async def receipt(entry_id: EntryId, actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    """For the period's teacher, or anyone who may view its school. 404: no such entry, another
    school's, or not signed; 409: signed a moment ago and not sealed yet (ask again in a second)."""
    return await run(receipt_proof, state.db, actor, entry_id)


@router.get("/api/v1/me/teaching-hours", response_model=Hours, responses=ERRORS, tags=["logbook"],
            summary="My periods and teaching hours between two dates (giờ giảng)")
async def hours(start: dt.date, end: dt.date, actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    if actor.staff_id is None:
        raise PermissionDenied("only staff have teaching hours", message_vi="Chỉ giáo viên có giờ giảng")
    if end < start or (end - start).days > 400:
        raise BadRequest("end must follow start, within 400 days", message_vi="Khoảng thời gian không hợp lệ")
    return await run(teaching_hours, state.db, actor, actor.staff_id, start, end)


@router.post("/api/v1/timetable/change-requests", response_model=ChangeRequestOut, status_code=201,
             responses=ERRORS, tags=["timetable"],
             summary="Ask to change next week's timetable (Saturday or Sunday only)")
async def change(body: ChangeRequestIn, actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    changes = [c.model_dump(exclude_none=True) for c in body.changes]
    return ChangeRequestOut(request_id=await run(request_change, state.db, actor, body.school_id, changes,
                                                 body.reason))


# ---------------------------------------------------------------- weekly close
def _close_step(state: ApiState, step, actor: Actor, class_id: int, week_id: int, pin: str,
                at: dt.datetime) -> dict:
    if state.pki_dir is None:
        raise SigningNotOffered("this server keeps no personal signing keys: sign on your device (…/prepare, then "
                                "…/complete)", message_vi="Máy chủ không lưu khóa ký số cá nhân: hãy ký trên thiết bị "
                                                          "của bạn (chuẩn bị, rồi hoàn tất)")
    step(state.db, actor, class_id, week_id, unlock_signing_key(state.db, actor, state.pki_dir, pin, at), at)
    return class_week_close(state.db, actor, class_id, week_id, at)


@router.get("/api/v1/me/weeks-to-close", response_model=list[ClassWeek], responses=ERRORS, tags=["weekly-close"],
            summary="The class-weeks I sign or close (chốt sổ tuần): my class as homeroom teacher, "
                    "my school's classes as principal")
async def weeks(monday: dt.date = Query(description="the week's Monday"), actor: Actor = Depends(teacher),
                state: ApiState = Depends(api_state)):
    return await run(weeks_to_close, state.db, actor, _monday(monday))


@router.post("/api/v1/classes/{class_id}/weeks/{week_id}/homeroom-signature", response_model=ClassWeek,
             responses=ERRORS, tags=["weekly-close"],
             summary="The homeroom teacher signs the class's week (giáo viên chủ nhiệm ký sổ tuần)")
async def homeroom_signature(class_id: ClassId, week_id: WeekId, body: PinIn, actor: Actor = Depends(teacher),
                             state: ApiState = Depends(api_state)):
    return await run(_close_step, state, homeroom_sign_week, actor, class_id, week_id, body.pin, clock.now())


@router.post("/api/v1/classes/{class_id}/weeks/{week_id}/close", response_model=ClassWeek, responses=ERRORS,
             tags=["weekly-close"], summary="The principal signs and closes the class's week (hiệu trưởng chốt sổ tuần)")
async def close(class_id: ClassId, week_id: WeekId, body: PinIn, actor: Actor = Depends(teacher),
                state: ApiState = Depends(api_state)):
    closed = await run(_close_step, state, principal_close_week, actor, class_id, week_id, body.pin, clock.now())
    if state.checkpoints is not None:  # the close is committed: anchor it outside the database soon
        state.checkpoints.request("week.close")
    return closed


# ---------------------------------------------------------------- weekly close on the signer's device
# Two steps (ký số hai bước): prepare lays out the signature and says what to sign; the phone signs
# with a key only it holds; complete checks and embeds it. See docs/api.md, "Signing on the device".
_STEPS = {"homeroom-signature": HOMEROOM, "close": PRINCIPAL}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str | None, what: str) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadRequest(f"{what} is not valid base64", message_vi=f"{what} không đúng định dạng base64") from err


def _prepared_json(prepared) -> dict:
    return PreparedOut(
        signing_id=prepared.signing_id, step=prepared.step, mode=prepared.mode, expires_at=prepared.expires_at,
        certificate_fingerprint=prepared.certificate_fingerprint,
        signed_attributes_b64=_b64(prepared.signed_attributes), document_digest_b64=_b64(prepared.document_digest),
        hash_to_authorize=prepared.hash_to_authorize, byte_range=list(prepared.byte_range),
        document_url=f"/api/v1/signings/{prepared.signing_id}/document", summary_b64=_b64(prepared.summary),
        replayed=prepared.replayed).model_dump(mode="json")


def _complete(state: ApiState, step: str, actor: Actor, class_id: int, week_id: int, body: CompleteIn,
              at: dt.datetime) -> dict:
    signer = None
    if body.pin is not None:   # remote signing: the service signs, with the signer's PIN and OTP
        if state.remote_signing is None:
            raise SigningNotOffered("this server has no remote signing service (CSC): sign on your device",
                                    message_vi="Máy chủ không có dịch vụ ký số từ xa: hãy ký trên thiết bị của bạn")
        signer = state.remote_signing.signer_for(actor.staff_id, body.pin, body.otp)
    try:
        status, replayed = complete_week_signing(
            state.db, actor, class_id, week_id, step, body.signing_id, trust=state.trust, signer=signer,
            signature=_unb64(body.signature_b64, "signature_b64"), cms=_unb64(body.cms_b64, "cms_b64"),
            summary_signature=_unb64(body.summary_signature_b64, "summary_signature_b64"), at=at)
    finally:
        if signer is not None:
            signer.close()
    if step == PRINCIPAL and state.checkpoints is not None:  # the close is committed: anchor it soon
        state.checkpoints.request("week.close")
    return {**class_week_close(state.db, actor, class_id, week_id, at), "replayed": replayed}


@router.post("/api/v1/classes/{class_id}/weeks/{week_id}/homeroom-signature/prepare", status_code=201,
             response_model=PreparedOut, responses=ERRORS, tags=["weekly-close"],
             summary="Prepare my homeroom signature of the week for my device to sign (ký số hai bước, bước 1)")
async def homeroom_prepare(class_id: ClassId, week_id: WeekId, body: PrepareIn,
                           idempotency_key: str = Header(alias="Idempotency-Key", min_length=1, max_length=100,
                                                         description="the same key for every retry of this prepare"),
                           actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    return await _prepare(state, HOMEROOM, actor, class_id, week_id, body, idempotency_key)


@router.post("/api/v1/classes/{class_id}/weeks/{week_id}/close/prepare", status_code=201,
             response_model=PreparedOut, responses=ERRORS, tags=["weekly-close"],
             summary="Prepare the principal's closing signature for their device to sign (bước 1)")
async def close_prepare(class_id: ClassId, week_id: WeekId, body: PrepareIn,
                        idempotency_key: str = Header(alias="Idempotency-Key", min_length=1, max_length=100,
                                                      description="the same key for every retry of this prepare"),
                        actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    return await _prepare(state, PRINCIPAL, actor, class_id, week_id, body, idempotency_key)


async def _prepare(state: ApiState, step: str, actor: Actor, class_id: int, week_id: int, body: PrepareIn,
                   key: str):
    if body.mode == REMOTE_CSC and state.remote_signing is None:
        raise SigningNotOffered("this server has no remote signing service (CSC): sign on your device",
                                message_vi="Máy chủ không có dịch vụ ký số từ xa: hãy ký trên thiết bị của bạn")
    prepared = await run(lambda: prepare_week_signing(
        state.db, actor, class_id, week_id, step, mode=body.mode, idempotency_key=key,
        certificate_fingerprint=body.certificate_fingerprint, at=clock.now()))
    return JSONResponse(_prepared_json(prepared), status_code=200 if prepared.replayed else 201)


@router.post("/api/v1/classes/{class_id}/weeks/{week_id}/homeroom-signature/complete",
             response_model=ClassWeekSigned, responses=ERRORS, tags=["weekly-close"],
             summary="Complete my homeroom signature with what my device signed (bước 2)")
async def homeroom_complete(class_id: ClassId, week_id: WeekId, body: CompleteIn, actor: Actor = Depends(teacher),
                            state: ApiState = Depends(api_state)):
    return await run(_complete, state, HOMEROOM, actor, class_id, week_id, body, clock.now())


@router.post("/api/v1/classes/{class_id}/weeks/{week_id}/close/complete",
             response_model=ClassWeekSigned, responses=ERRORS, tags=["weekly-close"],
             summary="Complete the principal's closing signature with what their device signed (bước 2)")
async def close_complete(class_id: ClassId, week_id: WeekId, body: CompleteIn, actor: Actor = Depends(teacher),
                         state: ApiState = Depends(api_state)):
    return await run(_complete, state, PRINCIPAL, actor, class_id, week_id, body, clock.now())


@router.get("/api/v1/signings/{signing_id}/document", responses={**ERRORS, 200: {
    "content": {"application/pdf": {}}, "description": "the prepared PDF"}}, response_class=Response,
            tags=["weekly-close"], summary="The prepared PDF of my live signing (to show, and to check the digest)")
async def signing_document(signing_id: str = Path(min_length=10, max_length=32, pattern=r"^[A-Za-z0-9_-]+$"),
                           actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    return Response(await run(prepared_document, state.db, actor, signing_id), media_type="application/pdf")


# ---------------------------------------------------------------- the subject teacher's results (sổ điểm)
def _sheet_json(sheet: dict) -> JSONResponse:
    """The sheet as the app reads it (SubjectSheet), answered as is: built by core, not
    validated a second time."""
    data, confirmed = sheet["to_confirm"], sheet["confirmed_at"]
    return JSONResponse({**sheet, "to_confirm": base64.b64encode(data).decode() if data is not None else None,
                         "confirmed_at": confirmed.isoformat() if confirmed is not None else None})


@router.get("/api/v1/classes/{class_id}/subjects/{subject_id}/results", response_model=SubjectSheet,
            responses=ERRORS, tags=["gradebook"], summary="My subject's results for a class: entered, missing, "
                                                          "the bytes to confirm (sổ điểm môn)")
async def results(class_id: ClassId, subject_id: SubjectId,
                  year_id: int = Query(ge=1, le=2**63 - 1, description="the school year's id"),
                  actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    return _sheet_json(await run(subject_sheet, state.db, actor, class_id, subject_id, year_id))


@router.put("/api/v1/classes/{class_id}/subjects/{subject_id}/results", response_model=SubjectSheet,
            responses=ERRORS, tags=["gradebook"], summary="Enter or correct my subject's results for a class "
                                                          "(nhập điểm; all or nothing, idempotent)")
async def put_results(class_id: ClassId, subject_id: SubjectId, body: SubjectResultsIn,
                      actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    """Every value is checked by the assessment rules before anything is stored: one impossible
    value refuses the whole request (422 InvalidAssessment naming the student, the assessment and
    the article). Sending the same results again changes nothing. Refused once confirmed (409)."""
    return _sheet_json(await run(enter_and_show, state.db, actor, class_id, subject_id, body.year_id, body.results,
                                 body.comments or None))


@router.post("/api/v1/classes/{class_id}/subjects/{subject_id}/confirmation", response_model=SubjectSheet,
             responses=ERRORS, tags=["gradebook"], summary="Confirm my subject's results with my signature "
                                                           "(xác nhận điểm)")
async def confirm(class_id: ClassId, subject_id: SubjectId, body: ConfirmationIn,
                  actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    """A detached CMS over ``to_confirm``, made on the teacher's device with their registered
    certificate; verified at the server's time. 422 when it does not verify or the certificate is
    not the teacher's; 409 when already confirmed. The results are frozen from then on."""
    try:
        raw = base64.b64decode(body.signature, validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadRequest("the signature is not valid base64",
                         message_vi="Chữ ký không đúng định dạng base64") from err
    await run(lambda: confirm_subject(state.db, actor, class_id, subject_id, body.year_id,
                                      signature=raw, trust=state.trust, at=clock.now()))
    return _sheet_json(await run(subject_sheet, state.db, actor, class_id, subject_id, body.year_id))


# ---------------------------------------------------------------- the homeroom teacher's part
@router.put("/api/v1/classes/{class_id}/evaluations", response_model=ClassStatus, responses=ERRORS,
            tags=["gradebook"], summary="Enter the homeroom evaluations of my class (đánh giá của GVCN; all or "
                                        "nothing)")
async def evaluations(class_id: ClassId, body: EvaluationsIn, actor: Actor = Depends(teacher),
                      state: ApiState = Depends(api_state)):
    """Conduct per term (secondary) or qualities and competences (primary), comment, absences
    (never fewer sessions than the logbook records). One impossible value refuses the whole
    request (422 InvalidAssessment); only the class's homeroom teacher (403)."""
    await run(enter_evaluation, state.db, actor, class_id, body.year_id, body.evaluations)
    return await run(class_status, state.db, actor, class_id, body.year_id)


@router.get("/api/v1/classes/{class_id}/transcript-status", response_model=ClassStatus, responses=ERRORS,
            tags=["gradebook"], summary="Where my class's transcripts stand: unconfirmed subjects, evaluations, "
                                        "each student's transcript")
async def transcript_status(class_id: ClassId, year_id: int = Query(ge=1, le=2**63 - 1),
                            actor: Actor = Depends(teacher), state: ApiState = Depends(api_state)):
    return await run(class_status, state.db, actor, class_id, year_id)


def _credential(state: ApiState, actor: Actor, transcript_id: int, pin: str) -> dict:
    if state.pki_dir is None:
        raise SigningNotOffered("this server keeps no seal keys: seal credentials with the CLI (sohoa transcript "
                                "credential issue)", message_vi="Máy chủ không lưu khóa con dấu số: hãy dùng lệnh "
                                                                "sohoa transcript credential issue")
    school_id = school_of_transcript(state.db, actor, transcript_id)
    seal = unlock_school_seal(state.db, actor, state.pki_dir, school_id, pin)
    return issue_credential(state.db, actor, seal, transcript_id=transcript_id)


@router.post("/api/v1/transcripts/{transcript_id}/credential", response_model=CredentialOut, responses=ERRORS,
             tags=["transcripts"], summary="The Verifiable Credential of an issued transcript, sealed by the "
                                           "school (principal; the school's seal key held by the server, its PIN)")
async def credential(transcript_id: TranscriptId, body: PinIn, actor: Actor = Depends(teacher),
                     state: ApiState = Depends(api_state)):
    """A W3C VC Data Model 2.0 credential of the transcript's data (schema 1.0), secured as a
    JWS (``application/vc+jwt``) with the school's seal and its certificate chain (``x5c``).
    Only an issued transcript (409 otherwise); only the school's principal (403)."""
    token = await run(_credential, state, actor, transcript_id, body.pin)
    return {"credential": token, "media_type": MEDIA_TYPE, "verification_code": _code_of(token)}


def _code_of(token: str) -> str:
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["credentialSubject"][
        "madinhdanhhocba"]


@router.post("/api/v1/credentials/verification", response_model=CredentialCheckOut, responses=ERRORS,
             tags=["transcripts"], summary="Verify a transcript credential (public, no sign-in): the seal under "
                                           "the trust policy, then the record")
async def credential_verification(body: CredentialIn, state: ApiState = Depends(api_state)):
    """The same trust policy as the PDFs: the seal's certificate chains to a trusted anchor, is
    valid and not revoked now, and is the issuing school's seal; then the transcript is still
    the current one and the credential states what was issued. Always 200 with the verdict;
    nothing personal in the answer."""
    check = await run(verify_credential, state.db, state.trust, body.credential)
    s = check.signature
    return {"valid": check.valid, "verdict": check.verdict, "verdict_vi": check.verdict_vi,
            "message": check.message, "code": check.code, "school_code": check.school_code, "year": check.year,
            "status": check.status, "seal": {"indication": s.indication, "sub_indication": s.sub_indication,
                                             "signer_subject": s.signer_subject, "message": s.message}}
