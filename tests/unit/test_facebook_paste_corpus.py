"""The realistic paste corpus (tests/data/facebook_paste): one request per person, nothing else.

Each `<name>.txt` is text as copied from Facebook's member-request list (see the README beside
it for what is assumed); `<name>.expected.json` was written from that layout by hand: per
request its name, answer, the code it holds, how many profile lines belong to it, and the known
codes a mistyped one should bring up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.onboarding.join_request_matching import Candidate, JoinRequestMatcher
from bot.onboarding.join_request_parsing import find_code, read_paste

CORPUS = Path(__file__).resolve().parents[1] / "data" / "facebook_paste"
FILES = sorted(p.stem for p in CORPUS.glob("*.txt"))


def _load(stem: str) -> tuple[str, dict[str, Any]]:
    text = (CORPUS / f"{stem}.txt").read_text(encoding="utf-8")
    return text, json.loads((CORPUS / f"{stem}.expected.json").read_text(encoding="utf-8"))


def test_the_corpus_has_japanese_english_and_mixed_lists_of_ten_or_more() -> None:
    assert {"ja_ui", "en_ui", "mixed"} <= set(FILES)
    for stem in FILES:
        assert len(_load(stem)[1]["requests"]) >= 10


@pytest.mark.parametrize("stem", FILES)
def test_exactly_one_request_per_person_and_no_junk_rows(stem: str) -> None:
    text, expected = _load(stem)
    reading = read_paste(text)
    assert [r.name for r in reading.requests] == [e["name"] for e in expected["requests"]]
    assert reading.unplaced == expected["unplaced"]


@pytest.mark.parametrize("stem", FILES)
def test_every_answer_stays_with_its_own_person(stem: str) -> None:
    text, expected = _load(stem)
    got = {r.name: r.answer for r in read_paste(text).requests}
    assert got == {e["name"]: e["answer"] for e in expected["requests"]}
    names = set(got)
    assert not any(answer in names for answer in got.values() if answer)


@pytest.mark.parametrize("stem", FILES)
def test_codes_and_profile_lines_are_read(stem: str) -> None:
    text, expected = _load(stem)
    requests = read_paste(text).requests
    assert [find_code(r.answer) for r in requests] == [e["code"] for e in expected["requests"]]
    assert [len(r.evidence) for r in requests] == [e["evidence"] for e in expected["requests"]]
    for request in requests:
        assert all(e.kind != "other" for e in request.evidence), request.evidence


@pytest.mark.parametrize("stem", FILES)
def test_mistyped_codes_are_suggested_and_never_matched(stem: str) -> None:
    text, expected = _load(stem)
    known = expected["known_codes"]
    # the applications carry names nobody in the corpus has: only codes can match
    matcher = JoinRequestMatcher(
        Candidate(i, code, "awaiting_join_request", (f"該当 者{i}",), f"該当 者{i}")
        for i, code in enumerate(known, start=1)
    )
    for request, wanted in zip(read_paste(text).requests, expected["requests"], strict=True):
        outcome = matcher.match(request)
        exact = wanted["code"] if wanted["code"] in known else wanted.get("exact_without_prefix")
        if exact:
            assert outcome.method == "code" and outcome.candidates[0]["code"] == exact
            continue
        assert not outcome.matched, request
        near = [c["code"] for c in outcome.candidates if c["method"] == "near_code"]
        assert near == wanted.get("suggested", []), request
