"""The sign-in pages in headless Chromium, with a standard OpenID Connect relying party
(authlib) on the other side: authorization code + PKCE + nonce, a user whose password was
reset with "must change", the change-password page (a mismatch shown inline first), consent,
the redirect to the app's loopback address, the code exchanged and the id_token validated
against the JWKS (signature, iss, aud, nonce) with joserfc. Then the refusals a browser sees:
a replayed code, an unregistered redirect URI.

Each page is saved as a screenshot under target/screenshots/ for people to look at.
"""

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS, cli

TEMPORARY = "Harbour-Lantern-Blue-42"
CHOSEN = "Meadow-Compass-Green-97"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def discovery(latchkey):
    return requests.get(f"{latchkey.base}/{latchkey.tenant}/v2.0/.well-known/openid-configuration",
                        timeout=10).json()


def reset_user(latchkey, upn):
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", "Robin Hale")
    path = latchkey.data_dir.parent / "browser-pw.txt"
    path.write_text(TEMPORARY + "\n")
    cli(latchkey.data_dir, "users", "set-password", upn, "--password-file", str(path), "--force-change")


def type_into(driver, element_id, text):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def test_a_reset_user_signs_in_changes_the_password_consents_and_the_app_validates_the_id_token(
        latchkey, redirect_uri, browser):
    upn = "robin@contoso.test"
    reset_user(latchkey, upn)
    app = latchkey.app("--name", "Contoso Intranet", "--redirect-uri", redirect_uri,
                       "--delegated-permission", "User.Read")
    config = discovery(latchkey)
    rp = OAuth2Session(app["appId"], app["clientSecret"], scope="openid profile offline_access User.Read",
                       redirect_uri=redirect_uri, code_challenge_method="S256",
                       token_endpoint_auth_method="client_secret_post")
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = rp.create_authorization_url(config["authorization_endpoint"], nonce=nonce,
                                             code_verifier=verifier)
    wait = WebDriverWait(browser, 20)

    browser.get(url)
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    assert "Contoso Intranet" in browser.page_source
    shot(browser, "1-sign-in")
    type_into(browser, "username", upn)
    type_into(browser, "password", TEMPORARY)
    browser.find_element(By.ID, "submit").click()

    wait.until(ec.presence_of_element_located((By.ID, "new_password")))
    shot(browser, "2-change-password")
    type_into(browser, "current_password", TEMPORARY)
    type_into(browser, "new_password", CHOSEN)
    type_into(browser, "confirm_password", CHOSEN + "x")
    browser.find_element(By.ID, "submit").click()

    wait.until(ec.presence_of_element_located((By.ID, "error")))
    assert "do not match" in browser.find_element(By.ID, "error").text
    for field in ("current_password", "new_password", "confirm_password"):
        assert browser.find_element(By.ID, field).get_attribute("value") == ""
    assert CHOSEN not in browser.page_source and TEMPORARY not in browser.page_source
    shot(browser, "3-change-password-mismatch")
    type_into(browser, "current_password", TEMPORARY)
    type_into(browser, "new_password", CHOSEN)
    type_into(browser, "confirm_password", CHOSEN)
    browser.find_element(By.ID, "submit").click()

    wait.until(ec.presence_of_element_located((By.ID, "accept")))
    assert "Sign you in and read your profile" in browser.page_source
    shot(browser, "4-consent")
    browser.find_element(By.ID, "accept").click()

    wait.until(lambda d: d.current_url.startswith(redirect_uri))
    shot(browser, "5-back-at-the-app")
    callback = browser.current_url
    assert parse_qs(urlparse(callback).query)["state"] == [state]

    token = rp.fetch_token(config["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)
    keys = KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": config["issuer"]},
        aud={"essential": True, "value": app["appId"]},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
    ).validate(id_token.claims)
    assert id_token.claims["preferred_username"] == upn
    assert token["refresh_token"]

    # The same code again: refused with Entra's code, whatever the client.
    code = parse_qs(urlparse(callback).query)["code"][0]
    replay = requests.post(config["token_endpoint"], data={
        "grant_type": "authorization_code", "client_id": app["appId"], "client_secret": app["clientSecret"],
        "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}, timeout=10)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert replay.json()["error_codes"] == [54005]

    # The new password is the one that works now; the user is not asked to change it again.
    userinfo = requests.get(config["userinfo_endpoint"],
                            headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)
    assert userinfo.status_code == 200
    assert userinfo.json()["preferred_username"] == upn


def test_an_unregistered_redirect_uri_stays_on_an_error_page(latchkey, redirect_uri, browser):
    app = latchkey.app("--name", "Registered elsewhere", "--redirect-uri", redirect_uri,
                       "--delegated-permission", "User.Read")
    config = discovery(latchkey)
    query = urlencode({
        "client_id": app["appId"], "response_type": "code", "scope": "openid",
        "redirect_uri": "http://127.0.0.1:9/steal", "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
    })
    browser.get(f"{config['authorization_endpoint']}?{query}")
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "message")))
    assert urlparse(browser.current_url).netloc == urlparse(latchkey.base).netloc
    assert "AADSTS50011" in browser.page_source
    shot(browser, "6-unregistered-redirect-uri")
