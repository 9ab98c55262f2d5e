//! fal's wire names and URL rules, in one place for the client, the proxy handler and the mock:
//! where a request's status, result and cancel live, the app alias a token is minted for, the
//! URL of an endpoint's stream, and the headers fal reads or sends.

use std::time::Duration;

/// The header naming the real target of a proxied request (fal's name).
pub const TARGET_URL_HEADER: &str = "x-fal-target-url";

/// The header with fal's id of a request, on queue and run answers.
pub(crate) const REQUEST_ID_HEADER: &str = "x-fal-request-id";

/// The header on fal's `504` that says which deadline passed (`user`: the start deadline).
pub(crate) const REQUEST_TIMEOUT_TYPE_HEADER: &str = "x-fal-request-timeout-type";

/// The header carrying fal's error type.
pub(crate) const ERROR_TYPE_HEADER: &str = "x-fal-error-type";

/// The part of an endpoint id that status, result and cancel live under: `owner/alias`, or
/// `workflows/owner/name` and `comfy/owner/name`.
///
/// `fal-ai/sora-2/text-to-video/pro` -> `fal-ai/sora-2`; `workflows/acme/flow/v2` ->
/// `workflows/acme/flow`.
pub(crate) fn queue_app_path(endpoint_id: &str) -> &str {
    let id = endpoint_id.trim_matches('/');
    let keep = match id.split('/').next() {
        Some("workflows" | "comfy") => 3,
        _ => 2,
    };
    match id.match_indices('/').nth(keep - 1) {
        Some((cut, _)) => &id[..cut],
        None => id,
    }
}

/// The part of an endpoint id fal's token service names an app by: the alias, as fal-js's
/// `parseEndpointId` reads it: `fal-ai/flux/dev` is `flux`, `workflows/acme/my-flow/x` and
/// `comfy/acme/my-flow` are `my-flow` (the namespace comes first), and a legacy `123-my-app` id
/// is `my-app`.
pub(crate) fn app_alias(endpoint_id: &str) -> &str {
    let id = endpoint_id.trim_matches('/');
    let parts: Vec<&str> = id.split('/').collect();
    match parts.as_slice() {
        [single] => legacy_alias(single).unwrap_or(single),
        [namespace, _owner, alias, ..] if NAMESPACES.contains(namespace) => alias,
        [_owner, alias, ..] => alias,
        [] => id,
    }
}

/// Namespaces that come before the owner in an endpoint id (fal-js `ENDPOINT_NAMESPACES`).
const NAMESPACES: [&str; 2] = ["workflows", "comfy"];

/// The alias of a legacy `{number}-{alias}` app id.
fn legacy_alias(id: &str) -> Option<&str> {
    let (owner, alias) = id.split_once('-')?;
    let owner_ok = !owner.is_empty() && owner.bytes().all(|b| b.is_ascii_digit());
    let alias_ok = !alias.is_empty()
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (owner_ok && alias_ok).then_some(alias)
}

/// The URL of an endpoint's stream: `{run}/{endpoint id}/stream`, or the id as is when it
/// already ends in `/stream` (fal documents some streams as endpoints of their own, such as
/// `fal-ai/maya/stream`).
pub(crate) fn stream_path(endpoint_id: &str) -> String {
    let id = endpoint_id.trim_matches('/');
    if id.ends_with("/stream") {
        id.to_owned()
    } else {
        format!("{id}/stream")
    }
}

/// An object lifetime in whole seconds, rounded up; `None` for zero, which fal reads as
/// "never expires" (fal_client refuses it: `_get_upload_expiration_duration_seconds`).
pub(crate) fn expiration_seconds(d: Duration) -> Option<u64> {
    (!d.is_zero()).then(|| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_path_drops_sub_path_but_keeps_workflow_prefix() {
        assert_eq!(
            queue_app_path("fal-ai/sora-2/text-to-video/pro"),
            "fal-ai/sora-2"
        );
        assert_eq!(queue_app_path("fal-ai/veo3"), "fal-ai/veo3");
        assert_eq!(
            queue_app_path("workflows/acme/flow/v2"),
            "workflows/acme/flow"
        );
        assert_eq!(queue_app_path("comfy/acme/flow"), "comfy/acme/flow");
        assert_eq!(queue_app_path("solo"), "solo");
    }

    #[test]
    fn the_alias_is_read_as_fal_js_parse_endpoint_id_reads_it() {
        assert_eq!(app_alias("fal-ai/flux/dev"), "flux");
        assert_eq!(app_alias("/fal-ai/fast-sdxl/"), "fast-sdxl");
        assert_eq!(app_alias("workflows/acme/my-flow"), "my-flow");
        assert_eq!(app_alias("workflows/acme/my-flow/run"), "my-flow");
        assert_eq!(app_alias("comfy/acme/graph"), "graph");
        assert_eq!(app_alias("123-my-app"), "my-app");
        assert_eq!(app_alias("decart/lucy2-vton/realtime"), "lucy2-vton");
    }
}
