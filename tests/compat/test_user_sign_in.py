"""Resource owner password credentials (ROPC) and refresh tokens, driven by MSAL and
azure-identity unmodified, and the refusals Entra gives for each sign-in failure."""

import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import UsernamePasswordCredential

from conftest import cli

# MSAL looks up the user's realm at https://<authority host>/common/userrealm/… on port 443
# whatever the authority's port (spec/microsoft-clients.md §4.2). Latchkey answers that path
# (tested in crates/latchkey/tests/identity_http.rs), but these tests run it on a free port,
# so MSAL is told, as the spec recommends, that localhost needs no realm discovery.
msal.authority.Authority._domains_without_user_realm_discovery.add("localhost")

PASSWORD = "Harbour-Lantern-Blue-42"


def set_password(latchkey, upn, password, *flags):
    path = latchkey.data_dir.parent / "pw.txt"
    path.write_text(password + "\n")
    return cli(latchkey.data_dir, "users", "set-password", upn, "--password-file", str(path), *flags)


def make_user(latchkey, upn, force_change=False):
    cli(latchkey.data_dir, "users", "create", "--upn", upn, "--display-name", "Grace Taylor")
    set_password(latchkey, upn, PASSWORD, "--force-change" if force_change else "--no-force-change")


@pytest.fixture(scope="module")
def public_app(latchkey):
    return latchkey.app("--name", "Command line", "--public-client", "--delegated-permission", "User.Read",
                        "--grant-admin-consent")


def pca(latchkey, app):
    return msal.PublicClientApplication(app["appId"], authority=f"{latchkey.base}/{latchkey.tenant}",
                                        instance_discovery=False)


def test_msal_ropc_signs_in_caches_an_account_and_refreshes(latchkey, public_app):
    make_user(latchkey, "grace@contoso.test")
    app = pca(latchkey, public_app)
    result = app.acquire_token_by_username_password("grace@contoso.test", PASSWORD, scopes=["User.Read"])
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "grace@contoso.test"
    assert result["id_token_claims"]["tid"] == latchkey.tenant
    assert "refresh_token" in result
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == ["grace@contoso.test"]
    again = app.acquire_token_silent(["User.Read"], account=accounts[0], force_refresh=True)
    assert again and "access_token" in again, again
    assert again["access_token"] != result["access_token"]


def test_wrong_passwords_unknown_users_and_forced_changes_get_entras_codes(latchkey, public_app):
    make_user(latchkey, "henry@contoso.test")
    make_user(latchkey, "ivy@contoso.test", force_change=True)
    cases = [("henry@contoso.test", "Not-The-Password-1", 50126),
             ("nobody@contoso.test", PASSWORD, 50034),
             ("ivy@contoso.test", PASSWORD, 50055)]
    for upn, pw, code in cases:
        result = pca(latchkey, public_app).acquire_token_by_username_password(upn, pw, scopes=["User.Read"])
        assert result.get("error") == "invalid_grant", result
        assert result["error_codes"] == [code], result
        assert f"AADSTS{code}:" in result["error_description"]


def test_a_scope_the_app_was_not_consented_for_needs_consent(latchkey, public_app):
    make_user(latchkey, "jack@contoso.test")
    result = pca(latchkey, public_app).acquire_token_by_username_password(
        "jack@contoso.test", PASSWORD, scopes=["User.ReadWrite.All"])
    assert result["error_codes"] == [65001], result


def test_azure_identity_username_password_credential(latchkey, public_app):
    make_user(latchkey, "kate@contoso.test")
    cred = UsernamePasswordCredential(public_app["appId"], "kate@contoso.test", PASSWORD,
                                      tenant_id=latchkey.tenant, authority=latchkey.base,
                                      disable_instance_discovery=True, connection_verify=latchkey.ca)
    assert cred.get_token("https://graph.microsoft.com/User.Read").token
    bad = UsernamePasswordCredential(public_app["appId"], "kate@contoso.test", "Wrong-Password-9",
                                     tenant_id=latchkey.tenant, authority=latchkey.base,
                                     disable_instance_discovery=True, connection_verify=latchkey.ca)
    with pytest.raises(ClientAuthenticationError) as err:
        bad.get_token("https://graph.microsoft.com/User.Read")
    assert "AADSTS50126" in str(err.value)


def test_clients_left_on_their_default_authority_sign_in_to_the_apps_tenant(latchkey, public_app):
    """azure-identity's user credentials default to `organizations`, MSAL samples to `common`:
    the app's registration says which tenant is meant."""
    make_user(latchkey, "ursula.default@contoso.test")
    cred = UsernamePasswordCredential(public_app["appId"], "ursula.default@contoso.test", PASSWORD,
                                      authority=latchkey.base, disable_instance_discovery=True,
                                      connection_verify=latchkey.ca)
    assert cred.get_token("https://graph.microsoft.com/User.Read").token

    app = msal.PublicClientApplication(public_app["appId"], authority=f"{latchkey.base}/common",
                                       instance_discovery=False)
    result = app.acquire_token_by_username_password("ursula.default@contoso.test", PASSWORD, scopes=["User.Read"])
    assert "access_token" in result, result
    assert result["id_token_claims"]["tid"] == latchkey.tenant
    account = app.get_accounts()[0]
    again = app.acquire_token_silent(["User.Read"], account=account, force_refresh=True)
    assert again and "access_token" in again, again

    stranger = msal.PublicClientApplication("6f0c3a55-1d7e-4c1b-9a52-000000000000",
                                            authority=f"{latchkey.base}/organizations",
                                            instance_discovery=False)
    refused = stranger.acquire_token_by_username_password("ursula.default@contoso.test", PASSWORD, scopes=["User.Read"])
    assert refused.get("error") == "unauthorized_client" and 700016 in refused["error_codes"], refused


def refresh(latchkey, app, token):
    return requests.post(f"{latchkey.base}/{latchkey.tenant}/oauth2/v2.0/token", data={
        "client_id": app["appId"], "grant_type": "refresh_token", "refresh_token": token,
        "scope": "User.Read offline_access openid profile"})


def test_a_replayed_refresh_token_revokes_its_whole_family(latchkey, public_app):
    make_user(latchkey, "leo@contoso.test")
    first = pca(latchkey, public_app).acquire_token_by_username_password(
        "leo@contoso.test", PASSWORD, scopes=["User.Read"])["refresh_token"]
    rotated = refresh(latchkey, public_app, first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    replay = refresh(latchkey, public_app, first)
    assert replay.status_code == 400
    assert replay.json()["error_codes"] == [50173]
    # The thief's replay also killed the legitimate holder's newer token.
    assert refresh(latchkey, public_app, second).json()["error_codes"] == [50173]


def test_an_admin_password_reset_revokes_refresh_tokens(latchkey, public_app):
    make_user(latchkey, "mia@contoso.test")
    token = pca(latchkey, public_app).acquire_token_by_username_password(
        "mia@contoso.test", PASSWORD, scopes=["User.Read"])["refresh_token"]
    cli(latchkey.data_dir, "users", "set-password", "mia@contoso.test", "--generate")
    response = refresh(latchkey, public_app, token)
    assert response.status_code == 400
    assert response.json()["error_codes"] == [50173]
