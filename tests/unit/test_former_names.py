"""Former municipality names: the shipped file is what the script builds from e-Stat's record,
and the record's sentence shapes are read as e-Stat writes them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "bot" / "onboarding" / "data" / "former_names.json"
SOURCE = ROOT / "data" / "sources" / "estat-haichi.csv"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_former_names", ROOT / "scripts" / "build_former_names.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_source_is_the_checked_copy() -> None:
    """396,829 characters as stored; the JSON names the same bytes."""
    raw = SOURCE.read_bytes()
    assert len(raw.decode("utf-8")) == 396_829
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert shipped["source_sha256"] == hashlib.sha256(raw).hexdigest()


def test_the_shipped_file_is_what_the_script_builds(script: ModuleType) -> None:
    """Never edited by hand: a rebuild gives the same names and successors."""
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    rebuilt = script.build(SOURCE, ROOT / "bot" / "onboarding" / "data" / "organizations.json")
    assert rebuilt["former_names"] == shipped["former_names"]
    assert rebuilt["counts"] == shipped["counts"]
    assert rebuilt["counts"]["without_successor"] == 0


def _change(script: ModuleType, code: str, name: str, reason: str) -> object:
    return script.Change(code, "北海道", name, "", "2004-12-01", reason)


@pytest.mark.parametrize(
    ("code", "name", "reason", "goes_to"),
    [
        # absorption (編入): the absorbed go, the one that absorbs stays
        ("01339", "戸井町", "戸井町(01339)、恵山町(01340)が函館市(01202)に編入", "01202"),
        ("01202", "函館市", "戸井町(01339)、恵山町(01340)が函館市(01202)に編入", None),
        # a new municipality with its code, and without (its code is on its own row)
        ("01366", "大成町", "大成町(01366)、瀬棚町(01368)が合併し、せたな町(01371)を新設", "01371"),
        ("01206", "釧路市", "釧路市(01206)、阿寒町(01666)が合併し、釧路市を新設", "01206"),
        ("01666", "阿寒町", "釧路市(01206)、阿寒町(01666)が合併し、釧路市を新設", "01206"),
        # renames and 市制施行, also chained in one sentence
        ("01340", "尻岸内町", "尻岸内町(01340)が恵山町(01340)に名称変更", "01340"),
        ("01302", "石狩町", "石狩町(01302)が石狩市(01235)に市制施行", "01235"),
        (
            "01301",
            "広島町",
            "広島町(01301)が広島市に市制施行し、北広島市(01234)に名称変更",
            "01234",
        ),
        (
            "08344",
            "大宮町",
            "大宮町(08344)が常陸大宮町に名称変更し、常陸大宮市(08225)に市制施行",
            "08225",
        ),
        # changes that leave the municipality in place
        ("01104", "白石区", "白石区(01104)から分離し、厚別区(01108)を新設", None),
        ("02203", "八戸市", "八戸市(02203)が特例市に移行", None),
    ],
)
def test_where_a_name_went_as_e_stat_writes_it(
    script: ModuleType, code: str, name: str, reason: str, goes_to: str | None
) -> None:
    change = _change(script, code, name, reason)
    group = [_change(script, "01206", "釧路市", reason)]
    assert script.destination(change, group) == goes_to
