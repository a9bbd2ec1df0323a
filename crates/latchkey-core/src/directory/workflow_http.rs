//! The client secrets of `callHttp` steps: sealed under the master key when a workflow is
//! saved (whatever the channel), opened only for the engine performing the step.

use secrecy::SecretString;

use super::Directory;
use crate::authz::{Action as Permission, Actor, authorize};
use crate::error::DirectoryError;
use crate::workflow::{Action, ValidWorkflow};
use crate::workflow_http::{ClientSecret, HttpAuth, client_secret_purpose};

impl Directory {
    /// Seals every client secret the definition carries in clear, in place. Fails naming the
    /// step's field when this directory has no master key.
    pub(super) fn seal_workflow_secrets(
        &self,
        mut workflow: ValidWorkflow,
    ) -> Result<ValidWorkflow, DirectoryError> {
        use base64::Engine as _;
        for (i, step) in workflow.definition.steps.iter_mut().enumerate() {
            let Action::CallHttp {
                auth:
                    Some(HttpAuth::ClientCredentials {
                        token_url,
                        client_id,
                        client_secret,
                        ..
                    }),
                ..
            } = &mut step.action
            else {
                continue;
            };
            let ClientSecret::Plain(plain) = &*client_secret else {
                continue;
            };
            let key = self.master_key().map_err(|_| {
                DirectoryError::invalid(
                    format!("steps[{i}].auth.clientSecret"),
                    "this directory has no master key to seal the secret with",
                )
            })?;
            let sealed = key
                .seal(
                    &client_secret_purpose(token_url, client_id),
                    plain.as_bytes(),
                )
                .map_err(|e| DirectoryError::Internal(e.to_string()))?;
            *client_secret = ClientSecret::Sealed {
                sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
            };
        }
        Ok(workflow)
    }

    /// A `callHttp` step's client secret, opened for the call. A secret sealed for another
    /// token URL or client id (copied from another step) does not open.
    pub fn open_workflow_client_secret(
        &self,
        actor: &Actor,
        auth: &HttpAuth,
    ) -> Result<SecretString, DirectoryError> {
        use base64::Engine as _;
        authorize(actor, Permission::ManageWorkflows, &[])?;
        let HttpAuth::ClientCredentials {
            token_url,
            client_id,
            client_secret,
            ..
        } = auth;
        let ClientSecret::Sealed { sealed } = client_secret else {
            return Err(DirectoryError::Internal(
                "a stored client secret is not sealed".into(),
            ));
        };
        let refused = || {
            DirectoryError::invalid(
                "auth.clientSecret",
                "the sealed client secret does not open for this token URL and client id: \
                 save the workflow again with the secret",
            )
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| refused())?;
        let plain = self
            .master_key()?
            .open(&client_secret_purpose(token_url, client_id), &bytes)
            .map_err(|_| refused())?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| refused())
    }
}
