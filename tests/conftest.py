"""Shared fixtures: one real embedded PostgreSQL and one real embedding model per test run.

Each test gets a tenant of its own, so tests never see each other's rows. A test that needs
a database of its own (one that acts on every tenant, or claims the embedder) asks for
``migrated_db_url``: a copy of a template database migrated once per run (a copy costs
what creating an empty database costs, however many migrations there are). Only tests of
the migrations themselves ask for ``fresh_db_url``, an empty database.

Tests that read the team's data sets beside the repo (../shared/data) ask for them with
``shared_data("banking77/train.csv")``: where the path is missing the test is skipped with a
reason naming it, or fails when ``LEARNLOOP_REQUIRE_SHARED_DATA=1`` (as CI sets it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from learnloop.api import create_app
from learnloop.db.embedded import embedded_url
from learnloop.embedders import LocalEmbedder
from learnloop.service import LearnLoop
from learnloop.settings import Settings
from tests.databases import build_template, create_database, drop_database, without_durability

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
REQUIRE_SHARED_DATA = "LEARNLOOP_REQUIRE_SHARED_DATA"


def shared_data(relative: str) -> Path:
    """The path ``relative`` under ../shared/data, for a test or fixture to read.

    Where it is missing (a clone without the team's data beside it) the calling test is
    skipped with a reason naming the path; with ``LEARNLOOP_REQUIRE_SHARED_DATA=1`` in the
    environment it fails instead, so CI cannot pass by skipping.
    """
    path = SHARED_DATA / relative
    if not path.exists():
        reason = f"needs the shared data set {path} (../shared/data beside the repo)"
        if os.environ.get(REQUIRE_SHARED_DATA, "") not in ("", "0"):
            pytest.fail(f"{reason}; {REQUIRE_SHARED_DATA} is set", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """A data dir outside pytest's rotating temp folders, removed after the server stops.

    atexit runs last-registered first: this removal is registered before the embedded
    server registers its stop, so the server stops first.
    """
    path = Path(tempfile.mkdtemp(prefix="learnloop-test-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=None)


@pytest.fixture(scope="session")
def database_url(settings: Settings) -> str:
    """The URL of the learnloop database on the embedded server (started once), a server
    that does not wait for the disk: its data dir is this run's alone (tests/databases.py)."""
    url = embedded_url(settings.pgdata)
    without_durability(url)
    return url


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(scope="session")
def ll(settings: Settings, database_url: str, embedder: LocalEmbedder) -> Iterator[LearnLoop]:
    instance = LearnLoop.open(settings.model_copy(update={"database_url": database_url}), embedder)
    yield instance
    instance.close()


@pytest.fixture
def tenant(ll: LearnLoop) -> str:
    """A fresh tenant for this test alone."""
    return ll.tenants.create(f"t-{uuid.uuid4().hex[:12]}").tenant_id


@pytest.fixture
def fresh_db_url(database_url: str) -> Iterator[str]:
    """An empty database on the embedded server, dropped after the test: for the tests of
    the migrations themselves."""
    url = create_database(database_url, "fresh")
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def template_db(database_url: str) -> str:
    """The name of the template database: migrated once per run as a server migrates its
    database, and closed to connections (tests/databases.py)."""
    return build_template(database_url)


@pytest.fixture
def migrated_db_url(database_url: str, template_db: str) -> Iterator[str]:
    """A database of this test alone, cloned from the template: every migration applied,
    no tenant, no embedder claimed yet. Dropped after the test."""
    url = create_database(database_url, "clone", template=template_db)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def app_client(ll: LearnLoop) -> Iterator[TestClient]:
    with TestClient(create_app(ll)) as client:
        yield client


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(server: uvicorn.Server) -> Iterator[None]:
    """``server`` served in a thread, from when it has started until the block ends."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server_url(ll: LearnLoop) -> Iterator[str]:
    """The real API on a free loopback port, served by uvicorn in a thread."""
    port = free_port()
    with running(uvicorn.Server(uvicorn.Config(create_app(ll), port=port, log_level="warning"))):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def api(app_client: TestClient, ll: LearnLoop, tenant: str) -> TestClient:
    """An HTTP client whose requests carry an API key of this test's tenant."""
    key = ll.keys.create(tenant, "test").key
    app_client.headers["Authorization"] = f"Bearer {key}"
    return app_client


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium driven by Selenium (README: "Browser tests"), with the
    console kept: there the browser reports what a Content-Security-Policy refused."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
