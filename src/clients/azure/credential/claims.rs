//! What a JWT says about itself, read without verifying it: the issuer, subject and
//! audience of a federated assertion (to explain an Entra refusal: `AADSTS70021` and
//! `AADSTS700213` name the subject this run's token carried) and the seconds left until
//! its `exp` (to re-mint it before it goes stale). Also the `AADSTS` code of an Entra
//! error description.

use base64::Engine;

use super::super::AssertionClaims;
use crate::secret::Secret;

/// The claims of a JWT (not verified: only to explain errors and know its expiry), and
/// the seconds left until its `exp`.
pub fn claims(jwt: &Secret) -> (AssertionClaims, Option<i64>) {
    let payload = jwt
        .expose()
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or_default();
    let s = |k: &str| match payload.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(a)) => a.first().and_then(|v| v.as_str()).map(String::from),
        _ => None,
    };
    let now = jiff::Timestamp::now().as_second();
    // Saturating: `exp` is outside text (found by the jwt_claims fuzz seed `i64::MIN`).
    let left = payload
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .map(|exp| exp.saturating_sub(now));
    (
        AssertionClaims {
            issuer: s("iss"),
            subject: s("sub"),
            audience: s("aud"),
        },
        left,
    )
}

/// `AADSTS70021: ...` -> 70021.
pub fn aadsts_code(description: &str) -> Option<u32> {
    let rest = &description[description.find("AADSTS")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_read_from_descriptions() {
        assert_eq!(
            aadsts_code("AADSTS70021: No matching federated identity record found"),
            Some(70021)
        );
        assert_eq!(aadsts_code("nothing"), None);
    }

    #[test]
    fn claims_are_read_without_verification() {
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let exp = jiff::Timestamp::now().as_second() + 600;
        let jwt = format!(
            "{}.{}.sig",
            enc(serde_json::json!({"alg": "RS256"})),
            enc(
                serde_json::json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main", "aud": "api://AzureADTokenExchange", "exp": exp})
            )
        );
        let (c, left) = claims(&Secret::new(jwt));
        assert_eq!(c.subject.as_deref(), Some("repo:o/r:ref:refs/heads/main"));
        assert!(left.unwrap() > 590);
    }

    #[test]
    fn claims_with_an_extreme_exp_do_not_overflow() {
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        for exp in [i64::MIN, i64::MAX] {
            let jwt = format!("x.{}.y", enc(serde_json::json!({ "exp": exp })));
            let (_, left) = claims(&Secret::new(jwt));
            assert_eq!(left.unwrap().signum(), exp.signum());
        }
    }
}
