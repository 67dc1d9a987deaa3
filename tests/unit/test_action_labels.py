"""Every audit action the code writes has a Japanese name in the console's one catalog."""

from __future__ import annotations

import re
from pathlib import Path

from bot.console.formatting import ACTION_LABELS
from bot.onboarding.lifecycle import TRANSITIONS

ROOT = Path(__file__).resolve().parents[2]
WRITTEN = re.compile(r'\baction="([a-z_]+)"')


def test_every_audit_action_has_a_japanese_label() -> None:
    written = set(TRANSITIONS)
    for folder in ("bot", "jobs"):
        for path in (ROOT / folder).rglob("*.py"):
            written.update(WRITTEN.findall(path.read_text(encoding="utf-8")))
    written.discard("store_true")  # argparse, not an audit entry
    missing = sorted(written - set(ACTION_LABELS))
    assert missing == []
    assert all(re.search(r"[぀-ヿ一-鿿]", label) for label in ACTION_LABELS.values())
