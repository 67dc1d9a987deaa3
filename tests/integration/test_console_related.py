"""The application page's related list uses the verdict's rule for "the same person"."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from bot.models import Application
from bot.onboarding.screening import DuplicateIndex
from bot.runtime import Runtime
from tests.integration.test_console_helpers import make_application


def related_codes(admin: FlaskClient, runtime: Runtime, code: str, *others: str) -> set[str]:
    page = admin.get(f"/console/applications/{code}").get_data(as_text=True)
    return {other for other in others if other in page}


def test_names_written_with_and_without_spaces_are_related(
    admin: FlaskClient, runtime: Runtime
) -> None:
    first = make_application(runtime, full_name="山田 太郎")
    spaced = make_application(runtime, full_name="山田　太郎")  # ideographic space
    joined = make_application(runtime, full_name="山田太郎")
    other_org = make_application(
        runtime, full_name="山田太郎", organization_code="162019", organization_text="高岡市"
    )
    other_name = make_application(runtime, full_name="山田 次郎")
    shown = related_codes(
        admin, runtime, first.code, spaced.code, joined.code, other_org.code, other_name.code
    )
    assert shown == {spaced.code, joined.code}


def test_the_related_list_and_the_verdict_agree(admin: FlaskClient, runtime: Runtime) -> None:
    first = make_application(runtime, full_name="ＹＡＭＡＤＡ Taro")
    second = make_application(runtime, full_name="yamada taro")
    with runtime.db.transaction() as db:
        index = DuplicateIndex.load(db)
        app = db.scalars(select(Application).where(Application.code == first.code)).one()
        facts = index.facts(app, None)
    assert facts.same_name_and_org == (second.code,)
    assert related_codes(admin, runtime, first.code, second.code) == {second.code}


def test_the_same_email_is_related_whatever_the_name(admin: FlaskClient, runtime: Runtime) -> None:
    first = make_application(runtime, email="taro@city.toyama.lg.jp")
    second = make_application(
        runtime, email="Taro@City.Toyama.lg.jp", full_name="別人", organization_text="高岡市"
    )
    assert related_codes(admin, runtime, first.code, second.code) == {second.code}
