"""Fixtures of the catalogue's browser tests.

`crates/paks-cli/tests/catalog_browser.rs` prepares a real `paks serve` with packages and
an image, then runs this suite with the facts in environment variables:

- `PAKS_BROWSER_BASE_URL`: the server (`http://127.0.0.1:PORT`).
- `PAKS_BROWSER_FIXTURE`: a JSON file saying what was pushed (see `Fixture`).
- `PAKS_BROWSER_CHROMIUM`: Debian's Chromium (default `/usr/bin/chromium`).
- `PAKS_BROWSER_AXE`: axe-core's `axe.min.js` (vendored by `scripts/deps`).
- `PAKS_BROWSER_ARTIFACTS`: where the screenshots go (one per step).

Every context refuses requests to any host but 127.0.0.1: the pages must need nothing
from elsewhere, and the tests must send nothing elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise pytest.UsageError(
            f"`{name}` is not set\n"
            "hint: run the suite through `cargo test -p paks-cli --test catalog_browser`"
        )
    return value


@dataclass(frozen=True)
class Fixture:
    """What the Rust harness pushed to the registry."""

    base_url: str
    host_profile: Path
    raw: dict

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def versioned(self) -> dict:
        """A package with several versions: `repository`, `versions` (newest first)."""
        return self.raw["versioned"]

    @property
    def dependent(self) -> dict:
        """A package with dependencies: `repository`, `name`, `dependencies` (names)."""
        return self.raw["dependent"]

    @property
    def dependency(self) -> dict:
        """A package others depend on: `repository`, `name`, `dependents` (names)."""
        return self.raw["dependency"]

    @property
    def signed(self) -> str:
        """The repository of a package pushed with `--sign`."""
        return self.raw["signed"]

    @property
    def image(self) -> dict:
        """A plain image: `repository`, `reference`."""
        return self.raw["image"]


@pytest.fixture(scope="session")
def fixture() -> Fixture:
    base_url = _env("PAKS_BROWSER_BASE_URL").rstrip("/")
    raw = json.loads(Path(_env("PAKS_BROWSER_FIXTURE")).read_text())
    return Fixture(base_url=base_url, host_profile=Path(raw["host_profile"]), raw=raw)


@pytest.fixture(scope="session", autouse=True)
def catalogue_ready(fixture: Fixture) -> None:
    """Waits until the home page lists everything pushed (links to the packages, the
    image's name): the catalogue reads a pushed repository in the background, after the
    push has been answered."""
    links = [
        f"/packages/{fixture.versioned['repository']}",
        f"/packages/{fixture.dependent['repository']}",
        f"/packages/{fixture.dependency['repository']}",
    ]
    image = fixture.image["repository"]
    # Straight to the server, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    page = ""
    for _ in range(100):
        try:
            with opener.open(fixture.url("/"), timeout=10) as response:
                page = response.read().decode()
        except urllib.error.HTTPError as e:
            page = f"HTTP {e.code}: {e.read().decode(errors='replace')}"
        linked = all(any(w + end in page for end in ('"', "'", "?")) for w in links)
        if linked and image in page:
            return
        time.sleep(0.1)
    pytest.fail(f"the home page does not list all of {links} and `{image}`:\n{page}")


@pytest.fixture(scope="session")
def browser() -> Browser:
    chromium = os.environ.get("PAKS_BROWSER_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        # Debian's Chromium, not a downloaded one. As root it runs only without its sandbox.
        b = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--headless=new", "--no-proxy-server"],
        )
        yield b
        b.close()


def _loopback_only(context: BrowserContext, refused: list[str]) -> None:
    def route(r):
        host = urllib.parse.urlsplit(r.request.url).hostname
        if host == "127.0.0.1":
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort("blockedbyclient")

    context.route("**/*", route)


class Session:
    """One browser context and page, with screenshots and a record of what went wrong."""

    def __init__(self, browser: Browser, request: pytest.FixtureRequest, **options):
        self.context = browser.new_context(**options)
        self.refused: list[str] = []
        self.errors: list[str] = []
        _loopback_only(self.context, self.refused)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console {m.type}: {m.text}")
            if m.type == "error"
            else None,
        )
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        self.shots = Path(_env("PAKS_BROWSER_ARTIFACTS")) / name
        self.shots.mkdir(parents=True, exist_ok=True)
        for old in self.shots.glob("*.png"):
            old.unlink()
        self.step = 0

    def shot(self, what: str) -> Path:
        """Save a full-page screenshot of this step."""
        self.step += 1
        path = self.shots / f"{self.step:02}-{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()
        assert not self.refused, f"the page asked for hosts other than 127.0.0.1: {self.refused}"
        assert not self.errors, "the page reported errors:\n" + "\n".join(self.errors)


@pytest.fixture
def new_session(browser: Browser, request: pytest.FixtureRequest):
    """Opens sessions with these context options (closed and checked after the test)."""
    opened: list[Session] = []

    def open_session(**options) -> Session:
        opened.append(Session(browser, request, **options))
        return opened[-1]

    yield open_session
    for s in opened:
        s.close()


@pytest.fixture
def session(new_session) -> Session:
    """A page with JavaScript."""
    return new_session()


@pytest.fixture
def static_session(new_session) -> Session:
    """A page without JavaScript: the pages must work as plain HTML forms and links."""
    return new_session(java_script_enabled=False)


@pytest.fixture
def audit_session(new_session) -> Session:
    """A page where axe-core can be injected whatever the page's Content-Security-Policy."""
    return new_session(bypass_csp=True)


@pytest.fixture(scope="session")
def axe_source() -> str:
    return Path(_env("PAKS_BROWSER_AXE")).read_text()
