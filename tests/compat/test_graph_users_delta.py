"""msgraph-sdk, unmodified, following users/delta in Latchkey as a sync tool does: the first
round through `users.delta.get()` with $select, its pages by `odata_next_link`, the next round
by `odata_delta_link` with `with_url`, which brings only what changed: a changed user with the
first round's selection, a new user, and a deleted one as `@removed` ("changed" in the
recycle bin, "deleted" once purged)."""

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.user import User
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

from test_graph_users import new_user, run, unique


async def follow(graph, page):
    """Every item of a round, by id, and the delta link that ends it."""
    items = {}
    pages = 0
    while True:
        pages += 1
        for u in page.value:
            items[u.id] = u
        if page.odata_next_link:
            assert page.odata_delta_link is None
            page = await graph.users.delta.with_url(page.odata_next_link).get()
        else:
            assert page.odata_delta_link, "a round ends with a delta link"
            return items, page.odata_delta_link, pages


def test_a_sync_tool_follows_next_and_delta_links_to_changes_and_removals(latchkey, consented_app):
    upns = [f"{unique(n)}@contoso.test" for n in ("delta-a", "delta-b", "delta-c")]

    async def flow(graph):
        ids = [(await graph.users.post(new_user(upn, "Delta Subject"))).id for upn in upns]
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=["id", "displayName", "jobTitle"], top=2)
        first = await graph.users.delta.get(request_configuration=RequestConfiguration(query_parameters=query))
        seen, delta, pages = await follow(graph, first)
        assert set(ids) <= set(seen)
        assert pages >= 2, "pages of two users"
        assert seen[ids[0]].display_name == "Delta Subject"
        assert seen[ids[0]].user_principal_name is None, "only the selection"

        await graph.users.by_user_id(ids[0]).patch(User(job_title="Archivist"))
        await graph.users.by_user_id(ids[1]).delete()
        newcomer = (await graph.users.post(new_user(f"{unique('delta-d')}@contoso.test", "Delta Newcomer"))).id

        changes, delta, _ = await follow(graph, await graph.users.delta.with_url(delta).get())
        assert set(changes) == {ids[0], ids[1], newcomer}, changes.keys()
        assert changes[ids[0]].job_title == "Archivist"
        assert changes[ids[0]].display_name == "Delta Subject", "the first round's $select holds"
        assert changes[ids[1]].additional_data.get("@removed") == {"reason": "changed"}
        assert changes[newcomer].display_name == "Delta Newcomer"

        quiet, delta, _ = await follow(graph, await graph.users.delta.with_url(delta).get())
        assert quiet == {}

        # Purged from the recycle bin: gone for good.
        await graph.directory.deleted_items.by_directory_object_id(ids[1]).delete()
        gone, _, _ = await follow(graph, await graph.users.delta.with_url(delta).get())
        assert set(gone) == {ids[1]}
        assert gone[ids[1]].additional_data.get("@removed") == {"reason": "deleted"}

    run(latchkey, consented_app, flow)
