"""Fixtures that run a real Latchkey for Microsoft's clients: an initialised data directory,
an app registration with admin consent, and `latchkey serve` on a free loopback port.

Every test first installs a guard that refuses connections off loopback: with default
settings MSAL would contact login.microsoftonline.com, and a test must never leave the machine.
"""

import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("LATCHKEY_BIN", ROOT / "target" / "debug" / "latchkey"))
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        # httpx (msgraph-sdk) passes the host as bytes.
        name = host.decode() if isinstance(host, bytes) else host
        if name not in ("localhost", "127.0.0.1", "::1"):
            raise OSError(f"test guard: refusing to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


def cli(data_dir, *args):
    env = dict(os.environ, LATCHKEY_DATA_DIR=str(data_dir), LATCHKEY_ARGON2_MEMORY_KIB="256",
               LATCHKEY_ARGON2_ITERATIONS="1")
    env.pop("LATCHKEY_DATABASE_URL", None)
    out = subprocess.run([str(BIN), *args, "--json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class Latchkey:
    def __init__(self, base, tenant, data_dir, ca):
        self.base = base
        self.tenant = tenant
        self.data_dir = data_dir
        self.ca = ca

    def app(self, *args):
        return cli(self.data_dir, "apps", "create", *args)


@pytest.fixture(scope="session")
def latchkey():
    tmp = Path(tempfile.mkdtemp(prefix="latchkey-compat-"))
    data = tmp / "data"
    init = cli(data, "init", "--domain", "contoso.test")
    proc = subprocess.Popen([str(BIN), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = None
    for line in proc.stdout:
        if line.startswith("Latchkey is listening on "):
            base = line.split()[4].replace("127.0.0.1", "localhost")
            break
    assert base, "the server did not start"
    # One bundle with the system CAs and ours, for requests (REQUESTS_CA_BUNDLE) and for
    # httpx/aiohttp (SSL_CERT_FILE): see spec/microsoft-clients.md §5.
    bundle = tmp / "bundle.pem"
    bundle.write_bytes(Path(SYSTEM_BUNDLE).read_bytes() + (data / "tls" / "ca.pem").read_bytes())
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
    os.environ["SSL_CERT_FILE"] = str(bundle)
    os.environ.pop("CURL_CA_BUNDLE", None)
    try:
        yield Latchkey(base, init["tenantId"], data, str(bundle))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def consented_app(latchkey):
    return latchkey.app("--name", "Automation", "--application-permission", "User.ReadWrite.All",
                        "--grant-admin-consent")


# The browser tests: Debian's headless Chromium through chromedriver, and a relying party's
# redirect URI on a loopback port.

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = ROOT / "target" / "screenshots"


class Callback(http.server.BaseHTTPRequestHandler):
    """The relying party's redirect URI: a page that says the browser is back at the app."""

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        body = b"<!doctype html><title>Back at the app</title><p>Signed in.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def redirect_uri():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                # The server's certificate comes from the CA Latchkey made on first start; the
                # Python side trusts it through REQUESTS_CA_BUNDLE, the browser is told here.
                "--ignore-certificate-errors", "--no-first-run", "--disable-sync"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def gone(element):
    """A wait condition: the element left the page (the form was posted and a new page came).
    Chromedriver reports a node of a replaced document either as stale or, while the new
    document is being attached, as an "unknown error" from the inspector; both mean gone."""

    def check(_driver):
        try:
            element.is_enabled()
            return False
        except WebDriverException:
            return True

    return check
