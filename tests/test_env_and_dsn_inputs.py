"""URLs from the environment and PostgreSQL/Redis URLs on the command line are checked before
anything runs: one line and exit 2 from the CLI, a typed error from the Python API (issue 19,
item 5)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from _cli_helpers import ENV_KEYS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async.cli import main
from karbon_async.export._postgres import check_dsn

BAD_BASE_URLS = ["api.karbonhq.com", "ftp://api.karbonhq.com", "https://", "https://a b.com"]


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("KARBON_FLEET_BROKER", raising=False)
    monkeypatch.setenv("KARBON_BEARER_TOKEN", "token")
    monkeypatch.setenv("KARBON_ACCESS_KEY", "key")


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        code = main(argv)
    except SystemExit as exited:
        code = exited.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_a_bad_karbon_base_url_is_one_line_and_exit_2(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KARBON_BASE_URL", url)
    line = _one_line_exit_2(["export", "--out", str(tmp_path / "o")], capsys)
    assert "KARBON_BASE_URL" in line
    assert "not an absolute http(s) URL" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_from_env_refuses_a_bad_karbon_base_url_with_a_configuration_error(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KARBON_BASE_URL", url)
    with pytest.raises(ka.ConfigurationError, match="KARBON_BASE_URL") as caught:
        ka.KarbonClient.from_env()
    assert isinstance(caught.value, ValueError)


async def test_from_env_takes_a_good_karbon_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KARBON_BASE_URL", "http://127.0.0.1:8080/v3/")
    async with ka.KarbonClient.from_env() as client:
        assert client.base_url == "http://127.0.0.1:8080"
    async with ka.KarbonClient.from_env(base_url="http://127.0.0.1:9") as client:
        assert client.base_url == "http://127.0.0.1:9"  # an explicit option wins


@pytest.mark.parametrize(
    ("dsn", "needle"),
    [
        ("postgresql://::::/", "port ':::' is not a number from 1 to 65535"),
        ("postgresql://user:secret@localhost:99999/db", "port '99999'"),
        ("postgresql://localhost:0/db", "port '0'"),
        ("postgresql://localhost:abc/db", "port 'abc'"),
        ("postgresql://localhost:/db", "port ''"),
        ("postgresql://h1:5432,h2:70000/db", "port '70000'"),
        ("postgresql://localhost/db?port=65536", "port '65536'"),
        ("postgresql://[::1/db", "postgresql://[::1/db"),
        ("mysql://localhost/db", "must be a postgresql:// URL"),
    ],
)
def test_a_bad_dsn_is_one_line_and_exit_2(
    dsn: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _one_line_exit_2(["export", "--to", dsn], capsys)
    assert needle in line
    assert "secret" not in line


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://localhost/db",
        "postgres://u:p@localhost:5432/db",
        "postgresql:///db",
        "postgresql://h1:5432,h2:5433/db",
        "postgresql://[::1]:5432/db",
        "postgresql://localhost/db?sslmode=disable&port=5433",
    ],
)
def test_a_good_dsn_passes(dsn: str) -> None:
    assert check_dsn(dsn) == dsn


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["--broker", "localhost:6379"], None, "--broker"),
        (["--broker", "redis://:secret@h:99999/0"], None, "redis://h:99999/0"),
        ([], "http://localhost:6379", "KARBON_FLEET_BROKER"),
        (["--broker", "redis://h:6379/0", "--redis", "h:6379"], None, "--redis"),
    ],
)
def test_a_bad_fleet_redis_url_is_one_line_and_exit_2(
    argv: list[str],
    env: str | None,
    needle: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if env is not None:
        monkeypatch.setenv("KARBON_FLEET_BROKER", env)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text('[firm]\nbearer_token = "t"\naccess_key = "k"\n')
    command = ["fleet", "submit", str(accounts), "--to", "postgresql://localhost/db", *argv]
    line = _one_line_exit_2(command, capsys)
    assert needle in line
    assert "not a Redis URL" in line
    assert "secret" not in line


_DSN_PIECES = st.sampled_from(
    [*"ab:@/[]?=,%.&0123456789", "port", "host", "99999", "::1", "5432", "localhost"]
)


def _asyncpg_parse(dsn: str) -> None:
    """asyncpg's own DSN parser (private: skipped should it move)."""
    connect_utils = pytest.importorskip("asyncpg.connect_utils")
    parse = getattr(connect_utils, "_parse_connect_dsn_and_args", None)
    if parse is None:
        pytest.skip("asyncpg's DSN parser moved")
    names = inspect.signature(parse).parameters
    parse(**{name: dsn if name == "dsn" else None for name in names})


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rest=st.lists(_DSN_PIECES, max_size=12).map("".join))
def test_what_check_dsn_lets_through_asyncpg_can_parse(
    rest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never a traceback: check_dsn refuses with one ValueError, or asyncpg reads the URL.
    monkeypatch.setenv("PGPASSFILE", "/nonexistent/pgpass")
    dsn = "postgresql://" + rest
    try:
        check_dsn(dsn)
    except ValueError as exc:
        message = str(exc)
    else:
        _asyncpg_parse(dsn)
        return
    assert "\n" not in message


def test_a_postgres_sink_refuses_a_bad_dsn_before_connecting() -> None:
    from karbon_async.export._postgres import PostgresSink

    with pytest.raises(ValueError, match=r"^dsn postgresql://h:99999/db: port '99999'"):
        PostgresSink("postgresql://user:secret@h:99999/db")
    assert PostgresSink("postgresql://h:5432/db").dsn == "postgresql://h:5432/db"
