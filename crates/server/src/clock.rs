//! Time as a seam: the reaper and timestamps read it through [`Clock`], so tests can move time
//! forward without sleeping.

use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock tests set and advance by hand.
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock { now: Mutex::new(start) }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: time::Duration) {
        *sandbar_runtime::lock(&self.now) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *sandbar_runtime::lock(&self.now)
    }
}

/// ISO-8601 UTC with milliseconds (`2026-11-26T05:46:41.123Z`): fixed width, so the text sorts
/// in time order in the store.
pub fn iso(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let millis = at.millisecond();
    let base = at.replace_nanosecond(0).unwrap_or(at).format(&Rfc3339).unwrap_or_default();
    // Rfc3339 renders whole seconds as `...:SSZ`; insert the milliseconds before the `Z`.
    format!("{}.{millis:03}Z", base.trim_end_matches('Z'))
}

/// Parses a timestamp written by [`iso`] (or any RFC 3339 text).
pub fn parse_iso(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_is_fixed_width_and_round_trips() {
        let at = time::macros::datetime!(2026-11-26 05:46:41.5 UTC);
        assert_eq!(iso(at), "2026-11-26T05:46:41.500Z");
        assert_eq!(parse_iso(&iso(at)), Some(at));
        let whole = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(iso(whole), "2026-01-02T03:04:05.000Z");
    }
}
