"""The admin center's licences in headless Chromium: an administrator opens Billing > Licenses
and sees each product's seats used and bought, then opens a user's details pane and sees the
user's licences and manager. The data is made the way an operator and an automation would: a
SKU and an assignment with the offline CLI, the manager over Graph.

Screenshots: target/screenshots/admin-licenses-*.png.
"""

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import cli
from test_browser_admin_center import ADMIN_PW, admin_signs_in, create_user, pytestmark, type_into  # noqa: F401
from test_graph_users import unique


def shot(driver, name):
    from conftest import SHOTS
    driver.save_screenshot(str(SHOTS / f"admin-licenses-{name}.png"))


def graph_token(latchkey, app):
    r = requests.post(f"{latchkey.base}/{latchkey.tenant}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app["appId"], "client_secret": app["clientSecret"],
        "scope": "https://graph.microsoft.com/.default"}, verify=latchkey.ca, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


def test_an_admin_sees_seats_per_product_and_a_users_licences_and_manager(latchkey, browser, consented_app):
    admin = f"{unique('lic-admin')}@contoso.test"
    lead = f"{unique('lead')}@contoso.test"
    member = f"{unique('member')}@contoso.test"
    create_user(latchkey, admin, "Lena Licensing", ADMIN_PW, "--role", "Global Administrator")
    create_user(latchkey, lead, "Team Lead", ADMIN_PW)
    create_user(latchkey, member, "Morgan Member", ADMIN_PW)
    part = unique("E5").replace("-", "_").upper()
    cli(latchkey.data_dir, "licenses", "create", "--sku-part-number", part, "--seats", "3",
        "--service-plan", "EXCHANGE_S_ENTERPRISE")
    cli(latchkey.data_dir, "users", "assign-license", member, "--sku", part, "--usage-location", "GB")

    token = graph_token(latchkey, consented_app)
    headers = {"Authorization": f"Bearer {token}"}
    lead_id = requests.get(f"{latchkey.base}/v1.0/users/{lead}", headers=headers, verify=latchkey.ca,
                           timeout=30).json()["id"]
    r = requests.put(f"{latchkey.base}/v1.0/users/{member}/manager/$ref", headers=headers, verify=latchkey.ca,
                     json={"@odata.id": f"{latchkey.base}/v1.0/directoryObjects/{lead_id}"}, timeout=30)
    assert r.status_code == 204, r.text

    wait = WebDriverWait(browser, 20)
    admin_signs_in(latchkey, browser, admin)
    browser.find_element(By.ID, "nav-licenses").click()
    wait.until(ec.presence_of_element_located((By.ID, "skus")))
    rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "#skus tbody tr")
            if r.find_element(By.CLASS_NAME, "sku-name").text == part]
    assert len(rows) == 1
    assert rows[0].find_element(By.CLASS_NAME, "sku-used").text == "1 of 3"
    assert "EXCHANGE_S_ENTERPRISE" in rows[0].text
    shot(browser, "1-products")

    browser.find_element(By.ID, "nav-active-users").click()
    wait.until(ec.presence_of_element_located((By.ID, "users")))
    alias = member.split("@")[0]
    type_into(browser, "q", alias)
    browser.find_element(By.ID, "search").click()
    wait.until(lambda d: f"q={alias}" in d.current_url)
    browser.find_element(By.CLASS_NAME, "user-link").click()
    wait.until(ec.presence_of_element_located((By.ID, "pane")))
    assert browser.find_element(By.ID, "pane-licenses").text == part
    assert browser.find_element(By.ID, "pane-manager").text == f"Team Lead ({lead})"
    shot(browser, "2-details-pane")
