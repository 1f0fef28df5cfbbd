//! The registry and deployment target the workflow deploys to: the local endpoint daemon, or
//! Azure ML (`--target azure`), behind one enum so the stages are written once.

use std::path::Path;

use finbeh_config::{DeployTarget, ValidSettings};
use finbeh_deploy::{
    AzureParams, AzureRegistry, AzureTarget, DeploymentTarget, EndpointKeys, EndpointStatus,
    LocalRegistry, LocalTarget, ModelRegistry, RegisteredModel, RolloutOptions, RolloutReport,
    RolloutValidParams, SelfCommand, Tags, rollout,
};

use crate::error::Result;

/// A registry and a deployment target of one kind.
pub(crate) enum Endpoint {
    Local(LocalRegistry, LocalTarget),
    Azure(AzureRegistry, AzureTarget),
}

impl Endpoint {
    /// The configured target (`deploy.target`, or `--target`); the local endpoint's daemon is
    /// `command` run with `daemon`.
    pub(crate) fn new(
        settings: &ValidSettings,
        target: DeployTarget,
        command: &SelfCommand,
    ) -> Result<Self> {
        Ok(match target {
            DeployTarget::Azure => {
                let params = AzureParams::new(settings.deploy().azure.clone()).check()?;
                Endpoint::Azure(
                    AzureRegistry::new(params.clone())?,
                    AzureTarget::new(params)?,
                )
            }
            _ => Endpoint::Local(
                LocalRegistry::new(&settings.deploy().local.registry_dir),
                LocalTarget::new(settings, command.clone()),
            ),
        })
    }

    /// `local` or `azure`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Endpoint::Local(..) => "local",
            Endpoint::Azure(..) => "azure",
        }
    }

    pub(crate) async fn register(&self, artifact: &Path, tags: &Tags) -> Result<RegisteredModel> {
        Ok(match self {
            Endpoint::Local(registry, _) => registry.register(artifact, tags).await?,
            Endpoint::Azure(registry, _) => registry.register(artifact, tags).await?,
        })
    }

    /// The safe rollout of `artifact`, already registered as `registered`.
    pub(crate) async fn rollout(
        &self,
        artifact: &Path,
        registered: &RegisteredModel,
        params: &RolloutValidParams,
        options: &RolloutOptions,
    ) -> RolloutReport {
        match self {
            Endpoint::Local(registry, target) => {
                let registry = Registered {
                    inner: registry,
                    model: registered,
                };
                rollout(&registry, target, artifact, params, options).await
            }
            Endpoint::Azure(registry, target) => {
                let registry = Registered {
                    inner: registry,
                    model: registered,
                };
                rollout(&registry, target, artifact, params, options).await
            }
        }
    }

    pub(crate) async fn status(&self) -> Result<EndpointStatus> {
        Ok(match self {
            Endpoint::Local(_, target) => target.status().await?,
            Endpoint::Azure(_, target) => target.status().await?,
        })
    }

    /// The deployment checks (`test_deployments`) against the endpoint and each deployment.
    pub(crate) async fn checks(
        &self,
        settings: &ValidSettings,
        model: &Path,
    ) -> crate::checks::CheckReport {
        match self {
            Endpoint::Local(_, target) => {
                crate::checks::run_target_checks(settings, model, target).await
            }
            Endpoint::Azure(_, target) => {
                crate::checks::run_target_checks(settings, model, target).await
            }
        }
    }

    pub(crate) async fn keys(&self) -> Result<EndpointKeys> {
        Ok(match self {
            Endpoint::Local(_, target) => target.list_keys().await?,
            Endpoint::Azure(_, target) => target.list_keys().await?,
        })
    }
}

/// A registry whose `register` answers with the version the register stage already made, so
/// the rollout (which registers first) does not register the same artifact twice.
struct Registered<'a, R> {
    inner: &'a R,
    model: &'a RegisteredModel,
}

impl<R: ModelRegistry + Sync> ModelRegistry for Registered<'_, R> {
    async fn register(
        &self,
        _artifact: &Path,
        _tags: &Tags,
    ) -> finbeh_deploy::Result<RegisteredModel> {
        Ok(self.model.clone())
    }

    async fn get(&self, name: &str, version: &str) -> finbeh_deploy::Result<RegisteredModel> {
        self.inner.get(name, version).await
    }

    async fn list(&self, name: Option<&str>) -> finbeh_deploy::Result<Vec<RegisteredModel>> {
        self.inner.list(name).await
    }

    async fn latest(&self, name: &str) -> finbeh_deploy::Result<RegisteredModel> {
        self.inner.latest(name).await
    }

    async fn archive(&self, name: &str, version: &str) -> finbeh_deploy::Result<RegisteredModel> {
        self.inner.archive(name, version).await
    }
}
