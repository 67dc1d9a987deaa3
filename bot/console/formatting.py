"""Template filters: times in the configured zone, labels in Japanese."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

STATUS_LABELS = {
    "submitted": "受付",
    "awaiting_join_request": "参加リクエスト待ち",
    "ready_for_review": "確認待ち",
    "approved": "承認済み",
    "invited": "招待済み",
    "rejected": "却下",
    "withdrawn": "取り下げ",
    "expired": "期限切れ",
    "duplicate": "重複",
}
VERDICT_LABELS = {"verified": "確認OK", "needs_review": "要確認", "ineligible": "対象外"}
OUTBOX_LABELS = {
    "awaiting_window": "受信枠待ち",
    "pending": "送信待ち",
    "leased": "送信中",
    "sent": "送信済み",
    "dead": "失敗",
    "cancelled": "取り消し",
}
ATTEMPT_LABELS = {  # how one send attempt ended (outbound_messages.history)
    "sent": "送信済み",
    "retry": "一時的な失敗（再試行）",
    "unknown": "結果不明（届いた可能性あり）",
    "outside_window": "受信枠外",
    "unreachable": "相手に届かない",
    "auth": "権限・トークンの問題（停止）",
    "invalid": "送信内容の誤り",
}
INBOUND_LABELS = {
    "invalid": "読めない内容",
    "dead": "失敗",
    "pending": "処理待ち",
    "leased": "処理中",
    "done": "処理済み",
    "ignored": "対象外",
    "dismissed": "確認済み",
}
INVITATION_LABELS = {
    "held": "保留（枠待ち）",
    "allocated": "割当済み（メッセンジャー連携待ち）",
    "queued": "送信待ち",
    "sent": "送信済み",
}
GROUP_KINDS = {"prefecture": "都道府県", "village": "村", "cohort": "入庁同期"}
ROLE_LABELS = {"admin": "管理者", "reviewer": "確認担当"}
PURPOSE_LABELS = {  # why an outbound message exists (bot.models.Purpose)
    "confirmation": "確認メール",
    "ineligible_notice": "対象外のお知らせ",
    "approved": "承認のお知らせ",
    "rejection": "却下のお知らせ",
    "invitation": "グループへの招待",
    "reply": "返信",
    "profile_lookup": "プロフィールの取得",
    "link_reminder": "メッセンジャー連携のリマインド",
    "orientation_reminder": "説明会のお知らせ",
    "event_reminder": "イベント直前の案内",
    "join_request_reminder": "参加リクエストのリマインド",
    "application_expired": "期限切れのお知らせ",
    "alert": "アラート通知",
    "secretariat_digest": "事務局への日次まとめ",
    "job_failed": "ジョブ失敗の通知",
    "section_suggestions": "おすすめの課",
    "question_reply": "質問への回答",
    "consultation_reply": "匿名相談への回答",
}
CHANNEL_LABELS = {"messenger": "メッセンジャー", "email": "メール", "profile": "プロフィール取得"}
QUARANTINE_REASON_LABELS = {  # bot.onboarding.form_mapping.QuarantineReason
    "empty_row": "空の行です",
    "missing_email": "メールアドレスの回答がありません",
    "invalid_email": "メールアドレスの形式ではありません",
    "bad_timestamp": "タイムスタンプが日時として読めません",
    "duplicate_email_rows": "同じメールアドレスで内容の異なる回答が複数あります",
    "answer_too_long": "保存できる文字数を超える回答があります（シートで短くしてください）",
    "unstorable_character": (
        "保存できない文字（NUL など）を含む回答があります（シートで直してください）"
    ),
    "database_refused": "データベースが保存を拒否しました（管理者に連絡してください）",
}
FORM_SOURCE_LABELS = {  # where a form response came from
    "poll": "シートの取り込み",
    "sheet": "シートの取り込み",
    "push": "フォームからの送信通知",
    "csv": "CSVの取り込み",
}
INBOUND_SOURCE_LABELS = {"messenger": "メッセンジャー", "forms": "フォーム"}
JOIN_REQUEST_STATUS_LABELS = {"matched": "一致", "unmatched": "未一致", "dismissed": "対象外"}
MATCH_METHOD_LABELS = {  # how a join request was tied to an application
    "code": "申込番号",
    "name": "名前",
    "exact": "名前",
    "romaji": "名前（ローマ字）",
    "near_code": "申込番号が1文字違い",
    "manual": "手動",
}
EVIDENCE_LABELS = {  # the kinds of profile lines beside a Facebook join request
    "lives": "居住地",
    "from": "出身",
    "works": "勤務先",
    "studied": "学歴",
    "joined": "Facebook登録",
    "mutual": "共通の友達",
    "groups": "他のグループ",
    "invited": "招待",
    "rules": "ルール",
    "other": "その他",
}
ALERT_KIND_LABELS = {  # bot.alerts raise_alert(kind=...)
    "group_nearly_full": "グループが満員間近",
    "group_missing": "空きのあるグループがない",
    "cohort_missing": "入庁同期グループがない",
    "sending_paused": "送信の停止",
    "delivery_error_unknown": "結果不明の送信",
    "form_columns": "フォームの列の不一致",
    "link_conflict": "メッセンジャー連携の衝突",
    "link_code_guessing": "申込番号の総当たりの疑い",
    "job_failed": "定期処理の失敗",
}
MESSENGER_STATE_LABELS = {  # bot.console.card_facts.messenger_state
    "unlinked": "未連携",
    "in_window": "連携済み・24時間以内に会話あり（すぐ届く）",
    "outside_window": "連携済み・24時間の受信枠外（次に本人が開くまで待つ）",
    "quiet": "連携済み・事務局が会話中（自動返信を停止）",
    "unreachable": "連携済み・届かない",
}
DETAIL_KEY_LABELS = {  # keys of audit entries' detail, as the audit page shows them
    "from": "前の状態",
    "to": "新しい状態",
    "user": "ユーザー",
    "role": "役割",
    "before": "変更前",
    "after": "変更後",
    "sessions_ended": "終了したログイン",
    "totp_removed": "二段階認証の解除",
    "message_id": "メッセージ",
    "channel": "経路",
    "source": "取得元",
    "changed": "変更",
    "client": "接続元",
    "count": "件数",
}
# detail values shown through a catalog of their own
_DETAIL_VALUE_LABELS: dict[str, dict[str, str]] = {
    "from": STATUS_LABELS,
    "to": STATUS_LABELS,
    "role": ROLE_LABELS,
    "before": ROLE_LABELS,
    "after": ROLE_LABELS,
    "channel": CHANNEL_LABELS,
    "source": FORM_SOURCE_LABELS,
    "purpose": PURPOSE_LABELS,
}
ACTION_LABELS = {
    "submitted": "申込受付",
    "login": "ログイン",
    "login_failed": "ログイン失敗",
    "login_locked": "ロック中のログイン",
    "login_throttled": "ログイン制限",
    "login_unlocked": "ログイン制限の解除",
    "password_changed": "パスワード変更",
    "password_change_failed": "パスワード変更失敗",
    "password_reset": "パスワードリセット",
    "logout": "ログアウト",
    "approve": "承認",
    "reject": "却下",
    "application_viewed": "申込閲覧",
    "note_added": "メモ追加",
    "export": "エクスポート",
    "join_request_seen": "参加リクエスト確認",
    "join_request_recorded": "参加リクエスト記録",
    "join_requests_imported": "参加リクエスト取込",
    "join_request_dismissed": "参加リクエストを対象外に",
    "join_request_restored": "参加リクエストを未一致に戻す",
    "user_added": "ユーザー追加",
    "user_deactivated": "ユーザー無効化",
    "user_activated": "ユーザー有効化",
    "role_changed": "役割の変更",
    "group_created": "グループ作成",
    "group_updated": "グループ編集",
    "section_created": "課の追加",
    "section_updated": "課の編集",
    "section_deactivated": "課の無効化",
    "section_activated": "課の有効化",
    "template_created": "却下理由追加",
    "template_updated": "却下理由編集",
    "outbox_retry": "再送",
    "outbox_cancel": "送信取り消し",
    "sending_paused": "送信停止",
    "sending_resumed": "送信再開",
    "alert_resolved": "アラート解決",
    "quarantine_resolved": "保留行の解決",
    "inbound_retry": "受信の再処理",
    "inbound_dismissed": "受信の確認済み",
    "confirmation_sent": "確認メール送信",
    "invited": "招待完了",
    "withdraw": "取り下げ",
    "expire": "期限切れ",
    "mark_duplicate": "重複",
    "messenger_linked": "メッセンジャー連携",
    "link_refused": "メッセンジャー連携の拒否",
    "link_code_mismatch": "申込番号での連携：メール不一致",
    "link_code_refused": "申込番号での連携：回数上限",
    "email_proven": "メールアドレスの確認",
    "answers_updated": "回答の更新",
    "answers_edit_held": "回答の変更（保留）",
    "answers_edit_accepted": "回答の変更を反映",
    "answers_edit_discarded": "回答の変更を破棄",
    "answers_edit_dropped": "保留中の変更の取り消し（元の回答に戻った）",
    "join_request_reminder_sent": "参加リクエストのリマインド送信",
    "link_reminder_sent": "メッセンジャー連携のリマインド送信",
    "login_password_ok": "パスワード確認（確認コード待ち）",
    "personal_data_erased": "個人情報の消去",
    "totp_enabled": "確認コード（二要素認証）の設定",
    "totp_disabled": "確認コード（二要素認証）の解除",
    "totp_enable_failed": "確認コード設定の失敗",
    "totp_disable_failed": "確認コード解除の失敗",
    "approve_undone": "承認の取り消し",
    "close_without_email": "メールを送らずに終了",
    "claimed": "対応中にする",
    "claim_released": "対応中を解除",
    "event_created": "イベント作成",
    "event_series_created": "イベント作成（繰り返し）",
    "events_from_schedule": "説明会を予定から作成",
    "event_updated": "イベント編集",
    "event_cancelled": "イベント中止",
    "event_attendees_viewed": "イベント参加者の閲覧",
    "faq_created": "FAQの追加",
    "faq_updated": "FAQの編集",
    "faq_activated": "FAQを有効に",
    "faq_deactivated": "FAQを無効に",
    "faq_imported": "FAQの取り込み",
    "question_replied": "質問に回答",
    "question_reply_refused": "質問への回答を送れず（下書きとして保存）",
    "question_closed": "質問をクローズ",
    "question_reopened": "質問を未対応に戻す",
    "consultation_replied": "匿名相談に回答",
    "consultation_reply_refused": "匿名相談への回答を送れず（下書きとして保存）",
    "consultation_posted": "匿名相談をグループに投稿済み",
    "consultation_closed": "匿名相談をクローズ",
    "consultation_reopened": "匿名相談を未対応に戻す",
    "consultation_sender_viewed": "匿名相談の送信者を確認",
}
# Why a decision was not made for one application (bulk: listed after its code; one
# application: the whole message). Keys: the refusals of bot/console/pages/decisions.py.
DECISION_REFUSALS = {
    "not_found": "見つかりません",
    "unproven": "メール未確認：申込ページで本人確認のうえ承認してください",
    "join_request_unanswered": "参加リクエスト未確認：Facebookで参加リクエストを確認したか"
    "（はい／まだ）を選んでください",
    "claimed_by_other": "他の人が対応中です：「それでも決定する」にチェックを入れてください",
    "held_by_note": "最新のメモが「確認中」です：「それでも決定する」にチェックを入れてください",
    "undo_expired": "取り消せる時間を過ぎたため、承認を取り消せませんでした。"
    "メールと招待はそのまま送られます",
    "undo_started": "承認のメールや招待がすでに送信中のため、取り消せませんでした",
    "undo_not_approved": "承認済みではないため、取り消せませんでした",
    "other_rule": "この申込には今はできない操作です（記録を確認してください）",
}


def audit_detail(detail: dict[str, Any] | None) -> str:
    """An audit entry's detail as readable text: keys and known values in Japanese."""
    parts = []
    for key, value in (detail or {}).items():
        values = _DETAIL_VALUE_LABELS.get(key, {})
        if isinstance(value, str):
            shown = values.get(value, value)
        elif isinstance(value, bool):
            shown = "はい" if value else "いいえ"
        elif isinstance(value, dict) and key == "changed":
            shown = "、".join(str(question) for question in value)
        else:
            shown = str(value)
        parts.append(f"{DETAIL_KEY_LABELS.get(key, key)}={shown}")
    return " ".join(parts)


def init_app(app: Flask, tz_name: str) -> None:
    """Register the filters (times shown in `tz_name`, e.g. Asia/Tokyo)."""
    tz = ZoneInfo(tz_name)

    def local_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if isinstance(value, str):  # an ISO 8601 instant kept in a JSON column
            try:
                instant = datetime.fromisoformat(value)
            except ValueError:
                return value
            return instant.astimezone(tz).strftime(fmt)
        return value.astimezone(tz).strftime(fmt) if value else ""

    app.jinja_env.filters["local_time"] = local_time
    for name, labels in (
        ("status_label", STATUS_LABELS),
        ("verdict_label", VERDICT_LABELS),
        ("outbox_label", OUTBOX_LABELS),
        ("attempt_label", ATTEMPT_LABELS),
        ("inbound_label", INBOUND_LABELS),
        ("invitation_label", INVITATION_LABELS),
        ("kind_label", GROUP_KINDS),
        ("action_label", ACTION_LABELS),
        ("role_label", ROLE_LABELS),
        ("purpose_label", PURPOSE_LABELS),
        ("channel_label", CHANNEL_LABELS),
        ("quarantine_reason_label", QUARANTINE_REASON_LABELS),
        ("form_source_label", FORM_SOURCE_LABELS),
        ("inbound_source_label", INBOUND_SOURCE_LABELS),
        ("join_request_status_label", JOIN_REQUEST_STATUS_LABELS),
        ("match_method_label", MATCH_METHOD_LABELS),
        ("evidence_label", EVIDENCE_LABELS),
        ("alert_kind_label", ALERT_KIND_LABELS),
        ("messenger_state_label", MESSENGER_STATE_LABELS),
    ):
        app.jinja_env.filters[name] = lambda v, labels=labels: labels.get(str(v), str(v))
    app.jinja_env.filters["audit_detail"] = audit_detail
