"""The dashboard in a real browser: headless Chromium driven by Selenium (tests/functional/
browser.py; scripts/browser/install.sh installs it). An operator starts a migrate from the
page, watches its copy's progress bar move without reloading, sees the server reach
VERIFY_RESIZE, confirms it and sees it ACTIVE on its new host; a member sees no admin buttons;
a page left open keeps its connections few and its page from growing. Screenshots are saved at
each stage ($HERDER_SCREENSHOT_DIR, else the test's temporary directory)."""
import time

import pytest

from tests.conftest import connect, make_cloud
from tests.functional import browser, host_drain_api
from tests.functional.observe import create_server, instance_record, migrated, wait_for_status

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _chromium():
    browser.require_chromium()


@pytest.fixture
def slow_cloud(tmp_path):
    """A cloud whose disk copies crawl (1 Mbit/s in 64 KiB chunks: about 8 s for the fake
    guest's 1 MiB), so that a copy's progress can be watched."""
    cloud = make_cloud(tmp_path, transfer__chunk_size_kb=64, transfer__bandwidth_limit_mbps=1)
    yield cloud
    cloud.stop()


def _wait(driver, condition, message: str, timeout: float = 20.0):
    """Until `condition`; an element the page's refresh replaced meanwhile is looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message=message)


def _click(driver, by, locator: str, message: str, timeout: float = 20.0) -> None:
    """Click the element once it is there (again, if a refresh replaced it under the click)."""
    def clicked(d) -> bool:
        found = d.find_elements(by, locator)
        if found:
            found[0].click()
        return bool(found)
    _wait(driver, clicked, message, timeout)


def _progress(driver) -> int | None:
    from selenium.webdriver.common.by import By
    bars = driver.find_elements(By.CSS_SELECTOR, "[data-panel=moves] tr[data-migration] progress")
    return int(bars[0].get_attribute("value")) if bars else None


def test_migrate_watch_the_copy_and_confirm(slow_cloud, tmp_path):
    from selenium.webdriver.common.by import By
    cloud = slow_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    server = create_server(admin, name="web-1")
    source = instance_record(cloud, server.id).host
    with browser.chromium(tmp_path / "profile") as driver:
        browser.log_in(driver, cloud.endpoint, cloud.conf.admin_token)
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-server="{server.id}"]'),
              "the server listed")
        # a mark on the page: it survives only if the page is never reloaded
        driver.execute_script("window.notReloaded = true;")
        browser.screenshot(driver, tmp_path, "1-overview")
        _click(driver, By.CSS_SELECTOR, f'tr[data-server="{server.id}"] button', "Migrate")
        first = _wait(driver, lambda d: (v := _progress(d)) and v > 0 and v,
                      "the copy's progress bar", timeout=30)
        later = _wait(driver, lambda d: (v := _progress(d)) and v > first and v,
                      "the progress bar to move")
        assert later > first
        browser.screenshot(driver, tmp_path, "2-copying")
        assert "/s" in driver.find_element(By.CSS_SELECTOR, "[data-panel=moves] .rate").text
        confirm = "//*[@data-panel='waiting']//button[text()='Confirm']"
        _wait(driver, lambda d: d.find_elements(By.XPATH, confirm),
              "the move waiting in VERIFY_RESIZE", timeout=30)
        browser.screenshot(driver, tmp_path, "3-verify-resize")
        _click(driver, By.XPATH, confirm, "Confirm")
        row = f'tr[data-server="{server.id}"]'
        _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} .status").text
              == "ACTIVE" and "Confirm" not in d.find_element(
                  By.CSS_SELECTOR, "[data-panel=waiting]").text, "the server ACTIVE")
        destination = instance_record(cloud, server.id).host
        assert destination != source
        assert destination in driver.find_element(By.CSS_SELECTOR, row).text
        assert driver.execute_script("return window.notReloaded === true;")
        browser.screenshot(driver, tmp_path, "4-active")
    assert wait_for_status(admin, server.id, "ACTIVE")


def test_a_member_sees_no_admin_buttons(slow_cloud, tmp_path):
    from selenium.webdriver.common.by import By
    cloud = slow_cloud
    admin = connect(cloud, cloud.conf.admin_token)
    demo = connect(cloud, "demo:demo:member,reader")
    create_server(admin, name="admins-own")
    mine = create_server(demo, name="demo-1")
    host_drain_api.start(cloud, "compute3", reason="drain-for-admins-only")
    with browser.chromium(tmp_path / "profile") as driver:
        driver.set_window_size(390, 844)   # a phone
        browser.log_in(driver, cloud.endpoint, "demo:demo:member,reader")
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-server="{mine.id}"]'),
              "the member's server listed")
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "admins-own" not in text and "Hosts" not in text
        assert "Drain" not in text and "drain-for-admins-only" not in text
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-panel=drains], details, "
                                                         "form[action^='/dashboard/drains']")
        labels = {b.text for b in driver.find_elements(By.TAG_NAME, "button")}
        assert labels == {"Log out"}, labels   # no Migrate, Abort, drain...
        # the page fits a phone's width: tables scroll inside their panels instead
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;")
        browser.screenshot(driver, tmp_path, "member-phone")


def _drain_counts(driver, job_id: str) -> dict[str, int]:
    """The job's progress as the page shows it now: state -> count."""
    from selenium.webdriver.common.by import By
    spans = driver.find_elements(By.CSS_SELECTOR, f'article[data-drain="{job_id}"] .count')
    return {span.get_attribute("data-state"): int(span.text.split()[0]) for span in spans}


def _job_status(driver, job_id: str) -> str | None:
    from selenium.webdriver.common.by import By
    jobs = driver.find_elements(By.CSS_SELECTOR, f'article[data-drain="{job_id}"]')
    return jobs[0].get_attribute("data-status") if jobs else None


def _click_and_accept(driver, by, locator: str, message: str) -> None:
    """A button that asks first (window.confirm): click it, then say yes."""
    _click(driver, by, locator, message)
    _wait(driver, lambda d: d.switch_to.alert, f"{message}'s question", timeout=5).accept()


def test_drain_a_host_watch_its_progress_pause_resume_and_complete(tmp_path):
    """Four servers on compute1, each guest's power-off slowed to 0.5 s and one move at a time
    out of the host: the drain's counts change on the page, without a reload, as it goes."""
    from selenium.webdriver.common.by import By
    cloud = make_cloud(tmp_path, conductor__host_drain_interval=0.1,
                       compute__fake_power_off_seconds=0.5)
    try:
        admin = connect(cloud, cloud.conf.admin_token)
        servers = host_drain_api.servers_on(admin, "compute1", 4)
        with browser.chromium(tmp_path / "profile") as driver:
            browser.log_in(driver, cloud.endpoint, cloud.conf.admin_token)
            form = 'tr[data-host="compute1"] details.drain-form'
            _click(driver, By.CSS_SELECTOR, f"{form} summary", "the drain form")
            driver.execute_script("window.notReloaded = true;")
            # typed while the hosts panel refreshes under it: what is typed stays
            driver.find_element(By.CSS_SELECTOR, f"{form} input[name=reason]").send_keys(
                "<b>firmware</b>")
            time.sleep(1.5)
            driver.find_element(By.CSS_SELECTOR, f"{form} input[name=auto_confirm]").click()
            browser.screenshot(driver, tmp_path, "drain-1-form")
            _click_and_accept(driver, By.CSS_SELECTOR, f"{form} button", "Drain")
            job = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "article.drain"),
                        "the drain job on the page")[0]
            job_id = job.get_attribute("data-drain")
            assert "<b>firmware</b>" in job.text   # escaped: shown as typed
            # the form, accepted, is emptied and closed for the next drain
            assert not driver.find_element(By.CSS_SELECTOR, form).get_attribute("open")
            driver.execute_script("document.getElementById('drains').scrollIntoView();")
            first = _wait(driver, lambda d: _drain_counts(d, job_id) or None, "the counts")
            later = _wait(driver, lambda d: (c := _drain_counts(d, job_id))["moved"]
                          > first["moved"] and c, "the done count to grow")
            browser.screenshot(driver, tmp_path, "drain-2-moving")
            _click(driver, By.XPATH, f"//article[@data-drain='{job_id}']//button[text()='Pause']",
                   "Pause")
            _wait(driver, lambda d: _job_status(d, job_id) == "paused", "the job paused")
            browser.screenshot(driver, tmp_path, "drain-3-paused")
            _click(driver, By.XPATH,
                   f"//article[@data-drain='{job_id}']//button[text()='Resume']", "Resume")
            _wait(driver, lambda d: _job_status(d, job_id) == "completed",
                  "the job completed", timeout=30)
            done = _drain_counts(driver, job_id)
            assert done["moved"] == 4 and done["waiting"] == done["moving"] == 0, done
            assert later["moved"] < 4
            rows = driver.find_elements(
                By.CSS_SELECTOR, f'article[data-drain="{job_id}"] tr[data-drain-server]')
            assert {row.get_attribute("data-drain-server") for row in rows} == set(servers)
            assert all("compute1 →" in row.text for row in rows)
            assert driver.find_elements(
                By.XPATH, f"//article[@data-drain='{job_id}']//button[text()='Restore']")
            assert driver.execute_script("return window.notReloaded === true;")
            browser.screenshot(driver, tmp_path, "drain-4-completed")
        assert {instance_record(cloud, s).host for s in servers} <= {"compute2", "compute3"}
    finally:
        cloud.stop()


def _page_metrics(driver) -> dict:
    """Chromium's own counts for the page, after a garbage collection: what a leak grows."""
    driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return {m["name"]: m["value"] for m in metrics}


def test_a_page_left_open_stays_small(cloud, tmp_path):
    """The page refreshes its panels every second: after 8 s it has made several requests on
    at most a couple of connections, has replaced a panel each time (a move waiting in
    VERIFY_RESIZE: its time waited changes), and neither its DOM, its event listeners nor its
    heap has grown."""
    from selenium.webdriver.common.by import By
    admin = connect(cloud, cloud.conf.admin_token)
    migrated(cloud, admin)
    with browser.chromium(tmp_path / "profile") as driver:
        driver.execute_cdp_cmd("Performance.enable", {})
        browser.log_in(driver, cloud.endpoint, cloud.conf.admin_token)
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-panel=servers] tr"),
              "the page")
        time.sleep(2)
        waiting = driver.find_element(By.CSS_SELECTOR, "[data-panel=waiting]")
        shown_before = waiting.text
        before = _page_metrics(driver)
        time.sleep(8)
        after = _page_metrics(driver)
        assert waiting.text != shown_before   # the panel was refreshed in place
        requests = driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.endsWith('/dashboard/live'));")
        assert len(requests) >= 6   # it kept refreshing
        # each request either reused a kept-alive connection or opened one: few were opened
        opened = [r for r in requests if r["connectStart"] != r["connectEnd"]]
        assert len(opened) <= 2, opened
        assert after["JSEventListeners"] == before["JSEventListeners"]
        assert after["Nodes"] <= before["Nodes"] + 50, (before["Nodes"], after["Nodes"])
        assert after["JSHeapUsedSize"] <= before["JSHeapUsedSize"] + 1_000_000
