//! Temporary tokens in the mock: `POST /tokens/` (on the queue host, which stands for fal's
//! REST host here; see [`MockServer::rest_url`]) with `{allowed_apps, token_expiration}` and
//! the key mints a token; a stream request of a listed app is then admitted with
//! `?fal_jwt_token=<token>` instead of the key, until the token expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Response;
use serde_json::Value;

use super::queue::parse_input;
use super::{MockServer, State, detail, json_response, lock};
use crate::http::protocol::app_alias;

/// Tokens minted so far: token -> (allowed app aliases, expiry).
#[derive(Default)]
pub(super) struct Minted(Mutex<HashMap<String, (Vec<String>, Instant)>>);

/// Whether the path is the token service.
pub(super) fn is_token_path(path: &str) -> bool {
    path.trim_matches('/') == "tokens"
}

/// Mints a token for a valid request.
pub(super) fn mint(state: &State, body: &[u8]) -> Response<Body> {
    let input = match parse_input(body) {
        Ok(input) => input,
        Err(response) => return *response,
    };
    let apps: Option<Vec<String>> = input
        .get("allowed_apps")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
    let expiration = input.get("token_expiration").and_then(Value::as_u64);
    let (Some(apps), Some(expiration)) = (apps.filter(|a| !a.is_empty()), expiration) else {
        return detail(
            422,
            "allowed_apps (a non-empty list) and token_expiration are required",
        );
    };
    let n = state
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = format!("eyJtb2NrIjp0cnVlfQ.mock-{n:08x}.c2lnbmF0dXJl");
    let expiry = Instant::now() + Duration::from_secs(expiration);
    lock(&state.tokens.0).insert(token.clone(), (apps, expiry));
    // fal answers the token as a bare JSON string.
    json_response(201, &Value::String(token))
}

/// Whether a request for `endpoint_id` carries a live token for its app in its query.
pub(super) fn admits(state: &State, endpoint_id: &str, query: Option<&str>) -> bool {
    let Some(token) = query.and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("fal_jwt_token="))
    }) else {
        return false;
    };
    let alias = app_alias(endpoint_id);
    lock(&state.tokens.0)
        .get(token)
        .is_some_and(|(apps, expiry)| Instant::now() < *expiry && apps.iter().any(|a| a == alias))
}

impl MockServer {
    /// How many tokens were minted.
    pub fn tokens_minted(&self) -> usize {
        lock(&self.state.tokens.0).len()
    }

    /// Ends every token minted so far, as if their expiry had passed: requests carrying them
    /// are refused from now on (new tokens are unaffected).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for (_, expiry) in lock(&self.state.tokens.0).values_mut() {
            *expiry = now;
        }
    }
}
