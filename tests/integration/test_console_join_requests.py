"""Join requests: paste in the console, resolve the unmatched, and the CLI import."""

from __future__ import annotations

import argparse
import html
import json
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.commands import register
from bot.console.pages.join_requests import PAGE
from bot.models import Application, AuditEntry, JoinRequest
from bot.onboarding.join_request_limits import MAX_PASTE_BYTES, MAX_REQUESTS
from bot.runtime import Runtime
from tests.integration.test_console_helpers import (
    csrf_of,
    make_application,
    post,
)


def _app(runtime: Runtime, code: str) -> Application:
    with runtime.db.transaction() as db:
        return db.scalars(select(Application).where(Application.code == code)).one()


def test_pasted_facebook_list_matches_by_code_and_name_and_keeps_the_rest(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    by_code = make_application(runtime, full_name="山田 太郎")
    by_name = make_application(runtime, full_name="鈴木 花子", kana="スズキ ハナコ")
    pasted = (
        f"参加リクエスト 3\n山田 太郎\n2日前\n申込番号を入力してください。\n"
        f"{by_code.code.lower().replace('-', ' ')}\n承認\n拒否\n"
        "Hanako Suzuki\nRequested 3 hours ago\n回答: わかりません\n"
        "知らない 人\n1週間前\n回答: よろしく\n"
    )
    response = post(reviewer, "/console/join-requests", {"action": "save", "text": pasted})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "一致 2 件" in html and "未一致 1 件" in html
    assert _app(runtime, by_code.code).status == "ready_for_review"
    assert _app(runtime, by_name.code).status == "ready_for_review"
    with runtime.db.transaction() as db:
        rows = {r.name: r for r in db.scalars(select(JoinRequest))}
    assert rows["山田 太郎"].match_method == "code" and rows["山田 太郎"].confidence == 1.0
    assert rows["Hanako Suzuki"].match_method == "name"
    assert rows["知らない 人"].status == "unmatched"
    assert "知らない 人" in reviewer.get("/console/join-requests").get_data(as_text=True)


def test_pasting_the_same_list_twice_stores_nothing_new(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    make_application(runtime, full_name="山田 太郎")
    post(reviewer, "/console/join-requests", {"action": "save", "text": "山田太郎\tよろしく"})
    html = post(
        reviewer, "/console/join-requests", {"action": "save", "text": "山田太郎\tよろしく"}
    ).get_data(as_text=True)
    assert "登録済み 1 件" in html
    with runtime.db.transaction() as db:
        assert len(db.scalars(select(JoinRequest)).all()) == 1


def test_ambiguous_name_is_kept_with_its_candidates_and_resolved_by_hand(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    first = make_application(runtime, full_name="佐藤 一郎", kana="サトウ イチロウ")
    second = make_application(runtime, full_name="佐藤 一郎", kana="サトウ イチロウ")
    post(reviewer, "/console/join-requests", {"action": "save", "text": "Ichiro Sato\t"})
    with runtime.db.transaction() as db:
        jr = db.scalars(select(JoinRequest)).one()
        assert jr.status == "unmatched"
        assert {c["code"] for c in jr.candidates} == {first.code, second.code}
        jr_id = jr.id
    post(reviewer, f"/console/join-requests/{jr_id}/resolve", {"code": second.code})
    assert _app(runtime, second.code).status == "ready_for_review"
    assert _app(runtime, first.code).status == "awaiting_join_request"
    with runtime.db.transaction() as db:
        jr = db.get(JoinRequest, jr_id)
        assert jr is not None and jr.status == "matched" and jr.match_method == "manual"
        seen = db.scalars(select(AuditEntry).where(AuditEntry.action == "join_request_seen")).one()
        assert seen.actor == "rev"
    html = post(
        reviewer,
        f"/console/join-requests/{jr_id}/resolve",
        {"code": first.code},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "割り当てできません" in html


def test_junk_request_is_dismissed_restored_and_never_stored_twice(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    junk = {"action": "save", "text": "Free Followers\tbuy now <b>cheap</b>"}
    post(reviewer, "/console/join-requests", junk)
    with runtime.db.transaction() as db:
        jr_id = db.scalars(select(JoinRequest.id)).one()
    html = post(
        reviewer, f"/console/join-requests/{jr_id}/dismiss", follow_redirects=True
    ).get_data(as_text=True)
    assert "「Free Followers」を対象外にしました" in html
    assert (
        "未一致の参加リクエストはありません" in html
        and "対象外にしたリクエスト（最近 1 件）" in html
    )
    assert "&lt;b&gt;cheap&lt;/b&gt;" in html and "<b>cheap</b>" not in html
    again = post(
        reviewer,
        "/console/join-requests",
        {"action": "save", "text": "Free Followers\tbuy now <b>cheap</b>"},
    )
    assert "登録済み 1 件" in again.get_data(as_text=True)  # pasted again: not resurrected
    twice = post(reviewer, f"/console/join-requests/{jr_id}/dismiss", follow_redirects=True)
    assert "すでに処理されています" in twice.get_data(as_text=True)
    post(reviewer, f"/console/join-requests/{jr_id}/restore")
    with runtime.db.transaction() as db:
        jr = db.get(JoinRequest, jr_id)
        assert jr is not None and jr.status == "unmatched"
        entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        trail = [
            (e.action, e.actor, e.detail) for e in entries if e.action.startswith("join_request_")
        ]
    assert trail == [
        ("join_request_dismissed", "rev", {"id": jr_id}),
        ("join_request_restored", "rev", {"id": jr_id}),
    ]
    assert post(reviewer, "/console/join-requests/999999/dismiss").status_code == 404


def test_empty_paste_is_refused(reviewer: FlaskClient) -> None:
    assert (
        post(reviewer, "/console/join-requests", {"action": "save", "text": "  "}).status_code
        == 400
    )


def _cli(runtime: Runtime, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, handler: object, help_: str, parent: object = sub
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_)  # type: ignore[attr-defined]
        p.set_defaults(handler=handler)
        return p

    register(sub, add)
    args = parser.parse_args(argv)
    args.settings = runtime.settings.replace(
        app=__import__("dataclasses").replace(runtime.settings.app, database_url=runtime.db.url)
    )
    return int(args.handler(args))


def test_cli_import_prints_counts(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    source = tmp_path / "requests.tsv"
    source.write_text(f"山田 太郎\t{app.code}\n誰か\tこんにちは\n", encoding="utf-8")
    assert _cli(runtime, ["join-requests", "import", str(source)]) == 0
    out = capsys.readouterr().out
    assert "matched 1, unmatched 1" in out
    assert _app(runtime, app.code).status == "ready_for_review"


@pytest.mark.parametrize("content", [b"no tab here\n", b"\xff\xfe\x00bad", b"\n\n"])
def test_cli_import_fails_with_one_line_on_bad_input(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    source = tmp_path / "bad.tsv"
    source.write_bytes(content)
    assert _cli(runtime, ["join-requests", "import", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cityhall: join-requests import:")
    with runtime.db.transaction() as db:
        assert db.scalars(select(JoinRequest)).all() == []


def test_cli_import_of_a_missing_file(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(runtime, ["join-requests", "import", str(tmp_path / "nope.tsv")]) == 2
    assert "cannot read" in capsys.readouterr().err


# -- bounded input, paging and bulk dismiss -------------------------------------------------------
def _count(runtime: Runtime) -> int:
    with runtime.db.transaction() as db:
        return len(db.scalars(select(JoinRequest.id)).all())


def _tsv(count: int, prefix: str = "申請者") -> str:
    return "".join(f"{prefix}{i}\tよろしく{i}\n" for i in range(count))


def test_paste_over_the_size_limit_is_refused_whole_with_a_japanese_message(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    text = _tsv(10) + "x" * MAX_PASTE_BYTES
    response = post(reviewer, "/console/join-requests", {"action": "save", "text": text})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "貼り付けた内容が大きすぎます" in html and f"{MAX_PASTE_BYTES // 1024} KB まで" in html
    assert "何も登録していません" in html
    assert "x" * 1000 not in html  # the paste is not echoed back
    assert _count(runtime) == 0


def test_paste_of_too_many_requests_is_refused_whole(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    response = post(
        reviewer, "/console/join-requests", {"action": "save", "text": _tsv(MAX_REQUESTS + 1)}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f"参加リクエストが多すぎます（{MAX_REQUESTS + 1} 件）" in html
    assert f"{MAX_REQUESTS} 件までです" in html
    assert _count(runtime) == 0
    with runtime.db.transaction() as db:
        assert db.scalars(select(AuditEntry.action)).all().count("join_requests_imported") == 0


def test_paste_of_exactly_the_request_limit_is_taken(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    response = post(
        reviewer, "/console/join-requests", {"action": "save", "text": _tsv(MAX_REQUESTS)}
    )
    assert response.status_code == 200
    assert _count(runtime) == MAX_REQUESTS


def test_facebook_list_of_many_requests_is_counted_after_parsing(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    pasted = "".join(
        f"申請者{i}\n2日前\n申込番号を入力してください。\nわかりません{i}\n承認\n拒否\n"
        for i in range(MAX_REQUESTS + 1)
    )
    assert len(pasted.encode()) <= MAX_PASTE_BYTES  # under the size limit: the count refuses it
    response = post(reviewer, "/console/join-requests", {"action": "save", "text": pasted})
    assert response.status_code == 400
    assert "参加リクエストが多すぎます" in response.get_data(as_text=True)
    assert _count(runtime) == 0


def test_body_over_the_request_size_gets_the_japanese_413_page(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    text = "山田\tx" * (runtime.settings.app.max_webhook_bytes // 4)
    response = post(reviewer, "/console/join-requests", {"action": "save", "text": text})
    assert response.status_code == 413
    assert "送信された内容が大きすぎます" in response.get_data(as_text=True)
    assert _count(runtime) == 0


def _unmatched_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="ids" value="(\d+)"', html)]


def test_unmatched_requests_are_paged_newest_first(runtime: Runtime, reviewer: FlaskClient) -> None:
    post(reviewer, "/console/join-requests", {"action": "save", "text": _tsv(PAGE + 5)})
    first = reviewer.get("/console/join-requests").get_data(as_text=True)
    first_ids = _unmatched_ids(first)
    assert len(first_ids) == PAGE and first_ids == sorted(first_ids, reverse=True)
    assert f"未一致（要対応） <small>{PAGE + 5} 件</small>" in first
    second = reviewer.get("/console/join-requests", query_string={"before": first_ids[-1]})
    second_ids = _unmatched_ids(second.get_data(as_text=True))
    assert len(second_ids) == 5 and max(second_ids) < min(first_ids)
    assert "次へ" not in second.get_data(as_text=True)


@pytest.mark.parametrize("before", ["²", "１２", "-1", "99999999999999999999999", "abc"])
def test_bad_page_cursor_is_a_400_in_japanese(reviewer: FlaskClient, before: str) -> None:
    response = reviewer.get("/console/join-requests", query_string={"before": before})
    assert response.status_code == 400
    assert "「before」の値が正しくありません" in response.get_data(as_text=True)


def test_selected_requests_are_dismissed_at_once_and_each_is_audited(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    post(reviewer, "/console/join-requests", {"action": "save", "text": _tsv(4)})
    with runtime.db.transaction() as db:
        ids = db.scalars(select(JoinRequest.id).order_by(JoinRequest.id)).all()
    chosen = [str(i) for i in ids[:3]]
    html = post(
        reviewer, "/console/join-requests/dismiss", {"ids": chosen}, follow_redirects=True
    ).get_data(as_text=True)
    assert "3 件を対象外にしました。" in html
    with runtime.db.transaction() as db:
        statuses = dict(db.execute(select(JoinRequest.id, JoinRequest.status)).tuples().all())
        trail = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "join_request_dismissed")
        ).all()
    assert [statuses[i] for i in ids] == ["dismissed", "dismissed", "dismissed", "unmatched"]
    assert sorted((e.detail or {})["id"] for e in trail) == ids[:3]
    assert {e.actor for e in trail} == {"rev"}
    again = post(
        reviewer,
        "/console/join-requests/dismiss",
        {"ids": [*chosen[:1], str(ids[3])]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "1 件を対象外にしました（1 件は処理済みか見つからないため、そのままです）" in again


def test_bulk_dismiss_needs_a_selection_a_csrf_token_and_sane_ids(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    post(reviewer, "/console/join-requests", {"action": "save", "text": _tsv(1)})
    with runtime.db.transaction() as db:
        jr_id = db.scalars(select(JoinRequest.id)).one()
    nothing = post(reviewer, "/console/join-requests/dismiss", {}, follow_redirects=True)
    assert "対象外にする参加リクエストを選んでください" in nothing.get_data(as_text=True)
    forged = reviewer.post("/console/join-requests/dismiss", data={"ids": str(jr_id)})
    assert forged.status_code == 400
    for bad in ("²", "99999999999999999999999", "0"):
        assert post(reviewer, "/console/join-requests/dismiss", {"ids": bad}).status_code == 400
    too_many = [str(i) for i in range(1, PAGE + 2)]
    assert post(reviewer, "/console/join-requests/dismiss", {"ids": too_many}).status_code == 400
    with runtime.db.transaction() as db:
        assert db.scalars(select(JoinRequest.status)).one() == "unmatched"


def test_cli_import_over_the_size_limit_is_refused_in_english(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "big.tsv"
    source.write_text(_tsv(10) + "#" + "x" * MAX_PASTE_BYTES + "\n", encoding="utf-8")
    assert _cli(runtime, ["join-requests", "import", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"larger than {MAX_PASTE_BYTES} bytes" in err and "nothing was imported" in err
    assert _count(runtime) == 0


def test_cli_import_of_too_many_requests_is_refused_in_english(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "many.tsv"
    source.write_text(_tsv(MAX_REQUESTS + 1, prefix="n"), encoding="utf-8")
    assert _cli(runtime, ["join-requests", "import", str(source)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"cityhall: join-requests import: {MAX_REQUESTS + 1} requests, more than the limit "
        f"of {MAX_REQUESTS} in one import (split the list); nothing was imported\n"
    )
    assert _count(runtime) == 0


def test_japanese_paste_near_the_limit_fits_in_one_multipart_request(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    lines = [f"申請者{i:03d}\t{'よろしくお願いします' * 9}\n" for i in range(MAX_REQUESTS)]
    text = ""
    while len((text + lines[0]).encode()) <= MAX_PASTE_BYTES:
        text += lines.pop()
    assert MAX_PASTE_BYTES - 300 < len(text.encode()) <= MAX_PASTE_BYTES
    stored = text.count("\n")
    page = reviewer.get("/console/join-requests").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    response = reviewer.post(
        "/console/join-requests",
        data={"action": "save", "text": text, "csrf_token": csrf_of(reviewer)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert _count(runtime) == stored


# -- preview before saving, corrections, the one-request form, near codes -------------------------
CORPUS = Path(__file__).resolve().parents[1] / "data" / "facebook_paste"
QUESTION = "申込番号（例：OC-XXXX）を入力してください"


def _audits(runtime: Runtime) -> list[str]:
    with runtime.db.transaction() as db:
        return list(db.scalars(select(AuditEntry.action)).all())


def test_a_paste_is_previewed_and_nothing_is_written_until_saved(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    pasted = (
        f"5 requests\nNewest first\n山田 太郎\n3時間前\n富山市役所で働いています\n東京都 在住\n"
        f"{QUESTION}\n{app.code}\n承認\n拒否\n"
        f"鈴木 花子\n5時間前\n{QUESTION}\n申込番号を忘れました\n承認\n拒否\n"
    )
    before = _audits(runtime)
    response = post(reviewer, "/console/join-requests", {"text": pasted})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="preview"' in html and "まだ保存していません" in html
    assert "2 人分の参加リクエストを読み取りました" in html
    assert "富山市役所で働いています" in html and "東京都 在住" in html  # evidence
    assert app.code in html and "申込番号を忘れました" in html
    assert 'name="action" value="save"' in html and "保存" in html
    assert _count(runtime) == 0 and _audits(runtime) == before
    assert _app(runtime, app.code).status == "awaiting_join_request"

    saved = post(reviewer, "/console/join-requests", {"text": pasted, "action": "save"})
    body = saved.get_data(as_text=True)
    assert "一致 1 件" in body and "未一致 1 件" in body and 'id="import-result"' in body
    assert "富山市役所で働いています" in body  # the evidence is shown with the result too
    assert _app(runtime, app.code).status == "ready_for_review"
    assert _count(runtime) == 2


def test_the_preview_form_posts_the_text_back_unchanged(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    pasted = '山田 太郎\n3時間前\n<script>alert(1)</script>\n"><b>x</b>\n'
    page = post(reviewer, "/console/join-requests", {"text": pasted}).get_data(as_text=True)
    hidden = re.search(r'<input type="hidden" name="text" value="([^"]*)">', page)
    assert hidden is not None
    assert html.unescape(hidden.group(1)) == pasted
    assert "<script>alert(1)</script>" not in page and "<b>x</b>" not in page


def test_a_split_person_is_merged_and_a_junk_row_dropped_in_the_preview(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, full_name="山田 太郎")
    pasted = (
        f"山田 太郎\t{app.code}\n山田 太郎\t総務省に出向中\nお知らせ\t広告\n鈴木 花子\tよろしく\n"
    )
    fixed = {"text": pasted, "merge": ["1"], "drop": ["2"]}
    html = post(reviewer, "/console/join-requests", fixed).get_data(as_text=True)
    assert "2 人分の参加リクエストを読み取りました" in html
    assert f"{app.code} 総務省に出向中" in html
    assert re.search(r'name="merge" value="1" checked', html)
    assert re.search(r'name="drop" value="2" checked', html)
    assert _count(runtime) == 0
    post(reviewer, "/console/join-requests", {**fixed, "action": "save"})
    with runtime.db.transaction() as db:
        rows = {r.name: r.answer for r in db.scalars(select(JoinRequest))}
    assert rows == {"山田 太郎": f"{app.code} 総務省に出向中", "鈴木 花子": "よろしく"}


@pytest.mark.parametrize("bad", ["-1", "x", "99999999999999999999", str(MAX_REQUESTS + 1)])
def test_a_bad_correction_index_is_a_400(reviewer: FlaskClient, bad: str) -> None:
    response = post(reviewer, "/console/join-requests", {"text": "山田\tx", "merge": bad})
    assert response.status_code == 400


def test_saving_needs_a_csrf_token(runtime: Runtime, reviewer: FlaskClient) -> None:
    response = reviewer.post("/console/join-requests", data={"text": "山田\tx", "action": "save"})
    assert response.status_code == 400
    assert _count(runtime) == 0


def test_the_one_request_form_previews_then_saves(runtime: Runtime, reviewer: FlaskClient) -> None:
    app = make_application(runtime, full_name="佐藤 花子", kana="サトウ ハナコ")
    typed = app.code.replace("OC-", "")  # the phone user left out OC-
    form = {"mode": "one", "name": "佐藤花子", "answer": typed, "profile": "Works at 富山市役所"}
    html = post(reviewer, "/console/join-requests", form).get_data(as_text=True)
    assert "1 人分の参加リクエストを読み取りました" in html and app.code in html
    assert "勤務先" in html and "Works at 富山市役所" in html
    assert 'name="mode" value="one"' in html
    assert _count(runtime) == 0
    post(reviewer, "/console/join-requests", {**form, "action": "save"})
    assert _app(runtime, app.code).status == "ready_for_review"
    with runtime.db.transaction() as db:
        jr = db.scalars(select(JoinRequest)).one()
    assert (jr.name, jr.answer, jr.match_method) == ("佐藤花子", typed, "code")


def test_the_one_request_form_needs_a_name(reviewer: FlaskClient) -> None:
    response = post(reviewer, "/console/join-requests", {"mode": "one", "name": " ", "answer": "x"})
    assert response.status_code == 400
    assert "名前を入力してください" in response.get_data(as_text=True)


def test_a_mistyped_code_is_suggested_in_the_preview_and_kept_as_a_candidate(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    app = make_application(runtime, full_name="中村 美咲")
    body = app.code.removeprefix("OC-")
    typo = "OC-" + body[:4] + body[5] + body[4]  # two neighbours swapped
    if typo == app.code:
        typo = "OC-" + body[:5] + ("Z" if body[5] != "Z" else "Y")
    pasted = f"Misaki N\n2日前\n{QUESTION}\n{typo}\n承認\n拒否\n"
    html = post(reviewer, "/console/join-requests", {"text": pasted}).get_data(as_text=True)
    assert "未一致・候補あり" in html and app.code in html and "申込番号が1文字違い" in html
    post(reviewer, "/console/join-requests", {"text": pasted, "action": "save"})
    assert _app(runtime, app.code).status == "awaiting_join_request"  # never matched
    with runtime.db.transaction() as db:
        jr = db.scalars(select(JoinRequest)).one()
    assert jr.status == "unmatched"
    assert [(c["code"], c["method"]) for c in jr.candidates] == [(app.code, "near_code")]


@pytest.mark.parametrize("stem", ["ja_ui", "en_ui", "mixed"])
def test_the_corpus_previews_one_row_per_person(
    runtime: Runtime, reviewer: FlaskClient, stem: str
) -> None:
    text = (CORPUS / f"{stem}.txt").read_text(encoding="utf-8")
    expected = json.loads((CORPUS / f"{stem}.expected.json").read_text(encoding="utf-8"))
    html = post(reviewer, "/console/join-requests", {"text": text}).get_data(as_text=True)
    people = len(expected["requests"])
    assert f"{people} 人分の参加リクエストを読み取りました" in html
    assert html.count('class="jr-item jr-head') == people
    assert "<script>alert" not in html and "<img src=x" not in html
