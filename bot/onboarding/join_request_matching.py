"""Which application a join request belongs to: by 申込番号 first, then by name.

Names are compared by the keys of `names.py` (kanji, kana and romaji spellings alike); a
request is matched only when one candidate is confident enough, else it is listed with its
alternatives for a person to choose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.onboarding.join_request_parsing import PastedRequest, find_code
from bot.onboarding.lifecycle import OPEN
from bot.onboarding.names import name_keys

MIN_CONFIDENCE = 0.75
MAX_ALTERNATIVES = 5


class Candidate(NamedTuple):
    """What the matcher knows of one application."""

    application_id: int
    code: str
    status: str
    names: tuple[str, ...]  # full name, kana, Facebook name, Messenger name
    display_name: str = ""


@dataclass(frozen=True)
class MatchOutcome:
    """The matcher's answer for one request."""

    application_id: int | None
    method: str  # code | name | "" (no match)
    confidence: float
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        """Whether the request was attributed to one application."""
        return self.application_id is not None


_SCORES = {"exact": 0.9, "romaji": 0.8}


class JoinRequestMatcher:
    """Match join requests to applications: by registration code, else by normalised name."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self._by_id: dict[int, Candidate] = {}
        self._by_code: dict[str, int] = {}
        self._index: dict[str, dict[str, set[int]]] = {"exact": {}, "romaji": {}}
        exact, romaji = self._index["exact"], self._index["romaji"]
        open_statuses = {s.value for s in OPEN}
        for cand in candidates:
            app_id = cand.application_id
            self._by_id[app_id] = cand
            self._by_code[cand.code.upper()] = app_id
            if cand.status not in open_statuses:
                continue  # only undecided applications are matched by name
            for spelling in set(cand.names):
                if not spelling:
                    continue
                keys = name_keys(spelling)
                for key in keys["exact"]:
                    exact.setdefault(key, set()).add(app_id)
                for key in keys["romaji"]:
                    romaji.setdefault(key, set()).add(app_id)

    def _name_scores(self, name: str) -> dict[int, tuple[float, str]]:
        scores: dict[int, tuple[float, str]] = {}
        for kind, keys in name_keys(name).items():
            for key in keys:
                for app_id in self._index[kind].get(key, ()):
                    score = _SCORES[kind]
                    if scores.get(app_id, (0.0, ""))[0] < score:
                        scores[app_id] = (score, kind)
        return scores

    @staticmethod
    def _name_agrees(name: str, cand: Candidate) -> bool:
        wanted = name_keys(name)
        for spelling in cand.names:
            if spelling and any(wanted[k] & keys for k, keys in name_keys(spelling).items()):
                return True
        return False

    def _describe(self, app_id: int, score: float, method: str) -> dict[str, Any]:
        cand = self._by_id[app_id]
        return {
            "application_id": app_id,
            "code": cand.code,
            "name": cand.display_name,
            "score": round(score, 2),
            "method": method,
        }

    def match(self, request: PastedRequest) -> MatchOutcome:
        """Attribute one request to an application, with confidence and alternatives."""
        name_scores = self._name_scores(request.name)
        code = find_code(request.answer) or find_code(request.name)
        if code and code.upper() in self._by_code:
            app_id = self._by_code[code.upper()]
            confidence = 1.0 if self._name_agrees(request.name, self._by_id[app_id]) else 0.95
            alternatives = [
                self._describe(i, s, k) for i, (s, k) in name_scores.items() if i != app_id
            ][:MAX_ALTERNATIVES]
            return MatchOutcome(
                app_id,
                "code",
                confidence,
                [self._describe(app_id, confidence, "code"), *alternatives],
            )
        ranked = sorted(name_scores.items(), key=lambda item: (-item[1][0], item[0]))
        described = [self._describe(i, s, k) for i, (s, k) in ranked[:MAX_ALTERNATIVES]]
        if not ranked:
            return MatchOutcome(None, "", 0.0, [])
        best_id, (best, _kind) = ranked[0]
        ties = [i for i, (s, _) in ranked if s == best]
        if len(ties) > 1:
            return MatchOutcome(None, "", round(best / len(ties), 2), described)
        if best < MIN_CONFIDENCE:
            return MatchOutcome(None, "", best, described)
        return MatchOutcome(best_id, "name", best, described)
