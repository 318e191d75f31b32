"""The project's own promises: README commands, the public surface, strict linters."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import ModuleType

import httpx
import pytest

import learnloop

from .conftest import REQUIRE_SHARED_DATA, ROOT, shared_data

BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    """The set-up commands: the fenced bash blocks of README's 'Set up' section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, re.DOTALL)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_second() -> None:
    main, tests = readme_commands()
    assert "learnloop demo" in main and "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_ci_turns_missing_shared_data_into_failures() -> None:
    assert f"export {REQUIRE_SHARED_DATA}=1" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(("required", "outcome"), [("", pytest.skip.Exception),
                                                   ("1", pytest.fail.Exception)])  # fmt: skip
def test_missing_shared_data_skips_or_fails_naming_the_path(
    monkeypatch: pytest.MonkeyPatch, required: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv(REQUIRE_SHARED_DATA, required)
    with pytest.raises(outcome, match=r"no-such-set/train\.csv"):
        shared_data("no-such-set/train.csv")


def test_slow_tests_still_run_by_default() -> None:
    """README's plain `pytest` (and so CI) runs the slow tests and the docstring examples;
    only a developer's explicit `-m 'not slow'` leaves the slow ones out."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = config["ini_options"]
    assert "-m" not in options["addopts"].split() and "--doctest-modules" in options["addopts"]
    assert "src/learnloop" in options["testpaths"]


def run_readme_command(index: int, env: dict[str, str]) -> str:
    """Run README's set-up command ``index`` as written, in the project root; its stdout."""
    done = subprocess.run(readme_commands()[index], shell=True, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def start_readme_command(
    index: int, env: dict[str, str], until: str
) -> tuple[subprocess.Popen[str], str, re.Match[str]]:
    """Start README's set-up command ``index`` as written (it serves until Ctrl-C) and wait
    for an output line matching ``until``: the process, its output so far, the match."""
    proc = subprocess.Popen(readme_commands()[index], shell=True, cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 900
    for line in proc.stdout:
        lines.append(line)
        if found := re.search(until, line):
            return proc, "".join(lines), found
        if time.monotonic() > deadline:
            break
    stop(proc)
    raise AssertionError(f"exit code {proc.returncode}:\n" + "".join(lines)[-3000:])


def stop(proc: subprocess.Popen[str]) -> bool:
    """Ctrl-C for the command's whole process group, as a terminal sends it; whether it
    ended within 60 s (else it is killed)."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
        ended = True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        ended = False
    if proc.stdout is not None:
        proc.stdout.close()
    return ended


@pytest.mark.slow
def test_readme_main_command_runs_as_written(tmp_path: Path) -> None:
    """Run the first command exactly as written, in the project root, on a fresh data dir:
    it learns from simulated users, prints the figures, and serves the dashboard until it is
    stopped (Ctrl-C)."""
    env = os.environ | {"LEARNLOOP_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    proc, out, found = start_readme_command(0, env, r"dashboard: (http://\S+)/dashboard/#key=(\S+)")
    try:
        assert "tenant 'demo' is ready" in out
        assert "How do I reset my password?" in out
        assert re.search(r"success rate: before \d+\.\d%, after \d+\.\d%", out), out
        assert re.search(r"first-choice accuracy: before \d+\.\d%, after \d+\.\d%", out), out
        seconds = re.search(r"simulated interactions in ([\d.]+) s", out)
        assert seconds and float(seconds[1]) < 180, out
        url, key = found[1], found[2]
        assert "learnloop dashboard" in _get_when_up(f"{url}/dashboard/").text
        metrics = httpx.get(f"{url}/v1/analytics/metrics", headers={"X-API-Key": key})
        assert metrics.json()["totals"]["counts"]["impressions"] >= 1000
    finally:
        ended = stop(proc)
    assert ended and proc.returncode in (0, -signal.SIGINT)  # the shell ends on Ctrl-C too


def _get_when_up(url: str) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(url)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing answers at {url}"
            time.sleep(0.2)


@pytest.mark.slow
def test_readme_test_command_runs_as_written() -> None:
    """The test command as written; only collection, so the suite does not run itself."""
    out = run_readme_command(
        1, os.environ | {"PYTEST_ADDOPTS": "--collect-only -q -p no:cacheprovider"}
    )
    assert re.search(r"\d+ tests collected", out)


def test_public_names_are_all_exported() -> None:
    public = {
        name
        for name, value in vars(learnloop).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(learnloop.__all__) == public
    for name in learnloop.__all__:
        assert getattr(learnloop, name) is not None


def test_every_error_is_a_learnloop_error_with_a_default_message() -> None:
    errors = [getattr(learnloop, n) for n in learnloop.__all__ if n.endswith("Error")]
    errors += [learnloop.InvalidInput, learnloop.NotFound, learnloop.Conflict]
    for error in errors:
        assert issubclass(error, learnloop.LearnLoopError)
        assert str(error()) == error.__doc__


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["ruff check .", "mypy"])
def test_linters_are_clean(tool: str) -> None:
    done = subprocess.run(
        f"{BIN}/{tool}", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_readme_python_example_runs(
    monkeypatch: pytest.MonkeyPatch, database_url: str, ll: learnloop.LearnLoop
) -> None:
    block = re.search(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block is not None
    monkeypatch.setenv("DATABASE_URL", database_url)
    exec(compile(block[1], "README.md", "exec"), {})
    items, _ = ll.items.list("acme", external_id="pw")
    assert [i.title for i in items] == ["Reset a password"]
    with ll.db.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM events WHERE tenant_id = 'acme' AND type = 'clicked'"
        ).fetchone()
    assert row is not None and row["n"] >= 1


def feature_rows() -> list[list[str]]:
    """The rows of README's feature table ('What it does'): capability, start, docs."""
    section = (ROOT / "README.md").read_text().split("## What it does", 1)[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def heading_anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``doc``."""
    headings = re.findall(r"^#+ (.+)$", doc.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_readme_feature_table_points_at_real_docs_commands_and_routes() -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from learnloop.api import create_app
    from learnloop.cli.main import app as cli

    rows = feature_rows()
    assert len(rows) >= 20 and all(len(row) == 3 for row in rows), rows
    api = create_app()
    routes = set(api.openapi()["paths"])
    client = TestClient(api)
    linked = set()
    for capability, start, docs in rows:
        for target in re.findall(r"\]\((docs/[^)]+)\)", docs) or pytest.fail(capability):
            path, _, anchor = target.partition("#")
            assert (ROOT / path).is_file(), target
            assert not anchor or anchor in heading_anchors(ROOT / path), target
            linked.add(target)
        for code in re.findall(r"`([^`]+)`", start):
            words = code.split()
            if words[0] == "learnloop":  # a command: its --help answers
                command = [w for w in words[1:] if re.fullmatch(r"[a-z][a-z-]*", w)]
                done = CliRunner().invoke(cli, [*command, "--help"])
                assert done.exit_code == 0, (code, done.output)
            for route in re.findall(r"(/v1/\S+|/dashboard/)", code):
                assert route in routes or client.get(route).status_code == 200, code
    for page in (
        "vector-stores.md",
        "context.md#tools-kept-in-chroma",
        "deploy.md",
        "entities.md",
        "kpi-series.md",
        "ingest.md#crm-exports-salesforce-and-hubspot",
        "sdk.md#the-chat-widget",
        "ingest.md#history-logs-of-an-existing-assistant",
    ):
        assert f"docs/{page}" in linked, page  # fmt: skip
