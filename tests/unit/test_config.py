"""Settings: strict parsing, environment overrides, one-line errors with exit status 2."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import SECTIONS, ConfigError, load_settings, parse_settings


def test_absent_config_gives_the_embedded_demo_defaults(tmp_path: Path) -> None:
    settings = load_settings(None, env={"PWD": str(tmp_path)})
    assert settings.forms.source == "csv"
    assert settings.messenger.transport == "outbox"
    assert settings.mail.transport == "outbox"
    assert settings.app.database_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"app": {"port": 5000}}, "app.port: unknown key"),
        ({"nonsense": {}}, "nonsense: unknown section"),
        ({"mail": {"port": "587"}}, "mail.port: expected an integer"),
        ({"app": {"secure_cookies": "yes"}}, "app.secure_cookies: expected true or false"),
        ({"forms": {"source": "xlsx"}}, "forms.source: must be one of csv, sheets"),
        ({"app": {"timezone": "Mars/Olympus"}}, "app.timezone: unknown time zone"),
        ({"forms": {"columns": {"年齢": "age"}}}, "forms.columns.年齢: unknown field 'age'"),
        ({"groups": [{"kind": "prefecture", "key": "富山県"}]}, "groups[0].name: required"),
        ({"groups": [{"kind": "club", "key": "x", "name": "x"}]}, "groups[0].kind: must be one of"),
    ],
)
def test_bad_values_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, env={})
    assert str(err.value).startswith(message)


def test_real_transport_without_its_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^messenger\.page_token: required"):
        parse_settings({"messenger": {"transport": "graph"}}, env={})


def test_secrets_come_from_the_environment() -> None:
    env = {
        "CITYHALL_MESSENGER_PAGE_TOKEN": "tok",
        "CITYHALL_MESSENGER_APP_SECRET": "sec",
        "CITYHALL_MESSENGER_VERIFY_TOKEN": "ver",
        "CITYHALL_MESSENGER_PAGE_ID": "1",
        "CITYHALL_APP_SECRET_KEY": "k",
        "DATABASE_URL": "postgresql+psycopg://db/x",
        "CITYHALL_WORKER_BATCH_SIZE": "7",
        "CITYHALL_APP_SECURE_COOKIES": "true",
    }
    settings = parse_settings({"messenger": {"transport": "graph"}}, env=env)
    assert settings.messenger.page_token == "tok"
    assert settings.app.database_url == "postgresql+psycopg://db/x"
    assert settings.worker.batch_size == 7
    assert settings.app.secure_cookies is True


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="CITYHALL_WORKER_BATCH_SIZE: expected an integer"):
        parse_settings({}, env={"CITYHALL_WORKER_BATCH_SIZE": "many"})


def test_settings_are_frozen() -> None:
    settings = parse_settings({}, env={})
    with pytest.raises(AttributeError):
        settings.app.timezone = "UTC"  # type: ignore[misc]


def test_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    env = {
        "CITYHALL_MESSENGER_PAGE_TOKEN": "t",
        "CITYHALL_MESSENGER_APP_SECRET": "s",
        "CITYHALL_MAIL_PASSWORD": "p",
        "CITYHALL_APP_SECRET_KEY": "k",
        "CITYHALL_MESSENGER_VERIFY_TOKEN": "v",
    }
    settings = load_settings(example, env=env)
    text = example.read_text(encoding="utf-8")
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            documented = f"{f.name} =" in text or f"[{section}.{f.name}]" in text
            assert documented, f"{section}.{f.name} is not documented in config.example.toml"
    assert settings.forms.columns


@pytest.mark.parametrize("content", ["[app\nbroken", "[app]\nport = 1\n", "[mail]\nport = 'x'\n"])
def test_malformed_config_prints_one_line_and_exits_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(content, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(path), "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cityhall: config error:")
    assert "Traceback" not in proc.stderr


def test_status_choices_take_only_known_meanings() -> None:
    from bot.config import ConfigError, parse_settings

    settings = parse_settings(
        {"verification": {"status_choices": {"在職中": "eligible", "その他": "review"}}}, env={}
    )
    assert settings.verification.status_choices == {"在職中": "eligible", "その他": "review"}
    with pytest.raises(
        ConfigError, match=r"status_choices.*must be eligible, ineligible or review"
    ):
        parse_settings({"verification": {"status_choices": {"在職中": "yes"}}}, env={})


def test_removed_auto_approve_key_is_refused_naming_it_as_removed() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"verification": {"auto_approve": False}}, env={})
    assert str(err.value).startswith("verification.auto_approve: removed:")
    assert "reviewer" in str(err.value)


def test_removed_auto_approve_key_is_refused_from_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"^CITYHALL_VERIFICATION_AUTO_APPROVE: removed:"):
        parse_settings({}, env={"CITYHALL_VERIFICATION_AUTO_APPROVE": "true"})
