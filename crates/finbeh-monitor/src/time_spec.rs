//! `--since` values: a duration back from now (`30m`, `24h`, `7d`) or an RFC 3339 UTC time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::MonitorError;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads a `--since` value as milliseconds since the Unix epoch: a duration before `now_ms`
/// (`90s`, `30m`, `24h`, `7d`, `1h 30m`) or an RFC 3339 time in UTC (`2026-01-31T12:00:00Z`).
///
/// # Errors
/// [`MonitorError::BadTime`] quoting the value.
pub fn parse_since(value: &str, now_ms: i64) -> Result<i64, MonitorError> {
    let bad = || MonitorError::BadTime {
        value: value.to_owned(),
    };
    let text = value.trim();
    if let Ok(duration) = humantime::parse_duration(text) {
        let back = i64::try_from(duration.as_millis()).map_err(|_| bad())?;
        return now_ms.checked_sub(back).ok_or_else(bad);
    }
    let time = humantime::parse_rfc3339_weak(text).map_err(|_| bad())?;
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_millis()).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rfc3339_times_are_read() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_since("30m", now).unwrap(), now - 1_800_000);
        assert_eq!(parse_since("24h", now).unwrap(), now - 86_400_000);
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(
            parse_since("2027-01-15T08:00:00Z", 0).unwrap(),
            1_800_000_000_000
        );
        let message = parse_since("yesterday", now).unwrap_err().to_string();
        assert!(
            message.contains("\"yesterday\"") && message.contains("24h"),
            "{message}"
        );
    }
}
