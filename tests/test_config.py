"""Configuration: defaults, relative paths, and one clear line naming the key for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow import config
from mailflow.errors import ConfigError
from tests.conftest import REPO, run_mailflow, write_config


def load(tmp_path: Path, body: str) -> config.Config:
    return config.load(write_config(tmp_path, body, follow=False))


def test_example_config_is_valid_and_documents_every_key(tmp_path: Path) -> None:
    """config.example.toml loads, and every key the loader reads appears in it."""
    example = (REPO / "config.example.toml").read_text()
    loaded = config.load(REPO / "config.example.toml")
    assert loaded.support.address == "support@example.com"
    for key in (
        "address",
        "name",
        "timezone",
        "language",
        "ticket_prefix",
        "url",
        "path",
        "kind",
        "host",
        "port",
        "security",
        "username",
        "password_env",
        "folder",
        "processed_folder",
        "poll_seconds",
        "first_run",
        "first_run_since",
        "ca_file",
        "max_attempts",
        "retry_base_seconds",
        "retry_max_seconds",
        "respond_minutes",
        "resolve_minutes",
    ):
        assert f"{key} =" in example or f"# {key} =" in example, key


def test_defaults_are_sqlite_and_maildir_relative_to_config(tmp_path: Path) -> None:
    """Without settings, SQLite and Maildirs sit next to the config file."""
    cfg = load(tmp_path, "")
    assert cfg.database_url == f"sqlite:///{tmp_path}/var/mailflow.db"
    assert cfg.mailbox.kind == "maildir" and cfg.mailbox.path == tmp_path / "var/maildir"
    assert cfg.smtp.kind == "maildir" and cfg.smtp.path == tmp_path / "var/sent"
    assert cfg.storage_path == tmp_path / "var/store"
    assert cfg.support.ticket_prefix == "TS" and cfg.support.timezone == "Asia/Shanghai"
    assert cfg.sla["urgent"].respond_minutes == 15 and cfg.sla["urgent"].resolve_minutes == 120
    assert cfg.sla["high"].respond_minutes == 30 and cfg.sla["high"].resolve_minutes == 240


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[mailbox]\nport = "993"', "mailbox.port", "must be an integer"),
        ("[mailbox]\nport = 70000", "mailbox.port", "between 1 and 65535"),
        ('[mailbox]\nkind = "pop3"', "mailbox.kind", "must be one of imap, maildir"),
        ('[mailbox]\nkind = "imap"', "mailbox.host", "is required"),
        ('[mailbox]\nsecurity = "tls"', "mailbox.security", "ssl, starttls, none"),
        ("[mailbox]\npoll_secs = 5", "mailbox.poll_secs", "unknown key"),
        ('[mailbox]\nfirst_run_since = "last year"', "mailbox.first_run_since", "date"),
        ('[support]\ntimezone = "Mars/Olympus"', "support.timezone", "unknown time zone"),
        ('[support]\naddress = "not an address"', "support.address", "e-mail address"),
        ('[support]\nlanguage = "fr"', "support.language", "zh_CN, en"),
        ('[support]\nticket_prefix = "ts-"', "support.ticket_prefix", "capital letters"),
        ('[database]\nurl = "mysql://x"', "database.url", "unsupported database"),
        ('[smtp]\nkind = "smtp"', "smtp.host", "is required"),
        ("[smtp]\nport = true", "smtp.port", "must be an integer"),
        (
            "[sla.high]\nrespond_minutes = 60\nresolve_minutes = 30",
            "sla.high.resolve_minutes",
            "less than respond_minutes",
        ),
        ('[templates]\npath = "nowhere"', "templates.path", "no such folder"),
        ('colour = "blue"', "colour", "unknown key"),
        ("support = 3", "support", "must be a table"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, body: str, key: str, problem: str) -> None:
    """Every bad value is one ConfigError that names its key and what was wrong."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    assert caught.value.key == key
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"config: {key}: ")


def test_password_comes_from_named_environment_variable(tmp_path: Path) -> None:
    cfg = load(
        tmp_path, '[mailbox]\nkind = "imap"\nhost = "h"\nusername = "u"\npassword_env = "MY_PW"'
    )
    assert cfg.mailbox.password.resolve({"MY_PW": "x"}) == "x"
    with pytest.raises(ConfigError, match=r"mailbox\.password_env: environment variable MY_PW"):
        cfg.mailbox.password.resolve({})


def test_cli_reports_bad_config_in_one_line_without_traceback(tmp_path: Path) -> None:
    """A bad config is one line on stderr and exit 78, never a traceback."""
    path = write_config(tmp_path, '[mailbox]\nport = "993"\n')
    for command in (["check"], ["run", "--once"], ["tickets"]):
        result = run_mailflow(path, *command)
        assert result.returncode == 78
        assert result.stderr.strip().splitlines() == [
            "mailflow: config: mailbox.port: must be an integer, got '993'"
        ]
    broken = tmp_path / "broken.toml"
    broken.write_text("[support\naddress = 1")
    result = run_mailflow(broken, "check")
    assert result.returncode == 78 and "is not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_mailflow(tmp_path / "missing.toml", "check")
    assert result.returncode == 78 and "no config file at" in result.stderr
