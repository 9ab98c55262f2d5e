//! What the client must know of a serialized input before sending it: the values of its secret
//! fields (scrubbed from every error, log line and trace field of the call) and whether it
//! refers to a local file (uploaded first, or refused).
//!
//! Read in one pass over the serialized bytes, without building a `serde_json::Value`: an
//! input can hold megabytes of inline data (a data URI), and every submit and run reads it.
//! The rules themselves are elsewhere, one place each: what makes a field secret is
//! [`is_secret_field`] (fal-schema's rule, also the generator's), what makes a string a local
//! file is [`files::is_local`] and [`files::is_marked_local`].

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::is_secret_field;
use crate::files;

/// The findings of [`InputScan::of`].
#[derive(Debug, Default, PartialEq)]
pub(crate) struct InputScan {
    /// Every string value of a secret field anywhere in the input: a field named like a
    /// credential ([`is_secret_field`]) or one of the declared names (the endpoint's
    /// [`Endpoint::SECRET_FIELDS`](crate::Endpoint::SECRET_FIELDS), wire names, at any depth).
    pub secrets: Vec<String>,
    /// Whether some string of the input is a local file built by [`files::local`].
    pub local_files: bool,
}

impl InputScan {
    /// Scans `json`, a serialized input. Fails only on bytes that are not one JSON document.
    pub(crate) fn of(json: &[u8], declared: &[&str]) -> serde_json::Result<InputScan> {
        let mut scan = InputScan::default();
        let mut de = serde_json::Deserializer::from_slice(json);
        Node {
            scan: &mut scan,
            declared,
            secret: false,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(scan)
    }
}

/// One value of the input; `secret` when it is the value of a secret field (which counts only
/// when it is a string: a secret field holding an object has its own fields looked at by name).
struct Node<'s, 'd> {
    scan: &'s mut InputScan,
    declared: &'d [&'d str],
    secret: bool,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        if self.secret {
            self.scan.secrets.push(s.to_owned());
        }
        if files::is_local(s) && files::is_marked_local(s) {
            self.scan.local_files = true;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(secret) = map.next_key_seed(IsSecretKey(self.declared))? {
            map.next_value_seed(Node {
                scan: self.scan,
                declared: self.declared,
                secret,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Node {
                scan: self.scan,
                declared: self.declared,
                secret: false,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A field name, read in place: whether its value is a secret.
struct IsSecretKey<'d>(&'d [&'d str]);

impl<'de> DeserializeSeed<'de> for IsSecretKey<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IsSecretKey<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<bool, E> {
        Ok(is_secret_field(name) || self.0.contains(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(input: serde_json::Value, declared: &[&str]) -> Vec<String> {
        let bytes = serde_json::to_vec(&input).unwrap();
        let mut found = InputScan::of(&bytes, declared).unwrap().secrets;
        found.sort();
        found
    }

    #[test]
    fn finds_secret_fields_at_any_depth() {
        let v = serde_json::json!({"prompt": "p", "api_key": "sk-1", "x": [{"hf_token": "t-2"}], "tokens": 3});
        assert_eq!(secrets(v, &[]), ["sk-1", "t-2"]);
        // Declared names (an endpoint's `SECRET_FIELDS`) count at any depth, whatever they are.
        let v = serde_json::json!({"openai_apikey": "sk-3", "nested": {"house_phrase": "hp-4"}, "prompt": "p"});
        assert_eq!(
            secrets(v, &["openai_apikey", "house_phrase"]),
            ["hp-4", "sk-3"]
        );
        // Only a string is a secret value: a list or an object under a secret name is looked
        // into by its own names; an escaped value is found as it reads.
        let v = serde_json::json!({"api_key": ["a-list-item"], "token": {"inner": "x", "password": "pw-5"}, "secret": "q\"uote"});
        assert_eq!(secrets(v, &[]), ["pw-5", "q\"uote"]);
    }

    #[test]
    fn an_untyped_input_is_scrubbed_by_the_rule_that_hides_fields_in_debug() {
        // Hidden in `Debug` by the generator's rule but not scrubbed before the rules were one.
        for name in [
            "openai_apikey",
            "replicate_api_token",
            "db_password",
            "client_secret",
        ] {
            assert!(
                fal_schema::is_secret_name(name),
                "{name}: the generator hides it"
            );
            let v = serde_json::json!({ "deep": [{ name: "value-1234" }] });
            assert_eq!(
                secrets(v, &[]),
                ["value-1234"],
                "{name}: the client scrubs it"
            );
        }
    }

    #[test]
    fn a_local_file_is_found_wherever_it_is_and_only_if_built_here() {
        let path = std::env::temp_dir().join("fal-models-input-scan.png");
        let local = files::local(&path);
        for input in [
            serde_json::json!({"image_url": local}),
            serde_json::json!({"images": [{"url": local}], "api_key": "sk-1"}),
            serde_json::json!({"api_key": local}),
        ] {
            let bytes = serde_json::to_vec(&input).unwrap();
            assert!(InputScan::of(&bytes, &[]).unwrap().local_files, "{input}");
        }
        // A `file://` URL not built by `files::local` (a prompt may quote one) is text; a
        // field *named* like the URL is no file either.
        let other = serde_json::json!({"prompt": "file:///etc/passwd", local.clone(): 1});
        let bytes = serde_json::to_vec(&other).unwrap();
        assert_eq!(InputScan::of(&bytes, &[]).unwrap(), InputScan::default());
    }

    #[test]
    fn bytes_that_are_not_one_json_document_are_an_error() {
        for bad in [&b"{\"a\":"[..], b"{} {}", b"", b"[1,]"] {
            assert!(InputScan::of(bad, &[]).is_err(), "{bad:?}");
        }
        assert_eq!(
            InputScan::of(b" [1, true, null, 2.5, \"s\"] ", &[]).unwrap(),
            InputScan::default()
        );
    }
}
