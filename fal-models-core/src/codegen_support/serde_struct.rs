//! `Serialize` and `Deserialize` of generated structs, written by
//! [`serde_struct!`](crate::serde_struct).
//!
//! Why not `#[derive(serde::Serialize, serde::Deserialize)]`: the derive expands every struct
//! into a field enum, a field visitor with a dozen `visit_*` methods (two dozen with
//! `#[serde(flatten)]`, which buffers unknown keys as `Content`), a sequence visitor and a map
//! visitor. Across the catalogue's thousands of structs that expansion was most of the shards'
//! compile time (`-Z time-passes` on the largest shard: 74 s with the derives, 35 s with this
//! macro; `cargo xtask bench-build`: the catalogue's CPU time 260 s before, 168 s after).
//! The macro writes one map visitor per struct, and serializes every struct through one
//! function over type-erased fields ([`write_struct`]), with the derive's wire behaviour:
//!
//! - keys are matched by their wire name; a key seen twice is an error ("duplicate field");
//! - a required field that is missing is the error "missing field `name`", reported for the
//!   first in declaration order; an optional or nullable one is `None`;
//! - unknown keys are skipped, or kept in the struct's `extra` map when it has one;
//! - fields are written in declaration order, an unset optional field not at all, and the
//!   `extra` map's keys after them. One fix over the derive's `#[serde(flatten)]`: an `extra`
//!   key that is also a declared field is not written, so a key set both ways is sent once,
//!   with the declared value (the derive wrote it twice, and JSON readers keep the last).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap};

/// A map key as the deserializer hands it: borrowed when it can be.
pub struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }

    // msgpack may send a key as `bin`; it names a field only if it is UTF-8.
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(String::from_utf8_lossy(v).into_owned())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
}

/// Reads a declared field's value into its slot; a key seen twice is an error, as with the derive.
#[inline]
pub fn field<'de, A, T>(
    map: &mut A,
    slot: &mut Option<T>,
    wire: &'static str,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    if slot.is_some() {
        return Err(de::Error::duplicate_field(wire));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Skips the value of a key the struct does not declare (a struct without an `extra` map).
#[inline]
pub fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<de::IgnoredAny>().map(drop)
}

/// Keeps the value of a key the struct does not declare in its `extra` map.
#[inline]
pub fn keep<'de, A: MapAccess<'de>>(
    map: &mut A,
    extra: &mut serde_json::Map<String, serde_json::Value>,
    key: Key<'de>,
) -> Result<(), A::Error> {
    let value = map.next_value()?;
    extra.insert(key.0.into_owned(), value);
    Ok(())
}

/// "missing field `wire`" for the first required field without a value, as the derive reports it.
#[inline]
pub fn check_required<E: de::Error>(seen: &[(bool, &'static str)]) -> Result<(), E> {
    match seen.iter().find(|(seen, _)| !seen) {
        Some((_, wire)) => Err(de::Error::missing_field(wire)),
        None => Ok(()),
    }
}

/// A field as [`write_struct`] takes it: `None` when it is not written.
pub type Entry<'a> = Option<&'a dyn erased_serde::Serialize>;

/// Writes a struct as a map: its fields in declaration order (those that are set), then the
/// `extra` keys that are not declared fields. One function for every struct (per format),
/// so each struct's own `serialize` is only a list of its fields.
pub fn write_struct<S: serde::Serializer>(
    serializer: S,
    fields: &[(&'static str, Entry<'_>)],
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<S::Ok, S::Error> {
    let declared = || fields.iter().map(|(wire, _)| *wire);
    let undeclared = |key: &&String| !declared().any(|wire| wire == key.as_str());
    let len = fields.iter().filter(|(_, value)| value.is_some()).count()
        + extra.map_or(0, |extra| extra.keys().filter(undeclared).count());
    let mut map = serializer.serialize_map(Some(len))?;
    for (wire, value) in fields {
        if let Some(value) = value {
            map.serialize_entry(wire, value)?;
        }
    }
    for (key, value) in extra.into_iter().flatten() {
        if undeclared(&key) {
            map.serialize_entry(key, value)?;
        }
    }
    map.end()
}

/// A field that must be present, written always.
pub mod required {
    use super::*;

    #[inline]
    pub fn entry<T: Serialize>(value: &T) -> Entry<'_> {
        Some(value)
    }

    #[inline]
    pub fn seen<T>(slot: &Option<T>) -> bool {
        slot.is_some()
    }

    /// The value, once [`check_required`] has passed.
    #[inline]
    pub fn finish<T>(slot: Option<T>) -> T {
        match slot {
            Some(value) => value,
            None => unreachable!("check_required runs first"),
        }
    }
}

/// An optional field (`#[serde(default, skip_serializing_if = "Option::is_none")]`):
/// `None` when missing, not written when `None`.
pub mod optional {
    use super::*;

    #[inline]
    pub fn entry<T: Serialize>(value: &Option<T>) -> Entry<'_> {
        value
            .as_ref()
            .map(|value| value as &dyn erased_serde::Serialize)
    }

    #[inline]
    pub fn seen<T>(_: &Option<T>) -> bool {
        true
    }

    #[inline]
    pub fn finish<T: Default>(slot: Option<T>) -> T {
        slot.unwrap_or_default()
    }
}

/// A required field that may be `null` (`#[serde(default)]`): `None` when missing, written
/// always (`null` when `None`).
pub mod nullable {
    pub use super::optional::{finish, seen};
    pub use super::required::entry;
}

/// Writes `impl Serialize` and `impl Deserialize` for a generated struct (see the
/// [module docs](self)).
///
/// `serde_struct!(Name { field: Type = "wire" required, other: Option<T> = "other" optional } ..extra);`
/// lists the fields in declaration order, each with its mode (a module of this one:
/// `required`, `optional` or `nullable`); `..extra` (if any) names the map that keeps
/// undeclared keys.
///
/// The shape keeps the generated functions small for the borrow checker: one `?` per key read,
/// one check of the required fields before any value moves.
#[doc(hidden)]
#[macro_export]
macro_rules! serde_struct {
    ($name:ident { $($field:ident : $ty:ty = $wire:literal $mode:ident),* $(,)? } $(.. $extra:ident)?) => {
        #[allow(deprecated)]
        impl $crate::codegen_support::__serde::Serialize for $name {
            fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: $crate::codegen_support::__serde::Serializer,
            {
                use $crate::codegen_support::serde_struct as mode;
                mode::write_struct(
                    serializer,
                    &[$(($wire, mode::$mode::entry(&self.$field))),*],
                    $crate::serde_struct!(@extra self $($extra)?),
                )
            }
        }
        impl<'de> $crate::codegen_support::__serde::Deserialize<'de> for $name {
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: $crate::codegen_support::__serde::Deserializer<'de>,
            {
                struct FieldsVisitor;
                #[allow(deprecated)]
                impl<'de> $crate::codegen_support::__serde::de::Visitor<'de> for FieldsVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(::core::concat!("struct ", ::core::stringify!($name)))
                    }
                    fn visit_map<A>(self, mut map: A) -> ::core::result::Result<$name, A::Error>
                    where
                        A: $crate::codegen_support::__serde::de::MapAccess<'de>,
                    {
                        use $crate::codegen_support::serde_struct as mode;
                        $(let mut $field: ::core::option::Option<$ty> = ::core::option::Option::None;)*
                        $(let mut $extra = $crate::codegen_support::__serde_json::Map::new();)?
                        while let ::core::option::Option::Some(key) = map.next_key::<mode::Key<'de>>()? {
                            match key.as_str() {
                                $($wire => mode::field(&mut map, &mut $field, $wire),)*
                                _ => $crate::serde_struct!(@unknown map key $($extra)?),
                            }?;
                        }
                        mode::check_required(&[$((mode::$mode::seen(&$field), $wire)),*])?;
                        ::core::result::Result::Ok($name {
                            $($field: mode::$mode::finish($field),)*
                            $($extra,)?
                        })
                    }
                }
                deserializer.deserialize_map(FieldsVisitor)
            }
        }
    };
    (@extra $self:ident) => {
        ::core::option::Option::None
    };
    (@extra $self:ident $extra:ident) => {
        ::core::option::Option::Some(&$self.$extra)
    };
    (@unknown $map:ident $key:ident) => {
        $crate::codegen_support::serde_struct::skip(&mut $map)
    };
    (@unknown $map:ident $key:ident $extra:ident) => {
        $crate::codegen_support::serde_struct::keep(&mut $map, &mut $extra, $key)
    };
}

#[cfg(test)]
mod tests {
    //! The macro against serde's derive on the same fields: every input decodes to the same
    //! value or fails with the same message, and every value encodes to the same JSON.
    use serde_json::{Value, json};

    /// What the generator wrote before: serde's derives and attributes.
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Derived {
        prompt: String,
        #[serde(rename = "type")]
        r#type: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<i64>,
        #[serde(default)]
        mask: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nested: Option<Vec<Inner>>,
        #[serde(flatten)]
        extra: serde_json::Map<String, Value>,
    }

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Inner {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<i64>,
    }

    /// What the generator writes now.
    #[derive(Debug, Clone, PartialEq)]
    struct Macro {
        prompt: String,
        r#type: i64,
        seed: Option<i64>,
        mask: Option<String>,
        nested: Option<Vec<MacroInner>>,
        extra: serde_json::Map<String, Value>,
    }
    crate::serde_struct!(Macro {
        prompt: String = "prompt" required,
        r#type: i64 = "type" required,
        seed: Option<i64> = "seed" optional,
        mask: Option<String> = "mask" nullable,
        nested: Option<Vec<MacroInner>> = "nested" optional
    } ..extra);

    #[derive(Debug, Clone, PartialEq)]
    struct MacroInner {
        url: String,
        width: Option<i64>,
    }
    crate::serde_struct!(MacroInner { url: String = "url" required, width: Option<i64> = "width" optional });

    fn decode<T: serde::de::DeserializeOwned + serde::Serialize>(
        text: &str,
    ) -> Result<Value, String> {
        serde_json::from_str::<T>(text)
            .map(|v| serde_json::to_value(v).expect("encodes"))
            .map_err(|e| e.to_string().replace("Derived", "X").replace("Macro", "X"))
    }

    #[test]
    fn decodes_and_fails_as_the_derive_does() {
        let cases = [
            r#"{"prompt":"a","type":1}"#,
            r#"{"type":1,"prompt":"a","seed":null,"mask":null}"#,
            r#"{"prompt":"a","type":1,"seed":7,"mask":"m","nested":[{"url":"u","width":3,"more":1}]}"#,
            r#"{"prompt":"a","type":1,"new_key":{"deep":[1,2]},"other":"x"}"#,
            r#"{"prompt":"a"}"#,
            r#"{"type":1}"#,
            r#"{}"#,
            r#"{"prompt":"a","type":1,"prompt":"b"}"#,
            r#"{"prompt":5,"type":1}"#,
            r#"{"prompt":"a","type":"1"}"#,
            r#"{"prompt":"a","type":1,"nested":[{"width":3}]}"#,
            r#"{"prompt":"a","type":1,"nested":{"url":"u"}}"#,
            r#"{"pro\u006dpt":"escaped key","type":1}"#,
            r#"["a",1]"#,
            r#"null"#,
            r#""text""#,
            r#"{"prompt":"a","type":1,"seed":1.5}"#,
        ];
        for case in cases {
            assert_eq!(
                decode::<Macro>(case),
                decode::<Derived>(case),
                "input {case}"
            );
        }
        // The cases cover both outcomes.
        assert!(cases.iter().any(|c| decode::<Macro>(c).is_ok()));
        assert!(cases.iter().any(|c| decode::<Macro>(c).is_err()));
    }

    #[test]
    fn decodes_from_a_json_value_as_from_text() {
        let value = json!({"prompt": "a", "type": 2, "seed": 3, "mask": null, "x": true});
        let m: Macro = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(m.seed, Some(3));
        assert_eq!(m.extra.get("x"), Some(&json!(true)));
        assert_eq!(serde_json::to_value(&m).unwrap(), value);
    }

    #[test]
    fn encodes_fields_in_declaration_order_and_unset_options_not_at_all() {
        let m = Macro {
            prompt: "p".into(),
            r#type: 1,
            seed: None,
            mask: None,
            nested: Some(vec![MacroInner {
                url: "u".into(),
                width: None,
            }]),
            extra: serde_json::Map::from_iter([("later".to_owned(), json!(1))]),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"prompt":"p","type":1,"mask":null,"nested":[{"url":"u"}],"later":1}"#
        );
    }

    #[test]
    fn a_key_set_both_as_a_field_and_in_extra_is_sent_once_with_the_declared_value() {
        let mut m: Macro = serde_json::from_str(r#"{"prompt":"p","type":1}"#).unwrap();
        m.seed = Some(1);
        m.extra.insert("seed".into(), json!(2));
        m.extra.insert("prompt".into(), json!("other"));
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"prompt":"p","type":1,"seed":1,"mask":null}"#);
        // The derive wrote `seed` twice, and a JSON reader kept the extra's value.
        let derived = Derived {
            prompt: "p".into(),
            r#type: 1,
            seed: Some(1),
            mask: None,
            nested: None,
            extra: m.extra.clone(),
        };
        let derived_text = serde_json::to_string(&derived).unwrap();
        assert_eq!(
            derived_text.matches("\"seed\"").count(),
            2,
            "{derived_text}"
        );
    }
}
