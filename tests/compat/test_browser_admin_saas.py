"""The admin center's SaaS apps pages in headless Chromium against the real binary: expenses
imported and contracts recorded through the CLI, a user consenting to an app on Latchkey's consent page,
then an administrator opens the SaaS dashboard (its SVG charts drawn by the server, each over
its table, with a CSV export), the inventory, an app's page with its users, licences and
contracts, the renewal calendar and the overlap report, and sanctions an app.

Each page is saved as target/screenshots/admin-saas-*.png for people to look at.
"""

import csv
import datetime
import io
from pathlib import Path

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CHROMEDRIVER, CHROMIUM, SHOTS, cli, gone

ADMIN_PW = "Granite-Otter-Signal-58"
USER_PW = "Copper-Valley-Thistle-24"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are needed (scripts/test installs them)",
)


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"admin-saas-{name}.png"))


def create_user(latchkey, upn, name, password, *extra):
    path = latchkey.data_dir.parent / "admin-saas-pw.txt"
    path.write_text(password + "\n")
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", name,
        "--password-file", str(path), "--no-force-change", *extra)


def click_and_wait(driver, element_id, then_id):
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    wait = WebDriverWait(driver, 20)
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, then_id)))


def months_ago(today, n):
    """The 10th of the month `n` months before today's."""
    y, m = today.year, today.month - n
    while m < 1:
        y, m = y - 1, m + 12
    return datetime.date(y, m, 10)


def add_months(day, n):
    """`day` plus `n` months, the day clamped to the month's last (as chrono does)."""
    y, m = divmod(day.month - 1 + n, 12)
    y, m = day.year + y, m + 1
    last = (datetime.date(y + m // 12, m % 12 + 1, 1) - datetime.timedelta(days=1)).day
    return datetime.date(y, m, min(day.day, last))


def contract_months(start, end, today):
    """The months a contract's monthly cost counts in up to today's: its start's month and
    each month after while the start plus that many months is still before its end."""
    months, k = [], 0
    while (at := add_months(start, k)) < end and (at.year, at.month) <= (today.year, today.month):
        months.append((at.year, at.month))
        k += 1
    return months


def test_an_admin_reads_the_saas_dashboard_and_reviews_an_app(latchkey, redirect_uri, browser):
    admin = "sasha@contoso.test"
    create_user(latchkey, admin, "Sasha Admin", ADMIN_PW, "--role", "Global Administrator")
    create_user(latchkey, "remy@contoso.test", "Remy Okafor", USER_PW)
    today = datetime.date.today()

    # Expenses over the last months: three vendors of the catalogue, one unknown.
    lines = ["vendor,amount,currency,date,employee"]
    for n, (vendor, amount) in enumerate([
            ("Slack Technologies", "480.00"), ("Zoom Video Communications", "149.90"),
            ("Slack HQ", "480.00"), ("Webex", "95.00"), ("\"Dropbox, Inc.\"", "240.00"),
            ("Slack", "512.50"), ("Corner Cafe", "12.40")]):
        lines.append(f"{vendor},{amount},EUR,{months_ago(today, 5 - n % 6)},remy@contoso.test")
    expenses = latchkey.data_dir.parent / "admin-saas-expenses.csv"
    expenses.write_text("\n".join(lines) + "\n")
    cli(latchkey.data_dir, "apps-inventory", "import-expenses", str(expenses))
    for app, days, cost, seats in (("Slack", 75, "5760.00", "40"), ("Zoom", 160, "1798.80", "15")):
        start = today - datetime.timedelta(days=300)
        end = today + datetime.timedelta(days=days)
        cli(latchkey.data_dir, "apps-inventory", "add-contract", app, "--start", str(start),
            "--end", str(end), "--notice-days", "30", "--auto-renew", "--cost", cost,
            "--currency", "EUR", "--seats", seats)

    # Remy signs in to an app registered here and consents to it on Latchkey's consent page:
    # it joins the inventory at that moment, with Remy as its user.
    board = latchkey.app("--name", "Board <b>&co", "--redirect-uri", redirect_uri,
                         "--delegated-permission", "User.Read")
    config = requests.get(f"{latchkey.base}/{latchkey.tenant}/v2.0/.well-known/openid-configuration",
                          timeout=10).json()
    rp = OAuth2Session(board["appId"], board["clientSecret"], scope="openid profile User.Read",
                       redirect_uri=redirect_uri, code_challenge_method="S256")
    url, _ = rp.create_authorization_url(config["authorization_endpoint"],
                                         code_verifier=generate_token(64))
    wait = WebDriverWait(browser, 20)
    browser.delete_all_cookies()
    browser.get(url)
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    browser.find_element(By.ID, "username").send_keys("remy@contoso.test")
    browser.find_element(By.ID, "password").send_keys(USER_PW)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "accept")))
    browser.find_element(By.ID, "accept").click()
    wait.until(lambda d: d.current_url.startswith(redirect_uri))

    browser.set_window_size(1280, 1600)  # taller screenshots: each page whole, or nearly
    browser.get(f"{latchkey.base}/admin/assets/admin.css")
    browser.delete_all_cookies()
    browser.get(f"{latchkey.base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    browser.find_element(By.ID, "username").send_keys(admin)
    browser.find_element(By.ID, "password").send_keys(ADMIN_PW)
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.ID, "nav-saas-dashboard")))

    # The dashboard: every chart is an SVG drawn by the server over its table.
    click_and_wait(browser, "nav-saas-dashboard", "chart-spend-by-month")
    # No script draws them: the page's only script is the admin center's enhancements file.
    scripts = browser.find_elements(By.TAG_NAME, "script")
    assert [s.get_attribute("src").split("/admin/")[-1] for s in scripts] == ["assets/admin.js"]
    for chart in ("spend-by-month", "spend-by-category", "apps-by-state", "renewals"):
        section = browser.find_element(By.ID, f"chart-{chart}")
        bars = section.find_elements(By.CSS_SELECTOR, "svg.chart .bar-value")
        rows = section.find_elements(By.CSS_SELECTOR, "table tbody tr")
        assert bars and len(bars) == len(rows), chart
    # Spend is the expense lines, plus each contract's monthly cost (a yearly cost over
    # twelve) in the months none of its app's expense lines covers.
    start = today - datetime.timedelta(days=300)
    slack_paid = {(d.year, d.month) for d in (months_ago(today, 5), months_ago(today, 3),
                                              months_ago(today, 0))}
    slack_months = [m for m in contract_months(start, today + datetime.timedelta(days=75), today)
                    if m not in slack_paid]
    zoom_paid = {(months_ago(today, 4).year, months_ago(today, 4).month)}
    zoom_months = [m for m in contract_months(start, today + datetime.timedelta(days=160), today)
                   if m not in zoom_paid]
    communication = 1472.50 + 480.00 * len(slack_months)
    video = 149.90 + 95.00 + 149.90 * len(zoom_months)
    by_category = browser.find_element(By.ID, "table-spend-by-category").text
    assert f"Communication EUR {communication:.2f}" in by_category, by_category
    assert f"Video conferencing EUR {video:.2f}" in by_category, by_category
    assert "File storage EUR 240.00" in by_category, by_category
    assert "Uncategorised EUR 12.40" in by_category
    values = [b.text for b in browser.find_elements(
        By.CSS_SELECTOR, "#chart-spend-by-category svg .bar-value")]
    assert values[0] == f"{communication:.2f} EUR"
    assert "Slack" in browser.find_element(By.ID, "tile-deadline").text
    shot(browser, "1-dashboard")

    # The CSV behind a chart, with this browser's admin session.
    session = requests.Session()
    for c in browser.get_cookies():
        session.cookies.set(c["name"], c["value"], path=c.get("path", "/"))
    exported = session.get(f"{latchkey.base}/admin/saas/dashboard/spend-by-category.csv", timeout=10)
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["Category", "Currency", "Spend"]
    assert ["Communication", "EUR", f"{communication:.2f}"] in rows

    # The inventory, searched.
    click_and_wait(browser, "nav-saas", "saas-apps")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#saas-apps .saas-app-link")]
    assert "Board <b>&co" in names and "Slack" in names, names
    shot(browser, "2-inventory")
    browser.find_element(By.ID, "q").send_keys("slack")
    click_and_wait(browser, "search", "saas-apps")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".saas-app-link")] == ["Slack"]

    # Slack's page: its licences and contract; then sanction it.
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, ".saas-app-link").click()
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, "seats-bought")))
    assert browser.find_element(By.ID, "seats-bought").text == "40"
    assert browser.find_element(By.ID, "per-seat").text == "12.00 EUR"
    deadline = today + datetime.timedelta(days=75 - 30)
    assert str(deadline) in browser.find_element(By.ID, "contracts").text
    shot(browser, "3-app-slack")
    click_and_wait(browser, "move-sanctioned", "notice")
    assert "sanctioned" in browser.find_element(By.ID, "notice").text
    assert browser.find_element(By.ID, "saas-app-state").text == "Sanctioned"

    # The app Remy signed in to: Remy is its user; the name is shown as text.
    click_and_wait(browser, "tab-saas-inventory", "saas-apps")
    link = [a for a in browser.find_elements(By.CSS_SELECTOR, ".saas-app-link")
            if a.text == "Board <b>&co"][0]
    old = browser.find_element(By.TAG_NAME, "html")
    link.click()
    wait.until(gone(old))
    wait.until(ec.presence_of_element_located((By.ID, "saas-users")))
    assert browser.find_element(By.ID, "saas-app-name").text == "Board <b>&co"
    assert "remy@contoso.test" in browser.find_element(By.ID, "saas-users").text
    shot(browser, "4-app-board")

    click_and_wait(browser, "nav-saas-renewals", "main")
    months = [h.text for h in browser.find_elements(By.CLASS_NAME, "renewal-month")]
    assert len(months) == 2, months
    shot(browser, "5-renewals")
    click_and_wait(browser, "nav-saas-overlaps", "main")
    categories = [h.text for h in browser.find_elements(By.CLASS_NAME, "overlap-category")]
    assert "Video conferencing" in categories, categories
    shot(browser, "6-overlaps")
