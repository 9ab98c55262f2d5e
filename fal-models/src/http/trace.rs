//! What of a URL or a failure text may go into a log line or a trace field: paths without
//! hosts, texts without URL queries (where a signature, a token or a webhook URL may sit).

/// The path of a URL without scheme, host or query: `/fal-ai/flux/dev`.
pub(crate) fn url_path(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    match without_query.find("://") {
        Some(i) => {
            let rest = &without_query[i + 3..];
            rest.find('/').map_or("/", |p| &rest[p..])
        }
        None => without_query,
    }
}

/// `text` with the query of every URL in it removed (`https://h/p?sig=x` -> `https://h/p?..`):
/// a signed download URL's signature, a token, stay out of logs.
pub(crate) fn without_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_url = false;
    let mut skipping = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_url && rest.starts_with("://") {
            in_url = true;
        }
        let ends_url = c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`');
        if ends_url {
            in_url = false;
            skipping = false;
        } else if in_url && c == '?' && !skipping {
            skipping = true;
            out.push_str("?..");
        }
        if !skipping {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_path_drops_host_and_query() {
        assert_eq!(
            super::url_path("https://fal.run/a/b?fal_jwt_token=x"),
            "/a/b"
        );
        assert_eq!(super::url_path("http://127.0.0.1:9/"), "/");
        assert_eq!(super::url_path("http://h"), "/");
    }

    #[test]
    fn without_queries_keeps_paths_and_drops_queries() {
        assert_eq!(
            super::without_queries("GET https://cdn/x.png?sig=abc&t=1 failed (is it there?)"),
            "GET https://cdn/x.png?.. failed (is it there?)"
        );
        assert_eq!(
            super::without_queries("\"http://h/a?k=v\" ok"),
            "\"http://h/a?..\" ok"
        );
    }
}
