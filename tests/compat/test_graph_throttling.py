"""Throttling as Graph does it: a client over `--graph-rate-limit` gets 429 TooManyRequests with
Retry-After, and msgraph-sdk's retry handler, unmodified, waits that long and succeeds.

A second `latchkey serve` runs on the suite's data directory (same tenant, apps and TLS CA)
with a limit of 60 requests a minute, so Retry-After is one second."""

import asyncio
import ssl
import subprocess
import time

import httpx
import pytest
from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options.headers_inspection_handler_option import HeadersInspectionHandlerOption

from conftest import BIN, Latchkey
from test_graph_users import Q, graph_client


@pytest.fixture(scope="module")
def throttled(latchkey):
    proc = subprocess.Popen([str(BIN), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(latchkey.data_dir),
                             "--graph-rate-limit", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = None
    for line in proc.stdout:
        if line.startswith("Latchkey is listening on "):
            base = line.split()[4].replace("127.0.0.1", "localhost")
            break
    assert base, "the throttled server did not start"
    try:
        yield Latchkey(base, latchkey.tenant, latchkey.data_dir, latchkey.ca)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def exhaust(server, token):
    """Sends requests until the server throttles; returns that 429 answer."""
    with httpx.Client(verify=ssl.create_default_context(cafile=server.ca)) as http:
        for _ in range(300):
            r = http.get(f"{server.base}/v1.0/users?$top=1", headers={"Authorization": f"Bearer {token}"})
            if r.status_code == 429:
                return r
            assert r.status_code == 200, r.text
    pytest.fail("300 requests in a row were never throttled at 60 a minute")


def test_over_the_rate_a_client_gets_429_and_the_sdk_retries_after_the_wait(throttled, consented_app):
    cred = ClientSecretCredential(throttled.tenant, consented_app["appId"], consented_app["clientSecret"],
                                  authority=throttled.base, disable_instance_discovery=True,
                                  connection_verify=throttled.ca)
    token = cred.get_token("https://graph.microsoft.com/.default").token
    refused = exhaust(throttled, token)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "TooManyRequests"

    async def flow():
        graph = graph_client(throttled, consented_app, cred=cred)
        inspect = HeadersInspectionHandlerOption(inspect_request_headers=True)
        started = time.monotonic()
        page = await graph.users.get(request_configuration=RequestConfiguration(
            query_parameters=Q(top=1), options=[inspect]))
        return page, time.monotonic() - started, inspect

    exhaust(throttled, token)
    page, elapsed, inspect = asyncio.run(flow())
    assert len(page.value) == 1, "the SDK's retry got the page"
    assert elapsed >= 0.9, f"the SDK waited Retry-After before retrying ({elapsed:.2f}s)"
    attempts = inspect.request_headers.get("retry-attempt")
    if attempts:  # present when the inspection handler sits after the retry handler
        assert attempts >= {"1"}, attempts
