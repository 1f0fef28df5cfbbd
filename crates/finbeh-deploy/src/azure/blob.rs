//! Uploading an artifact to the workspace's datastore as `az ml` does: the datastore's account,
//! container and endpoint, its account key (`listSecrets`) for a short-lived SAS, else the
//! caller's Entra token for storage; block by block with azure_storage_blob.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{RequestContent, Url};
use azure_storage_blob::BlobClient;
use azure_storage_blob::models::BlockLookupList;
use serde_json::{Value, json};

use super::arm::{Arm, protocol};
use super::params::check_transport;
use super::sas::{blob_sas, percent_encode};
use crate::error::{DeployError, Result};

/// Bytes per block (Put Block); a model artifact is a few MiB at most.
const BLOCK_BYTES: usize = 4 * 1024 * 1024;

/// A workspace datastore of type AzureBlob.
#[derive(Debug, Clone)]
pub(crate) struct Datastore {
    pub(crate) name: String,
    account: String,
    container: String,
    endpoint_suffix: String,
    protocol: String,
    /// `credentials.credentialsType`: `AccountKey`, `Sas`, or `None` (identity-based).
    credentials_type: String,
}

impl Datastore {
    /// `GET datastores/{name}`.
    pub(crate) async fn read(arm: &Arm, name: &str) -> Result<Self> {
        let path = format!("datastores/{name}");
        let found = arm.get(&path).await?.ok_or_else(|| {
            DeployError::Refused(format!(
                "datastore {name:?} does not exist in the workspace (deploy.azure.datastore)"
            ))
        })?;
        let field = |key: &str| -> Result<String> {
            found
                .pointer(&format!("/properties/{key}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    let problem =
                        format!("the datastore has no properties.{key} (is it AzureBlob?)");
                    protocol(&format!("GET {path}"), problem)
                })
        };
        Ok(Self {
            name: name.to_owned(),
            account: field("accountName")?,
            container: field("containerName")?,
            endpoint_suffix: field("endpoint").unwrap_or_else(|_| "core.windows.net".to_owned()),
            protocol: field("protocol").unwrap_or_else(|_| "https".to_owned()),
            credentials_type: field("credentials/credentialsType")
                .unwrap_or_else(|_| "None".to_owned()),
        })
    }

    /// The blob service URL: `deploy.azure.blob_url`, else `{protocol}://{account}.blob.{suffix}`.
    fn service_url(&self, blob_override: Option<&Url>) -> Result<Url> {
        let text = match blob_override {
            Some(url) => url.as_str().to_owned(),
            None => format!(
                "{}://{}.blob.{}",
                self.protocol, self.account, self.endpoint_suffix
            ),
        };
        let url = Url::parse(&text).map_err(|e| {
            let problem = format!("the blob URL {text:?} is not a URL ({e})");
            protocol(&format!("GET datastores/{}", self.name), problem)
        })?;
        check_transport("the datastore's blob URL", &url)?;
        Ok(url)
    }

    fn blob_url(&self, service: &Url, blob: &str) -> Result<Url> {
        let encoded: Vec<String> = blob.split('/').map(percent_encode).collect();
        let text = format!(
            "{}/{}/{}",
            service.as_str().trim_end_matches('/'),
            self.container,
            encoded.join("/")
        );
        Url::parse(&text).map_err(|e| protocol("upload", format!("cannot form the blob URL ({e})")))
    }
}

/// Uploads `bytes` to `blob` in the datastore.
pub(crate) async fn upload(
    arm: &Arm,
    credential: &Arc<dyn TokenCredential>,
    datastore: &Datastore,
    blob: &str,
    bytes: &[u8],
) -> Result<()> {
    let service = datastore.service_url(arm.params().blob_override())?;
    let mut url = datastore.blob_url(&service, blob)?;
    let client = if datastore.credentials_type == "None" {
        // An identity-based datastore has no secrets: write with the caller's Entra token.
        BlobClient::new(url.clone(), Some(credential.clone()), None)
    } else {
        let path = format!("datastores/{}/listSecrets", datastore.name);
        let secrets = arm.post(&path, &json!({})).await?;
        match secrets.get("secretsType").and_then(Value::as_str) {
            Some("AccountKey") => {
                let key = secrets
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let https_only = url.scheme() == "https";
                let (account, container) = (&datastore.account, &datastore.container);
                let sas = blob_sas(account, key, container, blob, "cw", https_only)?;
                url.set_query(Some(&sas));
            }
            Some("Sas") => {
                let token = secrets
                    .get("sasToken")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                url.set_query(Some(token.trim_start_matches('?')));
            }
            other => {
                let problem = format!("secretsType {other:?}: neither AccountKey nor Sas");
                return Err(protocol(&format!("POST {path}"), problem));
            }
        }
        BlobClient::new(url.clone(), None, None)
    };
    let shown = format!(
        "{}/{}/{blob}",
        service.as_str().trim_end_matches('/'),
        datastore.container
    );
    let failed = |source: azure_core::Error| DeployError::Transport {
        url: shown.clone(),
        reason: format!("upload: {source}"),
    };
    let block_blob = client.map_err(failed)?.block_blob_client();
    let mut ids = Vec::new();
    for (index, chunk) in bytes.chunks(BLOCK_BYTES).enumerate() {
        // Block ids: same length for every block of a blob.
        let id = format!("{index:08}").into_bytes();
        let length = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        block_blob
            .stage_block(&id, length, RequestContent::from(chunk.to_vec()), None)
            .await
            .map_err(failed)?;
        ids.push(id);
    }
    let list = BlockLookupList {
        latest: Some(ids),
        ..Default::default()
    };
    let content = RequestContent::try_from(list).map_err(failed)?;
    block_blob
        .commit_block_list(content, None)
        .await
        .map_err(failed)?;
    Ok(())
}
