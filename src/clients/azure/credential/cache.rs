//! The token cache: one bearer token per scope, handed out until shortly before it
//! expires (5 minutes, or a tenth of a short lifetime), and forgotten on demand after a
//! 401. Lifetimes are outside text: none is trusted past [`MAX_CACHED`], so an
//! `expires_in` near `u64::MAX` cannot overflow the clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// No token is cached longer than this, whatever lifetime a server claims.
pub const MAX_CACHED: Duration = Duration::from_secs(24 * 3600);

struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// Tokens by scope.
#[derive(Default)]
pub struct TokenCache {
    tokens: HashMap<String, Cached>,
}

impl TokenCache {
    /// The token for `scope`, if one is cached and not due for refresh.
    pub fn get(&self, scope: &str) -> Option<Secret> {
        self.tokens
            .get(scope)
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    /// Keeps `token`, valid for `lifetime` from now.
    pub fn put(&mut self, scope: &str, token: Secret, lifetime: Duration) {
        self.tokens.insert(
            scope.to_string(),
            Cached {
                token,
                refresh_at: refresh_at(Instant::now(), lifetime),
            },
        );
    }

    pub fn forget(&mut self, scope: &str) {
        self.tokens.remove(scope);
    }
}

/// `now + d`, with `d` capped at [`MAX_CACHED`].
pub fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(MAX_CACHED)).unwrap_or(now)
}

/// When a token of `lifetime` is refreshed: a little before expiry (5 minutes, or a
/// tenth of a short lifetime).
fn refresh_at(now: Instant, lifetime: Duration) -> Instant {
    let margin = Duration::from_secs(300).min(lifetime / 10);
    later(now, lifetime.saturating_sub(margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 item 5: an IMDS `expires_in` near u64::MAX panicked on `Instant + Duration`.
    #[test]
    fn huge_lifetimes_do_not_overflow_the_clock() {
        let now = Instant::now();
        assert_eq!(
            refresh_at(now, Duration::from_secs(u64::MAX)),
            now + MAX_CACHED
        );
        assert_eq!(later(now, Duration::MAX), now + MAX_CACHED);
        assert_eq!(
            refresh_at(now, Duration::from_secs(3600)),
            now + Duration::from_secs(3300)
        );
        assert_eq!(
            refresh_at(now, Duration::from_secs(60)),
            now + Duration::from_secs(54)
        );
    }

    #[test]
    fn a_cached_token_is_served_until_forgotten() {
        let mut c = TokenCache::default();
        c.put("s", Secret::new("t"), Duration::from_secs(3600));
        assert_eq!(
            c.get("s").map(|t| t.expose().to_string()).as_deref(),
            Some("t")
        );
        c.forget("s");
        assert!(c.get("s").is_none());
        // A zero lifetime is never served.
        c.put("z", Secret::new("t"), Duration::ZERO);
        assert!(c.get("z").is_none());
    }
}
