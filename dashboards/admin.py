"""The admin page: every action is a card with its inputs, a confirmation box and a button
that calls one audited core service, then shows what happened. Which cards appear follows
core's permission model (``Actor.may``); core checks the permission and the school scope
again on every call, so a hidden card is a convenience, never the protection.

Actions: reopen a closed week, remind teachers, assign / unassign a school monitor, approve or
reject a timetable change request, register / revoke a certificate, record a handover, the
principal's batch signing of transcripts (key unlocked by PIN, progress bar; a vice-principal
signs it only under a written delegation, which core checks), giving / revoking a written
delegation to sign for the principal (giao ký thay), cancelling / re-issuing a transcript, and
the transcript packages (gói học bạ, docs/packages.md): the principal exports a transfer package
or the push to the city, sealed with the school's seal, and downloads it; a receiving school
uploads a package, verified in full under the trust policy and recorded once; the department
supervisor returns the admitted cohort to the admitting schools after admissions; the
administrator locks an account (khóa tài khoản: its sessions and app tokens end at once).

:class:`AdminPage` is the page as a Panel component (which cards a role gets, each card's
inputs, an action run as its button does, the results shown), tested without a browser;
:func:`admin_page` is the entry ``dashboards/app.py`` serves. The actions that run in a worker
thread (batch signing, a package's import, the city return) start it through one helper,
:func:`in_background`.
"""
from __future__ import annotations

import html
import io
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import pandas as pd
import panel as pn
import param

from core.access import accounts, admin
from core.access import queries as access_queries
from core.access.authz import Permission
from core.kernel import clock
from core.kernel.errors import SohoaError
from core.kernel.vocabulary import Role, TranscriptStatus
from core.logbook import queries, this_week
from core.logbook.weekly_close import reopen_week
from core.school import queries as school_queries
from core.signatures import certificates, held_keys
from core.signatures.certificates import register_certificate, revoke_certificate
from core.storage.db import Database
from core.timetable import queries as timetable_queries
from core.timetable.services import decide_change
from core.transcripts import delegations, transfer
from core.transcripts import queries as transcript_queries
from core.transcripts.transfer import handover
from core.transcripts.workflow import cancel_and_reissue, principal_sign_batch
from dashboards.common import (
    ROLE_VI,
    action_card,
    chosen,
    frame,
    guarded,
    log,
    refusal_text,
    school_options,
    searchable,
    set_options,
)

WIDTH = 460


def in_background(name: str, work: Callable[[], None], failed: Callable[[str], None]) -> threading.Thread:
    """Run ``work`` in a daemon worker thread (pyHanko signs and verifies with its own event
    loop: off the server's); a refusal of core reaches ``failed`` as its Vietnamese text, any
    other failure is logged and reaches it as a system error — the worker never dies silently.
    Returns the started thread."""
    def run():
        try:
            work()
        except SohoaError as err:
            failed(refusal_text(err))
        except Exception:  # noqa: BLE001 - shown to the user, the worker must not die silently
            log.exception("%s failed", name)
            failed("lỗi hệ thống (đã ghi nhật ký máy chủ)")

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def _reopen_card(db, actor) -> pn.Card:
    def closed_weeks() -> dict:
        closed = queries.week_closing(db, actor, page_size=500, closed_only=True)
        return {f"{r.school_name} · {r.class_name} · tuần {r.week}": (int(r.class_id), int(r.week_id))
                for r in closed.itertuples()}

    week_pick = pn.widgets.Select(label="Lớp - tuần đã chốt", options=closed_weeks(), width=WIDTH)
    reason = pn.widgets.TextInput(label="Lý do mở lại (bắt buộc)", width=WIDTH)

    def run():
        label = chosen(week_pick)
        reopen_week(db, actor, *week_pick.value, reason.value)
        return f"đã mở lại sổ tuần {label}"
    return action_card("Mở lại sổ tuần đã chốt", [searchable(week_pick, what="lớp - tuần"), reason], run,
                       after=lambda: set_options(week_pick, closed_weeks()),
                       check=lambda: None if week_pick.value else "chưa chọn lớp - tuần")


def _remind_card(db, actor, options) -> pn.Card:
    """Remind teachers: who will receive a reminder is listed before sending; after, each
    reminder's delivery status (sent, waiting in the outbox, not sent and why)."""
    remind_school = pn.widgets.Select(label="Trường", options=options, width=WIDTH)
    preview = pn.Column(sizing_mode="stretch_width")
    status = pn.Column(sizing_mode="stretch_width")

    def refresh(*_):
        if not remind_school.value:
            preview[:], status[:] = [], []
            return
        who = admin.reminder_recipients(db, actor, remind_school.value)
        preview[:] = [pn.pane.Markdown(f"**Sẽ gửi cho {len(who)} giáo viên** (còn tiết chưa ký tuần này):",
                                       name="reminder-preview"),
                      frame(who.assign(email=who["email"].replace("", "(chưa có email: chờ trong hộp thư đi)")),
                            ["teacher", "email", "periods"], page_size=10)] if not who.empty else \
            [pn.pane.Markdown("Không có giáo viên nào còn tiết chưa ký tuần này.", name="reminder-preview")]
        sent = admin.reminder_status(db, actor, remind_school.value, limit=50)
        status[:] = [pn.pane.Markdown("**Tình trạng gửi các thư nhắc gần đây**"),
                     frame(sent, ["teacher", "subject", "created_at", "delivery"], page_size=10)] \
            if not sent.empty else []

    remind_school.param.watch(refresh, "value")
    refresh()

    def run():
        n = admin.send_reminders(db, actor, remind_school.value)
        admin.deliver_outbox(db)  # at once when SMTP is configured; otherwise they wait in the outbox
        return f"đã xếp {n} thư nhắc vào hộp thư đi"
    return action_card("Nhắc giáo viên còn tiết chưa ký", [searchable(remind_school, what="trường"), preview, status],
                       run, after=refresh)


def _monitor_cards(db, actor, options) -> list[pn.Card]:
    monitors = access_queries.monitor_accounts(db, actor)
    who = pn.widgets.Select(label="Tài khoản giám sát", width=WIDTH,
                            options={f"{r.username} — {r.display_name}": int(r.id) for r in monitors.itertuples()})
    where = pn.widgets.Select(label="Trường", options=options, width=WIDTH)
    current = pn.widgets.Select(label="Phân công hiện tại", width=WIDTH)
    reason = pn.widgets.TextInput(label="Lý do thôi phân công (bắt buộc)", width=WIDTH)

    def refresh():
        rows = access_queries.monitor_assignments(db, actor)
        set_options(current, {f"{r.username} · {r.school_code} — {r.school_name}": (int(r.user_id), int(r.school_id))
                              for r in rows.itertuples()})

    def assign():
        admin.assign_monitor(db, actor, who.value, where.value)
        return f"đã phân công {chosen(who)} giám sát {chosen(where)}"

    def unassign():
        admin.unassign_monitor(db, actor, *current.value, reason.value)
        return f"đã thôi phân công {chosen(current)}"

    refresh()
    return [action_card("Phân công giám sát trường", [searchable(who, what="tài khoản giám sát"),
                                                       searchable(where, what="trường")], assign, after=refresh),
            action_card("Thôi phân công giám sát trường", [searchable(current, what="phân công"), reason], unassign,
                        after=refresh,
                        check=lambda: ("chưa chọn phân công" if not current.value else
                                       "cần nhập lý do" if not reason.value.strip() else None))]


def _change_request_card(db, actor) -> pn.Card:
    table = pn.Column(sizing_mode="stretch_width")
    pick = pn.widgets.Select(label="Yêu cầu đổi thời khóa biểu", width=WIDTH)
    decision = pn.widgets.RadioButtonGroup(label="Quyết định", options={"Duyệt": True, "Từ chối": False}, value=True)
    note = pn.widgets.TextInput(label="Ghi chú / lý do", width=WIDTH)

    def refresh():
        pending = timetable_queries.pending_change_requests(db, actor, page_size=200)
        set_options(pick, {f"#{r.request_id} · {r.school_name} · {r.requested_by} · áp dụng từ "
                           f"{r.applies_from:%d/%m/%Y}": int(r.request_id) for r in pending.itertuples()})
        table[:] = [frame(pending, ["request_id", "school_name", "requested_by", "applies_from", "changes", "reason"])
                    if not pending.empty else pn.pane.Markdown("Không có yêu cầu nào đang chờ quyết định.")]

    def run():
        request_id, approve = pick.value, decision.value
        version = decide_change(db, actor, request_id, approve, note.value)
        if approve:
            return f"đã duyệt yêu cầu #{request_id}; thời khóa biểu mới (phiên bản {version}) được áp dụng"
        return f"đã từ chối yêu cầu #{request_id}"

    refresh()
    return action_card("Duyệt / từ chối yêu cầu đổi thời khóa biểu", [table, pick, decision, note], run,
                       after=refresh, check=lambda: None if pick.value else "chưa chọn yêu cầu")


def certificate_der(data: bytes) -> bytes:
    """An uploaded certificate file (DER, or PEM ``-----BEGIN CERTIFICATE-----``) as DER bytes;
    ValueError when it is not one X.509 certificate."""
    from asn1crypto import pem, x509

    if pem.detect(data):
        kind, _, der = pem.unarmor(data)
        if kind != "CERTIFICATE":
            raise ValueError(f"PEM block {kind}, not a certificate")
    else:
        der = data
    x509.Certificate.load(der).native  # noqa: B018 - parse it all: refuse anything else now
    return der


def _certificate_cards(db, actor, schools) -> list[pn.Card]:
    options = school_options(schools)
    school = pn.widgets.Select(label="Trường", options=options, width=WIDTH)
    holder = pn.widgets.Select(label="Chủ chứng thư", width=WIDTH)
    upload = pn.widgets.FileInput(accept=".cer,.crt,.der,.pem")
    revoke_school = pn.widgets.Select(label="Trường", options=options, width=WIDTH)
    certificate = pn.widgets.Select(label="Chứng thư đang hiệu lực", width=WIDTH)
    reason = pn.widgets.TextInput(label="Lý do thu hồi (bắt buộc)", width=WIDTH)
    parsed: dict[str, bytes] = {}

    def holders(*_):
        staff = school_queries.staff_list(db, actor, school.value) if school.value else pd.DataFrame()
        set_options(holder, {"Con dấu của trường (tổ chức)": 0,
                             **{f"{r.code} — {r.full_name}": int(r.staff_id) for r in staff.itertuples()}})

    def active(*_):
        rows = (certificates.certificate_list(db, actor, school_id=revoke_school.value, active_only=True, page_size=500)
                if revoke_school.value else pd.DataFrame())
        set_options(certificate, {f"{r.holder or 'Con dấu'} · số hiệu {r.serial_hex[:16]} · "
                                  f"hết hạn {r.not_after:%d/%m/%Y}": int(r.id) for r in rows.itertuples()})

    def check_upload():
        if not upload.value:
            return "chưa chọn tệp chứng thư (.cer, .der hoặc .pem)"
        try:
            parsed["der"] = certificate_der(bytes(upload.value))
        except (ValueError, TypeError):
            return "tệp tải lên không phải là chứng thư số X.509 (DER hoặc PEM)"
        return None

    def register():
        staff_id = holder.value or None
        new_id = register_certificate(db, actor, parsed.pop("der"), staff_id=staff_id,
                                      school_id=None if staff_id else school.value)
        return f"đã đăng ký chứng thư số #{new_id} cho {chosen(holder)}"

    def revoke():
        label = chosen(certificate)
        revoke_certificate(db, actor, certificate.value, reason.value)
        return f"đã thu hồi chứng thư {label}"

    school.param.watch(holders, "value")
    revoke_school.param.watch(active, "value")
    holders()
    active()
    return [action_card("Đăng ký chứng thư số", [searchable(school, what="trường"), searchable(holder, what="người"),
                                                 pn.pane.Markdown("Tệp chứng thư (DER hoặc PEM):"), upload],
                        register, after=active, check=check_upload),
            action_card("Thu hồi chứng thư số", [searchable(revoke_school, what="trường"),
                                                 searchable(certificate, what="chứng thư"), reason], revoke, after=active,
                        check=lambda: ("chưa chọn chứng thư" if not certificate.value else
                                       "cần nhập lý do thu hồi" if not reason.value.strip() else None))]


def _handover_card(db, actor, schools) -> pn.Card:
    school = pn.widgets.Select(label="Trường", options=school_options(schools), width=WIDTH)
    leaving = pn.widgets.Select(label="Giáo viên nghỉ / chuyển đi", width=WIDTH)
    replacement = pn.widgets.Select(label="Giáo viên nhận bàn giao", width=WIDTH)
    effective = pn.widgets.DatePicker(label="Có hiệu lực từ ngày", value=clock.now().date(), width=200)
    reason = pn.widgets.TextInput(label="Lý do (bắt buộc)", width=WIDTH)

    def people(*_):
        staff = school_queries.staff_list(db, actor, school.value) if school.value else pd.DataFrame()
        options = {f"{r.code} — {r.full_name}": int(r.staff_id) for r in staff.itertuples()}
        set_options(leaving, options)
        set_options(replacement, dict(options))

    def run():
        moved = handover(db, actor, leaving.value, replacement.value, reason.value, effective.value)
        return (f"đã bàn giao từ {chosen(leaving)} sang {chosen(replacement)}: {moved['periods']} tiết chưa ký, "
                f"{moved['teaching_assignments']} phân công giảng dạy, {moved['homeroom_classes']} lớp chủ nhiệm")

    def check():
        if not leaving.value or not replacement.value:
            return "chưa chọn giáo viên"
        if leaving.value == replacement.value:
            return "giáo viên nhận bàn giao phải là người khác"
        return "cần nhập lý do" if not reason.value.strip() else None

    school.param.watch(people, "value")
    people()
    return action_card("Bàn giao công việc của giáo viên nghỉ / chuyển đi",
                       [searchable(school, what="trường"), searchable(leaving, what="giáo viên"),
                        searchable(replacement, what="giáo viên"), effective, reason], run, check=check)


def _batch_card(db, actor, pki_dir: Path | None, background=in_background) -> pn.Card:
    """The principal's batch signing: unlock the personal key with the PIN, sign and seal every
    transcript of a class / grade / the school that the homeroom teacher has signed; a progress
    bar while it runs (in a worker thread), then the list of what was not signed and why."""
    title = "Ký duyệt và đóng dấu học bạ hàng loạt"
    school_id = sorted(actor.school_ids)[0] if actor.school_ids else None
    if pki_dir is None or school_id is None:
        return pn.Card(pn.pane.Alert("Kho khóa ký số chưa được cấu hình cho bảng điều khiển này.",
                                     alert_type="warning"), title=title, collapsible=False, sizing_mode="stretch_width")
    classes = transcript_queries.transcript_classes(db, actor, school_id)
    scope = pn.widgets.RadioButtonGroup(label="Phạm vi", options={"Một lớp": "class", "Một khối": "grade",
                                                                  "Cả trường": "school"}, value="class")
    klass = pn.widgets.Select(label="Lớp", width=WIDTH)
    grade = pn.widgets.Select(label="Khối", width=200, options={f"Khối {g}": int(g)
                                                                 for g in sorted(classes["grade"].unique())})
    waiting = int(classes["homeroom_signed"].sum()) if not classes.empty else 0
    pin = pn.widgets.PasswordInput(label="Mã PIN khóa ký số của hiệu trưởng" if actor.role == Role.PRINCIPAL else
                                   "Mã PIN khóa ký số của người ký thay hiệu trưởng", width=240)
    confirm = pn.widgets.Checkbox(label="Tôi xác nhận ký duyệt và đóng dấu các học bạ này")
    button = pn.widgets.Button(label="Bắt đầu ký", color="primary", disabled=True)
    progress = pn.indicators.Progress(value=0, max=1, width=WIDTH, bar_color="success", visible=False)
    status = pn.pane.Markdown(f"{waiting} học bạ đã có chữ ký GVCN đang chờ hiệu trưởng ký.", name="batch-status")
    result = pn.pane.Alert("", alert_type="light", visible=False)
    details = pn.Column(sizing_mode="stretch_width")
    confirm.param.watch(lambda e: setattr(button, "disabled", not e.new), "value")

    def refresh():
        rows = transcript_queries.transcript_classes(db, actor, school_id)
        set_options(klass, {f"{r.class_name} — {r.homeroom_signed} chờ ký, {r.issued} đã cấp": int(r.class_id)
                            for r in rows.itertuples()})

    def finish(outcome, error):
        if error is not None:
            result.object, result.alert_type = f"Không thực hiện được: {error}", "danger"  # already escaped
            status.object = "Đã dừng."
        else:
            done = len(outcome.signed) + len(outcome.not_signed)
            status.object = f"Hoàn tất: đã xử lý {done}/{done} học bạ."
            refresh()
            result.object = (f"Đã thực hiện: đã ký và cấp {len(outcome.signed)} học bạ; "
                             f"{len(outcome.not_signed)} học bạ chưa ký được")
            result.alert_type = "success" if not outcome.not_signed else "warning"
            if outcome.not_signed:
                details[:] = [frame(pd.DataFrame(outcome.not_signed, columns=["Mã học bạ", "Lý do chưa ký"]),
                                    ["Mã học bạ", "Lý do chưa ký"])]
        result.visible, button.loading = True, False

    def tick(n, total):
        progress.max, progress.value = max(total, 1), n
        status.object = f"Đang ký: {n}/{total}"

    def go(_):
        details[:] = []
        result.visible = False
        if not pin.value:
            result.object, result.alert_type, result.visible = "Chưa thực hiện: cần nhập mã PIN", "warning", True
            return
        from core.signatures import KeyAccessError, KeyStore
        try:  # counted against the lock on wrong PINs, in core (core.signatures.held_keys.unlock_signing_key)
            signer = held_keys.unlock_signing_key(db, actor, pki_dir, pin.value)
            seal = KeyStore(getattr(pki_dir, "directory", pki_dir)).signer_for(f"school-{school_id}")
        except SohoaError as err:  # wrong PIN, locked, or no key file
            message = "không có con dấu số của trường" if isinstance(err, KeyAccessError) else refusal_text(err)
            result.object, result.alert_type = f"Không thực hiện được: {message}", "danger"
            result.visible, pin.value = True, ""
            return
        pin.value = ""
        options = {"class_id": klass.value} if scope.value == "class" else \
            {"grade": grade.value} if scope.value == "grade" else {}
        progress.value, progress.visible, button.loading, confirm.value = 0, True, True, False  # one run at a time
        status.object = "Đang chuẩn bị…"

        def work():
            finish(principal_sign_batch(db, actor, school_id, signer, seal, progress=tick, **options), None)

        background("principal-batch-sign", work, lambda why: finish(None, why))

    def shown(*_):
        klass.visible, grade.visible = scope.value == "class", scope.value == "grade"

    button.on_click(go)
    scope.param.watch(shown, "value")
    refresh()
    shown()
    return pn.Card(status, scope, klass, grade, pin, confirm, button, progress, result, details, title=title,
                   collapsible=False, sizing_mode="stretch_width")

#: The largest package the console takes as an upload (it travels over the page's websocket,
#: whose own limit is 20 MB): a transfer of a few students is far smaller; a school's whole
#: cohort goes through ``sohoa package import`` (docs/packages.md).
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
PURPOSE_VI = {"transfer": "Chuyển trường", "city-push": "Gửi lên thành phố (tuyển sinh lớp 6)"}


def _export_card(db, actor, pki_dir: Path | None) -> pn.Card:
    """The principal's transfer package (hồ sơ chuyển trường) or push to the city: the chosen
    students' issued transcripts, the manifest sealed with the school's seal (server-held key
    store; the principal's PIN is checked first, counted against the lock, as for batch
    signing), then a download button. Core checks the right, the seal and the addressee, and
    audits the export."""
    title = "Xuất gói hồ sơ học bạ (chuyển trường / gửi lên thành phố)"
    school_id = sorted(actor.school_ids)[0] if actor.school_ids else None
    if pki_dir is None or school_id is None:
        return pn.Card(pn.pane.Alert("Kho khóa ký số chưa được cấu hình cho bảng điều khiển này.",
                                     alert_type="warning"), title=title, collapsible=False, sizing_mode="stretch_width")
    purpose = pn.widgets.RadioButtonGroup(label="Mục đích", options={v: k for k, v in PURPOSE_VI.items()},
                                          value="transfer")
    students = pn.widgets.MultiSelect(label="Học sinh (giữ Ctrl để chọn nhiều em)", size=8, width=WIDTH)
    to = pn.widgets.TextInput(label="Mã trường nhận (VD: S0007)", width=WIDTH)
    pin = pn.widgets.PasswordInput(label="Mã PIN khóa ký số của hiệu trưởng", width=240)
    made: dict[str, bytes | str] = {}
    download = pn.widgets.FileDownload(callback=lambda: io.BytesIO(made["package"]), filename="goi-hoc-ba.zip",
                                       label="Tải gói về máy", color="success", visible=False, embed=False)

    def refresh(*_):
        students.options = {f"{s.class_name} · {s.full_name} · {s.personal_id}": s.student_id
                            for s in transfer.exportable_students(db, actor, school_id)}
        students.value = []

    def shown(*_):
        to.visible = purpose.value == "transfer"
    purpose.param.watch(shown, "value")

    def check():
        if not students.value:
            return "chưa chọn học sinh"
        if purpose.value == "transfer" and not to.value.strip():
            return "cần nhập mã trường nhận"
        return "cần nhập mã PIN" if not pin.value else None

    def run():
        from core.signatures import KeyStore

        download.visible = False
        typed, pin.value = pin.value, ""
        held_keys.unlock_signing_key(db, actor, pki_dir, typed)  # the principal's PIN: counted against the lock
        seal = KeyStore(getattr(pki_dir, "directory", pki_dir)).signer_for(f"school-{school_id}")
        package = transfer.export_package(db, actor, school_id, seal, student_ids=list(students.value),
                                          to=to.value.strip() or None, purpose=purpose.value)
        manifest = transfer.read_package(package)[2]
        made["package"] = package
        download.filename = f"goi-hoc-ba-{manifest['school_code']}-{manifest['addressee']}-" \
                            f"{manifest['package_id'][:8]}.zip"
        download.visible = True
        size = f"{len(package):,}".replace(",", ".")
        return (f"đã xuất gói {manifest['package_id'][:8]}… gửi {manifest['addressee']} "
                f"({PURPOSE_VI[manifest['purpose']].lower()}): {len(manifest['items'])} học bạ, {size} byte; "
                "bấm \"Tải gói về máy\"")

    refresh()
    shown()
    body = action_card(title, [purpose, students, to, pin], run, check=check, label="Xuất gói")
    body.append(download)
    return body


def _import_card(db, actor, schools, trust, background=in_background) -> pn.Card:
    """A receiving school takes a package: uploaded (at most :data:`MAX_UPLOAD_BYTES`), verified
    in full by core under the trust policy (addressee, the sender's seal, every transcript's
    signatures) in a worker thread, then recorded once; a refusal names what failed."""
    title = "Nhận gói hồ sơ học bạ (chuyển đến / thành phố trả về)"
    school = pn.widgets.Select(label="Trường nhận", options=school_options(schools), width=WIDTH)
    upload = pn.widgets.FileInput(accept=".zip")
    confirm = pn.widgets.Checkbox(label="Tôi xác nhận kiểm tra và nhập gói này")
    button = pn.widgets.Button(label="Kiểm tra và nhập", color="primary", disabled=True)
    result = pn.pane.Alert("", alert_type="light", visible=False, name="package-import-result")
    confirm.param.watch(lambda e: setattr(button, "disabled", not e.new), "value")
    if trust is None:
        return pn.Card(pn.pane.Alert("Chưa cấu hình danh sách tin cậy để kiểm tra chữ ký.", alert_type="warning"),
                       title=title, collapsible=False, sizing_mode="stretch_width")

    def show(text: str, kind: str):
        result.object, result.alert_type, result.visible = text, kind, True
        button.loading, confirm.value = False, False

    def go(_):
        data = bytes(upload.value or b"")
        if not school.value or not data:
            return show("Chưa thực hiện: " + ("chưa chọn trường nhận" if not school.value else
                                              "chưa chọn tệp gói (.zip)"), "warning")
        if len(data) > MAX_UPLOAD_BYTES:
            return show(f"Chưa thực hiện: tệp lớn hơn {MAX_UPLOAD_BYTES // 2**20} MB; gói lớn (cả khối lớp) "
                        "hãy nhập bằng lệnh sohoa package import", "warning")
        receiving = school.value
        result.visible, button.loading = False, True

        def work():  # pyHanko verifies every PDF with its own event loop: off the server's
            outcome = transfer.import_package(db, actor, receiving, data, trust)
            show(f"{'Không ghi thêm' if outcome.already_imported else 'Đã thực hiện'}: "
                 f"{html.escape(outcome.message_vi)}", "info" if outcome.already_imported else "success")

        background("package-import", work, lambda why: show(f"Không nhập: {why}", "danger"))

    button.on_click(go)
    return pn.Card(searchable(school, what="trường"), pn.pane.Markdown(f"Tệp gói .zip (tối đa {MAX_UPLOAD_BYTES // 2**20} MB; gói lớn hơn: "
                                            "lệnh `sohoa package import`):"), upload, confirm, button, result,
                   title=title, collapsible=False, sizing_mode="stretch_width")



def _city_return_card(db, actor, pki_dir: Path | None, trust, background=in_background) -> pn.Card:
    """The department's return after admissions (tuyển sinh lớp 6): the schools' pushed
    packages uploaded, the admissions typed or pasted (personal ID, admitting school), the
    department's seal opened with its PIN from the key store (``department-<id>``); core
    verifies every pushed package (in a worker thread), writes one package per admitting school
    and audits; the bundle (a ZIP of ``<school>.zip``) is offered for download."""
    title = "Trả hồ sơ học bạ sau tuyển sinh (Sở)"
    if pki_dir is None or trust is None or actor.department_id is None:
        return pn.Card(pn.pane.Alert("Kho khóa ký số hoặc danh sách tin cậy chưa được cấu hình.", alert_type="warning"),
                       title=title, collapsible=False, sizing_mode="stretch_width")
    uploads = pn.widgets.FileInput(accept=".zip", multiple=True)
    admissions = pn.widgets.TextAreaInput(label="Kết quả tuyển sinh: mỗi dòng một học sinh — số định danh, mã trường "
                                                "trúng tuyển", height=140, width=WIDTH,
                                          placeholder="079213000001, S0002")
    pin = pn.widgets.PasswordInput(label="Mã PIN con dấu số của Sở", width=240)
    confirm = pn.widgets.Checkbox(label="Tôi xác nhận lập các gói trả về")
    button = pn.widgets.Button(label="Lập gói trả về", color="primary", disabled=True)
    result = pn.pane.Alert("", alert_type="light", visible=False)
    made: dict[str, bytes] = {}
    download = pn.widgets.FileDownload(callback=lambda: io.BytesIO(made["bundle"]), filename="goi-tra-ve.zip",
                                       label="Tải các gói trả về", color="success", visible=False, embed=False)
    confirm.param.watch(lambda e: setattr(button, "disabled", not e.new), "value")

    def show(text: str, kind: str):
        result.object, result.alert_type, result.visible = text, kind, True
        button.loading, confirm.value = False, False

    def go(_):
        from core.signatures import KeyStore

        download.visible = False
        files = uploads.value if isinstance(uploads.value, list) else [uploads.value] if uploads.value else []
        pushed = [bytes(f) for f in files if f]
        typed, pin.value = pin.value, ""
        if not pushed or not admissions.value.strip() or not typed:
            return show("Chưa thực hiện: " + ("chưa chọn gói các trường gửi lên" if not pushed else
                                              "chưa nhập kết quả tuyển sinh" if not admissions.value.strip() else
                                              "cần nhập mã PIN con dấu của Sở"), "warning")
        if sum(len(f) for f in pushed) > MAX_UPLOAD_BYTES:
            return show(f"Chưa thực hiện: các tệp lớn hơn {MAX_UPLOAD_BYTES // 2**20} MB", "warning")
        try:
            seal = KeyStore(getattr(pki_dir, "directory", pki_dir)).signer_for(f"department-{actor.department_id}",
                                                                               typed)
        except SohoaError:
            return show("Không thực hiện được: sai mã PIN hoặc không có con dấu số của Sở trong kho khóa", "danger")
        text = admissions.value
        result.visible, button.loading = False, True

        def work():  # every pushed PDF is verified (pyHanko's own loop): off the server's
            bundle, counts = transfer.department_city_return(db, actor, pushed, text, seal, trust)
            made["bundle"] = bundle
            download.filename = f"goi-tra-ve-{clock.now():%Y%m%d-%H%M}.zip"
            download.visible = True
            each = ", ".join(f"{school}: {n}" for school, n in sorted(counts.items()))
            show(f"Đã thực hiện: đã lập {len(counts)} gói trả về ({html.escape(each)} học bạ); "
                 "bấm \"Tải các gói trả về\" và gửi mỗi trường gói mang mã của trường", "success")

        background("city-return", work, lambda why: show(f"Không thực hiện được: {why}", "danger"))

    button.on_click(go)
    return pn.Card(pn.pane.Markdown("Các gói các trường gửi lên thành phố (.zip, chọn được nhiều tệp):"), uploads,
                   admissions, pin, confirm, button, result, download, title=title, collapsible=False,
                   sizing_mode="stretch_width")


ACTS_VI = {"transcript": "Phê duyệt học bạ", "week_close": "Chốt sổ đầu bài tuần"}


def _delegation_cards(db, actor) -> list[pn.Card]:
    """The principal gives a vice-principal a written delegation to sign in their place (giao
    ký thay: its number, date, first and last day, what it covers) or revokes one; core checks
    the rule (Nghị định 30/2020/NĐ-CP Art. 13) and audits both."""
    school_id = sorted(actor.school_ids)[0]
    today = clock.now().date()
    delegate = pn.widgets.Select(label="Phó hiệu trưởng được giao ký thay", width=WIDTH)
    number = pn.widgets.TextInput(label="Số văn bản giao ký thay (bắt buộc)", width=WIDTH)
    signed_on = pn.widgets.DatePicker(label="Ngày ký văn bản", value=today, width=200)
    first = pn.widgets.DatePicker(label="Có hiệu lực từ ngày", value=today, width=200)
    last = pn.widgets.DatePicker(label="Đến hết ngày", value=today, width=200)
    # the principal's weekly close under a delegation is not honoured yet: only the transcript's approval is offered
    acts = pn.widgets.Select(label="Nội dung được giao ký", options={ACTS_VI["transcript"]: "transcript"}, width=WIDTH)
    revoke_pick = pn.widgets.Select(label="Văn bản đang có hiệu lực", width=WIDTH)
    reason = pn.widgets.TextInput(label="Lý do thu hồi (bắt buộc)", width=WIDTH)

    def refresh(*_):
        set_options(delegate, {f"{r.code} — {r.full_name}": int(r.staff_id)
                               for r in delegations.vice_principals(db, actor, school_id).itertuples()})
        register = delegations.delegation_register(db, actor, school_id)
        live = register[register["revoked_at"].isna()] if not register.empty else register
        set_options(revoke_pick, {f"số {r.document_no} · {r.delegate_code} — {r.delegate} · "
                                  f"{r.valid_from:%d/%m/%Y}–{r.valid_until:%d/%m/%Y}": int(r.delegation_id)
                                  for r in live.itertuples()})
        number.value = reason.value = ""

    def give():
        who = chosen(delegate)
        delegations.register_delegation(db, actor, delegate_id=delegate.value, document_no=number.value,
                                        signed_on=signed_on.value, valid_from=first.value, valid_until=last.value,
                                        acts=[acts.value])
        return (f"đã giao ký thay cho {who} theo văn bản số {number.value.strip()} "
                f"({first.value:%d/%m/%Y}–{last.value:%d/%m/%Y})")

    def revoke():
        label = chosen(revoke_pick)
        delegations.revoke_delegation(db, actor, revoke_pick.value, reason.value)
        return f"đã thu hồi văn bản giao ký thay {label.split(' · ')[0]}"

    refresh()
    return [action_card("Giao ký thay hiệu trưởng", [delegate, number, signed_on, first, last, acts], give,
                        after=refresh, check=lambda: ("chưa chọn phó hiệu trưởng" if not delegate.value else
                                                      "cần nhập số văn bản" if not number.value.strip() else None)),
            action_card("Thu hồi văn bản giao ký thay", [revoke_pick, reason], revoke, after=refresh,
                        check=lambda: ("chưa chọn văn bản" if not revoke_pick.value else
                                       "cần nhập lý do thu hồi" if not reason.value.strip() else None))]


def _searched_card(title: str, search, pick, reason, refresh, run, *, what: str, why: str) -> pn.Card:
    """An action on one item found by a search and needing a reason (a transcript to cancel, an
    account to lock): the choices follow the search and are refreshed after a success; nothing
    is done without a chosen ``what`` or a ``why``."""
    search.param.watch(refresh, "value")
    refresh()
    return action_card(title, [search, pick, reason], run, after=refresh,
                       check=lambda: (f"chưa chọn {what}" if not pick.value else
                                      f"cần nhập {why}" if not reason.value.strip() else None))


def _cancel_card(db, actor) -> pn.Card:
    search = pn.widgets.TextInput(label="Tìm theo mã xác thực hoặc tên học sinh", width=WIDTH)
    pick = pn.widgets.Select(label="Học bạ đã cấp", width=WIDTH)
    reason = pn.widgets.TextInput(label="Lý do hủy (bắt buộc)", width=WIDTH)

    def refresh(*_):
        rows = transcript_queries.transcript_list(db, actor, status=TranscriptStatus.ISSUED, search=search.value or None,
                                       page_size=100)
        set_options(pick, {f"{r.code} · {r.student} · {r.class_name} · {r.school_name} · lần {r.version}":
                           int(r.transcript_id) for r in rows.itertuples()})

    def run():
        label = chosen(pick)
        new_id = cancel_and_reissue(db, actor, pick.value, reason.value)
        return (f"đã hủy học bạ {label.split(' · ')[0]}; bản cấp lại #{new_id} đã được lập (bản nháp), "
                "chờ giáo viên chủ nhiệm và hiệu trưởng ký lại")

    return _searched_card("Hủy và cấp lại học bạ", search, pick, reason, refresh, run, what="học bạ",
                          why="lý do hủy")


def _thresholds_card(db, actor) -> pn.Card:
    """The department's thresholds for "behind this week" (the overview's ranked lists)."""
    now = this_week.thresholds(db, actor)
    teacher_rate = pn.widgets.IntInput(label="Giáo viên: tỉ lệ đúng hạn tối thiểu (%)", value=now.teacher_min_rate,
                                       start=0, end=100, width=WIDTH)
    unsigned = pn.widgets.IntInput(label="Giáo viên: số tiết không ký / ký trễ tối đa trong tuần",
                                   value=now.teacher_max_unsigned, start=0, end=100, width=WIDTH)
    school_rate = pn.widgets.IntInput(label="Trường: tỉ lệ đúng hạn tối thiểu (%)", value=now.school_min_rate,
                                      start=0, end=100, width=WIDTH)

    def run():
        value = this_week.Thresholds(int(teacher_rate.value), int(unsigned.value), int(school_rate.value))
        this_week.set_thresholds(db, actor, actor.department_id, value)
        return (f"ngưỡng mới: giáo viên dưới {value.teacher_min_rate} % hoặc quá {value.teacher_max_unsigned} tiết, "
                f"trường dưới {value.school_min_rate} %")
    return action_card("Ngưỡng cảnh báo \"chậm ký tuần này\" của Sở", [teacher_rate, unsigned, school_rate], run,
                       label="Lưu ngưỡng")


def _deactivate_card(db, actor) -> pn.Card:
    """The administrator locks an account (khóa tài khoản: a teacher or monitor who left, a
    device lost with its password): found by a piece of the user name or the name, with a
    required reason. Core checks the right (administrators only), ends every session of the
    account at once — its console pages stop at their next load or action, its apps' tokens are
    refused — and audits it. Core has no reactivation: a locked account stays locked (a new
    account is made for someone who comes back)."""
    search = pn.widgets.TextInput(label="Tìm theo tên đăng nhập hoặc họ tên", width=WIDTH)
    pick = pn.widgets.Select(label="Tài khoản đang hoạt động", width=WIDTH)
    reason = pn.widgets.TextInput(label="Lý do khóa tài khoản (bắt buộc)", width=WIDTH)

    def refresh(*_):
        rows = access_queries.account_list(db, actor, search=search.value or None, page_size=50)
        set_options(pick, {f"{r.username} — {r.display_name} · {ROLE_VI.get(r.role, r.role)}"
                           + (f" · {r.school_code}" if r.school_code else ""): r.username
                           for r in rows.itertuples() if r.id != actor.user_id})  # core refuses one's own anyway

    def run():
        label = chosen(pick)
        accounts.deactivate(db, actor, pick.value, reason.value)
        return (f"đã khóa tài khoản {label}; mọi phiên đăng nhập và mã truy cập ứng dụng của tài khoản này "
                "đã kết thúc")

    return _searched_card("Khóa tài khoản", search, pick, reason, refresh, run, what="tài khoản",
                          why="lý do khóa tài khoản")


class AdminPage(pn.viewable.Viewer):
    """The admin page as a Panel component over core: which cards the signed-in role gets
    (:meth:`offered`, from core's permission model, before anything is built), each card by its
    key (:attr:`cards`), its inputs by label (:meth:`inputs`), an action run as the button does
    (:meth:`act`) and the result each card last showed (:attr:`results`) — all testable without
    a browser (``tests/test_admin_viewer.py``); ``__panel__`` lays the cards out. Core checks
    the right and the school scope again on every call: a card left out is a convenience."""

    results = param.Dict(default={}, doc="each card's last result shown: key -> {'kind': alert type, 'text': HTML}")

    def __init__(self, db: Database, actor, *, pki_dir: Path | None = None, trust=None, **params):
        super().__init__(**params)
        self.db, self.actor, self.pki_dir, self.trust = db, actor, pki_dir, trust
        #: the worker thread each background action started last (batch signing, package import, city return)
        self.workers: dict[str, threading.Thread] = {}
        self.cards: dict[str, pn.Card] = {}
        for keys, build in self._groups():
            made = build()
            for key, card in zip(keys, made if isinstance(made, list) else [made], strict=True):
                self.cards[key] = card
                self._track(key, card)

    @cached_property
    def schools(self) -> pd.DataFrame:
        return school_queries.schools_in_scope(self.db, self.actor)

    def _groups(self) -> list[tuple[tuple[str, ...], Callable]]:
        """The cards this actor gets, in the page's order: (their keys, how to build them)."""
        db, actor, may = self.db, self.actor, self.actor.may
        groups: list[tuple[tuple[str, ...], Callable]] = []

        def offer(keys, build):
            groups.append((keys, build))

        if may(Permission.REOPEN_WEEK):
            offer(("reopen_week",), lambda: _reopen_card(db, actor))
        if admin.sends_reminders(actor):
            offer(("remind",), lambda: _remind_card(db, actor, school_options(self.schools)))
        if may(Permission.SET_THRESHOLDS) and actor.department_id is not None:
            offer(("thresholds",), lambda: _thresholds_card(db, actor))
        if may(Permission.ASSIGN_MONITOR):
            offer(("assign_monitor", "unassign_monitor"), lambda: _monitor_cards(db, actor, school_options(self.schools)))
        if may(Permission.DECIDE_TIMETABLE_CHANGE):
            offer(("timetable_change",), lambda: _change_request_card(db, actor))
        if may(Permission.MANAGE_CERTIFICATES):
            offer(("register_certificate", "revoke_certificate"), lambda: _certificate_cards(db, actor, self.schools))
        if may(Permission.MANAGE_ACCOUNTS):
            offer(("deactivate_account",), lambda: _deactivate_card(db, actor))
        if may(Permission.RECORD_SUBSTITUTE):
            offer(("handover",), lambda: _handover_card(db, actor, self.schools))
        if may(Permission.ISSUE_TRANSCRIPT) and actor.role == Role.PRINCIPAL:
            offer(("batch_sign",), lambda: _batch_card(db, actor, self.pki_dir, self.in_background))
            offer(("give_delegation", "revoke_delegation"), lambda: _delegation_cards(db, actor))
            offer(("export_package",), lambda: _export_card(db, actor, self.pki_dir))
        elif actor.role == Role.VICE_PRINCIPAL and actor.school_ids:  # signs only under a delegation (core checks)
            offer(("batch_sign",), lambda: _batch_card(db, actor, self.pki_dir, self.in_background))
        if actor.role in (Role.DEPARTMENT_SUPERVISOR, Role.ADMINISTRATOR) and actor.department_id is not None:
            # core checks the role again
            offer(("city_return",), lambda: _city_return_card(db, actor, self.pki_dir, self.trust, self.in_background))
        if may(Permission.IMPORT_DATA) and actor.school_ids:  # a school receives; core checks the right
            offer(("import_package",), lambda: _import_card(db, actor, self.schools, self.trust, self.in_background))
        if may(Permission.CANCEL_TRANSCRIPT):
            offer(("cancel_transcript",), lambda: _cancel_card(db, actor))
        return groups

    def offered(self) -> list[str]:
        """The keys of the cards this actor gets, in the page's order."""
        return [key for keys, _ in self._groups() for key in keys]

    def in_background(self, name: str, work: Callable[[], None], failed: Callable[[str], None]) -> threading.Thread:
        """:func:`in_background`, the thread kept in :attr:`workers` (a test waits for it)."""
        self.workers[name] = in_background(name, work, failed)
        return self.workers[name]

    def _track(self, key: str, card: pn.Card) -> None:
        alerts = [part for part in card.objects if isinstance(part, pn.pane.Alert)]
        if not alerts:
            return
        result = alerts[-1]  # a card's result is its last alert

        def seen(*_):
            if result.visible:
                self.results = {**self.results, key: {"kind": result.alert_type, "text": result.object}}
        result.param.watch(seen, ["object", "alert_type", "visible"])

    def inputs(self, key: str) -> dict[str, pn.widgets.Widget]:
        """A card's inputs by their label (the confirmation box and the button left out)."""
        found = {}
        for widget in self.cards[key].select(pn.widgets.Widget):
            label = getattr(widget, "label", None) or widget.name
            if label and not isinstance(widget, pn.widgets.Button | pn.widgets.FileDownload) \
                    and not str(label).startswith("Tôi xác nhận"):
                found[label] = widget
        return found

    def act(self, key: str, *, timeout: float = 120) -> dict | None:
        """Tick the card's confirmation and press its button, as a user does; wait for a
        background action to finish; the card's result (:attr:`results`)."""
        card = self.cards[key]
        confirm = next(w for w in card.select(pn.widgets.Checkbox)
                       if str(getattr(w, "label", None) or w.name).startswith("Tôi xác nhận"))
        button = next(w for w in card.select(pn.widgets.Button) if not isinstance(w, pn.widgets.FileDownload))
        before = dict(self.workers)
        confirm.value = True
        button.clicks += 1
        for name, thread in self.workers.items():
            if before.get(name) is not thread:
                thread.join(timeout)
        return self.results.get(key)

    def __panel__(self):
        cards = list(self.cards.values()) or \
            [pn.pane.Alert("Vai trò của bạn không có thao tác quản trị nào.", alert_type="info")]
        return pn.Column(pn.pane.Markdown("## Quản trị"), *cards)


def admin_page(db: Database, pki_dir: Path | None = None, trust=None):
    """The admin page of the signed-in user (``dashboards/app.py`` serves it at ``/admin``)."""
    return guarded("Quản trị", db, lambda actor: AdminPage(db, actor, pki_dir=pki_dir, trust=trust).__panel__())


__all__ = ["AdminPage", "admin_page", "certificate_der", "in_background"]
