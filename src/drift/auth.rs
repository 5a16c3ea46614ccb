//! The access token and its OAuth2 refresh: the current token with a generation counter (so tasks
//! that fail together refresh once), and the refresh request itself. Secrets stay in [`Secret`]s
//! and are never logged. Knows nothing of Singer; sends only the token request.

use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::config::OAuth;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// The current access token and how many times it was replaced.
#[derive(Debug)]
struct Token {
    value: Option<Secret>,
    generation: u64,
}

/// Credentials of a run: the access token, and what refreshes it.
#[derive(Debug)]
pub struct Auth {
    token: RwLock<Token>,
    oauth: Option<OAuth>,
    /// The refresh token in use (Drift may rotate it).
    refresh_token: Mutex<Option<Secret>>,
}

impl Auth {
    /// Credentials from the config.
    pub fn new(access_token: Option<Secret>, oauth: Option<OAuth>) -> Auth {
        Auth {
            token: RwLock::new(Token {
                value: access_token,
                generation: 0,
            }),
            refresh_token: Mutex::new(oauth.as_ref().map(|o| o.refresh_token.clone())),
            oauth,
        }
    }

    /// Whether a rejected token can be refreshed.
    pub fn can_refresh(&self) -> bool {
        self.oauth.is_some()
    }

    /// The current token (empty when none was obtained yet) and its generation.
    pub async fn current(&self) -> (u64, Secret) {
        let t = self.token.read().await;
        (
            t.generation,
            t.value.clone().unwrap_or_else(|| Secret::new("")),
        )
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
        let access = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Decode {
                endpoint: TOKEN_PATH.into(),
                reason: "no access_token in the token response".into(),
            })?;
        if let Some(rotated) = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && *t != current.expose())
        {
            tracing::warn!("drift rotated the refresh token; the new one is used for the rest of this run but is not saved anywhere: update `refresh_token` in the config if the old one stops working");
            *refresh_token = Some(Secret::new(rotated));
        }
        let mut token = self.token.write().await;
        token.value = Some(Secret::new(access));
        token.generation += 1;
        tracing::info!("obtained a new access token by OAuth2 refresh");
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
    let resp =
        http.post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| Error::RetriesExhausted {
                endpoint: TOKEN_PATH.into(),
                attempts: 1,
                last: e.without_url().to_string(),
            })?;
    let status = resp.status();
    if !status.is_success() {
        tracing::error!(
            status = status.as_u16(),
            "the OAuth2 token refresh was refused"
        );
        return Err(Error::Refresh {
            status: status.as_u16(),
        });
    }
    resp.json().await.map_err(|e| Error::Decode {
        endpoint: TOKEN_PATH.into(),
        reason: e.without_url().to_string(),
    })
}
