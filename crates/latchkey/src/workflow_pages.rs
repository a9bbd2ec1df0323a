//! The admin center's Workflows pages reach the automation engine (its built-in templates
//! and dry run) through this port, so that `latchkey-web` does not depend on the engine.

use latchkey_automation::{Engine, templates};
use latchkey_core::Directory;
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::TenantId;
use latchkey_web::{PreviewUser, WorkflowEngine, WorkflowTemplate};

/// The engine over the server's directory, as the Workflows pages use it.
#[derive(Debug, Clone)]
pub struct EnginePort(Engine);

impl EnginePort {
    pub fn new(directory: Directory) -> Self {
        Self(Engine::new(directory))
    }
}

#[async_trait::async_trait]
impl WorkflowEngine for EnginePort {
    fn templates(&self) -> Vec<WorkflowTemplate> {
        templates::TEMPLATES
            .iter()
            .map(|t| WorkflowTemplate {
                name: t.name.to_owned(),
                description: t.description.to_owned(),
                definition: t.definition.to_owned(),
            })
            .collect()
    }

    async fn dry_run(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Vec<PreviewUser>, DirectoryError> {
        Ok(self
            .0
            .dry_run(tenant, name)
            .await?
            .into_iter()
            .map(|u| PreviewUser {
                user_principal_name: u.user_principal_name,
                due: u.due,
                steps: u.steps,
            })
            .collect())
    }
}
