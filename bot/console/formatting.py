"""Template filters: times in the configured zone, labels in Japanese."""

from __future__ import annotations

from datetime import datetime
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
ACTION_LABELS = {
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
    "group_created": "グループ作成",
    "group_updated": "グループ編集",
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
}


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
    ):
        app.jinja_env.filters[name] = lambda v, labels=labels: labels.get(str(v), str(v))
