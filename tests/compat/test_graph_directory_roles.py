"""msgraph-sdk, unmodified, reading directory roles and assigning one: directoryRoles with
roleTemplateId, members/$ref to add and remove, memberOf, and the role's powers following."""

import asyncio

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.directory_roles.item.members.ref.ref_request_builder import RefRequestBuilder
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User

from test_graph_users import graph_client, new_user, unique

HELPDESK = "729827e3-9c14-49f7-bb1b-9608f156bbb8"


@pytest.fixture(scope="module")
def role_app(latchkey):
    return latchkey.app("--name", "Role automation", "--application-permission",
                        "RoleManagement.ReadWrite.Directory", "--grant-admin-consent")


def run(latchkey, app, flow):
    async def main():
        return await flow(graph_client(latchkey, app))
    return asyncio.run(main())


def test_a_role_is_assigned_listed_and_removed_through_the_sdk(latchkey, consented_app, role_app):
    upn = f"{unique('helen')}@contoso.test"
    seen = {}

    async def create(graph):
        seen["id"] = (await graph.users.post(new_user(upn, "Helen Helpdesk"))).id

    run(latchkey, consented_app, create)

    async def flow(graph):
        roles = await graph.directory_roles.get()
        helpdesk = next(r for r in roles.value if r.role_template_id == HELPDESK)
        assert helpdesk.display_name == "Helpdesk Administrator"
        role = graph.directory_roles.by_directory_role_id(helpdesk.id)

        await role.members.ref.post(ReferenceCreate(
            odata_id=f"{latchkey.base}/v1.0/directoryObjects/{seen['id']}"))
        members = await role.members.get()
        mine = [m for m in members.value if m.id == seen["id"]]
        assert len(mine) == 1 and isinstance(mine[0], User)
        assert mine[0].user_principal_name == upn
        of = await graph.users.by_user_id(seen["id"]).member_of.get()
        assert [r.role_template_id for r in of.value] == [HELPDESK]

        with pytest.raises(ODataError) as e:
            await role.members.ref.post(ReferenceCreate(
                odata_id=f"{latchkey.base}/v1.0/directoryObjects/{seen['id']}"))
        assert e.value.response_status_code == 400

        await role.members.by_directory_object_id(seen["id"]).ref.delete()
        of = await graph.users.by_user_id(seen["id"]).member_of.get()
        assert of.value == []

        # The other form of removal: members/$ref?$id=<directoryObject URL>.
        await role.members.ref.post(ReferenceCreate(
            odata_id=f"{latchkey.base}/v1.0/directoryObjects/{seen['id']}"))
        await role.members.ref.delete(request_configuration=RequestConfiguration(
            query_parameters=RefRequestBuilder.RefRequestBuilderDeleteQueryParameters(
                id=f"{latchkey.base}/v1.0/directoryObjects/{seen['id']}")))
        of = await graph.users.by_user_id(seen["id"]).member_of.get()
        assert of.value == []

    run(latchkey, role_app, flow)


def test_user_readwrite_all_does_not_assign_roles(latchkey, consented_app):
    async def flow(graph):
        me = await graph.users.post(new_user(f"{unique('ivan')}@contoso.test", "Ivan Nobody"))
        with pytest.raises(ODataError) as e:
            await graph.directory_roles.by_directory_role_id(HELPDESK).members.ref.post(
                ReferenceCreate(odata_id=f"{latchkey.base}/v1.0/directoryObjects/{me.id}"))
        assert e.value.response_status_code == 403
        assert e.value.error.code == "Authorization_RequestDenied"

    run(latchkey, consented_app, flow)
