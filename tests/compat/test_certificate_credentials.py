"""Client credentials with a certificate (client_assertion, RFC 7523), as MSAL and
azure-identity send them unmodified: the app's certificate is registered with
`latchkey apps add-certificate`, the clients sign assertions with its private key."""

import datetime

import msal
import requests
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import cli
from test_client_credentials import GRAPH, verified_claims


def make_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "automation")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert, key_pem


@pytest.fixture(scope="module")
def certificate_app(latchkey):
    app = latchkey.app("--name", "Certificate automation", "--application-permission", "User.Read.All",
                       "--grant-admin-consent")
    cert, key_pem = make_certificate()
    path = latchkey.data_dir.parent / "automation-cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    added = cli(latchkey.data_dir, "apps", "add-certificate", app["appId"], "--certificate-file", str(path))
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    assert added["thumbprint"] == thumbprint
    return {"appId": app["appId"], "key": key_pem, "thumbprint": thumbprint,
            "pem": key_pem + cert.public_bytes(serialization.Encoding.PEM).decode()}


def test_msal_gets_a_token_with_a_certificate_credential(latchkey, certificate_app):
    app = msal.ConfidentialClientApplication(
        certificate_app["appId"],
        client_credential={"private_key": certificate_app["key"], "thumbprint": certificate_app["thumbprint"]},
        authority=f"{latchkey.base}/{latchkey.tenant}", instance_discovery=False)
    result = app.acquire_token_for_client(scopes=[GRAPH])
    assert "access_token" in result, result.get("error_description")
    claims = verified_claims(latchkey, result["access_token"])
    assert claims["appid"] == certificate_app["appId"]
    assert claims["roles"] == ["User.Read.All"]


def test_azure_identity_certificate_credential_gets_a_token(latchkey, certificate_app):
    credential = CertificateCredential(latchkey.tenant, certificate_app["appId"],
                                       certificate_data=certificate_app["pem"].encode(),
                                       authority=latchkey.base,
                                       disable_instance_discovery=True)
    token = credential.get_token(GRAPH)
    assert verified_claims(latchkey, token.token)["appid"] == certificate_app["appId"]


def test_an_assertion_signed_by_an_unregistered_key_is_refused(latchkey, certificate_app):
    _, other_key = make_certificate()
    app = msal.ConfidentialClientApplication(
        certificate_app["appId"],
        client_credential={"private_key": other_key, "thumbprint": certificate_app["thumbprint"]},
        authority=f"{latchkey.base}/{latchkey.tenant}", instance_discovery=False)
    result = app.acquire_token_for_client(scopes=[GRAPH])
    assert result.get("error") == "invalid_client", result
    assert 700027 in result["error_codes"]
    credential = CertificateCredential(latchkey.tenant, certificate_app["appId"],
                                       certificate_data=(other_key + certificate_app["pem"].split(
                                           "-----END PRIVATE KEY-----\n")[1]).encode(),
                                       authority=latchkey.base,
                                       disable_instance_discovery=True)
    with pytest.raises(ClientAuthenticationError):
        credential.get_token(GRAPH)


class RecordingSession(requests.Session):
    """A requests session that remembers the client assertions MSAL posts."""

    def __init__(self):
        super().__init__()
        self.assertions = []

    def post(self, url, data=None, **kwargs):
        if isinstance(data, dict) and "client_assertion" in data:
            self.assertions.append(data["client_assertion"])
        return super().post(url, data=data, **kwargs)


def test_msal_may_present_the_same_assertion_again_within_its_lifetime(latchkey, certificate_app):
    # MSAL caches the assertion it signs (AutoRefresher, about nine minutes) and sends it again
    # with every token request meanwhile. Entra accepts that, so Latchkey keeps no jti replay
    # cache: one would break MSAL's second request.
    session = RecordingSession()
    app = msal.ConfidentialClientApplication(
        certificate_app["appId"],
        client_credential={"private_key": certificate_app["key"], "thumbprint": certificate_app["thumbprint"]},
        authority=f"{latchkey.base}/{latchkey.tenant}", instance_discovery=False, http_client=session)
    first = app.acquire_token_for_client(scopes=[GRAPH])
    assert "access_token" in first, first.get("error_description")
    # Forget the cached token so that MSAL asks the token endpoint again.
    for token in list(app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
        app.token_cache.remove_at(token)
    second = app.acquire_token_for_client(scopes=[GRAPH])
    assert "access_token" in second, second.get("error_description")
    assert len(session.assertions) == 2 and session.assertions[0] == session.assertions[1]
    assert verified_claims(latchkey, second["access_token"])["appid"] == certificate_app["appId"]
