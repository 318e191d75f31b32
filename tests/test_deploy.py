"""The container deployment: the compose file is valid under the Compose Specification's
JSON schema and holds what docs/deploy.md promises, and the entrypoint script, run as the
container runs it against a real PostgreSQL (the embedded server here), migrates, prints
the API key on the first start only, then runs its command."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import yaml

from learnloop.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
# The Compose Specification's schema (github.com/compose-spec/compose-spec, schema/
# compose-spec.json, Apache-2.0, commit 170098ba07d9), the one `docker compose config` checks.
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
    return data


def _interpolated(value: Any) -> Any:
    """``value`` with ``${NAME:-default}`` replaced as Compose does with NAME unset."""
    if isinstance(value, dict):
        return {k: _interpolated(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolated(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
    return value


def test_compose_file_is_valid_under_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(json.loads(COMPOSE_SCHEMA.read_text("utf-8")))
    compose = _compose()
    for document in (compose, _interpolated(compose)):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []
    assert "${" not in json.dumps(_interpolated(compose))  # every variable has a default
    assert _interpolated(compose)["services"]["api"]["ports"] == ["8000:8000"]
    # the schema does reject what Compose would: a misspelt key, a wrong start condition
    wrong = copy.deepcopy(compose)
    wrong["services"]["api"]["healthcheck"]["retry"] = 5
    wrong["services"]["worker"]["depends_on"]["db"]["condition"] = "healthy"
    paths = {tuple(e.absolute_path) for e in validator.iter_errors(wrong)}
    assert paths == {("services", "api", "healthcheck"), ("services", "worker", "depends_on")}


def test_compose_has_the_database_the_api_and_the_worker_with_health_checks() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"db", "api", "worker"}
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert set(compose["volumes"]) == {"pgdata"}
    for name, service in services.items():
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 3, name
    assert services["api"]["build"] == "." and services["worker"]["image"] == "learnloop:latest"
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["learnloop", "worker"]
    assert services["worker"]["environment"]["LEARNLOOP_INIT"] == "0"
    for name in ("api", "worker"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert re.fullmatch(
            r"postgresql://learnloop:\$\{POSTGRES_PASSWORD:-\w+\}@db:5432/learnloop", url
        ), url
    # the URL the containers get is the one learnloop reads
    assert (
        Settings(_env_file=None, DATABASE_URL="postgresql://x@db/l").database_url
        == "postgresql://x@db/l"
    )  # type: ignore[call-arg]


def test_dockerfile_installs_cpu_torch_and_keeps_the_model_inside() -> None:
    text = (ROOT / "Dockerfile").read_text("utf-8")
    pinned = re.search(r"torch==([\d.]+)", text)
    project = (ROOT / "pyproject.toml").read_text("utf-8")
    assert pinned and f'"torch=={pinned[1]}"' in project  # the same torch as the project
    assert "--index-url https://download.pytorch.org/whl/cpu" in text
    assert "HF_HUB_OFFLINE=1" in text and "LocalEmbedder()" in text
    assert 'ENTRYPOINT ["/usr/local/bin/learnloop-entrypoint"]' in text
    assert "COPY docker/entrypoint.sh /usr/local/bin/learnloop-entrypoint" in text


def _start(url: str, tenant: str, *command: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "DATABASE_URL": url,
        "LEARNLOOP_TENANT": tenant,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "LEARNLOOP_INIT_TRIES": "2",
        "LEARNLOOP_INIT_WAIT": "0",
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_entrypoint_prints_the_key_on_the_first_start_only(migrated_db_url: str) -> None:
    first = _start(migrated_db_url, "shop", "python", "-c", "print('serving')")
    assert first.returncode == 0, first.stderr
    key = re.search(r"^(ll_\S+)$", first.stdout, re.MULTILINE)
    assert key and "API key (shown once)" in first.stdout
    assert first.stdout.rstrip().endswith("serving")  # then it ran the command
    again = _start(migrated_db_url, "shop", "true")
    assert again.returncode == 0 and "has an API key already" in again.stdout
    assert "ll_" not in again.stdout
    with psycopg.connect(migrated_db_url) as conn:
        keys = conn.execute("SELECT count(*) FROM api_keys WHERE tenant_id = 'shop'").fetchone()
        migrated = conn.execute("SELECT to_regclass('data_events') IS NOT NULL").fetchone()
    assert keys == (1,) and migrated == (True,)


def test_entrypoint_refuses_without_a_database() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "set DATABASE_URL" in done.stderr
