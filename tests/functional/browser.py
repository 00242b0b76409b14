"""Headless Chromium for the dashboard's browser tests, driven with Selenium: Debian's
`chromium` and `chromium-driver` packages (scripts/browser/install.sh). Without them the tests
are skipped, except in CI (CI=true), where their absence is a failure.

Screenshots go to $HERDER_SCREENSHOT_DIR when it is set (.ci/run sets a directory under the
repository that .gitignore leaves out), else to the test's temporary directory."""
import contextlib
import http.client
import os
import re
import urllib.parse

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# without the background-networking flags Chromium calls home at start, which a closed
# network answers slowly or not at all
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")


def require_chromium() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (the `test` extra)")
    if missing:
        problem = f"{', '.join(missing)} not installed (scripts/browser/install.sh)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(problem)
        pytest.skip(problem)


@contextlib.contextmanager
def chromium(profile_dir):
    """A headless Chromium with a fresh profile in `profile_dir`, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def screenshot(driver, tmp_path, name: str) -> str:
    directory = os.environ.get("HERDER_SCREENSHOT_DIR") or str(tmp_path)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.png")
    driver.save_screenshot(path)
    return path


def log_in(driver, endpoint: str, token: str) -> None:
    from selenium.webdriver.common.by import By
    driver.get(f"{endpoint}/dashboard/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


class DashboardClient:
    """The dashboard over plain HTTP, on one kept-alive connection, logged in with a token."""

    def __init__(self, cloud, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
        response = self.request("POST", "/dashboard/login", {"token": token})
        assert response.status == 303, response.status
        self.cookies = {name: value for name, value in re.findall(
            r"(herder_dashboard_\w+)=([^;]*)", ", ".join(
                v for k, v in response.getheaders() if k.lower() == "set-cookie"))}
        self.csrf = self.cookies["herder_dashboard_csrf"]

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> http.client.HTTPResponse:
        headers = dict(headers or {})
        if getattr(self, "cookies", None):
            headers.setdefault("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        response.body = response.read()
        return response

    def page(self, path: str = "/dashboard") -> str:
        response = self.request("GET", path)
        assert response.status == 200, (response.status, response.body[:500])
        return response.body.decode()

    def act(self, server_id: str, action: str, **fields) -> http.client.HTTPResponse:
        return self.request("POST", f"/dashboard/servers/{server_id}/actions",
                            {"csrf": self.csrf, "action": action, **fields},
                            {"Accept": "application/json"})

    def drain(self, host: str, **fields) -> http.client.HTTPResponse:
        """The hosts panel's drain form, sent as the script sends it."""
        return self.request("POST", "/dashboard/drains",
                            {"csrf": self.csrf, "host": host, **fields},
                            {"Accept": "application/json"})

    def drain_action(self, job_id: str, action: str) -> http.client.HTTPResponse:
        return self.request("POST", f"/dashboard/drains/{job_id}/actions",
                            {"csrf": self.csrf, "action": action},
                            {"Accept": "application/json"})

    def close(self) -> None:
        self.connection.close()
