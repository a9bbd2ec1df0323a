"""msgraph-sdk, unmodified, resetting a password through the user's password authentication
method: resetPassword answers 202 with the operation's Location, and the operation (read with
the SDK's own request builder) tells a generated password once."""

import asyncio

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options.headers_inspection_handler_option import HeadersInspectionHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.authentication.methods.item.reset_password.reset_password_post_request_body import (
    ResetPasswordPostRequestBody,
)

from test_graph_users import graph_client, new_user, ropc, unique

PASSWORD_METHOD = "28c10230-6103-485e-b985-444c60001490"


@pytest.fixture(scope="module")
def methods_app(latchkey):
    return latchkey.app("--name", "Helpdesk automation", "--application-permission",
                        "UserAuthenticationMethod.ReadWrite.All", "--grant-admin-consent")


@pytest.fixture(scope="module")
def public_app(latchkey):
    return latchkey.app("--name", "Sign-in", "--public-client", "--delegated-permission", "User.Read",
                        "--grant-admin-consent")


def run(latchkey, app, flow):
    async def main():
        return await flow(graph_client(latchkey, app))
    return asyncio.run(main())


async def reset(graph, user_id, new_password=None):
    """resetPassword as the SDK sends it; returns the operation id from the 202's Location."""
    inspect = HeadersInspectionHandlerOption(inspect_response_headers=True)
    await graph.users.by_user_id(user_id).authentication.methods.by_authentication_method_id(
        PASSWORD_METHOD).reset_password.post(ResetPasswordPostRequestBody(new_password=new_password),
                                             request_configuration=RequestConfiguration(options=[inspect]))
    (location,) = inspect.response_headers.get("location")
    assert f"/v1.0/users/{user_id}/authentication/operations/" in location, location
    return location.rsplit("/", 1)[1]


def test_a_generated_password_is_read_once_from_the_operation_and_must_be_changed(
        latchkey, consented_app, methods_app, public_app):
    upn = f"{unique('rita')}@contoso.test"
    seen = {}

    async def create(graph):
        seen["id"] = (await graph.users.post(new_user(upn, "Rita Reset"))).id

    run(latchkey, consented_app, create)

    async def flow(graph):
        operation_id = await reset(graph, seen["id"])
        operation = graph.users.by_user_id(seen["id"]).authentication.operations.by_long_running_operation_id(
            operation_id)
        first = await operation.get()
        assert first.status.value == "succeeded"
        seen["password"] = first.additional_data["newPassword"]
        again = await operation.get()
        assert again.status.value == "succeeded"
        assert "newPassword" not in again.additional_data

    run(latchkey, methods_app, flow)
    refused = ropc(latchkey, public_app, upn, seen["password"])
    assert refused["error_codes"] == [50055], refused  # the password is right, and expired
    old = ropc(latchkey, public_app, upn, "Harbour-Lantern-42")
    assert old["error_codes"] == [50126], old


def test_a_weak_password_and_a_missing_permission_surface_as_odata_errors(
        latchkey, consented_app, methods_app):
    upn = f"{unique('sam')}@contoso.test"
    seen = {}

    async def create(graph):
        seen["id"] = (await graph.users.post(new_user(upn, "Sam Reset"))).id
        # User.ReadWrite.All is passwordProfile's permission, not the authentication method's.
        with pytest.raises(ODataError) as e:
            await reset(graph, seen["id"])
        assert e.value.response_status_code == 403
        assert e.value.error.code == "Authorization_RequestDenied"

    run(latchkey, consented_app, create)

    async def weak(graph):
        with pytest.raises(ODataError) as e:
            await reset(graph, seen["id"], "short")
        assert e.value.response_status_code == 400
        assert "complexity" in e.value.error.message
        operation_id = await reset(graph, seen["id"], "Quarry-Beacon-318")
        op = await graph.users.by_user_id(seen["id"]).authentication.operations.by_long_running_operation_id(
            operation_id).get()
        assert op.status.value == "succeeded"
        assert "newPassword" not in op.additional_data

    run(latchkey, methods_app, weak)
