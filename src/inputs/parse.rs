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

/// `90s`, `10m`, `1h30m`, `2m30s`, or a bare number of seconds.
pub fn duration(input: &str, v: &str) -> Result<Duration, InputError> {
    let bad = || {
        InputError::invalid(
            input,
            format!("`{v}` is not a duration"),
            "a duration like `90s`, `10m` or `1h30m`",
        )
    };
    let v = v.trim();
    if v.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

pub fn number(input: &str, v: &str) -> Result<u64, InputError> {
    v.trim()
        .parse()
        .map_err(|_| InputError::invalid(input, format!("`{v}` is not a number"), "a whole number"))
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
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
