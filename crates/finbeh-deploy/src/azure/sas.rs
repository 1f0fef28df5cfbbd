//! A blob service SAS signed with the storage account key (HMAC-SHA256, as the Blob SAS
//! specification defines the string to sign for versions 2020-12-06 and later).

use azure_core::base64;
use azure_core::time::{Duration, OffsetDateTime};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::arm::protocol;
use crate::error::Result;

/// The SAS version signed.
const SAS_VERSION: &str = "2022-11-02";
/// How long an upload SAS is valid: short, it only has to outlive one upload.
const SAS_LIFETIME: Duration = Duration::minutes(30);
/// Clock skew allowed for the start time.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// A service SAS for one blob (`sr=b`) with `permissions` (e.g. `cw`), valid for 30 minutes.
/// `https_only` false allows http too (an emulator on loopback).
pub(crate) fn blob_sas(
    account: &str,
    account_key: &str,
    container: &str,
    blob: &str,
    permissions: &str,
    https_only: bool,
) -> Result<String> {
    let now = OffsetDateTime::now_utc();
    let start = iso(now - CLOCK_SKEW);
    let expiry = iso(now + SAS_LIFETIME);
    let protocol = if https_only { "https" } else { "https,http" };
    let resource = format!("/blob/{account}/{container}/{blob}");
    let to_sign = [
        permissions,
        &start,
        &expiry,
        &resource,
        "", // signedIdentifier
        "", // signedIP
        protocol,
        SAS_VERSION,
        "b", // signedResource
        "",  // signedSnapshotTime
        "",  // signedEncryptionScope
        "",  // rscc
        "",  // rscd
        "",  // rsce
        "",  // rscl
        "",  // rsct
    ]
    .join("\n");
    let signature = sign(account_key, &to_sign)?;
    let query = [
        ("sv", SAS_VERSION),
        ("st", &start),
        ("se", &expiry),
        ("sr", "b"),
        ("sp", permissions),
        ("spr", protocol),
        ("sig", &signature),
    ];
    Ok(query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&"))
}

/// Base64 HMAC-SHA256 of `text` under the base64 account key.
pub(crate) fn sign(account_key: &str, text: &str) -> Result<String> {
    let key = base64::decode(account_key).map_err(|e| {
        protocol(
            "listSecrets",
            format!("the datastore's account key is not base64 ({e})"),
        )
    })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| {
        protocol(
            "listSecrets",
            format!("the account key cannot key HMAC-SHA256 ({e})"),
        )
    })?;
    mac.update(text.as_bytes());
    Ok(base64::encode(mac.finalize().into_bytes()))
}

/// `YYYY-MM-DDThh:mm:ssZ`, the form SAS times take.
fn iso(time: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = base64::encode(b"Jefe");
        let sig = sign(&key, "what do ya want for nothing?").unwrap();
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let bytes = base64::decode(&sig).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn sas_carries_the_signed_fields() {
        let key = base64::encode(b"k");
        let sas = blob_sas("acct", &key, "c", "a/b.finbeh", "cw", true).unwrap();
        for field in ["sv=2022-11-02", "sr=b", "sp=cw", "spr=https", "sig="] {
            assert!(sas.contains(field), "{sas}");
        }
        assert!(blob_sas("acct", "not base64!", "c", "b", "cw", true).is_err());
    }
}
