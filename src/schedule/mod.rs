//! Next firing times: pure functions of a schedule and a moment.
//!
//! Interval schedules live on a grid `phase + k·every` of the monotonic timeline, in
//! milliseconds; cron schedules follow the wall clock in the task's zone. Both take
//! `now` as an argument and read no clock.
//!
//! # Daylight saving time (cron)
//!
//! croner implements Vixie cron's rule, which this module relies on and its tests pin:
//! a firing whose local time falls into a skipped hour runs once at the first instant
//! after the jump; a fixed-time firing in a repeated hour runs once (in the first
//! pass); a task whose minute or hour field is a wildcard follows elapsed time and fires
//! in both passes.

use jiff::{Timestamp, Zoned};

use crate::config::{Schedule, Zone};

/// The first grid point strictly after `after`, on the grid `phase + k·every` (all in
/// milliseconds). `every` must be positive.
pub fn next_on_grid(phase: u64, every: u64, after: u64) -> u64 {
    debug_assert!(every > 0, "interval must be positive");
    if after < phase {
        return phase;
    }
    let k = (after - phase) / every + 1;
    phase.saturating_add(k.saturating_mul(every))
}

/// The next firing of a cron pattern strictly after `after`, in `zone`. None when the
/// pattern never matches again (e.g. `0 0 30 2 *`) or beyond the supported years.
pub fn next_cron(cron: &croner::Cron, zone: &Zone, after: Timestamp) -> Option<Zoned> {
    let start = after.to_zoned(zone.tz.clone());
    cron.find_next_occurrence(&start, false).ok()
}

/// The next `n` firings of a task after `from`, as zoned times. An interval task is
/// taken to be loaded at `from`, so its first firing is one interval later. `@reboot`
/// has no calendar firings.
pub fn upcoming(schedule: &Schedule, zone: &Zone, from: Timestamp, n: usize) -> Vec<Zoned> {
    let mut out = Vec::with_capacity(n);
    match schedule {
        Schedule::Interval(i) => {
            let Ok(step) = jiff::SignedDuration::try_from(i.every) else {
                return out;
            };
            let mut t = from;
            for _ in 0..n {
                match t.checked_add(step) {
                    Ok(next) => t = next,
                    Err(_) => break,
                }
                out.push(t.to_zoned(zone.tz.clone()));
            }
        }
        Schedule::Cron(c) => {
            let cron = &c.pattern;
            // Continue from the exact instant each call returned, so the second pass of
            // a repeated hour is not lost.
            let mut t = from;
            for _ in 0..n {
                match next_cron(cron, zone, t) {
                    Some(z) => {
                        t = z.timestamp();
                        out.push(z);
                    }
                    None => break,
                }
            }
        }
        Schedule::Reboot => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::{CronExpr, CronKind};

    fn zone(name: &str) -> Zone {
        Zone::try_from(name.to_owned()).expect("zone is in the tz database")
    }

    fn cron(expr: &str) -> Schedule {
        let c = CronExpr::try_from(expr.to_owned()).expect("valid cron");
        match c.kind {
            CronKind::Pattern(p) => Schedule::Cron(
                crate::config::CronPattern {
                    pattern: p,
                    source: expr.into(),
                }
                .into(),
            ),
            CronKind::Reboot => Schedule::Reboot,
        }
    }

    /// The next `n` firings after `from` (an RFC 3339 instant), as RFC 3339 strings.
    fn next_n(expr: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
        let from: Timestamp = from.parse().expect("valid instant");
        upcoming(&cron(expr), &zone(tz), from, n)
            .iter()
            .map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
            .collect()
    }

    #[test]
    fn grid_points() {
        // (phase, every, after) -> next
        let cases = [
            (1000, 500, 0, 1000),
            (1000, 500, 999, 1000),
            (1000, 500, 1000, 1500),
            (1000, 500, 1499, 1500),
            (1000, 500, 1500, 2000),
            (0, 1, 0, 1),
            (7, 10, 1_000_000_007, 1_000_000_017),
            (0, u64::MAX / 2, u64::MAX - 1, u64::MAX),
        ];
        for (phase, every, after, want) in cases {
            assert_eq!(
                next_on_grid(phase, every, after),
                want,
                "{phase} {every} {after}"
            );
        }
    }

    #[test]
    fn new_york_spring_forward_runs_skipped_time_once_after_the_jump() {
        // 2026-03-08 02:00 EST -> 03:00 EDT; 02:30 does not exist.
        assert_eq!(
            next_n("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
            [
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00"
            ]
        );
    }

    #[test]
    fn new_york_fall_back_fixed_time_runs_once() {
        // 2026-11-01 02:00 EDT -> 01:00 EST; 01:30 happens twice.
        assert_eq!(
            next_n("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 3),
            [
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
                "2026-11-03T01:30:00-05:00"
            ]
        );
    }

    #[test]
    fn new_york_fall_back_wildcard_hour_fires_in_both_passes() {
        assert_eq!(
            next_n("30 * * * *", "America/New_York", "2026-11-01T04:00:00Z", 4),
            [
                "2026-11-01T00:30:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:30:00-05:00",
                "2026-11-01T02:30:00-05:00"
            ]
        );
    }

    #[test]
    fn berlin_spring_forward_and_fall_back() {
        // 2026-03-29 02:00 CET -> 03:00 CEST.
        assert_eq!(
            next_n("15 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 2),
            ["2026-03-29T03:00:00+02:00", "2026-03-30T02:15:00+02:00"]
        );
        // 2026-10-25 03:00 CEST -> 02:00 CET: 02:15 once, in the first pass.
        assert_eq!(
            next_n("15 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T02:15:00+02:00", "2026-10-26T02:15:00+01:00"]
        );
        // Every 20 minutes follows elapsed time through the repeated hour.
        assert_eq!(
            next_n("*/20 * * * *", "Europe/Berlin", "2026-10-24T23:50:00Z", 7),
            [
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:20:00+02:00",
                "2026-10-25T02:40:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:20:00+01:00",
                "2026-10-25T02:40:00+01:00",
                "2026-10-25T03:00:00+01:00"
            ]
        );
    }

    #[test]
    fn lord_howe_half_hour_shift() {
        // Lord Howe moves by 30 minutes: 2026-10-04 02:00 +10:30 -> 02:30 +11:00.
        assert_eq!(
            next_n(
                "15 2 * * *",
                "Australia/Lord_Howe",
                "2026-10-03T00:00:00Z",
                2
            ),
            ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]
        );
        // 2026-04-05 02:00 +11:00 -> 01:30 +10:30: 01:45 happens twice, fixed time once.
        assert_eq!(
            next_n(
                "45 1 * * *",
                "Australia/Lord_Howe",
                "2026-04-04T00:00:00Z",
                2
            ),
            ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]
        );
    }

    #[test]
    fn leap_day_only_in_leap_years() {
        assert_eq!(
            next_n("0 0 29 2 *", "UTC", "2026-11-26T00:00:00Z", 3),
            [
                "2028-02-29T00:00:00+00:00",
                "2032-02-29T00:00:00+00:00",
                "2036-02-29T00:00:00+00:00"
            ]
        );
    }

    #[test]
    fn year_end() {
        assert_eq!(
            next_n("59 23 31 12 *", "Europe/Berlin", "2026-12-31T22:58:00Z", 2),
            ["2026-12-31T23:59:00+01:00", "2027-12-31T23:59:00+01:00"]
        );
        assert_eq!(
            next_n("@yearly", "UTC", "2026-12-31T23:59:59Z", 1),
            ["2027-01-01T00:00:00+00:00"]
        );
        assert_eq!(
            next_n("0 0 1 * *", "Asia/Tokyo", "2026-12-15T00:00:00Z", 2),
            ["2027-01-01T00:00:00+09:00", "2027-02-01T00:00:00+09:00"]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // Vixie cron: both restricted -> either matches. 2026-12-01 is a Tuesday.
        assert_eq!(
            next_n("0 12 1 * 5", "UTC", "2026-11-30T00:00:00Z", 3),
            [
                "2026-12-01T12:00:00+00:00",
                "2026-12-04T12:00:00+00:00",
                "2026-12-11T12:00:00+00:00"
            ]
        );
    }

    #[test]
    fn seconds_field_and_macros() {
        assert_eq!(
            next_n("*/15 * * * * *", "UTC", "2026-01-01T00:00:00Z", 3),
            [
                "2026-01-01T00:00:15+00:00",
                "2026-01-01T00:00:30+00:00",
                "2026-01-01T00:00:45+00:00"
            ]
        );
        assert_eq!(
            next_n("@midnight", "UTC", "2026-01-01T10:00:00Z", 1),
            ["2026-01-02T00:00:00+00:00"]
        );
        assert_eq!(
            next_n("@weekly", "UTC", "2026-11-26T10:00:00Z", 1),
            ["2026-11-29T00:00:00+00:00"]
        );
        assert_eq!(
            next_n("@hourly", "UTC", "2026-11-26T10:00:00Z", 1),
            ["2026-11-26T11:00:00+00:00"]
        );
    }

    #[test]
    fn impossible_date_has_no_firing() {
        assert!(next_n("0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z", 1).is_empty());
    }

    #[test]
    fn interval_upcoming_steps_from_the_start() {
        let s = Schedule::Interval(
            crate::config::Interval {
                every: std::time::Duration::from_secs(5400),
                source: "1h30m".into(),
            }
            .into(),
        );
        let from: Timestamp = "2026-01-01T00:00:00Z".parse().expect("valid instant");
        let got: Vec<String> = upcoming(&s, &zone("UTC"), from, 2)
            .iter()
            .map(|z| z.timestamp().to_string())
            .collect();
        assert_eq!(got, ["2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"]);
    }
}
