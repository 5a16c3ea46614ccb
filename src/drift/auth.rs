//! The access token and its OAuth2 refresh: the current token with a generation counter (so tasks
//! that fail together refresh once) and its expiry (so a long run refreshes before it runs out),
//! and the refresh request itself. A refresh token Drift replaces is handed to the `on_rotate`
//! hook (the caller saves it where it came from). Secrets stay in [`Secret`]s and are never
//! logged. Knows nothing of Singer; sends only the token request.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::config::OAuth;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// A token is refreshed this long before it expires (or a tenth of its lifetime, if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// Called with a new refresh token when Drift rotates it.
pub type OnRotate = Box<dyn Fn(&Secret) + Send + Sync>;

/// The current access token, how many times it was replaced, and when it expires.
#[derive(Debug)]
struct Token {
    value: Option<Secret>,
    generation: u64,
    /// When to refresh it (ahead of its expiry), if it expires.
    refresh_at: Option<Instant>,
}

/// Credentials of a run: the access token, and what refreshes it.
pub struct Auth {
    token: RwLock<Token>,
    oauth: Option<OAuth>,
    /// The refresh token in use (Drift may rotate it).
    refresh_token: Mutex<Option<Secret>>,
    on_rotate: Option<OnRotate>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("oauth", &self.oauth).finish()
    }
}

/// A field of a token response, in Drift's snake_case or its sample app's camelCase.
fn field<'a>(body: &'a Value, snake: &str, camel: &str) -> Option<&'a Value> {
    body.get(snake).or_else(|| body.get(camel))
}

/// `expires_in` as a duration: seconds (7200), or milliseconds when it can only be that; 0 or
/// absent: the token does not expire.
fn lifetime(body: &Value) -> Option<Duration> {
    let n = field(body, "expires_in", "expiresIn")?.as_f64()?;
    match n {
        n if n <= 0.0 => None,
        n if n > 30.0 * 86_400.0 => Some(Duration::from_secs_f64(n / 1000.0)),
        n => Some(Duration::from_secs_f64(n)),
    }
}

impl Auth {
    /// Credentials from the config; `on_rotate` receives a refresh token Drift replaced.
    pub fn new(
        access_token: Option<Secret>,
        oauth: Option<OAuth>,
        on_rotate: Option<OnRotate>,
    ) -> Auth {
        Auth {
            token: RwLock::new(Token {
                value: access_token,
                generation: 0,
                refresh_at: None,
            }),
            refresh_token: Mutex::new(oauth.as_ref().map(|o| o.refresh_token.clone())),
            oauth,
            on_rotate,
        }
    }

    /// Whether a rejected or expiring token can be refreshed.
    pub fn can_refresh(&self) -> bool {
        self.oauth.is_some()
    }

    /// The current token (empty when none was obtained yet), its generation, and whether it is
    /// about to expire (and can be refreshed).
    pub async fn current(&self) -> (u64, Secret, bool) {
        let t = self.token.read().await;
        let expiring = self.can_refresh() && t.refresh_at.is_some_and(|r| Instant::now() >= r);
        let value = t.value.clone().unwrap_or_else(|| Secret::new(""));
        (t.generation, value, expiring)
    }

    /// Replaces the access token by OAuth2 refresh (POSTing with `http` to `token_url`), unless
    /// another task already replaced the generation that failed.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        token_url: &str,
        failed_generation: u64,
    ) -> Result<()> {
        let Some(oauth) = &self.oauth else {
            return Err(Error::Auth {
                status: 401,
                endpoint: TOKEN_PATH.into(),
            });
        };
        let mut refresh_token = self.refresh_token.lock().await;
        if self.token.read().await.generation != failed_generation {
            return Ok(());
        }
        let current = refresh_token
            .clone()
            .unwrap_or_else(|| oauth.refresh_token.clone());
        let body = post_refresh(http, token_url, oauth, &current).await?;
        let access = field(&body, "access_token", "accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| Error::Refresh {
                status: None,
                reason: "the token response has no access_token".into(),
            })?;
        if let Some(rotated) = field(&body, "refresh_token", "refreshToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && *t != current.expose())
        {
            let rotated = Secret::new(rotated);
            if let Some(hook) = &self.on_rotate {
                hook(&rotated);
            }
            *refresh_token = Some(rotated);
        }
        let mut token = self.token.write().await;
        token.value = Some(access);
        token.generation += 1;
        token.refresh_at = lifetime(&body).map(|l| Instant::now() + l - REFRESH_MARGIN.min(l / 10));
        tracing::info!(
            expires_in_s = lifetime(&body).map(|l| l.as_secs()),
            "obtained a new access token by OAuth2 refresh"
        );
        Ok(())
    }
}

/// The refresh request: a form POST; its JSON body on success.
async fn post_refresh(
    http: &reqwest::Client,
    token_url: &str,
    oauth: &OAuth,
    refresh_token: &Secret,
) -> Result<Value> {
    let form = [
        ("client_id", oauth.client_id.as_str()),
        ("client_secret", oauth.client_secret.expose()),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
    ];
    let refused = |status: Option<u16>, reason: String| Error::Refresh { status, reason };
    let resp = match http.post(token_url).form(&form).send().await {
        Ok(resp) => resp,
        // the client decides whether that is a first contact that failed, or a refused refresh
        Err(e) if e.is_connect() => {
            return Err(Error::Unreachable {
                api_url: String::new(),
                attempts: 1,
                tried: Duration::ZERO,
                last: crate::drift::client::describe(e),
            })
        }
        Err(e) => return Err(refused(None, e.without_url().to_string())),
    };
    let status = resp.status();
    if !status.is_success() {
        tracing::error!(
            status = status.as_u16(),
            "the OAuth2 token refresh was refused"
        );
        return Err(refused(Some(status.as_u16()), format!("{status}")));
    }
    resp.json()
        .await
        .map_err(|e| refused(Some(status.as_u16()), e.without_url().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_responses_in_either_case_and_unit() {
        assert_eq!(
            lifetime(&json!({"expires_in": 7200})),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(
            lifetime(&json!({"expiresIn": 7_200_000})),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(lifetime(&json!({"expires_in": 0})), None);
        assert_eq!(lifetime(&json!({})), None);
        let camel = json!({"accessToken": "a", "refreshToken": "r"});
        assert_eq!(
            field(&camel, "access_token", "accessToken"),
            Some(&json!("a"))
        );
    }
}
