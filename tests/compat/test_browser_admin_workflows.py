"""The admin center's Workflows pages in headless Chromium against the real binary: an
administrator creates a workflow from a built-in template (saved disabled), tries an import
whose definition is bad (the field is named, nothing saved), imports a manual one, enables
it, reads its scope preview, runs it now for one user (an unknown name refused by name), lets
the engine's worker (`latchkey workflows work`) perform it, reads the run history and the
run's steps, re-runs it and cancels the re-run.

Each page is saved as target/screenshots/admin-workflows-*.png for people to look at.
"""

import json
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS, cli, gone

ADMIN_PW = "Basalt-Heron-Lantern-31"
USER_PW = "Cobalt-Meadow-Riddle-46"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"admin-workflows-{name}.png"))


def create_user(latchkey, upn, name, password, *extra):
    path = latchkey.data_dir.parent / "admin-workflows-pw.txt"
    path.write_text(password + "\n")
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", name,
        "--password-file", str(path), "--no-force-change", *extra)


def click_and_wait(driver, element_id, then_id):
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    wait = WebDriverWait(driver, 20)
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, then_id)))


def fill(driver, element_id, text):
    box = driver.find_element(By.ID, element_id)
    box.clear()
    # A textarea takes the text through the page's own value, as typing it would.
    driver.execute_script("arguments[0].value = arguments[1];", box, text)


def test_an_admin_builds_previews_runs_and_reviews_a_workflow(latchkey, browser):
    admin = "wanda.wf@contoso.test"
    create_user(latchkey, admin, "Wanda Workflows", ADMIN_PW,
                "--role", "Lifecycle Workflows Administrator")
    create_user(latchkey, "wfprev.ana@contoso.test", "Ana Preview", USER_PW)
    create_user(latchkey, "wfprev.ben@contoso.test", "Ben Preview", USER_PW)
    create_user(latchkey, "wfother.cal@contoso.test", "Cal Other", USER_PW)

    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1280, 1600)
    browser.get(f"{latchkey.base}/admin/assets/admin.css")
    browser.delete_all_cookies()
    browser.get(f"{latchkey.base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    browser.find_element(By.ID, "username").send_keys(admin)
    browser.find_element(By.ID, "password").send_keys(ADMIN_PW)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "nav-workflows")))

    # New from a template: saved disabled under the name given.
    click_and_wait(browser, "nav-workflows", "workflows")
    browser.find_element(By.ID, "template-credential-review").click()
    browser.find_element(By.ID, "new-name").send_keys("Browser credential review")
    shot(browser, "1-list")
    click_and_wait(browser, "create-from-template", "workflow-name")
    assert browser.find_element(By.ID, "notice").text == "The workflow is saved."
    assert browser.find_element(By.ID, "workflow-enabled").text == "No"
    assert browser.find_element(By.ID, "workflow-trigger").text.startswith("anniversary")

    # A bad import names the field; nothing is saved.
    click_and_wait(browser, "nav-workflows", "workflows")
    bad = {"name": "Browser bad", "trigger": {"kind": "inactivity", "days": 0},
           "steps": [{"action": "disableAccount"}]}
    fill(browser, "definition", json.dumps(bad))
    click_and_wait(browser, "import", "errors")
    assert "trigger.days" in browser.find_element(By.ID, "errors").text
    shot(browser, "2-import-refused")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#workflows .workflow-link")]
    assert "Browser bad" not in names

    good = {"name": "Browser preview reset", "enabled": False, "trigger": {"kind": "manual"},
            "scope": "startswith(userPrincipalName, 'wfprev.')",
            "steps": [{"action": "requirePasswordChange"},
                      {"action": "revokeSessions", "onFailure": "continue"}]}
    fill(browser, "definition", json.dumps(good))
    click_and_wait(browser, "import", "workflow-name")
    assert browser.find_element(By.ID, "workflow-name").text == "Browser preview reset"
    page = browser.current_url.split("?")[0]
    click_and_wait(browser, "enable", "notice")
    assert "enabled" in browser.find_element(By.ID, "notice").text
    assert browser.find_element(By.ID, "workflow-version").text == "2"
    shot(browser, "3-workflow")

    # The scope preview: the two users in scope, and what each step would do.
    click_and_wait(browser, "preview", "preview-users")
    users = [td.text for td in browser.find_elements(By.CSS_SELECTOR, ".preview-user")]
    assert sorted(users) == ["wfprev.ana@contoso.test", "wfprev.ben@contoso.test"], users
    assert "require wfprev.ana@contoso.test to change their password" in \
        browser.find_element(By.ID, "preview-users").text
    shot(browser, "4-preview")
    browser.get(page)
    wait.until(ec.presence_of_element_located((By.ID, "run-now")))

    # Run now: an unknown name is refused by name; then one user.
    fill(browser, "run-users", "wfprev.ana@contoso.test\nnobody.wf@contoso.test")
    click_and_wait(browser, "run", "errors")
    assert "nobody.wf@contoso.test" in browser.find_element(By.ID, "errors").text
    fill(browser, "run-users", "wfprev.ana@contoso.test")
    click_and_wait(browser, "run", "notice")
    assert browser.find_element(By.ID, "notice").text == "1 run started."

    # The engine's worker performs it.
    cli(latchkey.data_dir, "workflows", "work")

    browser.get(f"{latchkey.base}/admin/workflows/runs?user=wfprev.ana%40contoso.test")
    wait.until(ec.presence_of_element_located((By.ID, "runs")))
    states = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#runs .run-state")]
    assert states == ["Succeeded"], states
    shot(browser, "5-history")
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "#runs .run-link").click()
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, "run-steps")))
    assert browser.find_element(By.ID, "run-state").text == "Succeeded"
    steps = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#run-steps .step-state")]
    assert steps == ["succeeded", "succeeded"], steps
    shot(browser, "6-run")

    # Re-run, then cancel the re-run before a worker takes it.
    click_and_wait(browser, "rerun", "run-steps")
    assert browser.find_element(By.ID, "run-state").text == "Running"
    click_and_wait(browser, "cancel-run", "notice")
    assert browser.find_element(By.ID, "run-state").text == "Cancelled"
    shot(browser, "7-cancelled")
