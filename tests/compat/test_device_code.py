"""The device code flow as MSAL runs it unmodified: MSAL starts it, a person types the code
on Latchkey's device-login page and signs in (here driven with plain HTTP requests; the
browser test covers the same pages in Chromium), consents, and MSAL's poll gets tokens."""

import html
import re

import msal
import requests

from test_user_sign_in import PASSWORD, make_user


def hidden(page, name):
    return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page).group(1))


def post_form(session, base, path, page, **fields):
    data = {"csrf": hidden(page, "csrf"), **fields}
    if 'name="request"' in page:
        data["request"] = hidden(page, "request")
    return session.post(f"{base}{path}", data=data, timeout=10)


def test_msal_device_flow_gets_tokens_after_the_user_signs_in_on_the_device_login_page(latchkey):
    upn = "device.user@contoso.test"
    make_user(latchkey, upn)
    app_reg = latchkey.app("--name", "Kiosk", "--public-client", "--delegated-permission", "User.Read")
    app = msal.PublicClientApplication(app_reg["appId"], authority=f"{latchkey.base}/{latchkey.tenant}",
                                       instance_discovery=False)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert "user_code" in flow, flow
    assert flow["verification_uri"] == f"{latchkey.base}/{latchkey.tenant}/devicelogin"

    browser = requests.Session()
    entry = browser.get(flow["verification_uri"], timeout=10)
    assert entry.status_code == 200
    path = f"/{latchkey.tenant}"
    sign_in = post_form(browser, latchkey.base, f"{path}/devicelogin", entry.text, user_code=flow["user_code"])
    assert 'name="password"' in sign_in.text, sign_in.text
    consent = post_form(browser, latchkey.base, f"{path}/login", sign_in.text, username=upn, password=PASSWORD)
    assert "Permissions requested" in consent.text, consent.text
    done = post_form(browser, latchkey.base, f"{path}/login/consent", consent.text, decision="accept")
    assert "on your device" in done.text

    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == upn
    assert app.get_accounts()[0]["username"] == upn
