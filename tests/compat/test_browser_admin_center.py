"""The admin center in headless Chromium, the seed's steps: an administrator signs in at
/admin (through Latchkey's own sign-in page), opens Users > Active users, searches, opens a
user's details pane, resets the password with "Automatically create a password" and "Require
this user to change their password", reads the one-time password and signs out. That user
then signs in to a standard OpenID Connect relying party (authlib) with it, is made to change
it, and is signed in. Then the typed-twice variant: a mismatch and a policy failure first,
each shown inline with nothing applied.

Each page is saved as a screenshot under target/screenshots/ for people to look at.
"""

from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS, cli, gone

ADMIN_PW = "Granite-Otter-Signal-58"
START_PW = "Copper-Valley-Thistle-24"
CHOSEN = "Meadow-Lantern-Orbit-63"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"admin-{name}.png"))


def type_into(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def create_user(latchkey, upn, name, password, *extra):
    path = latchkey.data_dir.parent / "admin-browser-pw.txt"
    path.write_text(password + "\n")
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", name,
        "--password-file", str(path), "--no-force-change", *extra)


def admin_signs_in(latchkey, driver, admin_upn):
    wait = WebDriverWait(driver, 20)
    # A fresh browser session: no sign-in cookies left from an earlier test.
    driver.get(f"{latchkey.base}/admin/assets/admin.css")
    driver.delete_all_cookies()
    driver.get(f"{latchkey.base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    assert "Latchkey admin center" in driver.page_source
    shot(driver, "1-sign-in")
    type_into(driver, "username", admin_upn)
    type_into(driver, "password", ADMIN_PW)
    driver.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "nav-active-users")))
    assert driver.find_element(By.ID, "signed-in-as").text == admin_upn
    shot(driver, "2-home")


def open_reset(driver, search, name):
    wait = WebDriverWait(driver, 20)
    driver.find_element(By.ID, "nav-active-users").click()
    wait.until(ec.presence_of_element_located((By.ID, "users")))
    shot(driver, "3-active-users")
    type_into(driver, "q", search)
    driver.find_element(By.ID, "search").click()
    wait.until(lambda d: f"q={search}" in d.current_url)
    links = driver.find_elements(By.CLASS_NAME, "user-link")
    assert [l.text for l in links] == [name]
    shot(driver, "4-search")
    links[0].click()
    wait.until(ec.presence_of_element_located((By.ID, "pane")))
    assert driver.find_element(By.ID, "pane-name").text == name
    shot(driver, "5-details-pane")
    driver.find_element(By.ID, "reset-password").click()
    wait.until(ec.presence_of_element_located((By.ID, "reset-form")))
    assert driver.find_element(By.ID, "mode-auto").is_selected()
    assert driver.find_element(By.ID, "require-change").is_selected()


def test_an_admin_resets_a_password_and_the_user_signs_in_with_it_and_must_change_it(
        latchkey, redirect_uri, browser):
    admin = "ada@contoso.test"
    upn = "casey@contoso.test"
    create_user(latchkey, admin, "Ada Admin", ADMIN_PW, "--role", "Global Administrator")
    create_user(latchkey, upn, "Casey Morgan", START_PW)
    wait = WebDriverWait(browser, 20)

    admin_signs_in(latchkey, browser, admin)
    open_reset(browser, "casey", "Casey Morgan")
    shot(browser, "6-reset-password")
    browser.find_element(By.ID, "reset-submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "new-password")))
    password = browser.find_element(By.ID, "new-password").get_attribute("value")
    assert len(password) >= 16
    assert "will not be shown again" in browser.find_element(By.ID, "once").text
    shot(browser, "7-one-time-password")

    # Back to the user's details: the password is nowhere.
    browser.find_element(By.ID, "done").click()
    wait.until(ec.presence_of_element_located((By.ID, "pane")))
    assert password not in browser.page_source

    browser.find_element(By.ID, "sign-out").click()
    wait.until(lambda d: "/oauth2/v2.0/logout" in d.current_url)
    shot(browser, "8-signed-out")

    # The user signs in to an app with the one-time password and must change it.
    app = latchkey.app("--name", "Contoso Intranet", "--redirect-uri", redirect_uri,
                       "--delegated-permission", "User.Read", "--grant-admin-consent")
    config = requests.get(f"{latchkey.base}/{latchkey.tenant}/v2.0/.well-known/openid-configuration",
                          timeout=10).json()
    rp = OAuth2Session(app["appId"], app["clientSecret"], scope="openid profile User.Read",
                       redirect_uri=redirect_uri, code_challenge_method="S256",
                       token_endpoint_auth_method="client_secret_post")
    verifier = generate_token(64)
    url, state = rp.create_authorization_url(config["authorization_endpoint"], nonce=generate_token(20),
                                             code_verifier=verifier)
    browser.get(url)
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    type_into(browser, "username", upn)
    type_into(browser, "password", password)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "new_password")))
    shot(browser, "9-user-must-change")
    type_into(browser, "current_password", password)
    type_into(browser, "new_password", CHOSEN)
    type_into(browser, "confirm_password", CHOSEN)
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.current_url.startswith(redirect_uri))
    shot(browser, "10-user-signed-in")
    token = rp.fetch_token(config["token_endpoint"], authorization_response=browser.current_url,
                           code_verifier=verifier, state=state)
    me = requests.get(config["userinfo_endpoint"],
                      headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert me.json()["preferred_username"] == upn


def test_a_typed_password_is_refused_inline_when_mismatched_or_weak_then_set(latchkey, browser):
    admin = "ari@contoso.test"
    create_user(latchkey, admin, "Ari Admin", ADMIN_PW, "--role", "User Administrator")
    create_user(latchkey, "devon@contoso.test", "Devon Reyes", START_PW)
    wait = WebDriverWait(browser, 20)

    admin_signs_in(latchkey, browser, admin)
    open_reset(browser, "devon", "Devon Reyes")
    browser.find_element(By.ID, "mode-typed").click()
    type_into(browser, "password", CHOSEN)
    type_into(browser, "confirm", CHOSEN + "x")
    browser.find_element(By.ID, "reset-submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "reset-errors")))
    assert "don't match" in browser.find_element(By.ID, "reset-errors").text
    assert browser.find_element(By.ID, "mode-typed").is_selected()
    assert browser.find_element(By.ID, "password").get_attribute("value") == ""
    assert CHOSEN not in browser.page_source
    shot(browser, "11-typed-mismatch")

    type_into(browser, "password", "devondevon")
    type_into(browser, "confirm", "devondevon")
    old = browser.find_element(By.ID, "reset-errors")
    browser.find_element(By.ID, "reset-submit").click()
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, "reset-errors")))
    assert "devondevon" not in browser.page_source
    errors = browser.find_element(By.ID, "reset-errors").text
    assert "at least 3 of these groups" in errors, errors
    assert "sign-in name or parts of their name" in errors, errors
    shot(browser, "12-typed-policy-failure")

    type_into(browser, "password", CHOSEN)
    type_into(browser, "confirm", CHOSEN)
    browser.find_element(By.ID, "reset-submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "done")))
    assert CHOSEN not in browser.page_source
    assert not browser.find_elements(By.ID, "new-password")
    shot(browser, "13-typed-done")
    assert urlparse(browser.current_url).path.endswith("/reset-password")
