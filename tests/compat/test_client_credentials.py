"""Microsoft's clients, unmodified, get app-only tokens from Latchkey with a client secret."""

import asyncio
import base64
import json
import time

import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GRAPH = "https://graph.microsoft.com/.default"


def b64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verified_claims(latchkey, token):
    """Checks the RS256 signature against the published JWKS, as a resource would."""
    header_b64, body_b64, sig_b64 = token.split(".")
    header = json.loads(b64(header_b64))
    jwks = requests.get(f"{latchkey.base}/{latchkey.tenant}/discovery/v2.0/keys").json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    key = rsa.RSAPublicNumbers(int.from_bytes(b64(jwk["e"]), "big"), int.from_bytes(b64(jwk["n"]), "big")).public_key()
    key.verify(b64(sig_b64), f"{header_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    assert header["alg"] == "RS256"
    return json.loads(b64(body_b64))


def test_msal_confidential_client_gets_a_graph_token(latchkey, consented_app):
    app = msal.ConfidentialClientApplication(
        consented_app["appId"], client_credential=consented_app["clientSecret"],
        authority=f"{latchkey.base}/{latchkey.tenant}", instance_discovery=False)
    result = app.acquire_token_for_client(scopes=[GRAPH])
    assert "access_token" in result, result
    assert result["expires_in"] > 300
    claims = verified_claims(latchkey, result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["roles"] == ["User.ReadWrite.All"]
    assert claims["tid"] == latchkey.tenant
    assert claims["appid"] == consented_app["appId"]
    # A second call is answered from MSAL's cache: the scope matched what we returned.
    again = app.acquire_token_for_client(scopes=[GRAPH])
    assert again["access_token"] == result["access_token"]
    assert again.get("token_source") == "cache"


def test_msal_with_an_oidc_authority_and_the_domain_as_tenant(latchkey, consented_app):
    app = msal.ConfidentialClientApplication(
        consented_app["appId"], client_credential=consented_app["clientSecret"],
        oidc_authority=f"{latchkey.base}/{latchkey.tenant}/v2.0")
    assert "access_token" in app.acquire_token_for_client(scopes=[GRAPH])
    by_domain = msal.ConfidentialClientApplication(
        consented_app["appId"], client_credential=consented_app["clientSecret"],
        authority=f"{latchkey.base}/contoso.test", instance_discovery=False)
    assert "access_token" in by_domain.acquire_token_for_client(scopes=[GRAPH])


def test_msal_reports_a_wrong_secret_as_entra_does(latchkey, consented_app):
    app = msal.ConfidentialClientApplication(
        consented_app["appId"], client_credential="not-the-secret",
        authority=f"{latchkey.base}/{latchkey.tenant}", instance_discovery=False)
    result = app.acquire_token_for_client(scopes=[GRAPH])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215:")


def test_msal_refuses_an_unknown_tenant_at_construction(latchkey, consented_app):
    with pytest.raises(ValueError):
        msal.ConfidentialClientApplication(
            consented_app["appId"], client_credential=consented_app["clientSecret"],
            authority=f"{latchkey.base}/fabrikam.test", instance_discovery=False)


def test_an_app_without_admin_consent_gets_a_token_without_roles(latchkey):
    pending = latchkey.app("--name", "Pending", "--application-permission", "User.Read.All")
    app = msal.ConfidentialClientApplication(
        pending["appId"], client_credential=pending["clientSecret"],
        authority=f"{latchkey.base}/{latchkey.tenant}", instance_discovery=False)
    claims = verified_claims(latchkey, app.acquire_token_for_client(scopes=[GRAPH])["access_token"])
    assert "roles" not in claims


def test_azure_identity_sync_credential_with_and_without_cae(latchkey, consented_app):
    cred = ClientSecretCredential(latchkey.tenant, consented_app["appId"], consented_app["clientSecret"],
                                  authority=latchkey.base, disable_instance_discovery=True,
                                  connection_verify=latchkey.ca)
    token = cred.get_token(GRAPH)
    assert token.expires_on > time.time() + 300
    assert verified_claims(latchkey, token.token)["roles"] == ["User.ReadWrite.All"]
    # The Graph SDK asks with CAE on: an extra `claims` parameter the server accepts.
    cae = cred.get_token(GRAPH, enable_cae=True)
    assert verified_claims(latchkey, cae.token)["appid"] == consented_app["appId"]


def test_azure_identity_kiota_style_scope_is_accepted(latchkey, consented_app):
    cred = ClientSecretCredential(latchkey.tenant, consented_app["appId"], consented_app["clientSecret"],
                                  authority=latchkey.base, disable_instance_discovery=True,
                                  connection_verify=latchkey.ca)
    assert cred.get_token("https://localhost/.default").token


def test_azure_identity_surfaces_a_wrong_secret(latchkey, consented_app):
    cred = ClientSecretCredential(latchkey.tenant, consented_app["appId"], "wrong-secret",
                                  authority=latchkey.base, disable_instance_discovery=True,
                                  connection_verify=latchkey.ca)
    with pytest.raises(ClientAuthenticationError) as err:
        cred.get_token(GRAPH)
    assert "AADSTS7000215" in str(err.value)


def test_azure_identity_async_credential_posts_to_the_fixed_token_path(latchkey, consented_app):
    async def go():
        async with AsyncClientSecretCredential(latchkey.tenant, consented_app["appId"],
                                               consented_app["clientSecret"], authority=latchkey.base,
                                               disable_instance_discovery=True,
                                               connection_verify=latchkey.ca) as cred:
            return await cred.get_token(GRAPH)

    token = asyncio.run(go())
    assert verified_claims(latchkey, token.token)["tid"] == latchkey.tenant


def test_msal_validates_the_authority_through_latchkeys_instance_discovery(latchkey, consented_app):
    # instance_discovery=<url>: MSAL asks that endpoint first and uses the discovery document
    # it names (the parameter it sends drops the port; the answer must not).
    app = msal.ConfidentialClientApplication(
        consented_app["appId"], client_credential=consented_app["clientSecret"],
        authority=f"{latchkey.base}/{latchkey.tenant}",
        instance_discovery=f"{latchkey.base}/common/discovery/instance")
    result = app.acquire_token_for_client(scopes=[GRAPH])
    assert "access_token" in result, result.get("error_description")
    assert verified_claims(latchkey, result["access_token"])["tid"] == latchkey.tenant


def test_instance_discovery_refuses_an_authority_on_another_host(latchkey):
    response = requests.get(f"{latchkey.base}/common/discovery/instance", params={
        "authorization_endpoint": "https://login.example.invalid/contoso.test/oauth2/v2.0/authorize",
        "api-version": "1.0"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_instance"
    with pytest.raises(ValueError, match="invalid_instance"):
        msal.ConfidentialClientApplication(
            "00000000-0000-0000-0000-000000000001", client_credential="x",
            authority="https://login.example.invalid/contoso.test",
            instance_discovery=f"{latchkey.base}/common/discovery/instance")
