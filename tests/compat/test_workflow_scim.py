"""Lifecycle workflows provisioning a SaaS app over SCIM 2.0 (RFC 7644), against a real SCIM
service: python-scim2's `scim2-server` (its in-memory test server, run here in a thread on a
free loopback port, requiring a bearer token).

A user made over Graph is provisioned by a manual `scimProvision` workflow (connection made by
`latchkey workflows connect-scim`, token from a file) with the default mapping, brought up to
date after a change, deactivated by a `scimDeprovision` workflow; every re-run leaves the app's
user as it was. The token is in no output and no file of the data directory."""

import json
import os
import secrets
import ssl
import subprocess
import threading
import time
import urllib.parse
from wsgiref.simple_server import make_server

import httpx
import pytest
from azure.identity import ClientSecretCredential
from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (load_default_resource_types, load_default_schemas,
                                load_default_service_provider_config)

from conftest import BIN, cli

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class ScimApp:
    def __init__(self, base, token):
        self.base = base
        self.token = token

    def get(self, path, token=None, **params):
        return httpx.get(f"{self.base}{path}", params=params,
                         headers={"Authorization": f"Bearer {token or self.token}"})

    def user(self, user_name):
        r = self.get("/Users", filter=f'userName eq "{user_name}"')
        assert r.status_code == 200, r.text
        found = r.json()["Resources"]
        assert len(found) <= 1
        return found[0] if found else None


@pytest.fixture(scope="module")
def scim_app():
    token = secrets.token_urlsafe(24)
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(load_default_schemas().values(),
                                           load_default_resource_types().values(), config=config)
    app = BearerTokenApplication(InMemoryStorage(), provider,
                                 service=ScimService(provider, secret=secrets.token_urlsafe(16)),
                                 bearer_tokens=[token])
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingWSGIServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ScimApp(f"http://127.0.0.1:{server.server_port}/v2", token)
    finally:
        server.shutdown()


def graph(latchkey, app):
    cred = ClientSecretCredential(latchkey.tenant, app["appId"], app["clientSecret"],
                                  authority=latchkey.base, disable_instance_discovery=True,
                                  connection_verify=latchkey.ca)
    token = cred.get_token("https://graph.microsoft.com/.default").token
    return httpx.Client(base_url=f"{latchkey.base}/v1.0", headers={"Authorization": f"Bearer {token}"},
                        verify=ssl.create_default_context(cafile=latchkey.ca))


def cli_raw(data_dir, *args, stdin=None):
    env = dict(os.environ, LATCHKEY_DATA_DIR=str(data_dir))
    env.pop("LATCHKEY_DATABASE_URL", None)
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, input=stdin)


def run_to_end(latchkey, workflow, upn):
    """Starts a manual run for the user and performs it (`workflows work`; the suite's server
    may take some steps itself), until the run has ended; returns it."""
    before = {r["id"] for r in cli(latchkey.data_dir, "workflows", "runs", "--workflow", workflow)["value"]}
    assert cli(latchkey.data_dir, "workflows", "run", workflow, "--user", upn)["started"] == 1
    for _ in range(300):
        cli(latchkey.data_dir, "workflows", "work")
        runs = [r for r in cli(latchkey.data_dir, "workflows", "runs", "--workflow", workflow)["value"]
                if r["id"] not in before]
        if runs and runs[0]["status"] != "running":
            return runs[0]
        time.sleep(0.1)
    pytest.fail(f"the run of {workflow} did not end")


def import_workflow(latchkey, tmp_path, definition):
    path = tmp_path / f"{definition['name']}.json"
    path.write_text(json.dumps(definition))
    return cli_raw(latchkey.data_dir, "workflows", "import", str(path), "--json")


def test_a_user_is_provisioned_updated_and_deactivated_in_a_scim_app_and_reruns_change_nothing(
        latchkey, consented_app, scim_app, tmp_path):
    upn = "scim.joiner@contoso.test"
    with graph(latchkey, consented_app) as g:
        r = g.post("/users", json={
            "accountEnabled": True, "displayName": "Sam Joiner", "mailNickname": "scim.joiner",
            "userPrincipalName": upn, "givenName": "Sam", "surname": "Joiner",
            "mail": "sam.joiner@contoso.test", "jobTitle": "Analyst", "department": "Finance",
            "passwordProfile": {"password": "Tq7-" + secrets.token_hex(8),
                                "forceChangePasswordNextSignIn": True}})
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]

        # Without the token the app refuses: the connector's requests are authenticated.
        assert scim_app.get("/Users", token="wrong").status_code == 401

        # A step naming a connection that does not exist is refused at save, naming the field.
        refused = import_workflow(latchkey, tmp_path, {
            "name": "SCIM joiner", "trigger": {"kind": "manual"},
            "steps": [{"action": "scimProvision", "connection": "expenses"}]})
        assert refused.returncode != 0
        assert "steps[0].connection" in refused.stderr and "expenses" in refused.stderr

        token_file = tmp_path / "scim-token.txt"
        token_file.write_text(scim_app.token + "\n")
        connected = cli_raw(latchkey.data_dir, "workflows", "connect-scim", "--name", "expenses",
                            "--base-url", scim_app.base, "--token-file", str(token_file), "--json")
        assert connected.returncode == 0, connected.stderr
        assert scim_app.token not in connected.stdout + connected.stderr
        assert json.loads(connected.stdout)["mapping"]["userName"] == "userPrincipalName"
        listed = cli_raw(latchkey.data_dir, "workflows", "scim-connections", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [c["name"] for c in json.loads(listed.stdout)["value"]] == ["expenses"]
        assert json.loads(listed.stdout)["value"][0]["baseUrl"] == scim_app.base
        assert scim_app.token not in listed.stdout

        assert import_workflow(latchkey, tmp_path, {
            "name": "SCIM joiner", "trigger": {"kind": "manual"},
            "steps": [{"action": "scimProvision", "connection": "expenses"}]}).returncode == 0
        run = run_to_end(latchkey, "SCIM joiner", upn)
        assert run["status"] == "succeeded", run
        assert run["steps"][0]["output"].startswith("created scim.joiner@contoso.test"), run

        made = scim_app.user(upn)
        assert made is not None
        assert made["externalId"] == user_id
        assert made["displayName"] == "Sam Joiner"
        assert made["name"] == {"givenName": "Sam", "familyName": "Joiner"}
        assert made["emails"] == [{"value": "sam.joiner@contoso.test", "type": "work", "primary": True}]
        assert made["active"] is True
        assert made["title"] == "Analyst"
        assert made[ENTERPRISE]["department"] == "Finance"

        # Again: the app's user already matches, so nothing is written to it.
        again = run_to_end(latchkey, "SCIM joiner", upn)
        assert again["status"] == "succeeded"
        assert "already up to date" in again["steps"][0]["output"], again
        assert scim_app.user(upn)["meta"]["version"] == made["meta"]["version"]

        # A change here is carried over (only what differs, by PATCH).
        assert g.patch(f"/users/{user_id}", json={"jobTitle": "Controller", "department": None}).status_code == 204
        moved = run_to_end(latchkey, "SCIM joiner", upn)
        assert "updated title, enterprise.department" in moved["steps"][0]["output"], moved
        updated = scim_app.user(upn)
        assert updated["id"] == made["id"]
        assert updated["title"] == "Controller"
        assert "department" not in updated.get(ENTERPRISE, {})

    # The leaver: deactivated in the app, then nothing more to do.
    assert import_workflow(latchkey, tmp_path, {
        "name": "SCIM leaver", "trigger": {"kind": "manual"},
        "steps": [{"action": "scimDeprovision", "connection": "expenses", "mode": "deactivate"}]}).returncode == 0
    left = run_to_end(latchkey, "SCIM leaver", upn)
    assert left["status"] == "succeeded", left
    assert left["steps"][0]["output"].startswith("deactivated"), left
    inactive = scim_app.user(upn)
    assert inactive["active"] is False
    assert inactive["id"] == made["id"]
    again = run_to_end(latchkey, "SCIM leaver", upn)
    assert "already inactive" in again["steps"][0]["output"], again
    assert scim_app.user(upn)["meta"]["version"] == inactive["meta"]["version"]

    # The token is in no file of the data directory (it is sealed under the master key).
    for root, _, files in os.walk(latchkey.data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert scim_app.token.encode() not in f.read(), name


def test_a_scim_user_is_deleted_in_delete_mode_and_a_user_never_provisioned_is_nothing_to_do(
        latchkey, scim_app, tmp_path):
    upn = "scim.leaver@contoso.test"
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", "Lee Leaver", "--generate")
    token = scim_app.token
    connected = cli_raw(latchkey.data_dir, "workflows", "connect-scim", "--name", "wiki",
                        "--base-url", scim_app.base, "--token-stdin", "--map", "title=", "--json",
                        stdin=token + "\n")
    assert connected.returncode == 0, connected.stderr
    assert "title" not in json.loads(connected.stdout)["mapping"]
    assert import_workflow(latchkey, tmp_path, {
        "name": "Wiki remove", "trigger": {"kind": "manual"},
        "steps": [{"action": "scimDeprovision", "connection": "wiki", "mode": "delete"}]}).returncode == 0
    nothing = run_to_end(latchkey, "Wiki remove", upn)
    assert nothing["status"] == "succeeded"
    assert "not in the app: nothing to do" in nothing["steps"][0]["output"], nothing

    assert import_workflow(latchkey, tmp_path, {
        "name": "Wiki add", "trigger": {"kind": "manual"},
        "steps": [{"action": "scimProvision", "connection": "wiki"}]}).returncode == 0
    assert run_to_end(latchkey, "Wiki add", upn)["status"] == "succeeded"
    assert scim_app.user(upn)["displayName"] == "Lee Leaver"
    removed = run_to_end(latchkey, "Wiki remove", upn)
    assert removed["steps"][0]["output"].startswith("deleted"), removed
    assert scim_app.user(upn) is None

    # A connection is deleted by name; a step naming it then fails with a clear error.
    assert cli_raw(latchkey.data_dir, "workflows", "disconnect-scim", "wiki").returncode == 0
    failed = run_to_end(latchkey, "Wiki add", upn)
    assert failed["status"] == "failed"
    assert "no SCIM connection 'wiki'" in failed["steps"][0]["error"], failed
    assert urllib.parse.quote(token) not in json.dumps(failed) and token not in json.dumps(failed)
