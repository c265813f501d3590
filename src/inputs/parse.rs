//! Parsers for input values. Each error names the input and says what would be right.

use std::time::Duration;

use super::InputError;

pub fn boolean(input: &str, v: &str) -> Result<bool, InputError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(InputError::invalid(
            input,
            format!("`{v}` is not a boolean"),
            "`true` or `false`",
        )),
    }
}

/// `90s`, `10m`, `1h30m`, `2m30s`, or a bare number of seconds. A duration too long
/// to count (past u64 seconds) is an error, never a wrap-around.
///
/// Our own parser, not jiff's `friendly` duration format: jiff also accepts spelled-out
/// units (`10 minutes`), fractions (`1.5h`), signs, days and ISO 8601 (`PT1H`), and not a
/// bare number of seconds; the grammar here is the one action.yml, task.json and the docs
/// promise, and anything else must be a bad-input error naming the setting.
pub fn duration(input: &str, v: &str) -> Result<Duration, InputError> {
    let bad = || {
        InputError::invalid(
            input,
            format!("`{v}` is not a duration"),
            "a duration like `90s`, `10m` or `1h30m`",
        )
    };
    let too_long = || {
        InputError::invalid(
            input,
            format!("`{v}` is too long a duration"),
            "a duration like `90s`, `10m` or `1h30m`",
        )
    };
    let v = v.trim();
    if v.is_empty() {
        return Err(bad());
    }
    if v.chars().all(|c| c.is_ascii_digit()) {
        return v
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| too_long());
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        if num.is_empty() {
            return Err(bad());
        }
        let n: u64 = num.parse().map_err(|_| too_long())?;
        num.clear();
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(too_long)?;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// `1h30m`-style text for a range bound.
pub fn describe_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

/// A duration in `min..=max` (both stated in the setting's help).
pub fn duration_in(
    input: &str,
    v: &str,
    min: Duration,
    max: Duration,
) -> Result<Duration, InputError> {
    let range = || {
        format!(
            "a duration from {} to {}",
            describe_duration(min),
            describe_duration(max)
        )
    };
    let d = duration(input, v).map_err(|e| match e {
        InputError::Invalid { input, problem, .. } => InputError::invalid(input, problem, range()),
        e => e,
    })?;
    if d < min || d > max {
        return Err(InputError::invalid(
            input,
            format!("`{}` is out of range", v.trim()),
            range(),
        ));
    }
    Ok(d)
}

pub fn number(input: &str, v: &str) -> Result<u64, InputError> {
    v.trim()
        .parse()
        .map_err(|_| InputError::invalid(input, format!("`{v}` is not a number"), "a whole number"))
}

/// A whole number in `min..=max` (both stated in the setting's help): a number too
/// large for any integer type is out of range too, never wrapped.
pub fn number_in(input: &str, v: &str, min: u64, max: u64) -> Result<u64, InputError> {
    let range = || format!("a whole number from {min} to {max}");
    let t = v.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(InputError::invalid(
            input,
            format!("`{v}` is not a whole number"),
            range(),
        ));
    }
    match t.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(InputError::invalid(
            input,
            format!("`{t}` is out of range"),
            range(),
        )),
    }
}

/// The candidate closest to `word` by edit distance (strsim's Levenshtein over chars, the
/// crate clap's own suggestions use), if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("x", "90s").unwrap().as_secs(), 90);
        assert_eq!(duration("x", "10m").unwrap().as_secs(), 600);
        assert_eq!(duration("x", "1h30m").unwrap().as_secs(), 5400);
        assert_eq!(duration("x", "45").unwrap().as_secs(), 45);
        assert!(duration("x", "10 minutes").is_err());
        assert!(duration("x", "m").is_err());
        assert!(duration("x", "10").is_ok());
    }

    /// Issue 13 items 5 and 6: huge durations overflowed (panic) or wrapped.
    #[test]
    fn huge_durations_are_errors_not_wraps() {
        for v in [
            "18446744073709551615h",
            "18446744073709551616",
            "99999999999999999999s",
            "5124095576030432h",
            "307445734561825861m",
            "1h18446744073709551615s",
        ] {
            let e = duration("--timeout", v).unwrap_err().to_string();
            assert!(
                e.contains("--timeout") && e.contains("too long"),
                "{v}: {e}"
            );
        }
        assert_eq!(
            duration("x", "18446744073709551615").unwrap().as_secs(),
            u64::MAX
        );
        assert!(duration("x", "h").is_err());
        let day = Duration::from_secs(86_400);
        let e = duration_in(
            "--trivy-timeout",
            "18446744073709551615",
            Duration::from_secs(1),
            day,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--trivy-timeout: `18446744073709551615` is out of range"
        );
        assert_eq!(
            crate::error::Diagnostic::hint(&e).unwrap(),
            "expected a duration from 1s to 24h"
        );
        assert!(duration_in("x", "0", Duration::from_secs(1), day).is_err());
        assert_eq!(duration_in("x", "24h", Duration::ZERO, day).unwrap(), day);
        assert_eq!(describe_duration(Duration::from_secs(5430)), "1h30m30s");
    }

    /// Issue 13 item 6: `4294967296` became 0 replicas; `99999999999` wrapped.
    #[test]
    fn numbers_out_of_range_name_the_range() {
        for v in [
            "4294967296",
            "99999999999",
            "18446744073709551616",
            "0",
            "1001",
        ] {
            let e = number_in("--replicas", v, 1, 1000).unwrap_err();
            assert_eq!(e.to_string(), format!("--replicas: `{v}` is out of range"));
            assert_eq!(
                crate::error::Diagnostic::hint(&e).unwrap(),
                "expected a whole number from 1 to 1000"
            );
        }
        for v in ["-1", "1.5", "", "1e3", "+3"] {
            assert!(number_in("--replicas", v, 1, 1000).is_err(), "{v}");
        }
        assert_eq!(number_in("x", " 7 ", 1, 1000).unwrap(), 7);
    }

    #[test]
    fn booleans_name_the_input() {
        let e = boolean("--fail-on-findings", "maybe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--fail-on-findings: `maybe` is not a boolean"
        );
    }

    #[test]
    fn typo_suggestions() {
        assert_eq!(
            closest("severty", ["severity", "sarif"]).as_deref(),
            Some("severity")
        );
        assert_eq!(closest("zzz", ["severity"]), None);
    }
}
