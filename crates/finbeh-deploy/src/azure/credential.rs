//! `deploy.azure.credential` → an azure_identity credential, and the bearer-token policy that
//! allows plain http to loopback hosts only.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use azure_core::time::{Duration, OffsetDateTime};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, DeveloperToolsCredential,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use finbeh_config::CredentialKind;

use super::params::{AzureValidParams, check_transport, invalid};
use crate::error::Result;

/// The ARM token scope.
pub(crate) const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The credential `deploy.azure.credential` names.
pub(crate) fn credential(params: &AzureValidParams) -> Result<Arc<dyn TokenCredential>> {
    let kind = params.credential;
    let failed = |e: azure_core::Error| {
        invalid(
            "deploy.azure.credential",
            kind_name(kind),
            format!("cannot be used: {e}"),
        )
    };
    let credential: Arc<dyn TokenCredential> = match kind {
        CredentialKind::AzureCli => AzureCliCredential::new(None).map_err(failed)?,
        CredentialKind::DeveloperTools => DeveloperToolsCredential::new(None).map_err(failed)?,
        CredentialKind::ClientSecret => {
            let secret = params.client_secret.as_ref().map(|s| s.expose().to_owned());
            ClientSecretCredential::new(
                params.tenant_id.as_deref().unwrap_or_default(),
                params.client_id.clone().unwrap_or_default(),
                Secret::new(secret.unwrap_or_default()),
                None,
            )
            .map_err(failed)?
        }
        CredentialKind::ManagedIdentity => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: params.client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            };
            ManagedIdentityCredential::new(Some(options)).map_err(failed)?
        }
        CredentialKind::WorkloadIdentity => {
            let options = WorkloadIdentityCredentialOptions {
                client_id: params.client_id.clone(),
                tenant_id: params.tenant_id.clone(),
                ..Default::default()
            };
            WorkloadIdentityCredential::new(Some(options)).map_err(failed)?
        }
        CredentialKind::AccessToken => {
            let token = params.access_token.as_ref().map(|s| s.expose().to_owned());
            Arc::new(StaticToken(Secret::new(token.unwrap_or_default())))
        }
    };
    Ok(credential)
}

fn kind_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::AzureCli => "azure_cli",
        CredentialKind::ClientSecret => "client_secret",
        CredentialKind::ManagedIdentity => "managed_identity",
        CredentialKind::WorkloadIdentity => "workload_identity",
        CredentialKind::DeveloperTools => "developer_tools",
        CredentialKind::AccessToken => "access_token",
    }
}

/// A bearer token given by the user (`deploy.azure.access_token`): the same for every scope.
#[derive(Debug)]
struct StaticToken(Secret);

#[async_trait]
impl TokenCredential for StaticToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        // Its real expiry is unknown; Azure answers 401 once it has passed.
        let expires_on = OffsetDateTime::now_utc() + Duration::hours(1);
        Ok(AccessToken::new(self.0.secret().to_owned(), expires_on))
    }
}

/// Adds `Authorization: Bearer …` to every try. Unlike azure_core's
/// `BearerTokenAuthorizationPolicy`, it accepts plain http for loopback hosts (the fake ARM in
/// tests) and refuses it elsewhere, whatever URL the request goes to (a polling URL too).
#[derive(Debug)]
pub(crate) struct BearerPolicy {
    credential: Arc<dyn TokenCredential>,
    scope: &'static str,
}

impl BearerPolicy {
    pub(crate) fn new(credential: Arc<dyn TokenCredential>, scope: &'static str) -> Self {
        Self { credential, scope }
    }
}

// The trait elides Context's lifetime; naming it here would not match the trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait]
impl Policy for BearerPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        if let Err(refused) = check_transport("request URL", request.url()) {
            return Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                refused.to_string(),
            ));
        }
        let token = self.credential.get_token(&[self.scope], None).await?;
        request.insert_header("authorization", format!("Bearer {}", token.token.secret()));
        match next.split_first() {
            Some((policy, rest)) => policy.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "the pipeline has no transport after the bearer policy",
            )),
        }
    }
}
