"""Self-service password reset in headless Chromium, against a real SMTP server: a user who
forgot their password follows "Forgot my password" from an app's sign-in page, receives an
8-digit code at their alternate address (read here from an aiosmtpd sink on loopback), chooses a
new password, goes back to the sign-in page and arrives at the app with it. The same pages for a
name that has no account say nothing about that.

Screenshots under target/screenshots/sspr-*.png.
"""

import re
from pathlib import Path

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS
from test_browser_admin_center import create_user, type_into
# The SMTP sink and a Latchkey that sends mail through it (module-scoped fixtures).
from test_browser_view_once import mailing_latchkey, smtp_sink, text_of  # noqa: F401

FORGOTTEN = "Copper-Valley-Thistle-24"
CHOSEN = "Harbour-Quill-Saffron-71"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"sspr-{name}.png"))


def set_alternate_address(latchkey, upn, address):
    """Gives the user an alternate e-mail address (`otherMails`) through Graph."""
    app = latchkey.app("--name", "Provisioning", "--application-permission", "User.ReadWrite.All",
                       "--grant-admin-consent")
    token = requests.post(f"{latchkey.base}/{latchkey.tenant}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app["appId"],
        "client_secret": app["clientSecret"], "scope": "https://graph.microsoft.com/.default",
    }, verify=latchkey.ca, timeout=10).json()["access_token"]
    r = requests.patch(f"{latchkey.base}/v1.0/users/{upn}", json={"otherMails": [address]},
                       headers={"Authorization": f"Bearer {token}"}, verify=latchkey.ca, timeout=10)
    assert r.status_code == 204, r.text


def relying_party(latchkey, redirect_uri):
    app = latchkey.app("--name", "Contoso Timesheets", "--redirect-uri", redirect_uri,
                       "--delegated-permission", "User.Read", "--grant-admin-consent")
    config = requests.get(f"{latchkey.base}/{latchkey.tenant}/v2.0/.well-known/openid-configuration",
                          verify=latchkey.ca, timeout=10).json()
    rp = OAuth2Session(app["appId"], app["clientSecret"], scope="openid profile User.Read",
                       redirect_uri=redirect_uri, code_challenge_method="S256",
                       token_endpoint_auth_method="client_secret_post")
    verifier = generate_token(64)
    url, state = rp.create_authorization_url(config["authorization_endpoint"],
                                             nonce=generate_token(20), code_verifier=verifier)
    return config, rp, url, state, verifier


def forget_latchkey(driver, latchkey):
    """Drops the browser's Latchkey cookies (cookies are deleted for the page's own site)."""
    driver.get(f"{latchkey.base}/assets/latchkey.css")
    driver.delete_all_cookies()


def visible_words(driver):
    """The page's text without its form tokens: what a person reads."""
    return driver.find_element(By.TAG_NAME, "main").text


def test_a_user_resets_a_forgotten_password_with_an_emailed_code_and_signs_in(
        mailing_latchkey, smtp_sink, redirect_uri, browser):
    latchkey = mailing_latchkey
    sink, _ = smtp_sink
    upn = "sam@contoso.test"
    create_user(latchkey, upn, "Sam Okafor", FORGOTTEN)
    set_alternate_address(latchkey, upn, "sam.home@example.test")
    wait = WebDriverWait(browser, 20)
    config, rp, url, state, verifier = relying_party(latchkey, redirect_uri)
    home = "sam.home@example.test"
    already = len(sink.wait_for(0, to=home))

    def not_for_admins():
        # The administrators (admin@contoso.test) are alerted of the newly discovered app.
        return [m for m in sink.messages if m.rcpt_tos != ["admin@contoso.test"]]
    others = len(not_for_admins())

    forget_latchkey(browser, latchkey)
    browser.get(url)
    wait.until(ec.presence_of_element_located((By.ID, "forgot")))
    shot(browser, "1-sign-in")
    browser.find_element(By.ID, "forgot").click()
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    assert "Get back into your account" in browser.page_source
    type_into(browser, "username", upn)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "send-email")))
    shot(browser, "2-choose-method")
    choose_words = visible_words(browser)
    browser.find_element(By.ID, "send-email").click()
    wait.until(ec.presence_of_element_located((By.ID, "code")))
    shot(browser, "3-enter-code")

    envelope = sink.wait_for(already + 1, to=home)[already]
    assert envelope.rcpt_tos == ["sam.home@example.test"]
    _, text = text_of(envelope)
    codes = re.findall(r"verification code is:\s*(\d{8})\b", text)
    assert len(codes) == 1, text
    code = codes[0]

    type_into(browser, "code", "00000000" if code != "00000000" else "11111111")
    browser.find_element(By.ID, "verify").click()
    wait.until(ec.presence_of_element_located((By.ID, "error")))
    assert "That code didn't work" in browser.find_element(By.ID, "error").text
    type_into(browser, "code", code)
    browser.find_element(By.ID, "verify").click()
    wait.until(ec.presence_of_element_located((By.ID, "new_password")))
    shot(browser, "4-new-password")
    type_into(browser, "new_password", "sam12345")
    type_into(browser, "confirm_password", "sam12345")
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "error")))
    shot(browser, "5-weak-refused")
    type_into(browser, "new_password", CHOSEN)
    type_into(browser, "confirm_password", CHOSEN)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "done")))
    shot(browser, "6-done")

    # Back to the app's sign-in page: the old password is gone, the new one signs in.
    browser.find_element(By.ID, "back").click()
    wait.until(ec.presence_of_element_located((By.ID, "password")))
    type_into(browser, "username", upn)
    type_into(browser, "password", FORGOTTEN)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "error")))
    type_into(browser, "username", upn)
    type_into(browser, "password", CHOSEN)
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.current_url.startswith(redirect_uri))
    token = rp.fetch_token(config["token_endpoint"], authorization_response=browser.current_url,
                           code_verifier=verifier, state=state, verify=latchkey.ca)
    me = requests.get(config["userinfo_endpoint"], verify=latchkey.ca,
                      headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert me.json()["preferred_username"] == upn

    # The user is told their password changed; the code and the password are in no message.
    notice = sink.wait_for(already + 2, to=home)[already + 1]
    assert notice.rcpt_tos == ["sam.home@example.test"]
    _, notice_text = text_of(notice)
    assert CHOSEN not in notice_text and code not in notice_text

    # A name without an account walks through the very same pages, and no message is sent.
    forget_latchkey(browser, latchkey)
    browser.get(url)
    wait.until(ec.presence_of_element_located((By.ID, "forgot")))
    browser.find_element(By.ID, "forgot").click()
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    type_into(browser, "username", "nobody@contoso.test")
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "send-email")))
    assert visible_words(browser) == choose_words
    browser.find_element(By.ID, "send-email").click()
    wait.until(ec.presence_of_element_located((By.ID, "code")))
    assert len(not_for_admins()) == others + 2
