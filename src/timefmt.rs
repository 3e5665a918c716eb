//! Time helpers without a date crate: RFC 3339 formatting, human durations, HTTP dates. Pure.
//!
//! OWNER: config helper. CONTRACT (keep these signatures).

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Format seconds since the epoch as RFC 3339 UTC, e.g. `2026-02-01T10:00:00Z`.
pub fn rfc3339(_secs: u64) -> String {
    unimplemented!("config helper")
}

/// A short human duration: `45s`, `12m 5s`, `2h 5m`, `3d 4h`.
pub fn human_duration(_secs: u64) -> String {
    unimplemented!("config helper")
}

/// Parse an HTTP date (IMF-fixdate, RFC 850, asctime) to seconds since the epoch.
pub fn parse_http_date(_s: &str) -> Option<u64> {
    unimplemented!("config helper")
}
