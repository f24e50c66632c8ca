"""``uc-workflow``, the registry from a shell, as a subprocess on the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared_client.tools import ALL_TOOLS

CLI = str(Path(sys.executable).parent / "uc-workflow")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ULTRACART_") and k != "UC_WORKFLOW_SANDBOX_DB"
    }
    return {**clean, "UC_WORKFLOW_SANDBOX": "1", "UC_WORKFLOW_SANDBOX_DB": str(tmp_path / "sandbox.sqlite3")}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        env=env,
        cwd=Path(env["UC_WORKFLOW_SANDBOX_DB"]).parent,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tools_lists_every_tool(env: dict[str, str]) -> None:
    done = run(env, "tools")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.strip().splitlines()[1:]
    assert [row.split()[0] for row in rows] == [t.name for t in ALL_TOOLS]
    for row, tool in zip(rows, ALL_TOOLS, strict=True):
        _, read_only, toolset, *title = row.split()
        assert (read_only, toolset, " ".join(title)) == (
            "yes" if tool.read_only else "no",
            tool.toolset,
            tool.title,
        )


def test_tools_json(env: dict[str, str]) -> None:
    done = run(env, "tools", "--json")
    listed = json.loads(done.stdout)
    assert [t["name"] for t in listed] == [t.name for t in ALL_TOOLS]
    assert {"name", "read_only", "toolset", "title"} == set(listed[0])


def test_call_prints_the_structured_result(env: dict[str, str]) -> None:
    done = run(env, "call", "search_tasks", '{"status": "open", "limit": 2}')
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["count"] == 2 and len(data["tasks"]) == 2

    created = run(
        env, "--sandbox", "call", "create_task", "-", stdin='{"name": "From the shell", "priority": "2"}'
    )
    assert created.returncode == 0, created.stderr
    number = json.loads(created.stdout)["task"]["number"]
    got = run(env, "call", "get_task", json.dumps({"task": f"#{number}"}), "--sandbox")
    assert json.loads(got.stdout)["task"]["priority"] == "medium"


def test_call_with_no_arguments(env: dict[str, str]) -> None:
    done = run(env, "call", "count_open_tasks")
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout)["open_count"], int)


def test_tool_failure_exits_1_with_the_message(env: dict[str, str]) -> None:
    done = run(env, "call", "get_task", '{"task": "#99999999"}')
    assert done.returncode == 1
    assert "#99999999" in done.stderr and "Traceback" not in done.stderr
    # stdout holds the error as data, for scripts: what kind, and which argument it is about.
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "not_found" and [f["path"] for f in error["fields"]] == ["task"]

    invalid = run(env, "call", "search_tasks", '{"priority": "whenever"}')
    assert invalid.returncode == 1
    assert "priority" in invalid.stderr
    error = json.loads(invalid.stdout)["error"]
    assert error["kind"] == "bad_input" and [f["path"] for f in error["fields"]] == ["priority"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["call", "launch_rockets", "{}"], "unknown tool 'launch_rockets'"),
        (["call", "get_me", "{not json"], "not valid JSON"),
        (["call", "get_me", "[1, 2]"], "must be a JSON object"),
    ],
)
def test_usage_errors_exit_2_with_one_line(env: dict[str, str], args: list[str], expected: str) -> None:
    done = run(env, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_help(env: dict[str, str]) -> None:
    done = run(env, "--help")
    assert done.returncode == 0
    assert "tools" in done.stdout and "call" in done.stdout and "--sandbox" in done.stdout


def test_importable_without_mcp_or_slack() -> None:
    code = (
        "import sys\n"
        "for name in ('mcp', 'slack_sdk', 'slack_bolt'):\n"
        "    sys.modules[name] = None  # any import of them now fails\n"
        "import shared_client.cli\n"
        "from shared_client.tools import ALL_TOOLS\n"
        "print(len(ALL_TOOLS))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(ALL_TOOLS))


# --------------------------------------------------------------------------- the four commands' common ground

COMMANDS = {
    "uc-workflow": ["call", "get_me"],
    "uc-workflow-mcp": [],
    "uc-workflow-sandbox": ["--port", "0"],
    "uc-workflow-slack": [],
}


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_command_has_help(prog: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / prog), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {prog}")
    if prog != "uc-workflow":
        assert "--log-level" in done.stdout and "--port" in done.stdout


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_a_bad_setting_is_one_line_naming_it(env: dict[str, str], prog: str) -> None:
    """The same line from every command, naming the setting and never its value."""
    bad = {**env, "ULTRACART_BASE_URL": "ftp://value-to-hide.example/rest/v2"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / prog), *COMMANDS[prog]],
        env=bad,
        cwd=Path(env["UC_WORKFLOW_SANDBOX_DB"]).parent,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{prog}: setting ULTRACART_BASE_URL: use an http(s) URL such as https://secure.ultracart.com/rest/v2"
    ]
    assert "value-to-hide" not in done.stderr


def test_option_value_messages(capsys: pytest.CaptureFixture[str]) -> None:
    from shared_client.sandbox.cli import build_parser

    for args, expected in (
        (["--fault-rate", "2"], "argument --fault-rate: '2' must be between 0 and 1 (see --help)"),
        (["--latency", "soon"], "argument --latency: 'soon' is not a number (see --help)"),
        (["--seed-tasks", "-1"], "argument --seed-tasks: '-1' must be >= 0 (see --help)"),
        (["--port", "65536"], "argument --port: '65536' must be between 0 and 65535 (see --help)"),
    ):
        with pytest.raises(SystemExit):
            build_parser().parse_args(args)
        assert capsys.readouterr().err == f"uc-workflow-sandbox: {expected}\n"
    # Any case is a log level; the value is lower case, as uvicorn wants it.
    assert build_parser().parse_args(["--log-level", "DEBUG"]).log_level == "debug"


# --------------------------------------------------------------------------- settings: every path, one place


@pytest.fixture
def no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment without any uc-workflow setting, run from an empty directory (no .env)."""
    for key in list(os.environ):
        if key.startswith(("ULTRACART_", "UC_WORKFLOW_", "SLACK_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_default_paths(no_settings: Path) -> None:
    from platformdirs import user_data_dir

    from shared_client.settings import Settings

    settings = Settings()
    assert settings.sandbox_db_path == Path(user_data_dir("uc-workflow")) / "sandbox.sqlite3"
    slack_file = Path(user_data_dir("uc-workflow")).absolute() / "slack.sqlite3"
    assert settings.database_url == f"sqlite+aiosqlite:///{slack_file}"
    assert settings.state_dir == Path(user_data_dir("uc-workflow")) / "state"
    assert settings.lock_dir == settings.state_dir / "locks"
    assert settings.redis_url is None
    assert settings.slack_api_url == "https://slack.com/api/"


def test_path_settings(no_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared_client.sandbox import default_db_path
    from shared_client.settings import Settings

    monkeypatch.setenv("UC_WORKFLOW_SANDBOX_DB", str(no_settings / "sb" / "sandbox.sqlite3"))
    monkeypatch.setenv("UC_WORKFLOW_STATE_DIR", str(no_settings / "state"))
    settings = Settings()
    assert settings.sandbox_db_path == no_settings / "sb" / "sandbox.sqlite3"
    # The Slack bot's SQLite file is next to the sandbox's.
    assert settings.database_url == f"sqlite+aiosqlite:///{no_settings / 'sb' / 'slack.sqlite3'}"
    assert settings.lock_dir == no_settings / "state" / "locks"
    assert default_db_path(settings) == settings.sandbox_db_path

    monkeypatch.setenv("UC_WORKFLOW_DATABASE_URL", "postgresql+asyncpg://bot@127.0.0.1/bot")
    assert Settings().database_url == "postgresql+asyncpg://bot@127.0.0.1/bot"  # wins over the file

    monkeypatch.setenv("UC_WORKFLOW_STATE_DIR", " ")  # blank is unset, as for every setting
    assert Settings().uc_workflow_state_dir is None


def test_service_url_passwords_are_secrets(no_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared_client.settings import Settings

    monkeypatch.setenv("UC_WORKFLOW_REDIS_URL", "redis://:hunter2-redis@127.0.0.1:6379/0")
    monkeypatch.setenv("UC_WORKFLOW_DATABASE_URL", "postgresql+asyncpg://bot:hunter2-pg@127.0.0.1/bot")
    settings = Settings()
    assert settings.redis_url == "redis://:hunter2-redis@127.0.0.1:6379/0"
    assert settings.database_url == "postgresql+asyncpg://bot:hunter2-pg@127.0.0.1/bot"
    assert {"hunter2-redis", "hunter2-pg"} <= set(settings.secrets())
    assert "hunter2" not in repr(settings)


def test_settings_read_a_dotenv_file(no_settings: Path) -> None:
    from shared_client.settings import Settings

    url = f"sqlite+aiosqlite:///{no_settings / 'from-dotenv.sqlite3'}"
    (no_settings / ".env").write_text(f"UC_WORKFLOW_DATABASE_URL={url}\n")
    assert Settings().database_url == url


def test_tools_into_a_closed_pipe_is_quiet(env: dict[str, str]) -> None:
    # `uc-workflow tools | head -0`: the reader is gone before the list is written; no traceback.
    code = "import sys; from shared_client.cli import main; sys.exit(main(['tools']))"
    read, write = os.pipe()
    os.close(read)  # closed before the child starts, so its write must meet a broken pipe
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
