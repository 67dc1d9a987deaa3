"""Which application a join request belongs to: by 申込番号 first, then by name.

Names are compared by the keys of `names.py` (kanji, kana and romaji spellings alike); a
request is matched only when one candidate is confident enough, else it is listed with its
alternatives for a person to choose.

Near codes (`NearCodes`): people mistype their 申込番号. What is forgiven, and how:

* Full width, case, spaces and dashes, and Crockford's look-alikes (O→0, I/L→1) are folded
  before anything is compared. A code equal to one known code after that folding *is* that code
  and matches (method "code"), with or without its "OC-" prefix: the six characters are random
  over 32 symbols, so an unprefixed six-character token with a digit that equals a known code
  after folding is that code, not chance. (Prefixed codes were already read this way.)
* One character wrong, two neighbours swapped, one missing or one extra: the known codes at
  that distance are **suggested** (method "near_code", score 0.5), never matched: a code one
  edit away from the typed one may well be another person's. They are listed with the other
  candidates, in the preview and in the unmatched list, for a person to choose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.onboarding.codes import ALPHABET, CODE_LENGTH, PREFIX
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
NEAR_CODE_SCORE = 0.5

# -- near codes -----------------------------------------------------------------------------------
_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_DASHES = re.compile(r"[\-‐‑‒–—―−ｰー_.・]+")
_PREFIXED = re.compile(r"(?<![A-Z0-9])[O0]C\s*([0-9A-Z]{5,7})(?![0-9A-Z])")
_TOKEN = re.compile(r"(?<![A-Z0-9])([0-9A-Z]{5,7})(?![0-9A-Z])")


def code_bodies(text: str) -> list[str]:
    """The code-like tokens of a text, folded (width, case, dashes, O/0, I/L/1), prefix removed.

    Prefixed tokens ("OC-7K3M9Q", "oc 7k3 m9q") count whatever their characters; bare tokens
    of 5 to 7 characters count only when they hold a digit ("7K3M9Q"; not "THANKS").
    """
    folded = _DASHES.sub("", unicodedata.normalize("NFKC", text).upper())
    compact = re.sub(r"\s+", "", folded)  # "OC 7K3 M9Q"
    bodies = [m.group(1) for form in (compact, folded) for m in _PREFIXED.finditer(form)]
    bare = _PREFIXED.sub(" ", folded)
    if _TOKEN.fullmatch(compact):  # the whole answer is a spaced-out code: "7k3 m9q"
        bare = f"{bare} {compact}"
    for match in _TOKEN.finditer(bare):
        if any(ch.isdigit() for ch in match.group(1)):
            bodies.append(match.group(1))
    return [b.translate(_CONFUSABLES) for b in dict.fromkeys(bodies)]


def _deletions(body: str) -> set[str]:
    return {body, *(body[:i] + body[i + 1 :] for i in range(len(body)))}


def _within_one_edit(a: str, b: str) -> bool:
    """Optimal string alignment distance ≤ 1: one substitution, swap, insertion or deletion."""
    if a == b:
        return True
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    if abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class NearCodes:
    """Known codes indexed by their one-deletion neighbourhood (symmetric delete)."""

    def __init__(self, codes: Iterable[str]) -> None:
        self._exact: dict[str, str] = {}
        self._index: dict[str, set[str]] = {}
        for code in codes:
            body = code.upper().removeprefix(PREFIX)
            if len(body) != CODE_LENGTH or any(ch not in ALPHABET for ch in body):
                continue
            self._exact[body] = code
            for key in _deletions(body):
                self._index.setdefault(key, set()).add(body)

    def exact(self, text: str) -> str | None:
        """The one known code the text holds after folding (prefix optional), or None."""
        found = {self._exact[b] for b in code_bodies(text) if b in self._exact}
        return found.pop() if len(found) == 1 else None

    def near(self, text: str) -> list[str]:
        """Known codes one edit away from a code-like token of the text (not equal to it)."""
        near: dict[str, None] = {}
        for body in code_bodies(text):
            if body in self._exact:
                continue
            for key in _deletions(body):
                for known in sorted(self._index.get(key, ())):
                    if _within_one_edit(body, known):
                        near[self._exact[known]] = None
        return list(near)


class JoinRequestMatcher:
    """Match join requests to applications: by registration code, else by normalised name."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self._by_id: dict[int, Candidate] = {}
        self._by_code: dict[str, int] = {}
        self._index: dict[str, dict[str, set[int]]] = {"exact": {}, "romaji": {}}
        exact, romaji = self._index["exact"], self._index["romaji"]
        open_statuses = {s.value for s in OPEN}
        candidates = list(candidates)
        self._near = NearCodes(c.code for c in candidates)
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
        if not (code and code.upper() in self._by_code):
            code = self._near.exact(request.answer)
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
        named = {d["application_id"] for d in described}
        described += [
            self._describe(self._by_code[c.upper()], NEAR_CODE_SCORE, "near_code")
            for c in self._near.near(request.answer)
            if self._by_code[c.upper()] not in named
        ][:MAX_ALTERNATIVES]
        if not ranked:
            return MatchOutcome(None, "", 0.0, described)
        best_id, (best, _kind) = ranked[0]
        ties = [i for i, (s, _) in ranked if s == best]
        if len(ties) > 1:
            return MatchOutcome(None, "", round(best / len(ties), 2), described)
        if best < MIN_CONFIDENCE:
            return MatchOutcome(None, "", best, described)
        return MatchOutcome(best_id, "name", best, described)
