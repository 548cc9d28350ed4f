"""Browser tests: headless Chromium drives the real dashboard against the running local stack.

One fixture (for this package) starts the stack in-process: the app on a real port (chalice local's
server, ``live_app_url``), the Stripe emulator pointed at its webhook route
(``stripe_emulator``), and the dashboard's static server with the API base URL injected into
``config.js``. Every test seeds its own agency through the public API (platform key, outbox
for invitation tokens), so no test depends on another's data.

On failure, the screenshot of every screen the test passed through (and the last one) is
written to ``test-artifacts/<test name>/`` (``DASHBOARD_SCREENSHOTS=always``: after every test).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from tests.conftest import PLATFORM_HEADERS, ROOT, TEST_ENV, reset_table

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
INVITE_TOKEN = re.compile(r"accept-invite\?token=([A-Za-z0-9._~%+-]+)")
WAIT_SECONDS = 10

_serial = itertools.count(1)


def _first_existing(paths: tuple[str, ...], name: str) -> str:
    found = next((p for p in paths if Path(p).exists()), None) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: apt-get install -y chromium chromium-driver")
    return found


# --------------------------------------------------------------------------- the API client


@dataclass
class Api:
    """Seeds data through the public HTTP routes (SPEC section 3) of the running app."""

    base: str

    def call(self, method: str, path: str, *, token: str | None = None, body: Any = None,
             platform: bool = False, idempotency_key: str | None = None) -> requests.Response:
        """One request; raises with the body when the answer is not 2xx."""
        headers = dict(PLATFORM_HEADERS) if platform else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = requests.request(method, self.base + path, json=body, headers=headers,
                                    timeout=30)
        if response.status_code >= 300:
            raise AssertionError(f"{method} {path} → {response.status_code}: {response.text}")
        return response

    def login(self, email: str, password: str) -> str:
        """An access token."""
        return self.call("POST", "/v1/auth/login",
                         body={"email": email, "password": password}).json()["access_token"]

    def invitation_token(self, email: str) -> str:
        """The newest invitation token sent to ``email`` (local outbox)."""
        messages = self.call("GET", f"/v1/platform/outbox?to={email}", platform=True
                             ).json()["messages"]
        for message in messages:  # newest first
            match = INVITE_TOKEN.search(message["body"])
            if match:
                return unquote(match.group(1))
        raise AssertionError(f"no invitation email for {email}: {messages}")

    def accept(self, email: str, password: str) -> str:
        """Accept the newest invitation sent to ``email``; returns the new user's token."""
        return self.call("POST", "/v1/auth/invitations/accept", body={
            "token": self.invitation_token(email), "password": password}).json()["access_token"]

    def grant(self, subaccount_id: str, asset: str, amount: str) -> None:
        """Platform adjustment: credit minutes (or KP credits) to a sub-account."""
        self.call("POST", "/v1/platform/adjustments", platform=True, body={
            "subaccount_id": subaccount_id, "asset": asset, "amount": amount,
            "reason": "browser test grant"})


@dataclass
class Agency:
    """An agency made for one test, its owner signed in through the API."""

    api: Api
    n: int
    owner_email: str
    owner_password: str
    owner_token: str
    primary_id: str
    subaccounts: dict[str, str] = field(default_factory=dict)

    def email(self, local: str) -> str:
        """An address unique to this agency (emails are unique system-wide)."""
        return f"{local}@agency{self.n}.example.com"

    def add_subaccount(self, name: str, *, basic: str = "0.12", premium: str = "0.20") -> str:
        """A client sub-account; its login invitation goes to ``client-<name>@…``."""
        body = self.api.call("POST", "/v1/subaccounts", token=self.owner_token, body={
            "name": name, "login_email": self.email(_slug(name)),
            "prices": {"basic": basic, "premium": premium}}).json()
        self.subaccounts[name] = body["id"]
        return body["id"]

    def client_login(self, name: str, password: str = "client-pass-123") -> tuple[str, str]:
        """Accept the sub-account's login invitation; returns (email, password)."""
        email = self.email(_slug(name))
        self.api.accept(email, password)
        return email, password

    def invite(self, local: str, role: str, names: list[str] | None = None,
               password: str = "member-pass-123") -> tuple[str, str]:
        """Invite and accept a user through the API; returns (email, password)."""
        email = self.email(local)
        body: dict[str, Any] = {"email": email, "role": role}
        if role != "agency_admin":
            body["subaccount_access"] = "specific" if names else "all"
            body["subaccount_ids"] = [self.subaccounts[n] for n in names or []]
        self.api.call("POST", "/v1/invitations", token=self.owner_token, body=body)
        self.api.accept(email, password)
        return email, password


def _slug(name: str) -> str:
    return "client-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------- the stack


def _web_server_module() -> Any:
    """``web/serve.py`` (the dashboard folder is static files, not a Python package)."""
    spec = importlib.util.spec_from_file_location("dashboard_serve", ROOT / "web" / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Stack:
    """URLs of the running stack."""

    api_url: str
    web_url: str
    stripe_url: str
    api: Api

    def new_agency(self, plan: str = "agency_pro") -> Agency:
        """A fresh agency (unique emails) with its owner's token."""
        n = next(_serial)
        email, password = f"owner@agency{n}.example.com", "owner-pass-123"
        created = self.api.call("POST", "/v1/platform/agencies", platform=True, body={
            "name": f"Browser Agency {n}", "owner_email": email, "owner_password": password,
            "plan": plan, "subscription_start": "2026-01-15"}).json()
        return Agency(self.api, n, email, password, self.api.login(email, password),
                      created["primary_subaccount"]["id"])


@pytest.fixture(scope="package")
def stack(live_app_url: str, stripe_emulator: str) -> Iterator[Stack]:
    """App + Stripe emulator + dashboard server, on a fresh table for the browser tests.

    Package-scoped so that ``PUBLIC_BASE_URL`` is put back as soon as the browser tests end.
    """
    from chalicelib import bootstrap

    reset_table()
    server, web_url = _web_server_module().serve_in_thread(0, api_base=live_app_url)
    # Links the API sends out (invitation emails, Stripe's onboarding return URL) must open
    # this dashboard, as PUBLIC_BASE_URL does in the local stack.
    previous = os.environ.get("PUBLIC_BASE_URL")
    os.environ["PUBLIC_BASE_URL"] = web_url
    bootstrap.build()
    try:
        yield Stack(live_app_url, web_url, stripe_emulator, Api(live_app_url))
    finally:
        os.environ["PUBLIC_BASE_URL"] = previous or TEST_ENV["PUBLIC_BASE_URL"]
        bootstrap.build()
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session (a fresh profile directory, no network calls)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = _first_existing(CHROMIUM_CANDIDATES, "chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--disable-extensions", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    downloads = Path(profile) / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    service = Service(executable_path=_first_existing(DRIVER_CANDIDATES, "chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.downloads = downloads  # where the CSV export lands
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The dashboard in the browser, found by ``data-testid``; remembers each screen seen."""

    def __init__(self, driver: Any, web_url: str) -> None:
        self.driver = driver
        self.web_url = web_url
        self.screens: list[tuple[str, bytes]] = []

    # navigation ------------------------------------------------------------------------

    def open(self, path: str = "/") -> None:
        """Load a URL of the dashboard."""
        self.driver.get(self.web_url + path)

    def sign_in(self, email: str, password: str) -> None:
        """Sign in through the form and wait for the signed-in shell."""
        self.open("/#/login")
        self.type("login-email", email)
        self.type("login-password", password)
        self.click("login-submit")
        self.wait_text("whoami", email)

    def sign_out(self) -> None:
        """Sign out through the top bar."""
        self.click("sign-out")
        self.find("login-form")

    def snap(self, name: str) -> None:
        """Remember how this screen looks (written out only if the test fails)."""
        self.screens.append((name, self.driver.get_screenshot_as_png()))

    # finding and acting ----------------------------------------------------------------

    def wait(self, condition: Any, message: str, timeout: float = WAIT_SECONDS) -> Any:
        """Poll ``condition(driver)`` until truthy."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, ignored_exceptions=(
            StaleElementReferenceException,)).until(condition, message)

    def find(self, testid: str, within: Any = None, timeout: float = WAIT_SECONDS) -> Any:
        """The visible element with ``data-testid`` (``within``: an element, or the testid of
        one, found again on every poll so that a re-rendered table is no problem)."""
        from selenium.webdriver.common.by import By

        selector = f'[data-testid="{testid}"]'

        def visible(_: Any) -> Any:
            if isinstance(within, str):
                scopes = [e for e in self.driver.find_elements(
                    By.CSS_SELECTOR, f'[data-testid="{within}"]') if e.is_displayed()]
                if not scopes:
                    return None
                scope = scopes[0]
            else:
                scope = within or self.driver
            for element in scope.find_elements(By.CSS_SELECTOR, selector):
                if element.is_displayed():
                    return element
            return None

        return self.wait(visible, f"no visible [data-testid={testid!r}]", timeout)

    def click(self, testid: str, within: Any = None) -> None:
        """Click an enabled element."""
        element = self.find(testid, within)
        self.wait(lambda _: element.is_enabled(), f"{testid} stays disabled")
        element.click()

    def type(self, testid: str, text: str, within: Any = None) -> None:
        """Replace an input's value."""
        element = self.find(testid, within)
        element.clear()
        element.send_keys(text)

    def choose(self, testid: str, visible_text: str | None = None, value: str | None = None
               ) -> None:
        """Pick an option of a select."""
        from selenium.webdriver.support.ui import Select

        picker = Select(self.find(testid))
        if value is not None:
            picker.select_by_value(value)
        else:
            picker.select_by_visible_text(visible_text or "")

    def text(self, testid: str, within: Any = None) -> str:
        """Visible text of an element."""
        return self.find(testid, within).text

    def wait_text(self, testid: str, expected: str, within: Any = None,
                  timeout: float = WAIT_SECONDS) -> str:
        """Wait until the element's text contains ``expected``; returns the text."""
        self.wait(lambda _: expected in self.find(testid, within, timeout).text,
                  f"[data-testid={testid!r}] never showed {expected!r}", timeout)
        return self.text(testid, within)

    def row(self, testid: str) -> Any:
        """A table row by its ``data-testid``."""
        return self.find(testid)

    def menu(self, row_testid: str, item_testid: str) -> None:
        """Open a row's ⋯ menu and pick an item."""
        self.click("row-menu", within=row_testid)
        self.click(item_testid, within=row_testid)


@pytest.fixture
def page(chromium: Any, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A signed-out dashboard; screens are written to test-artifacts/ if the test fails."""
    for handle in chromium.window_handles[1:]:  # tabs a previous test left open
        chromium.switch_to.window(handle)
        chromium.close()
    chromium.switch_to.window(chromium.window_handles[0])
    chromium.get(stack.web_url + "/#/login")
    chromium.execute_script("sessionStorage.clear(); localStorage.clear();")
    chromium.get("about:blank")  # the next open() is a fresh page load, not a hash change
    current = Page(chromium, stack.web_url)
    yield current
    report = getattr(request.node, "rep_call", None)
    keep = os.environ.get("DASHBOARD_SCREENSHOTS") == "always"
    if report is not None and (report.failed or keep):
        folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        folder.mkdir(parents=True, exist_ok=True)
        for index, (name, png) in enumerate(current.screens, start=1):
            (folder / f"{index:02d}-{name}.png").write_bytes(png)
        try:
            chromium.save_screenshot(str(folder / "99-last.png"))
            (folder / "99-last.html").write_text(chromium.page_source, encoding="utf-8")
            logs = "\n".join(str(entry) for entry in chromium.get_log("browser"))
            (folder / "browser-console.log").write_text(logs, encoding="utf-8")
        except Exception as exc:  # artifacts must never hide the real failure
            (folder / "artifact-error.txt").write_text(repr(exc), encoding="utf-8")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Keep each phase's report on the item, so fixtures know whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``browser`` mark (``-m "not browser"`` leaves the browser suite out)."""
    config.addinivalue_line("markers", "browser: drives the dashboard in headless Chromium")
