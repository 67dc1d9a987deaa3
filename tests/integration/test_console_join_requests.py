"""Join requests: paste in the console, resolve the unmatched, and the CLI import."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.console.commands import register
from bot.models import Application, AuditEntry, JoinRequest
from bot.runtime import Runtime
from tests.integration.test_console_helpers import (
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
    response = post(reviewer, "/console/join-requests", {"text": pasted})
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
    post(reviewer, "/console/join-requests", {"text": "山田太郎\tよろしく"})
    html = post(reviewer, "/console/join-requests", {"text": "山田太郎\tよろしく"}).get_data(
        as_text=True
    )
    assert "登録済み 1 件" in html
    with runtime.db.transaction() as db:
        assert len(db.scalars(select(JoinRequest)).all()) == 1


def test_ambiguous_name_is_kept_with_its_candidates_and_resolved_by_hand(
    runtime: Runtime, reviewer: FlaskClient
) -> None:
    first = make_application(runtime, full_name="佐藤 一郎", kana="サトウ イチロウ")
    second = make_application(runtime, full_name="佐藤 一郎", kana="サトウ イチロウ")
    post(reviewer, "/console/join-requests", {"text": "Ichiro Sato\t"})
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
    junk = {"text": "Free Followers\tbuy now <b>cheap</b>"}
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
        reviewer, "/console/join-requests", {"text": "Free Followers\tbuy now <b>cheap</b>"}
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
    assert post(reviewer, "/console/join-requests", {"text": "  "}).status_code == 400


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
