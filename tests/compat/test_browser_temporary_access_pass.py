"""A Temporary Access Pass in headless Chromium: an administrator opens a new hire's details
pane in the admin center, creates a Temporary Access Pass (lifetime 60 minutes by default) and
reads it once; the pane never shows it again. The new hire, who must change their password
and knows none, signs in to a standard OpenID Connect relying party (authlib) by typing the
pass where the password goes, creates a password on the "Create your password" page (no
current password asked) and arrives at the app; the id_token says the sign-in was strong
(`amr` has `mfa`). The pass was for one use: it does not sign in again.

Each page is saved as a screenshot under target/screenshots/ for people to look at.
"""

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS, cli, gone

ADMIN_PW = "Granite-Heron-Beacon-47"
UNKNOWN_PW = "Cobalt-Furrow-Pennant-92"
CHOSEN = "Juniper-Anvil-Harbor-36"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"tap-{name}.png"))


def type_into(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def click_and_wait(driver, element_id):
    element = driver.find_element(By.ID, element_id)
    element.click()
    WebDriverWait(driver, 20).until(gone(element))


def create_user(latchkey, upn, name, password, *extra):
    path = latchkey.data_dir.parent / "tap-browser-pw.txt"
    path.write_text(password + "\n")
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", name,
        "--password-file", str(path), *extra)


def test_an_admin_issues_a_pass_and_a_new_hire_signs_in_with_it_and_creates_a_password(
        latchkey, redirect_uri, browser):
    admin = "tess@contoso.test"
    upn = "rory@contoso.test"
    create_user(latchkey, admin, "Tess Admin", ADMIN_PW, "--no-force-change",
                "--role", "Global Administrator")
    # A new hire: an initial password nobody tells them, to be changed at first sign-in.
    create_user(latchkey, upn, "Rory Newhire", UNKNOWN_PW)
    wait = WebDriverWait(browser, 20)

    # The admin center: sign in, find the user, open their details pane.
    browser.get(f"{latchkey.base}/admin/assets/admin.css")
    browser.delete_all_cookies()
    browser.get(f"{latchkey.base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    type_into(browser, "username", admin)
    type_into(browser, "password", ADMIN_PW)
    click_and_wait(browser, "submit")
    wait.until(ec.presence_of_element_located((By.ID, "nav-active-users")))
    browser.find_element(By.ID, "nav-active-users").click()
    wait.until(ec.presence_of_element_located((By.ID, "users")))
    type_into(browser, "q", "rory")
    browser.find_element(By.ID, "search").click()
    wait.until(lambda d: "q=rory" in d.current_url)
    links = browser.find_elements(By.CLASS_NAME, "user-link")
    assert [l.text for l in links] == ["Rory Newhire"]
    links[0].click()
    wait.until(ec.presence_of_element_located((By.ID, "tap")))
    assert browser.find_element(By.ID, "tap-none")
    assert browser.find_element(By.ID, "tap-lifetime").get_attribute("value") == "60"
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "tap"))
    shot(browser, "1-details-pane")

    # Create a one-time pass; it is shown once.
    browser.find_element(By.ID, "tap-once").click()
    click_and_wait(browser, "tap-create")
    wait.until(ec.presence_of_element_located((By.ID, "tap-pass")))
    tap = browser.find_element(By.ID, "tap-pass").get_attribute("value")
    assert len(tap) == 16
    assert "will not be shown again" in browser.find_element(By.ID, "tap-once-warning").text
    shot(browser, "2-pass-shown-once")
    click_and_wait(browser, "done")
    wait.until(ec.presence_of_element_located((By.ID, "tap-state")))
    assert browser.find_element(By.ID, "tap-state").text == "Usable"
    assert tap not in browser.page_source
    assert not browser.find_elements(By.ID, "tap-create"), "a usable pass is deleted first"
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "tap"))
    shot(browser, "3-pane-after")
    click_and_wait(browser, "sign-out")

    # The new hire at a relying party: the pass in the password box.
    app = latchkey.app("--name", "Contoso Onboarding", "--redirect-uri", redirect_uri,
                       "--delegated-permission", "User.Read", "--grant-admin-consent")
    config = requests.get(
        f"{latchkey.base}/{latchkey.tenant}/v2.0/.well-known/openid-configuration", timeout=10).json()
    rp = OAuth2Session(app["appId"], app["clientSecret"], scope="openid profile User.Read",
                       redirect_uri=redirect_uri, code_challenge_method="S256",
                       token_endpoint_auth_method="client_secret_post")

    def sign_in_with(secret):
        verifier = generate_token(64)
        url, state = rp.create_authorization_url(config["authorization_endpoint"],
                                                 nonce=generate_token(20), code_verifier=verifier)
        browser.get(f"{latchkey.base}/admin/assets/admin.css")
        browser.delete_all_cookies()
        browser.get(url)
        wait.until(ec.presence_of_element_located((By.ID, "username")))
        type_into(browser, "username", upn)
        type_into(browser, "password", secret)
        click_and_wait(browser, "submit")
        return verifier, state

    verifier, state = sign_in_with(tap)
    wait.until(ec.presence_of_element_located((By.ID, "new_password")))
    assert "Create your password" in browser.page_source
    assert not browser.find_elements(By.ID, "current_password")
    shot(browser, "4-create-your-password")
    type_into(browser, "new_password", CHOSEN)
    type_into(browser, "confirm_password", CHOSEN)
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.current_url.startswith(redirect_uri))
    shot(browser, "5-back-at-the-app")
    callback = browser.current_url
    assert parse_qs(urlparse(callback).query)["state"] == [state]
    token = rp.fetch_token(config["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)
    keys = KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert id_token.claims["preferred_username"] == upn
    assert "mfa" in id_token.claims["amr"]

    # The one-time pass is used up: an ordinary wrong password now.
    sign_in_with(tap)
    wait.until(ec.presence_of_element_located((By.ID, "error")))
    assert "incorrect" in browser.find_element(By.ID, "error").text
    shot(browser, "6-pass-used-up")
    # The password they created is theirs.
    sign_in_with(CHOSEN)
    wait.until(lambda d: d.current_url.startswith(redirect_uri))
