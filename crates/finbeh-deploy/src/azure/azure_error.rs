//! Azure's error body as a `ServiceError`, and hints for known failure symptoms.

use serde_json::Value;

use crate::error::ServiceError;

/// At most this much of a body that is not Azure's error JSON is quoted.
const MAX_QUOTED_BYTES: usize = 2_000;

/// Azure's `{"error": {code, message, details}}` (or a bare `{code, message}`) from a body;
/// anything else is quoted, cut at 2,000 bytes, under the code `HTTP <status>`.
pub(crate) fn service_error(status: u16, body: &[u8]) -> ServiceError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| v.get("error").unwrap_or(v));
    match error.and_then(from_error_object) {
        Some(found) => found,
        None => ServiceError::new(format!("HTTP {status}"), quote(body)),
    }
}

/// `{code, message, details?}`, details recursively.
pub(crate) fn from_error_object(error: &Value) -> Option<ServiceError> {
    let code = error.get("code")?.as_str()?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut out = ServiceError::new(code, message);
    if let Some(Value::Array(items)) = error.get("details") {
        out.details = items.iter().filter_map(from_error_object).collect();
    }
    Some(out)
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_QUOTED_BYTES {
        return text.into_owned();
    }
    let mut end = MAX_QUOTED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], body.len())
}

/// A hint for a known symptom, from Azure's code and message and the container log.
pub(crate) fn hint_for(error: &ServiceError, logs_tail: Option<&str>) -> Option<String> {
    let text = format!(
        "{} {} {}",
        error.code,
        error.message,
        logs_tail.unwrap_or_default()
    );
    let has = |needle: &str| {
        text.to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    };
    // finbeh-serve's own words when a model does not load (ServeError::NoModelLoaded).
    let hint = if has("no model could be loaded") || has("golden set") || has("format version") {
        "the server could not load the model: the artifact is corrupt, or was written by a newer \
         finbeh than the image's (check the artifact's format_version against the image's \
         finbeh-serve version, rebuild the image from this commit, or re-train)"
    } else if has("crashed or terminated") || has("CrashLoopBackOff") {
        "the container exited at start: read the log above; `deploy logs` shows more. A model the \
         image's finbeh-serve cannot load, a wrong AZUREML_MODEL_DIR layout or a missing \
         environment variable are the usual causes"
    } else if has("ImagePull") || has("image pull") || has("manifest unknown") {
        "the image cannot be pulled: check deploy.azure.image, and that the workspace's identity \
         has AcrPull on the registry"
    } else if has("OutOfQuota") || has("quota") {
        "not enough quota for deploy.azure.instance_type in this region: request quota or choose \
         another VM size"
    } else if has("ReadinessProbe") || has("readiness probe") || has("not ready") {
        "the container never answered /health/ready: raise \
         deploy.azure.deployment.probe_initial_delay_s or probe_failure_threshold, or read the log \
         for a model that failed to load"
    } else if has("AuthorizationFailed") || has("Forbidden") {
        "the credential lacks a role on the workspace (AzureML Data Scientist or Contributor)"
    } else {
        return None;
    };
    Some(hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_error_is_kept_verbatim_and_other_bodies_are_quoted() {
        let body = br#"{"error":{"code":"BadArgument","message":"Bad \"x\"","details":[{"code":"Inner","message":"why"}]}}"#;
        let found = service_error(400, body);
        assert_eq!(found.code, "BadArgument");
        assert_eq!(found.message, "Bad \"x\"");
        assert_eq!(found.details, [ServiceError::new("Inner", "why")]);
        let other = service_error(502, b"<html>bad gateway</html>");
        assert_eq!(other.code, "HTTP 502");
        assert_eq!(other.message, "<html>bad gateway</html>");
    }

    #[test]
    fn the_seed_outage_gets_a_hint() {
        let error = ServiceError::new(
            "ResourceNotReady",
            "User container has crashed or terminated",
        );
        assert!(hint_for(&error, None).is_some_and(|h| h.contains("exited at start")));
        let load = hint_for(
            &error,
            Some("ERROR finbeh-serve: no model could be loaded; tried:"),
        );
        assert!(load.is_some_and(|h| h.contains("could not load the model")));
    }
}
