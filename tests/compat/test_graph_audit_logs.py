"""msgraph-sdk, unmodified, reading the audit and sign-in logs: $filter, $top and PageIterator
paging over directoryAudits, signIns filtered by user and error code, and no password in them."""

import asyncio

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder import (
    DirectoryAuditsRequestBuilder,
)
from msgraph.generated.audit_logs.sign_ins.sign_ins_request_builder import SignInsRequestBuilder
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core.tasks.page_iterator import PageIterator

from test_graph_users import graph_client, new_user, ropc, unique

AuditQ = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters
SignInQ = SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters


@pytest.fixture(scope="module")
def auditor(latchkey):
    return latchkey.app("--name", "SIEM export", "--application-permission", "AuditLog.Read.All",
                        "--grant-admin-consent")


@pytest.fixture(scope="module")
def public_app(latchkey):
    return latchkey.app("--name", "Sign-in", "--public-client", "--delegated-permission", "User.Read",
                        "--grant-admin-consent")


def run(latchkey, app, flow):
    async def main():
        return await flow(graph_client(latchkey, app))
    return asyncio.run(main())


def test_audits_and_sign_ins_page_and_filter_through_the_sdk(latchkey, consented_app, auditor, public_app):
    upns = [f"{unique('log')}@contoso.test" for _ in range(5)]
    ids = {}

    async def create(graph):
        for upn in upns:
            ids[upn] = (await graph.users.post(new_user(upn, "Logged User", password="Created-Quarry-917"))).id

    run(latchkey, consented_app, create)
    assert ropc(latchkey, public_app, upns[0], "Wrong-Guess-981")["error_codes"] == [50126]
    assert "access_token" in ropc(latchkey, public_app, upns[0], "Created-Quarry-917")

    async def read(graph):
        first = await graph.audit_logs.directory_audits.get(request_configuration=RequestConfiguration(
            query_parameters=AuditQ(filter="activityDisplayName eq 'Add user'", top=2)))
        assert len(first.value) == 2
        assert first.odata_next_link.startswith(latchkey.base + "/v1.0/auditLogs/directoryAudits?")
        seen = []

        def collect(event):
            seen.append(event)
            return True

        await PageIterator(first, graph.request_adapter).iterate(collect)
        targets = {e.target_resources[0].id for e in seen}
        assert set(ids.values()) <= targets
        assert all(e.activity_display_name == "Add user" for e in seen)
        # Other tests add users too (the admin center's as a signed-in user): ours were the app's.
        assert all(e.initiated_by.app is not None for e in seen if e.target_resources[0].id in ids.values())

        one = await graph.audit_logs.directory_audits.get(request_configuration=RequestConfiguration(
            query_parameters=AuditQ(filter=f"targetResources/any(t:t/id eq '{ids[upns[1]]}')")))
        assert [e.activity_display_name for e in one.value] == ["Add user"]

        signs = await graph.audit_logs.sign_ins.get(request_configuration=RequestConfiguration(
            query_parameters=SignInQ(filter=f"userPrincipalName eq '{upns[0]}'")))
        assert [s.status.error_code for s in signs.value] == [0, 50126]
        failed = await graph.audit_logs.sign_ins.get(request_configuration=RequestConfiguration(
            query_parameters=SignInQ(filter=f"userPrincipalName eq '{upns[0]}' and status/errorCode eq 50126")))
        assert len(failed.value) == 1

        everything = [e.__dict__ for e in seen] + [s.__dict__ for s in signs.value]
        assert "Created-Quarry-917" not in repr(everything)
        assert "Wrong-Guess-981" not in repr(everything)

        with pytest.raises(ODataError) as e:
            await graph.audit_logs.sign_ins.get(request_configuration=RequestConfiguration(
                query_parameters=SignInQ(filter="colour eq 'red'")))
        assert e.value.response_status_code == 400
        assert "colour" in e.value.error.message

    run(latchkey, auditor, read)


def test_user_readwrite_all_does_not_read_the_logs(latchkey, consented_app):
    async def flow(graph):
        with pytest.raises(ODataError) as e:
            await graph.audit_logs.directory_audits.get()
        assert e.value.response_status_code == 403
        assert e.value.error.code == "Authorization_RequestDenied"

    run(latchkey, consented_app, flow)
