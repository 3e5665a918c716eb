//! `timefmt::parse_http_date` and `timefmt::parse_rfc3339` on arbitrary text, and the
//! formatters on arbitrary numbers.
//!
//! Properties: no panic; what `rfc3339` writes, `parse_rfc3339` reads back exactly; an accepted
//! RFC 3339 time re-formats to a string that parses to the same second; `human_duration` never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sp_entrypoint::timefmt::{human_duration, parse_http_date, parse_rfc3339, rfc3339};

fuzz_target!(|data: &[u8]| {
    if data.len() >= 8 {
        let mut n = [0u8; 8];
        n.copy_from_slice(&data[..8]);
        let secs = u64::from_le_bytes(n);
        let _ = human_duration(secs);
        // Up to the year 9999 (four-digit years).
        let bounded = secs % 253_402_300_800;
        assert_eq!(parse_rfc3339(&rfc3339(bounded)), Some(bounded), "{bounded}");
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = parse_rfc3339(s) {
        if t < 253_402_300_800 {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{s:?}");
        }
    }
    let _ = parse_http_date(s);
});
