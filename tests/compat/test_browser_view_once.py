"""View-once delivery in headless Chromium, against a real SMTP server: a Latchkey started with
the SMTP flags pointing at an aiosmtpd sink on loopback; an administrator resets a password with
"Send the password to … by e-mail"; the test reads the message from the sink, opens the link,
reveals the password once, sees the expired page on a second open, and the user signs in to an
OpenID Connect relying party with it and is made to change it (and is then sent the "password
changed" notice).

Screenshots under target/screenshots/view-once-*.png.
"""

import email
import email.policy
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import BIN, CHROMEDRIVER, CHROMIUM, SHOTS, Latchkey, cli
from test_browser_admin_center import ADMIN_PW, admin_signs_in, create_user, open_reset, type_into

START_PW = "Copper-Valley-Thistle-24"
CHOSEN = "Meadow-Lantern-Orbit-63"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"view-once-{name}.png"))


class Sink:
    """aiosmtpd's handler: records every message it accepts."""

    def __init__(self):
        self.messages = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.changed:
            self.messages.append(envelope)
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count, timeout=30, to=None):
        """The messages once `count` have arrived (only those for `to`, when given): other
        mail, such as the administrators' alert of a newly discovered app, may arrive between."""
        def mine():
            return [m for m in self.messages if to is None or to in m.rcpt_tos]
        with self.changed:
            assert self.changed.wait_for(lambda: len(mine()) >= count, timeout), \
                f"{len(mine())} message(s) arrived, expected {count}"
            return mine()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smtp_sink():
    from aiosmtpd.controller import Controller
    sink = Sink()
    # aiosmtpd 1.4 cannot report a port chosen by the kernel; take a free one just before.
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), server_hostname="sink.test")
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def mailing_latchkey(smtp_sink):
    _, port = smtp_sink
    tmp = Path(tempfile.mkdtemp(prefix="latchkey-view-once-"))
    data = tmp / "data"
    init = cli(data, "init", "--domain", "contoso.test")
    env = dict(os.environ, LATCHKEY_ARGON2_MEMORY_KIB="256", LATCHKEY_ARGON2_ITERATIONS="1")
    env.pop("LATCHKEY_DATABASE_URL", None)
    proc = subprocess.Popen(
        [str(BIN), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data),
         "--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-security", "none",
         "--mail-from", "latchkey@contoso.test"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    base = None
    for line in proc.stdout:
        if line.startswith("Latchkey is listening on "):
            base = line.split()[4].replace("127.0.0.1", "localhost")
            break
    assert base, "the server did not start"
    try:
        yield Latchkey(base, init["tenantId"], data, str(data / "tls" / "ca.pem"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def set_mail(latchkey, upn, address):
    """Gives the user a `mail` address through Graph, as a provisioning script would."""
    app = latchkey.app("--name", "Provisioning", "--application-permission", "User.ReadWrite.All",
                       "--grant-admin-consent")
    token = requests.post(f"{latchkey.base}/{latchkey.tenant}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app["appId"],
        "client_secret": app["clientSecret"], "scope": "https://graph.microsoft.com/.default",
    }, verify=latchkey.ca, timeout=10).json()["access_token"]
    r = requests.patch(f"{latchkey.base}/v1.0/users/{upn}", json={"mail": address},
                       headers={"Authorization": f"Bearer {token}"}, verify=latchkey.ca, timeout=10)
    assert r.status_code == 204, r.text


def text_of(envelope):
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    return message, message.get_body(preferencelist=("plain",)).get_content()


def test_an_emailed_link_reveals_the_password_once_and_the_user_must_change_it(
        mailing_latchkey, smtp_sink, redirect_uri, browser):
    latchkey = mailing_latchkey
    sink, _ = smtp_sink
    admin = "ada@contoso.test"
    upn = "robin@contoso.test"
    create_user(latchkey, admin, "Ada Admin", ADMIN_PW, "--role", "Global Administrator")
    create_user(latchkey, upn, "Robin Vega", START_PW)
    set_mail(latchkey, upn, "robin@mail.contoso.test")
    wait = WebDriverWait(browser, 20)

    admin_signs_in(latchkey, browser, admin)
    open_reset(browser, "robin", "Robin Vega")
    option = browser.find_element(By.ID, "deliver-1")
    assert "Send the password to robin@mail.contoso.test by e-mail" in \
        browser.find_element(By.ID, "delivery").text
    option.click()
    shot(browser, "1-reset-with-delivery")
    browser.find_element(By.ID, "reset-submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "delivered")))
    assert "robin@mail.contoso.test" in browser.find_element(By.ID, "delivered").text
    assert not browser.find_elements(By.ID, "new-password"), "the admin never sees the password"
    shot(browser, "2-link-sent")

    envelope = sink.wait_for(1)[0]
    assert envelope.rcpt_tos == ["robin@mail.contoso.test"]
    message, text = text_of(envelope)
    assert message["Subject"] == "A temporary password for robin@contoso.test is waiting"
    links = re.findall(r"https://\S+/account/delivered/[A-Za-z0-9_-]{43}", text)
    assert len(links) == 1, text
    link = links[0]

    # The link first shows an interstitial; the password appears only after the button.
    browser.delete_all_cookies()
    browser.get(link)
    wait.until(ec.presence_of_element_located((By.ID, "reveal")))
    assert "robin@contoso.test" in browser.find_element(By.ID, "upn").text
    shot(browser, "3-interstitial")
    browser.find_element(By.ID, "reveal").click()
    wait.until(ec.presence_of_element_located((By.ID, "password")))
    password = browser.find_element(By.ID, "password").get_attribute("value")
    assert len(password) >= 16
    assert "will not be shown again" in browser.find_element(By.ID, "once").text
    assert password not in envelope.original_content.decode("utf-8", "replace")
    shot(browser, "4-revealed")

    browser.get(link)
    wait.until(ec.presence_of_element_located((By.ID, "heading")))
    assert "This link has expired or was already used" in browser.page_source
    assert password not in browser.page_source
    assert not browser.find_elements(By.ID, "reveal")
    shot(browser, "5-second-open")

    # The user signs in to an app with it and must choose their own.
    app = latchkey.app("--name", "Contoso Intranet", "--redirect-uri", redirect_uri,
                       "--delegated-permission", "User.Read", "--grant-admin-consent")
    config = requests.get(f"{latchkey.base}/{latchkey.tenant}/v2.0/.well-known/openid-configuration",
                          verify=latchkey.ca, timeout=10).json()
    rp = OAuth2Session(app["appId"], app["clientSecret"], scope="openid profile User.Read",
                       redirect_uri=redirect_uri, code_challenge_method="S256",
                       token_endpoint_auth_method="client_secret_post")
    verifier = generate_token(64)
    url, state = rp.create_authorization_url(config["authorization_endpoint"], nonce=generate_token(20),
                                             code_verifier=verifier)
    browser.delete_all_cookies()
    browser.get(url)
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    type_into(browser, "username", upn)
    type_into(browser, "password", password)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "new_password")))
    shot(browser, "6-must-change")
    type_into(browser, "current_password", password)
    type_into(browser, "new_password", CHOSEN)
    type_into(browser, "confirm_password", CHOSEN)
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.current_url.startswith(redirect_uri))
    token = rp.fetch_token(config["token_endpoint"], authorization_response=browser.current_url,
                           code_verifier=verifier, state=state, verify=latchkey.ca)
    me = requests.get(config["userinfo_endpoint"], verify=latchkey.ca,
                      headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert me.json()["preferred_username"] == upn

    # Their own change is announced to them by e-mail.
    notice = sink.wait_for(2)[1]
    assert notice.rcpt_tos == ["robin@mail.contoso.test"]
    notice_message, notice_text = text_of(notice)
    assert notice_message["Subject"] == "Your Contoso password was changed"
    assert CHOSEN not in notice_text and password not in notice_text

    # Everything was sent: nothing waits in the queue.
    deadline = time.monotonic() + 10
    while True:
        queue = cli(latchkey.data_dir, "mail", "queue")
        if queue["value"] == [] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert queue["value"] == []
