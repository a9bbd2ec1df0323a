"""msgraph-sdk, unmodified, managing Latchkey's lifecycle workflows through
`identity_governance.lifecycle_workflows.workflows`: create a leaver workflow with Entra's
built-in tasks, list and read it back, rename it, run it on demand for a user (`activate`)
and see the run queued for the engine, refuse a task Latchkey cannot perform, and delete it."""

import pytest
from msgraph.generated.identity_governance.lifecycle_workflows.workflows.item.microsoft_graph_identity_governance_activate.activate_post_request_body import (  # noqa: E501
    ActivatePostRequestBody,
)
from msgraph.generated.models.identity_governance.lifecycle_workflow_category import LifecycleWorkflowCategory
from msgraph.generated.models.identity_governance.on_demand_execution_only import OnDemandExecutionOnly
from msgraph.generated.models.identity_governance.rule_based_subject_set import RuleBasedSubjectSet
from msgraph.generated.models.identity_governance.task import Task
from msgraph.generated.models.identity_governance.time_based_attribute_trigger import TimeBasedAttributeTrigger
from msgraph.generated.models.identity_governance.trigger_and_scope_based_conditions import (
    TriggerAndScopeBasedConditions,
)
from msgraph.generated.models.identity_governance.workflow import Workflow
from msgraph.generated.models.identity_governance.workflow_trigger_time_based_attribute import (
    WorkflowTriggerTimeBasedAttribute,
)
from msgraph.generated.models.key_value_pair import KeyValuePair
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User

from test_graph_users import new_user, run, unique

REVOKE_REFRESH_TOKENS = "509589a4-0466-4471-829e-49c5e502bdee"
DISABLE_ACCOUNT = "1dfdfcc7-52fa-4c2e-bf3a-e3919cc12950"
ADD_USER_TO_GROUPS = "22085229-5809-45e8-97fd-270d28d66910"


@pytest.fixture(scope="module")
def lifecycle_app(latchkey):
    return latchkey.app("--name", "Lifecycle automation", "--application-permission", "User.ReadWrite.All",
                        "--application-permission", "LifecycleWorkflows.ReadWrite.All", "--grant-admin-consent")


def leaver(name, tasks):
    return Workflow(
        category=LifecycleWorkflowCategory.Leaver,
        display_name=name,
        description="Offboarding a week after the last day",
        is_enabled=True,
        is_scheduling_enabled=False,
        execution_conditions=TriggerAndScopeBasedConditions(
            scope=RuleBasedSubjectSet(rule="department eq 'Marketing'"),
            trigger=TimeBasedAttributeTrigger(
                time_based_attribute=WorkflowTriggerTimeBasedAttribute.EmployeeLeaveDateTime,
                offset_in_days=7)),
        tasks=tasks)


def task(definition, continue_on_error=False, arguments=()):
    return Task(task_definition_id=definition, is_enabled=True, continue_on_error=continue_on_error,
                display_name="task", arguments=[KeyValuePair(name=n, value=v) for n, v in arguments])


def test_a_workflow_is_created_listed_renamed_run_on_demand_and_deleted(latchkey, lifecycle_app):
    name = unique("Offboarding")

    async def flow(graph):
        workflows = graph.identity_governance.lifecycle_workflows.workflows
        created = await workflows.post(leaver(name, [
            task(REVOKE_REFRESH_TOKENS, continue_on_error=True),
            task(DISABLE_ACCOUNT, arguments=[("disableOnPremisesAccount", "false")]),
        ]))
        assert created.id and created.version == 1
        assert created.category == LifecycleWorkflowCategory.Leaver
        assert created.is_scheduling_enabled is False
        trigger = created.execution_conditions.trigger
        assert isinstance(trigger, TimeBasedAttributeTrigger)
        assert trigger.time_based_attribute == WorkflowTriggerTimeBasedAttribute.EmployeeLeaveDateTime
        assert trigger.offset_in_days == 7
        assert created.execution_conditions.scope.rule == "department eq 'Marketing'"
        assert [t.task_definition_id for t in created.tasks] == [REVOKE_REFRESH_TOKENS, DISABLE_ACCOUNT]
        assert created.tasks[0].continue_on_error is True

        listed = await workflows.get()
        assert name in [w.display_name for w in listed.value]
        one = await workflows.by_workflow_id(created.id).get()
        assert one.display_name == name

        await workflows.by_workflow_id(created.id).patch(Workflow(display_name=name + " (renamed)"))
        assert (await workflows.by_workflow_id(created.id).get()).display_name == name + " (renamed)"

        user = await graph.users.post(new_user(f"{unique('leaver')}@contoso.test", "Lea Ver"))
        await workflows.by_workflow_id(created.id).microsoft_graph_identity_governance_activate.post(
            ActivatePostRequestBody(subjects=[User(id=user.id)]))
        runs = await workflows.by_workflow_id(created.id).runs.get()
        assert len(runs.value) == 1
        assert runs.value[0].total_users_count == 1
        assert runs.value[0].workflow_execution_type.value == "onDemand"

        await workflows.by_workflow_id(created.id).delete()
        with pytest.raises(ODataError) as e:
            await workflows.by_workflow_id(created.id).get()
        assert e.value.response_status_code == 404

    run(latchkey, lifecycle_app, flow)


def test_an_on_demand_workflow_is_created_and_a_task_latchkey_cannot_perform_is_refused(latchkey, lifecycle_app):
    async def flow(graph):
        workflows = graph.identity_governance.lifecycle_workflows.workflows
        on_demand = Workflow(category=LifecycleWorkflowCategory.Leaver, display_name=unique("Termination"),
                             execution_conditions=OnDemandExecutionOnly(),
                             tasks=[task(REVOKE_REFRESH_TOKENS)])
        created = await workflows.post(on_demand)
        assert isinstance(created.execution_conditions, OnDemandExecutionOnly)

        with pytest.raises(ODataError) as e:
            await workflows.post(leaver(unique("Groups"), [
                task(REVOKE_REFRESH_TOKENS), task(ADD_USER_TO_GROUPS, arguments=[("groupID", "x")])]))
        assert e.value.response_status_code == 400
        assert "tasks[1].taskDefinitionId" in e.value.error.message

    run(latchkey, lifecycle_app, flow)
