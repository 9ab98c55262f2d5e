//! The scrubber: every text built from something a server sent passes through it, so the key,
//! a token or a secret input value never reaches an error, a log line or a trace field.

use std::fmt;
use std::sync::Arc;

/// The one scrubbing point: every text this crate builds from something a server sent (body
/// excerpts, header values, request ids, job errors, field locations, log lines, trace fields)
/// passes through [`Redactor::scrub`].
///
/// It knows the API key, the storage token and any secret input values (Sora 2's `api_key`,
/// say). Rather than a list of encoded forms, it *decodes while matching*: each character of a
/// secret may appear raw, percent-encoded (`%3a` or `%3A`, per UTF-8 byte), as a JSON `\u`
/// escape of any hex case (a surrogate pair beyond the BMP), or as a JSON short escape (`\"`,
/// `\\`, `\/`), each escape behind any number of backslashes (a body echoed inside a JSON
/// string, twice). Any mix of these, character by character, is found and replaced whole.
#[derive(Clone)]
pub(crate) struct Redactor {
    /// Shared: a call's redactor is the client's merged with the call's secrets, built often.
    secrets: Arc<Secrets>,
}

impl Default for Redactor {
    /// No secrets. Most calls have none of their own: they share one empty set rather than
    /// allocate their own.
    fn default() -> Self {
        static EMPTY: std::sync::LazyLock<Arc<Secrets>> =
            std::sync::LazyLock::new(|| Arc::new(Secrets::default()));
        Redactor {
            secrets: Arc::clone(&EMPTY),
        }
    }
}

/// The secrets of a [`Redactor`], with the bytes a match can start on.
#[derive(Clone)]
struct Secrets {
    /// Every secret, as characters, longest first (so a secret containing another is replaced
    /// whole).
    list: Vec<Vec<char>>,
    /// `starts[b]`: an encoding of some secret may start on byte `b`. Every encoding of a
    /// secret's first character starts with its first UTF-8 byte (raw), `%` or a backslash;
    /// the scan skips every other byte without trying a match (it runs on every status event).
    starts: [bool; 256],
    /// The same bytes as a list: with at most three (the key alone: its first byte, `%` and
    /// the backslash) the scan jumps between them with `memchr`, many times faster than a
    /// lookup per byte.
    start_bytes: Vec<u8>,
}

impl Default for Secrets {
    fn default() -> Self {
        Secrets::of(Vec::new())
    }
}

impl Secrets {
    fn of(mut list: Vec<Vec<char>>) -> Secrets {
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut starts = [false; 256];
        if !list.is_empty() {
            starts[usize::from(b'%')] = true;
            starts[usize::from(b'\\')] = true;
        }
        for b in list.iter().filter_map(|s| first_byte(s)) {
            starts[usize::from(b)] = true;
        }
        let start_bytes = (0..=u8::MAX).filter(|b| starts[usize::from(*b)]).collect();
        Secrets {
            list,
            starts,
            start_bytes,
        }
    }
}

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.list.len())
    }
}

impl Redactor {
    /// A redactor for these secrets (empty ones are ignored).
    pub(crate) fn new<'s>(secrets: impl IntoIterator<Item = &'s str>) -> Self {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Adds a secret.
    pub(crate) fn add(&mut self, secret: &str) {
        // Very short values would redact ordinary words; a real secret is longer.
        if secret.len() < 4 {
            return;
        }
        let chars: Vec<char> = secret.chars().collect();
        if !self.secrets.list.contains(&chars) {
            let mut list = self.secrets.list.clone();
            list.push(chars);
            self.secrets = Arc::new(Secrets::of(list));
        }
    }

    /// `other`'s secrets as well.
    pub(crate) fn merged(&self, other: &Redactor) -> Redactor {
        if other.secrets.list.is_empty() {
            return self.clone();
        }
        if self.secrets.list.is_empty() {
            return other.clone();
        }
        let mut list = self.secrets.list.clone();
        for s in &other.secrets.list {
            if !list.contains(s) {
                list.push(s.clone());
            }
        }
        Redactor {
            secrets: Arc::new(Secrets::of(list)),
        }
    }

    /// `text` with every encoding of every secret replaced by `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut next = self.find(text, 0);
        while let Some((start, end)) = next {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
            next = self.find(text, end);
        }
        out.push_str(&text[copied..]);
        out
    }

    /// [`scrub`](Self::scrub) in place: `text` is rebuilt only when it holds a secret (status
    /// texts, scrubbed on every status event, rarely do).
    pub(crate) fn scrub_in_place(&self, text: &mut String) {
        if self.find(text, 0).is_some() {
            *text = self.scrub(text);
        }
    }

    /// The first secret, in any encoding, at or after byte `from` of `text`: where it starts
    /// and ends.
    fn find(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let Secrets {
            list,
            starts,
            start_bytes,
        } = &*self.secrets;
        let bytes = text.as_bytes();
        let mut at = from;
        while at < bytes.len() {
            // Anywhere but on a byte in `starts` no secret starts, and no match is tried.
            let rest = &bytes[at..];
            at += match start_bytes[..] {
                [] => return None,
                [a] => memchr::memchr(a, rest),
                [a, b] => memchr::memchr2(a, b, rest),
                [a, b, c] => memchr::memchr3(a, b, c, rest),
                _ => rest.iter().position(|b| starts[usize::from(*b)]),
            }?;
            // A match starts on an ASCII byte or a UTF-8 lead byte, so slicing there is safe.
            if text.is_char_boundary(at) {
                if let Some(end) = list
                    .iter()
                    .find_map(|secret| match_secret(bytes, at, secret))
                {
                    return Some((at, end));
                }
            }
            at += 1;
        }
        None
    }

    /// Scrubs, then cuts to at most `max` characters (scrubbing first, so no prefix of a
    /// secret survives at the cut).
    pub(crate) fn excerpt(&self, bytes: &[u8], max: usize) -> String {
        self.scrub(&String::from_utf8_lossy(bytes))
            .chars()
            .take(max)
            .collect()
    }

    /// A header value as text, scrubbed (a server may echo anything in any header).
    pub(crate) fn header(&self, value: &reqwest::header::HeaderValue) -> String {
        self.scrub(&String::from_utf8_lossy(value.as_bytes()))
    }

    /// Whether `text` holds any secret in any encoding.
    pub(crate) fn finds(&self, text: &str) -> bool {
        self.find(text, 0).is_some()
    }
}

/// The first byte of a secret's raw UTF-8 form.
fn first_byte(secret: &[char]) -> Option<u8> {
    let mut utf8 = [0u8; 4];
    secret
        .first()
        .map(|c| c.encode_utf8(&mut utf8).as_bytes()[0])
}

/// Where the encoded `secret` that starts at `at` ends, if one does.
fn match_secret(text: &[u8], at: usize, secret: &[char]) -> Option<usize> {
    let Some((&c, rest)) = secret.split_first() else {
        return Some(at);
    };
    let mut lens = [0usize; 8];
    let n = encodings_of(text, at, c, &mut lens);
    lens[..n]
        .iter()
        .find_map(|len| match_secret(text, at + len, rest))
}

/// The lengths of the encodings of `c` that start at `at` (raw, `%XX`, escapes); returns how
/// many were written to `out`.
fn encodings_of(text: &[u8], at: usize, c: char, out: &mut [usize; 8]) -> usize {
    let mut n = 0;
    let mut push = |len: usize| {
        if n < out.len() && !out[..n].contains(&len) {
            out[n] = len;
            n += 1;
        }
    };
    let rest = &text[at..];
    let mut utf8 = [0u8; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    if rest.starts_with(raw) {
        push(raw.len());
    }
    // Percent-encoded, byte by byte, either hex case.
    if raw.iter().enumerate().all(|(i, b)| {
        rest.get(3 * i) == Some(&b'%')
            && rest
                .get(3 * i + 1..3 * i + 3)
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                == Some(*b)
    }) {
        push(3 * raw.len());
    }
    // Escapes behind a run of backslashes (one per level of JSON string nesting).
    let slashes = rest.iter().take_while(|b| **b == b'\\').count();
    if slashes > 0 {
        let after = &rest[slashes..];
        let short = match c {
            '"' | '/' => Some(c as u8),
            '\u{8}' => Some(b'b'),
            '\u{c}' => Some(b'f'),
            '\n' => Some(b'n'),
            '\r' => Some(b'r'),
            '\t' => Some(b't'),
            _ => None,
        };
        if short.is_some() && after.first() == short.as_ref() {
            push(slashes + 1);
        }
        if c == '\\' {
            // A backslash escaped once (2), twice (4) or three times (8).
            for len in [2, 4, 8] {
                if slashes >= len {
                    push(len);
                }
            }
        }
        if let Some(len) = unicode_escape(rest, slashes, c) {
            push(len);
        }
    }
    n
}

/// The length of `\uXXXX` (behind `slashes` backslashes; a surrogate pair for `c` beyond the
/// BMP) encoding `c` at the start of `rest`.
fn unicode_escape(rest: &[u8], slashes: usize, c: char) -> Option<usize> {
    let unit = |at: usize| -> Option<u16> {
        if rest.get(at..at + slashes)?.iter().any(|b| *b != b'\\')
            || rest.get(at + slashes)? != &b'u'
        {
            return None;
        }
        let hex = std::str::from_utf8(rest.get(at + slashes + 1..at + slashes + 5)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    };
    let mut units = [0u16; 2];
    let want = c.encode_utf16(&mut units);
    let one = slashes + 5;
    for (i, u) in want.iter().enumerate() {
        if unit(i * one)? != *u {
            return None;
        }
    }
    Some(one * want.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_raw_json_escaped_percent_and_header_forms() {
        let key = "id:se\"cr/et\\x";
        let r = Redactor::new([key]);
        let json = serde_json::to_string(key).unwrap();
        for text in [
            format!("Key {key}"),
            format!("{{\"auth\":{json}}}"),
            "id%3Ase%22cr%2Fet%5Cx".to_owned(),
            "id%3ase%22cr%2fet%5cx".to_owned(),
            serde_json::to_string(&format!("{{\"auth\":{json}}}")).unwrap(),
            // One character \u-escaped, in either hex case; all of them; twice nested.
            "id\\u003ase\\\"cr/et\\\\x".to_owned(),
            "id:se\\u0022cr\\/et\\u005Cx".to_owned(),
            key.chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect(),
            key.chars()
                .map(|c| format!("\\\\u{:04X}", c as u32))
                .collect(),
            // Mixed: percent, escape and raw.
            "id%3a\\u0073e\"cr%2Fet\\x".to_owned(),
        ] {
            let out = r.scrub(&text);
            assert_eq!(out.matches(REDACTED).count(), 1, "{text} -> {out}");
            assert!(
                !out.contains("cr") && !out.contains("et"),
                "{text} -> {out}"
            );
        }
        assert_eq!(r.scrub("nothing here"), "nothing here");
        assert_eq!(
            r.scrub("id:se\"cr/et"),
            "id:se\"cr/et",
            "a prefix is not the secret"
        );
        // Non-ASCII secrets: raw, percent-encoded UTF-8, \u escapes (a surrogate pair).
        let r = Redactor::new(["pässword-𝄞"]);
        for text in [
            "pässword-𝄞",
            "p%C3%A4ssword-%f0%9d%84%9e",
            "p\\u00e4ssword-\\ud834\\udd1e",
        ] {
            assert_eq!(r.scrub(text), REDACTED, "{text}");
        }
        assert_eq!(r.scrub("x pässword-𝄞 é"), "x <redacted> é");
    }

    #[test]
    fn in_place_scrubbing_rebuilds_only_a_text_that_holds_a_secret() {
        let r = Redactor::new(["sk-123456", "tok-abcdef"]);
        let mut clean = String::from("no secret here: sk-12345 is a prefix");
        let before = clean.as_ptr();
        r.scrub_in_place(&mut clean);
        assert_eq!(clean, "no secret here: sk-12345 is a prefix");
        assert_eq!(clean.as_ptr(), before, "a clean text is left as it is");
        assert!(!r.finds(&clean));
        let mut dirty = String::from("a sk%2D123456 b tok-abcdef c sk-123456");
        assert!(r.finds(&dirty));
        r.scrub_in_place(&mut dirty);
        assert_eq!(dirty, "a <redacted> b <redacted> c <redacted>");
        assert_eq!(Redactor::default().scrub("sk-123456"), "sk-123456");
        // However few bytes a match can start on (here `%` and the backslash only), every
        // encoding is found.
        let r = Redactor::new(["%secret"]);
        assert_eq!(
            r.scrub("a %secret b %25secret c \\u0025secret"),
            "a <redacted> b <redacted> c <redacted>"
        );
    }
}
