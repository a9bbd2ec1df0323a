"""msgraph-sdk, unmodified, managing licences and managers in Latchkey: subscribedSkus with
seats, assignLicense (and Graph's refusal when no seat is left), licenseDetails, the licence
filter with assignedLicenses in $select, and manager/$ref, manager, directReports and
$expand=manager. SKUs are defined with the offline CLI, as an operator would."""

import uuid

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_update import ReferenceUpdate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)

from conftest import cli
from test_graph_users import ItemQ, Q, new_user, run, unique


@pytest.fixture(scope="module")
def licence_app(latchkey):
    return latchkey.app("--name", "Licence automation", "--application-permission", "User.ReadWrite.All",
                        "--application-permission", "Organization.Read.All", "--grant-admin-consent")


def sku(latchkey, seats):
    part = unique("E3").replace("-", "_").upper()
    return cli(latchkey.data_dir, "licenses", "create", "--sku-part-number", part, "--seats", str(seats),
               "--service-plan", "EXCHANGE_S_ENTERPRISE", "--service-plan", "TEAMS1")


def located(upn, name):
    user = new_user(upn, name)
    user.usage_location = "GB"
    return user


def assign(add=(), remove=(), disabled=()):
    return AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=uuid.UUID(s), disabled_plans=[uuid.UUID(p) for p in disabled])
                      for s in add],
        remove_licenses=[uuid.UUID(s) for s in remove])


def test_licences_are_assigned_read_filtered_and_refused_when_seats_run_out(latchkey, licence_app):
    e3 = sku(latchkey, 2)
    teams = next(p["servicePlanId"] for p in e3["servicePlans"] if p["servicePlanName"] == "TEAMS1")
    upns = [f"{unique(n)}@contoso.test" for n in ("ada", "ben", "cy")]

    async def flow(graph):
        ids = [(await graph.users.post(located(upn, "Licence Holder"))).id for upn in upns]
        first = await graph.users.by_user_id(ids[0]).assign_license.post(assign([e3["skuId"]], disabled=[teams]))
        assert isinstance(first, User) and first.id == ids[0]
        await graph.users.by_user_id(ids[1]).assign_license.post(assign([e3["skuId"]]))
        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id(ids[2]).assign_license.post(assign([e3["skuId"]]))
        assert e.value.response_status_code == 400
        assert e.value.error.code == "Request_BadRequest"
        assert "does not have any available licenses" in e.value.error.message

        skus = await graph.subscribed_skus.get()
        mine = next(s for s in skus.value if str(s.sku_id) == e3["skuId"])
        assert mine.sku_part_number == e3["skuPartNumber"]
        assert mine.prepaid_units.enabled == 2
        assert mine.consumed_units == 2
        assert sorted(p.service_plan_name for p in mine.service_plans) == ["EXCHANGE_S_ENTERPRISE", "TEAMS1"]

        details = await graph.users.by_user_id(ids[0]).license_details.get()
        [detail] = details.value
        assert str(detail.sku_id) == e3["skuId"]
        status = {p.service_plan_name: p.provisioning_status for p in detail.service_plans}
        assert status == {"EXCHANGE_S_ENTERPRISE": "Success", "TEAMS1": "Disabled"}

        holders = await graph.users.get(request_configuration=RequestConfiguration(query_parameters=Q(
            filter=f"assignedLicenses/any(x:x/skuId eq {e3['skuId']})",
            select=["id", "userPrincipalName", "assignedLicenses"])))
        assert sorted(u.user_principal_name for u in holders.value) == sorted(upns[:2])
        held = next(u for u in holders.value if u.id == ids[0]).assigned_licenses
        assert [(str(a.sku_id), [str(p) for p in a.disabled_plans]) for a in held] == [(e3["skuId"], [teams])]

        # Removing a licence frees its seat.
        await graph.users.by_user_id(ids[0]).assign_license.post(assign(remove=[e3["skuId"]]))
        await graph.users.by_user_id(ids[2]).assign_license.post(assign([e3["skuId"]]))
        details = await graph.users.by_user_id(ids[0]).license_details.get()
        assert details.value == []

    run(latchkey, licence_app, flow)


def test_a_licence_needs_a_usage_location(latchkey, licence_app):
    e3 = sku(latchkey, 5)

    async def flow(graph):
        user = await graph.users.post(new_user(f"{unique('dee')}@contoso.test", "No Location"))
        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id(user.id).assign_license.post(assign([e3["skuId"]]))
        assert e.value.response_status_code == 400
        assert "usage location" in e.value.error.message

    run(latchkey, licence_app, flow)


def test_a_manager_is_set_read_expanded_and_removed(latchkey, consented_app):
    async def flow(graph):
        boss = await graph.users.post(new_user(f"{unique('boss')}@contoso.test", "Team Lead"))
        kim = await graph.users.post(new_user(f"{unique('kim')}@contoso.test", "Team Member"))
        await graph.users.by_user_id(kim.id).manager.ref.put(
            ReferenceUpdate(odata_id=f"{latchkey.base}/v1.0/users/{boss.id}"))

        manager = await graph.users.by_user_id(kim.id).manager.get()
        assert isinstance(manager, User) and manager.id == boss.id
        reports = await graph.users.by_user_id(boss.id).direct_reports.get()
        assert [r.id for r in reports.value] == [kim.id]
        expanded = await graph.users.by_user_id(kim.id).get(
            request_configuration=RequestConfiguration(query_parameters=ItemQ(expand=["manager"])))
        assert expanded.manager.id == boss.id

        # A loop is refused.
        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id(boss.id).manager.ref.put(
                ReferenceUpdate(odata_id=f"{latchkey.base}/v1.0/users/{kim.id}"))
        assert e.value.response_status_code == 400

        await graph.users.by_user_id(kim.id).manager.ref.delete()
        with pytest.raises(ODataError) as e:
            await graph.users.by_user_id(kim.id).manager.get()
        assert e.value.response_status_code == 404
        assert e.value.error.code == "Request_ResourceNotFound"

    run(latchkey, consented_app, flow)
