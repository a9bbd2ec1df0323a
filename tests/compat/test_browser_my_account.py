"""My account and the authenticator app in headless Chromium: a user signs in to My account
(through Latchkey's own sign-in page), registers an authenticator app by reading the secret
under the QR code (the test is the phone: pyotp computes the codes), signs out, then signs in
to a standard OpenID Connect relying party (authlib) and is asked for a code after the
password. The code already used at registration is refused; a fresh one signs the user in,
and the id_token's amr says the sign-in included a second factor.

Each page is saved as a screenshot under target/screenshots/ for people to look at.
"""

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
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

PASSWORD = "Saffron-Kettle-Harbor-31"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"account-{name}.png"))


def type_into(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def click_and_wait(driver, element_id):
    element = driver.find_element(By.ID, element_id)
    element.click()
    WebDriverWait(driver, 20).until(gone(element))


def test_a_user_registers_an_authenticator_and_sign_in_then_asks_for_a_fresh_code(
        latchkey, redirect_uri, browser):
    upn = "quinn@contoso.test"
    path = latchkey.data_dir.parent / "account-browser-pw.txt"
    path.write_text(PASSWORD + "\n")
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", "Quinn Avery",
        "--password-file", str(path), "--no-force-change")
    wait = WebDriverWait(browser, 20)

    # My account, through the sign-in page.
    browser.get(f"{latchkey.base}/account/assets/account.css")
    browser.delete_all_cookies()
    browser.get(f"{latchkey.base}/account")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    assert "Latchkey My account" in browser.page_source
    type_into(browser, "username", upn)
    type_into(browser, "password", PASSWORD)
    click_and_wait(browser, "submit")
    wait.until(ec.presence_of_element_located((By.ID, "display-name")))
    assert browser.find_element(By.ID, "display-name").text == "Quinn Avery"
    assert browser.find_element(By.ID, "signed-in-as").text == upn
    shot(browser, "1-overview")

    # Security info: add the authenticator app; the QR code is an inline SVG, the secret is
    # printed under it for people who cannot scan.
    browser.find_element(By.ID, "nav-security").click()
    wait.until(ec.presence_of_element_located((By.ID, "add-authenticator")))
    shot(browser, "2-security-info")
    click_and_wait(browser, "add-authenticator")
    wait.until(ec.presence_of_element_located((By.ID, "totp-secret")))
    assert browser.find_elements(By.CSS_SELECTOR, "#qr svg"), "a server-rendered QR code"
    shot(browser, "3-authenticator-qr")
    secret = browser.find_element(By.ID, "totp-secret").text.strip()
    phone = pyotp.TOTP(secret)
    registration_code = phone.now()
    registered_at = time.time()
    type_into(browser, "code", registration_code)
    click_and_wait(browser, "verify")
    wait.until(ec.presence_of_element_located((By.ID, "notice")))
    assert "authenticator app is registered" in browser.find_element(By.ID, "notice").text
    assert secret not in browser.page_source, "the secret is shown once, during registration"
    shot(browser, "4-registered")

    click_and_wait(browser, "sign-out")

    # A relying party: password, then the code.
    app = latchkey.app("--name", "Contoso Timesheets", "--redirect-uri", redirect_uri,
                       "--delegated-permission", "User.Read", "--grant-admin-consent")
    config = requests.get(
        f"{latchkey.base}/{latchkey.tenant}/v2.0/.well-known/openid-configuration", timeout=10).json()
    rp = OAuth2Session(app["appId"], app["clientSecret"], scope="openid profile User.Read",
                       redirect_uri=redirect_uri, code_challenge_method="S256",
                       token_endpoint_auth_method="client_secret_post")
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = rp.create_authorization_url(config["authorization_endpoint"], nonce=nonce,
                                             code_verifier=verifier)
    browser.get(url)
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    type_into(browser, "username", upn)
    type_into(browser, "password", PASSWORD)
    click_and_wait(browser, "submit")
    wait.until(ec.presence_of_element_located((By.ID, "otc")))
    assert "Enter code" in browser.page_source
    shot(browser, "5-enter-code")

    # The code used at registration is refused: replayed while its time step lasts, and
    # simply wrong once the window has passed.
    type_into(browser, "otc", registration_code)
    click_and_wait(browser, "verify")
    wait.until(ec.presence_of_element_located((By.ID, "error")))
    error = browser.find_element(By.ID, "error").text
    if time.time() - registered_at < 30:
        assert "already used" in error, error
    else:
        assert "already used" in error or "didn't work" in error, error
    shot(browser, "6-replayed-code")

    # A fresh code: the next time step's, which RFC 6238's one-step allowance accepts and
    # which is later than the one used at registration.
    fresh = phone.at(int(time.time()) + 30)
    assert fresh != registration_code
    type_into(browser, "otc", fresh)
    browser.find_element(By.ID, "verify").click()
    wait.until(lambda d: d.current_url.startswith(redirect_uri))
    shot(browser, "7-back-at-the-app")
    callback = browser.current_url
    assert parse_qs(urlparse(callback).query)["state"] == [state]

    token = rp.fetch_token(config["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)
    keys = KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert id_token.claims["preferred_username"] == upn
    assert id_token.claims["amr"] == ["pwd", "mfa"]
