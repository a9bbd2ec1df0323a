"""The admin center's script (admin.js) in headless Chromium, and the pages on a phone.

Active users filters as the administrator types, without reloading the page or moving the
caret; an opened details pane takes the keyboard focus, the reset form's first choice too,
and Escape closes the form. Typing a password names each rule of the tenant's policy it
breaks (the server's own check) and whether both boxes match, with Show password; the
one-time password has a Copy button that puts it on the clipboard. On a 390-pixel phone the
list, the pane and the reset form fit the screen without scrolling sideways.

Screenshots: target/screenshots/admin-js-*.png.
"""

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS, cli, gone

ADMIN_PW = "Granite-Otter-Signal-58"
START_PW = "Copper-Valley-Thistle-24"
TYPED = "Amber-Falcon-Ridge-31"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"admin-js-{name}.png"))


def create_user(latchkey, upn, name, password, *extra):
    path = latchkey.data_dir.parent / "admin-js-pw.txt"
    path.write_text(password + "\n")
    return cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", name,
               "--password-file", str(path), "--no-force-change", *extra)


def sign_in(latchkey, driver, upn):
    wait = WebDriverWait(driver, 20)
    driver.get(f"{latchkey.base}/admin/assets/admin.css")
    driver.delete_all_cookies()
    driver.get(f"{latchkey.base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    driver.find_element(By.ID, "username").send_keys(upn)
    driver.find_element(By.ID, "password").send_keys(ADMIN_PW)
    driver.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "nav-active-users")))


def names(driver):
    return [link.text for link in driver.find_elements(By.CLASS_NAME, "user-link")]


def active_id(driver):
    return driver.execute_script("return document.activeElement && document.activeElement.id")


def feedback_rules(driver):
    return [li.get_attribute("data-rule")
            for li in driver.find_elements(By.CSS_SELECTOR, "#password-feedback li")]


def test_search_as_you_type_focus_live_rules_show_and_copy(latchkey, browser):
    admin = "nadia@contoso.test"
    create_user(latchkey, admin, "Nadia Admin", ADMIN_PW, "--role", "Global Administrator")
    create_user(latchkey, "zephyrine@contoso.test", "Zephyrine Alvarez", START_PW)
    create_user(latchkey, "zephyrus@contoso.test", "Zephyrus Blake", START_PW)
    create_user(latchkey, "thaddeus@contoso.test", "Thaddeus Stone", START_PW)
    wait = WebDriverWait(browser, 20)
    sign_in(latchkey, browser, admin)

    # Search as you type: no Enter, no button, no new page.
    browser.find_element(By.ID, "nav-active-users").click()
    wait.until(ec.presence_of_element_located((By.ID, "users")))
    assert "Thaddeus Stone" in names(browser)
    browser.execute_script("window.sameDocument = true")
    box = browser.find_element(By.ID, "q")
    box.send_keys("zephyr")
    wait.until(lambda d: sorted(names(d)) == ["Zephyrine Alvarez", "Zephyrus Blake"])
    box.send_keys("i")
    wait.until(lambda d: names(d) == ["Zephyrine Alvarez"])
    assert browser.execute_script("return window.sameDocument") is True
    assert active_id(browser) == "q"
    assert box.get_attribute("value") == "zephyri"
    assert "q=zephyri" in browser.current_url
    shot(browser, "1-search-as-you-type")
    # Nobody matches: the list says so, still without a new page.
    box.send_keys("zz")
    wait.until(lambda d: d.find_elements(By.ID, "no-users"))
    assert names(browser) == []
    box.send_keys(Keys.BACKSPACE, Keys.BACKSPACE)
    wait.until(lambda d: names(d) == ["Zephyrine Alvarez"])

    # The details pane takes the focus; the reset form's first choice too; Escape closes it.
    browser.find_element(By.CLASS_NAME, "user-link").click()
    wait.until(ec.presence_of_element_located((By.ID, "pane")))
    wait.until(lambda d: active_id(d) == "pane-name")
    browser.find_element(By.ID, "reset-password").click()
    wait.until(ec.presence_of_element_located((By.ID, "reset-form")))
    assert active_id(browser) == "mode-auto"
    form = browser.find_element(By.ID, "reset-form")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait.until(gone(form))
    wait.until(ec.presence_of_element_located((By.ID, "reset-password")))
    assert not browser.find_elements(By.ID, "reset-form")

    # Live rules from the server's policy check, the match, and Show password.
    browser.find_element(By.ID, "reset-password").click()
    wait.until(ec.presence_of_element_located((By.ID, "reset-form")))
    password = browser.find_element(By.ID, "password")
    confirm = browser.find_element(By.ID, "confirm")
    password.send_keys("alvarez")
    wait.until(lambda d: "minLength" in feedback_rules(d))
    assert "noUserName" in feedback_rules(browser)
    assert browser.find_element(By.ID, "mode-typed").is_selected()
    shot(browser, "2-live-rules")
    password.clear()
    password.send_keys(TYPED)
    wait.until(lambda d: d.find_elements(By.ID, "password-ok"))
    assert feedback_rules(browser) == []
    confirm.send_keys(TYPED[:-2] + "13")
    wait.until(lambda d: feedback_rules(d) == ["match"])
    confirm.send_keys(Keys.BACKSPACE, Keys.BACKSPACE, "31")
    wait.until(lambda d: "both boxes match" in d.find_element(By.ID, "password-feedback").text)
    toggle = browser.find_element(By.ID, "show-password")
    assert toggle.is_displayed()
    toggle.click()
    assert password.get_attribute("type") == "text"
    assert toggle.get_attribute("aria-pressed") == "true"
    shot(browser, "3-shown-and-matching")
    toggle.click()
    assert password.get_attribute("type") == "password"
    browser.find_element(By.ID, "require-change").click()  # off: she keeps what we typed
    browser.find_element(By.ID, "reset-submit").click()
    wait.until(lambda d: "is now zephyrine@contoso.test" in d.page_source)

    # Copy: an automatic reset's one-time password goes to the clipboard.
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": latchkey.base,
        "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
    })
    browser.find_element(By.ID, "done").click()
    wait.until(ec.presence_of_element_located((By.ID, "reset-password")))
    browser.find_element(By.ID, "reset-password").click()
    wait.until(ec.presence_of_element_located((By.ID, "reset-submit")))
    browser.find_element(By.ID, "reset-submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "new-password")))
    generated = browser.find_element(By.ID, "new-password").get_attribute("value")
    copy = browser.find_element(By.ID, "copy-password")
    assert copy.is_displayed()
    copy.click()
    wait.until(lambda d: d.find_element(By.ID, "copy-status").text == "Copied.")
    pasted = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('!' + e));")
    assert pasted == generated
    shot(browser, "4-copied")


def test_the_list_pane_and_reset_form_fit_a_phone(latchkey, browser):
    admin = "omar@contoso.test"
    create_user(latchkey, admin, "Omar Admin", ADMIN_PW, "--role", "Global Administrator")
    someone = create_user(latchkey, "bartholomew.longname-example@contoso.test",
                          "Bartholomew Longname-Example", START_PW)
    wait = WebDriverWait(browser, 20)
    sign_in(latchkey, browser, admin)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True,
    })
    try:
        def fits(what):
            # A page wider than the phone widens the layout viewport with it, so compare
            # with the screen's 390 pixels, and name what sticks out.
            wide, culprits = browser.execute_script("""
                const out = [];
                for (const e of document.querySelectorAll('body *')) {
                  const r = e.getBoundingClientRect();
                  if (r.right > 390.5 && getComputedStyle(e).position !== 'absolute')
                    out.push((e.id || e.tagName) + ':' + Math.round(r.right));
                }
                return [document.documentElement.scrollWidth, out.slice(0, 8)];""")
            assert wide <= 390, f"{what}: the page is {wide}px wide on a 390px screen: {culprits}"

        def on_screen(element_id):
            right = browser.execute_script(
                "return document.getElementById(arguments[0]).getBoundingClientRect().right",
                element_id)
            assert right <= 390, f"#{element_id} ends at {right}px"

        browser.get(f"{latchkey.base}/admin/users")
        wait.until(ec.presence_of_element_located((By.ID, "users")))
        fits("Active users")
        for element_id in ("q", "search", "sign-out"):
            on_screen(element_id)
        shot(browser, "5-phone-active-users")

        browser.get(f"{latchkey.base}/admin/users?user={someone['id']}")
        wait.until(ec.presence_of_element_located((By.ID, "pane")))
        fits("the details pane")
        on_screen("reset-password")
        shot(browser, "6-phone-details-pane")

        browser.find_element(By.ID, "reset-password").click()
        wait.until(ec.presence_of_element_located((By.ID, "reset-form")))
        fits("the reset form")
        for element_id in ("password", "confirm", "reset-submit"):
            on_screen(element_id)
        shot(browser, "7-phone-reset-form")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
