"""Microsoft Graph's own Python SDK (msgraph-sdk), unmodified, managing users and passwords in
Latchkey: the seed's "one token, one PATCH, password changed" flow, reads by UPN, listings with
$filter/$select/$top and PageIterator paging across hundreds of users, create/delete/restore,
revokeSignInSessions, and Graph errors surfacing as ODataError with the right code.

The client is built exactly as spec/microsoft-clients.md §3.1 shows: azure-identity's
ClientSecretCredential, the Azure identity authentication provider with Graph's scope, and a
GraphRequestAdapter whose base URL is Latchkey's /v1.0.
"""

import asyncio
import uuid

import msal
import pytest
from azure.identity import ClientSecretCredential, UsernamePasswordCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User
from msgraph.generated.users.count.count_request_builder import CountRequestBuilder
from msgraph.generated.users.item.change_password.change_password_post_request_body import (
    ChangePasswordPostRequestBody,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator

# As in test_user_sign_in.py: Latchkey runs on a free port, so MSAL is told that localhost
# needs no user-realm discovery (spec/microsoft-clients.md §4.2).
msal.authority.Authority._domains_without_user_realm_discovery.add("localhost")

Q = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters
ItemQ = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters


def graph_client(latchkey, app, cred=None, scopes=("https://graph.microsoft.com/.default",)):
    cred = cred or ClientSecretCredential(latchkey.tenant, app["appId"], app["clientSecret"],
                                          authority=latchkey.base, disable_instance_discovery=True,
                                          connection_verify=latchkey.ca)
    auth = AzureIdentityAuthenticationProvider(cred, scopes=list(scopes))
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = latchkey.base + "/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def run(latchkey, app, flow):
    """Runs `flow(graph)` on a fresh event loop with a fresh client: httpx clients belong to the
    loop they were made on."""
    async def main():
        return await flow(graph_client(latchkey, app))
    return asyncio.run(main())


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_user(upn, display_name, password="Harbour-Lantern-42", force_change=False):
    return User(account_enabled=True, display_name=display_name, mail_nickname=upn.split("@")[0],
                user_principal_name=upn,
                password_profile=PasswordProfile(password=password,
                                                 force_change_password_next_sign_in=force_change))


@pytest.fixture(scope="module")
def public_app(latchkey):
    return latchkey.app("--name", "Sign-in", "--public-client", "--delegated-permission", "User.Read",
                        "--grant-admin-consent")


def ropc(latchkey, app, upn, password):
    pca = msal.PublicClientApplication(app["appId"], authority=f"{latchkey.base}/{latchkey.tenant}",
                                       instance_discovery=False)
    return pca.acquire_token_by_username_password(upn, password, scopes=["User.Read"])


def test_one_token_one_patch_changes_the_password_and_sign_in_follows_it(latchkey, consented_app, public_app):
    upn = f"{unique('bob')}@contoso.test"

    async def flow(graph):
        await graph.users.post(new_user(upn, "Bob Seed"))
        # The seed's PATCH, as the SDK sends it: @odata.type plus passwordProfile; 204 -> None.
        done = await graph.users.by_user_id(upn).patch(User(password_profile=PasswordProfile(
            password="Tq8#Harbour-Lime", force_change_password_next_sign_in=True)))
        assert done is None

    run(latchkey, consented_app, flow)
    refused = ropc(latchkey, public_app, upn, "Tq8#Harbour-Lime")
    assert refused.get("error") == "invalid_grant", refused
    assert refused["error_codes"] == [50055], refused
    old = ropc(latchkey, public_app, upn, "Harbour-Lantern-42")
    assert old["error_codes"] == [50126], old

    async def unforced(graph):
        await graph.users.by_user_id(upn).patch(User(password_profile=PasswordProfile(
            password="Second-Passw0rd!", force_change_password_next_sign_in=False)))

    run(latchkey, consented_app, unforced)
    ok = ropc(latchkey, public_app, upn, "Second-Passw0rd!")
    assert "access_token" in ok, ok
    assert ok["id_token_claims"]["preferred_username"] == upn


def test_a_user_is_read_by_upn_and_by_id_with_select(latchkey, consented_app):
    upn = f"{unique('alice')}@contoso.test"

    async def flow(graph):
        created = await graph.users.post(new_user(upn, "Alice Example"))
        by_upn = await graph.users.by_user_id(upn).get()
        assert by_upn.id == created.id
        assert by_upn.display_name == "Alice Example"
        by_id = await graph.users.by_user_id(created.id).get(request_configuration=RequestConfiguration(
            query_parameters=ItemQ(select=["id", "displayName", "accountEnabled"])))
        assert by_id.account_enabled is True
        assert by_id.user_principal_name is None, "not selected"

    run(latchkey, consented_app, flow)


def test_listing_filters_selects_and_pages_across_hundreds_of_users(latchkey, consented_app):
    prefix = unique("page")
    count = 300

    async def flow(graph):
        gate = asyncio.Semaphore(16)

        async def create(i):
            async with gate:
                await graph.users.post(new_user(f"{prefix}-{i:03}@contoso.test", f"{prefix} {i:03}"))

        await asyncio.gather(*(create(i) for i in range(count)))

        # The spec's request: $filter with and + startswith, $select, $top.
        first = await graph.users.get(request_configuration=RequestConfiguration(query_parameters=Q(
            filter=f"accountEnabled eq true and startswith(displayName,'{prefix}')",
            select=["id", "userPrincipalName", "displayName", "accountEnabled"], top=7)))
        assert len(first.value) == 7
        assert first.odata_next_link.startswith(latchkey.base + "/v1.0/users?")
        assert all(u.account_enabled for u in first.value)

        seen = []

        def collect(user):
            seen.append(user.user_principal_name)
            return True

        await PageIterator(first, graph.request_adapter).iterate(collect)
        assert len(seen) == count
        assert len(set(seen)) == count
        assert seen == sorted(seen), "UPN order, no repeats across pages"
        assert all(s.startswith(prefix) for s in seen)

        # The nextLink requested again with with_url gives the next page again.
        again = await graph.users.with_url(first.odata_next_link).get()
        assert [u.user_principal_name for u in again.value] == seen[7:14]

    run(latchkey, consented_app, flow)


def test_count_and_orderby_need_consistency_level_eventual_as_in_graph(latchkey, consented_app):
    prefix = unique("ord")

    async def flow(graph):
        for name in ("Charlie", "Alpha", "Bravo"):
            await graph.users.post(new_user(f"{prefix}-{name.lower()}@contoso.test", f"{prefix} {name}"))
        params = Q(count=True, orderby=["displayName desc"], select=["id", "displayName"],
                   filter=f"startswith(displayName,'{prefix}')", top=3)
        with pytest.raises(ODataError) as e:
            await graph.users.get(request_configuration=RequestConfiguration(query_parameters=params))
        assert e.value.response_status_code == 400
        assert e.value.error.code == "Request_UnsupportedQuery"
        headers = HeadersCollection()
        headers.add("ConsistencyLevel", "eventual")
        page = await graph.users.get(request_configuration=RequestConfiguration(query_parameters=params,
                                                                                 headers=headers))
        assert page.odata_count == 3
        assert [u.display_name for u in page.value] == [f"{prefix} Charlie", f"{prefix} Bravo", f"{prefix} Alpha"]
        # /users/$count answers a plain number that the SDK reads as an int.
        n = await graph.users.count.get(request_configuration=RequestConfiguration(
            headers=headers, query_parameters=CountRequestBuilder.CountRequestBuilderGetQueryParameters(
                filter=f"startswith(displayName,'{prefix}')")))
        assert n == 3

    run(latchkey, consented_app, flow)


def test_users_are_created_deleted_restored_and_deleted_for_good(latchkey, consented_app):
    upn = f"{unique('carol')}@contoso.test"

    async def flow(graph):
        created = await graph.users.post(new_user(upn, "Carol Deleted"))
        await graph.users.by_user_id(created.id).delete()
        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id(upn).get()
        assert e.value.response_status_code == 404
        assert e.value.error.code == "Request_ResourceNotFound"

        deleted = await graph.directory.deleted_items.graph_user.get()
        assert created.id in [u.id for u in deleted.value]

        restored = await graph.directory.deleted_items.by_directory_object_id(created.id).restore.post()
        assert restored.id == created.id
        assert (await graph.users.by_user_id(upn).get()).id == created.id

        await graph.users.by_user_id(upn).delete()
        await graph.directory.deleted_items.by_directory_object_id(created.id).delete()
        with pytest.raises(ODataError) as e:
            await graph.directory.deleted_items.by_directory_object_id(created.id).restore.post()
        assert e.value.response_status_code == 404

    run(latchkey, consented_app, flow)


def test_revoke_sign_in_sessions_answers_true(latchkey, consented_app):
    upn = f"{unique('dave')}@contoso.test"

    async def flow(graph):
        await graph.users.post(new_user(upn, "Dave Revoked"))
        result = await graph.users.by_user_id(upn).revoke_sign_in_sessions.post()
        assert result.value is True

    run(latchkey, consented_app, flow)


def test_graph_errors_surface_as_odata_errors_with_graphs_codes(latchkey, consented_app):
    upn = f"{unique('erin')}@contoso.test"

    async def flow(graph):
        await graph.users.post(new_user(upn, "Erin Errors"))

        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id("nobody@contoso.test").get()
        assert (e.value.response_status_code, e.value.error.code) == (404, "Request_ResourceNotFound")
        assert e.value.error.inner_error.request_id

        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id(upn).patch(User(password_profile=PasswordProfile(password="short")))
        assert (e.value.response_status_code, e.value.error.code) == (400, "Request_BadRequest")
        assert "complexity" in e.value.error.message

        with pytest.raises(ODataError) as e:
            await graph.users.get(request_configuration=RequestConfiguration(query_parameters=Q(
                select=["id", "shoeSize"])))
        assert (e.value.response_status_code, e.value.error.code) == (400, "Request_BadRequest")
        assert "shoeSize" in e.value.error.message

        with pytest.raises(ODataError) as e:
            await graph.users.post(new_user(upn, "Erin Again"))
        assert (e.value.response_status_code, e.value.error.code) == (400, "Request_BadRequest")

        with pytest.raises(ODataError) as e:
            await graph.users.post(new_user(f"{unique('x')}@fabrikam.test", "Wrong Domain"))
        assert "domain portion" in e.value.error.message

    run(latchkey, consented_app, flow)

    reader = latchkey.app("--name", "Reader", "--application-permission", "User.Read.All", "--grant-admin-consent")

    async def forbidden(read_only):
        graph = graph_client(latchkey, consented_app)
        assert (await read_only.users.by_user_id(upn).get()).user_principal_name == upn
        with pytest.raises(ODataError) as e:
            await read_only.users.by_user_id(upn).patch(User(password_profile=PasswordProfile(
                password="Reader-Passw0rd-1")))
        assert (e.value.response_status_code, e.value.error.code) == (403, "Authorization_RequestDenied")
        # An app with the permission but no directory role cannot touch a Global Administrator.
        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id("admin@contoso.test").patch(User(password_profile=PasswordProfile(
                password="Takeover-Passw0rd-1")))
        assert (e.value.response_status_code, e.value.error.code) == (403, "Authorization_RequestDenied")

    run(latchkey, reader, forbidden)


def test_a_signed_in_user_reads_me_and_changes_their_own_password(latchkey, consented_app):
    """Delegated: azure-identity's UsernamePasswordCredential (ROPC) under the same SDK."""
    self_service = latchkey.app("--name", "Self service", "--public-client", "--delegated-permission", "User.Read",
                                "--delegated-permission", "Directory.AccessAsUser.All", "--grant-admin-consent")
    upn = f"{unique('frank')}@contoso.test"

    async def create(graph):
        await graph.users.post(new_user(upn, "Frank Self"))

    run(latchkey, consented_app, create)

    async def as_frank():
        cred = UsernamePasswordCredential(self_service["appId"], upn, "Harbour-Lantern-42",
                                          tenant_id=latchkey.tenant, authority=latchkey.base,
                                          disable_instance_discovery=True, connection_verify=latchkey.ca)
        graph = graph_client(latchkey, None, cred=cred,
                             scopes=["https://graph.microsoft.com/User.Read",
                                     "https://graph.microsoft.com/Directory.AccessAsUser.All"])
        me = await graph.me.get()
        assert me.user_principal_name == upn
        with pytest.raises(ODataError) as e:
            await graph.me.change_password.post(ChangePasswordPostRequestBody(
                current_password="Not-My-Password-1", new_password="Maple-Quill-Orbit-7"))
        assert (e.value.response_status_code, e.value.error.code) == (400, "Request_BadRequest")
        assert "currentPassword" in e.value.error.message
        await graph.me.change_password.post(ChangePasswordPostRequestBody(
            current_password="Harbour-Lantern-42", new_password="Maple-Quill-Orbit-7"))

    asyncio.run(as_frank())
    pca = msal.PublicClientApplication(self_service["appId"], authority=f"{latchkey.base}/{latchkey.tenant}",
                                       instance_discovery=False)
    assert "access_token" in pca.acquire_token_by_username_password(upn, "Maple-Quill-Orbit-7", scopes=["User.Read"])
    refused = pca.acquire_token_by_username_password(upn, "Harbour-Lantern-42", scopes=["User.Read"])
    assert refused["error_codes"] == [50126], refused
