"""The admin center's directory pages in headless Chromium: an administrator adds a user with
the wizard (a mismatched password first, refused inline with the fields kept), blocks two
users at once from Active users and sees each outcome, deletes one after the confirmation,
restores them from Deleted users, makes the new user a User Administrator on Roles, and reads
the Audit log (filtered, the sign-ins tab, and the CSV export of the filtered view), and
raises the minimum password length and tightens smart lockout in Settings > Password policy,
registers an app (its secret shown once) and grants it admin consent, and unlocks a user
whom three wrong passwords (through MSAL) locked out.

Each page is saved as target/screenshots/admin-pages-*.png for people to look at.
"""

import csv
import io
from pathlib import Path

import msal
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS, cli, gone

# MSAL's realm lookup goes to port 443 whatever the authority's port; the server here runs on
# a free port (see test_user_sign_in.py and spec/microsoft-clients.md §4.2).
msal.authority.Authority._domains_without_user_realm_discovery.add("localhost")

ADMIN_PW = "Granite-Otter-Signal-58"
START_PW = "Copper-Valley-Thistle-24"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"admin-pages-{name}.png"))


def type_into(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def create_user(latchkey, upn, name, *extra):
    path = latchkey.data_dir.parent / "admin-pages-pw.txt"
    path.write_text((ADMIN_PW if extra else START_PW) + "\n")
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", name,
        "--password-file", str(path), "--no-force-change", *extra)


def click_and_wait(driver, element_id, then_id):
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    wait = WebDriverWait(driver, 20)
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, then_id)))


def test_an_admin_adds_blocks_deletes_restores_assigns_a_role_and_reads_the_audit_log(
        latchkey, browser):
    admin = "gwen@contoso.test"
    create_user(latchkey, admin, "Gwen Admin", "--role", "Global Administrator")
    create_user(latchkey, "rowan@contoso.test", "Rowan <script>Hale</script>")
    create_user(latchkey, "skye@contoso.test", "Skye Patel")
    wait = WebDriverWait(browser, 20)

    browser.get(f"{latchkey.base}/admin/assets/admin.css")
    browser.delete_all_cookies()
    browser.get(f"{latchkey.base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    type_into(browser, "username", admin)
    type_into(browser, "password", ADMIN_PW)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "nav-add-user")))
    for rail in ("nav-deleted-users", "nav-roles", "nav-audit"):
        assert browser.find_element(By.ID, rail).is_displayed()

    # Add user: a mismatch first, shown beside the password with the names kept.
    click_and_wait(browser, "nav-add-user", "new-user-form")
    assert browser.find_element(By.ID, "require-change").is_selected()
    type_into(browser, "given", "Morgan")
    type_into(browser, "surname", "Wells")
    type_into(browser, "display", "Morgan Wells")
    type_into(browser, "local", "morgan")
    browser.find_element(By.ID, "mode-typed").click()
    type_into(browser, "password", "Harbour-Lantern-Quay-42")
    type_into(browser, "confirm", "Harbour-Lantern-Quay-43")
    click_and_wait(browser, "create-user", "password-error")
    assert "don't match" in browser.find_element(By.ID, "password-error").text
    assert browser.find_element(By.ID, "display").get_attribute("value") == "Morgan Wells"
    assert browser.find_element(By.ID, "password").get_attribute("value") == ""
    assert "Harbour-Lantern-Quay-42" not in browser.page_source
    shot(browser, "1-add-user-refused")
    browser.find_element(By.ID, "mode-auto").click()
    click_and_wait(browser, "create-user", "new-password")
    password = browser.find_element(By.ID, "new-password").get_attribute("value")
    assert len(password) >= 16
    assert "morgan@contoso.test" in browser.find_element(By.ID, "created-upn").text
    shot(browser, "2-user-added")

    # Active users: tick two users and block their sign-in.
    click_and_wait(browser, "nav-active-users", "users")
    rows = {r.find_element(By.CLASS_NAME, "user-link").text: r
            for r in browser.find_elements(By.CSS_SELECTOR, "#users tbody tr")}
    assert "Rowan <script>Hale</script>" in rows
    for name in ("Rowan <script>Hale</script>", "Skye Patel"):
        rows[name].find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    shot(browser, "3-active-users-ticked")
    click_and_wait(browser, "bulk-block", "outcomes")
    assert "2 done" in browser.find_element(By.ID, "summary").text
    shot(browser, "4-bulk-outcomes")

    # Delete Skye after the confirmation page.
    click_and_wait(browser, "back", "users")
    row = [r for r in browser.find_elements(By.CSS_SELECTOR, "#users tbody tr")
           if r.find_element(By.CLASS_NAME, "user-link").text == "Skye Patel"][0]
    row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    click_and_wait(browser, "bulk-delete", "confirm-delete")
    assert "Skye Patel (skye@contoso.test)" in browser.find_element(By.ID, "to-delete").text
    shot(browser, "5-confirm-delete")
    click_and_wait(browser, "confirm-delete", "outcomes")

    # Deleted users: restore her.
    click_and_wait(browser, "nav-deleted-users", "deleted-users")
    assert "skye@contoso.test" in browser.find_element(By.ID, "deleted-users").text
    shot(browser, "6-deleted-users")
    restore = browser.find_element(By.CSS_SELECTOR, "#deleted-users button.restore")
    old = browser.find_element(By.TAG_NAME, "html")
    restore.click()
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, "notice")))
    assert "is restored" in browser.find_element(By.ID, "notice").text
    shot(browser, "7-restored")

    # Roles: make the new user a User Administrator.
    click_and_wait(browser, "nav-roles", "roles")
    shot(browser, "8-roles")
    link = [a for a in browser.find_elements(By.CLASS_NAME, "role-link")
            if a.text == "User Administrator"][0]
    old = browser.find_element(By.TAG_NAME, "html")
    link.click()
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, "add-member-form")))
    type_into(browser, "upn", "morgan@contoso.test")
    click_and_wait(browser, "add-member", "notice")
    assert "morgan@contoso.test" in browser.find_element(By.ID, "members").text
    shot(browser, "9-role-members")

    # Audit log: everything above is there; filter to deletions; the sign-ins tab.
    click_and_wait(browser, "nav-audit", "audits")
    text = browser.find_element(By.ID, "audits").text
    for activity in ("Add user", "Delete user", "Restore user", "Update user", "Add member to role"):
        assert activity in text, activity
    shot(browser, "10-audit-log")
    type_into(browser, "activity", "Delete user")
    click_and_wait(browser, "apply", "audits")
    rows = browser.find_elements(By.CSS_SELECTOR, "#audits tbody tr")
    assert len(rows) == 1 and "skye@contoso.test" in rows[0].text
    shot(browser, "11-audit-filtered")
    export = browser.find_element(By.ID, "export").get_attribute("href")
    click_and_wait(browser, "tab-signins", "sign-ins")
    assert admin in browser.find_element(By.ID, "sign-ins").text
    shot(browser, "12-sign-ins")

    # The export is the filtered view, for this session only.
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    got = requests.get(export, cookies=cookies, timeout=10, allow_redirects=False)
    assert got.status_code == 200
    assert got.headers["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [r["activity"] for r in rows] == ["Delete user"]
    assert rows[0]["target"] == "skye@contoso.test"
    assert requests.get(export, timeout=10, allow_redirects=False).status_code == 303
    assert password not in got.text

    # Settings > Password policy: a longer minimum, saved.
    click_and_wait(browser, "nav-password-policy", "policy-form")
    assert browser.find_element(By.ID, "min_length").get_attribute("value") == "8"
    type_into(browser, "min_length", "10")
    type_into(browser, "banned_terms", "contoso\nwidgets")
    assert browser.find_element(By.ID, "lockout_threshold").get_attribute("value") == "10"
    type_into(browser, "lockout_threshold", "3")
    type_into(browser, "lockout_seconds", "600")
    click_and_wait(browser, "save-policy", "notice")
    assert browser.find_element(By.ID, "min_length").get_attribute("value") == "10"
    assert browser.find_element(By.ID, "lockout_threshold").get_attribute("value") == "3"
    shot(browser, "13-password-policy")

    # Apps: register a confidential client; its secret is shown once, then consent.
    click_and_wait(browser, "nav-apps", "new-app-form")
    type_into(browser, "app-name", "Payroll Sync")
    type_into(browser, "application", "User.Read.All")
    click_and_wait(browser, "register-app", "new-secret")
    secret = browser.find_element(By.ID, "new-secret").get_attribute("value")
    assert len(secret) >= 32
    assert browser.find_element(By.ID, "consent-state").text == "Not granted"
    shot(browser, "14-app-registered")
    click_and_wait(browser, "grant-consent", "notice")
    assert browser.find_element(By.ID, "consent-state").text == "Granted"
    assert secret not in browser.page_source
    shot(browser, "15-app-consented")

    # Smart lockout at three: Lee's third wrong password locks even the right one out; the
    # details pane says so and Unlock lets Lee in again.
    create_user(latchkey, "lee@contoso.test", "Lee Novak")
    probe = latchkey.app("--name", "Lockout probe", "--public-client", "--delegated-permission",
                         "User.Read", "--grant-admin-consent")
    def pca():
        return msal.PublicClientApplication(probe["appId"], authority=f"{latchkey.base}/{latchkey.tenant}",
                                            instance_discovery=False)

    lee = pca()

    def sign_in(pw, app=lee):
        return app.acquire_token_by_username_password("lee@contoso.test", pw, scopes=["User.Read"])

    # Each guess differs: MSAL answers a repeated failed request from its own cache.
    for n in range(3):
        assert 50126 in sign_in(f"Wrong-Guess-Again-{n}").get("error_codes", []), "wrong password"
    locked = sign_in(START_PW)
    assert 50053 in locked.get("error_codes", []), locked
    click_and_wait(browser, "nav-active-users", "users")
    link = [a for a in browser.find_elements(By.CLASS_NAME, "user-link") if a.text == "Lee Novak"][0]
    old = browser.find_element(By.TAG_NAME, "html")
    link.click()
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, "pane-locked")))
    assert "Locked out" in browser.find_element(By.ID, "pane-locked").text
    shot(browser, "16-locked-user")
    click_and_wait(browser, "pane-unlock", "outcomes")
    assert "1 done" in browser.find_element(By.ID, "summary").text
    shot(browser, "17-unlocked")
    # A fresh MSAL client: the first one would answer the same request from its cache.
    unlocked = sign_in(START_PW, pca())
    assert "access_token" in unlocked, unlocked

    # Back to Entra's defaults, for the tests that share this server.
    click_and_wait(browser, "nav-password-policy", "policy-form")
    type_into(browser, "lockout_threshold", "10")
    type_into(browser, "lockout_seconds", "60")
    click_and_wait(browser, "save-policy", "notice")
    assert browser.find_element(By.ID, "lockout_threshold").get_attribute("value") == "10"
