"""Settings resolve flag > environment > YAML file > default, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops_collector.config import load_settings, split_host_port


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(
        "listen: 0.0.0.0:5317\nhttp_listen: 0.0.0.0:5318\nretention_days: 7\n"
        "cost:\n  cpu_second: 0.5\n"
    )
    env = {"DATAOPS_HTTP_LISTEN": "127.0.0.1:6318", "DATAOPS_RETENTION_DAYS": "14"}
    settings = load_settings(flags={"retention_days": 3}, config_file=str(config), environ=env)
    assert settings.retention_days == 3  # flag beats env and file
    assert settings.http_listen == "127.0.0.1:6318"  # env beats file
    assert settings.listen == "0.0.0.0:5317"  # file beats default
    assert settings.cost_cpu_second == 0.5  # nested YAML key
    assert settings.query_listen == "127.0.0.1:8123"  # default
    assert settings.embedded


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("clickhouse_url: http://u:p@ch:8123/db\n")
    settings = load_settings(environ={"DATAOPS_CONFIG": str(config)})
    assert settings.clickhouse_url == "http://u:p@ch:8123/db" and not settings.embedded


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("no_such_setting: 1\n", "unknown setting 'no_such_setting'"),
        ("retention_days: soon\n", "retention_days must be a number"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, yaml_text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ValueError, match=message):
        load_settings(config_file=str(config), environ={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read config file"):
        load_settings(config_file=str(tmp_path / "missing.yaml"), environ={})


def test_host_port() -> None:
    assert split_host_port("0.0.0.0:4317") == ("0.0.0.0", 4317)
    assert split_host_port("[::1]:4318") == ("::1", 4318)
    with pytest.raises(ValueError, match="HOST:PORT"):
        split_host_port("localhost")
