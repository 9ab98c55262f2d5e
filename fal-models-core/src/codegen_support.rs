//! Helpers the generated code calls; not part of the public API.

#[doc(hidden)]
pub use schemars as __schemars;
#[doc(hidden)]
pub use serde as __serde;
#[doc(hidden)]
pub use serde_json as __serde_json;

pub mod serde_struct;

/// An input's JSON Schema, exported by the generator from the endpoint's document.
pub fn schema_from_json(text: &str) -> schemars::Schema {
    // The generator writes valid JSON; an empty schema (accept anything) is the safe fallback.
    serde_json::from_str(text).unwrap_or_default()
}

/// The JSON Schema of an open string enum: its listed values (what a tool definition offers).
pub fn str_enum_schema(values: &[&str]) -> schemars::Schema {
    let values: Vec<serde_json::Value> =
        values.iter().map(|v| serde_json::Value::from(*v)).collect();
    enum_schema("string", values)
}

/// The JSON Schema of an open integer enum.
pub fn int_enum_schema(values: &[i64]) -> schemars::Schema {
    enum_schema(
        "integer",
        values.iter().map(|v| serde_json::Value::from(*v)).collect(),
    )
}

// A function rather than `json_schema!` in the macro: enums with hundreds of values would hit
// the recursion limit of `json!`.
fn enum_schema(ty: &str, values: Vec<serde_json::Value>) -> schemars::Schema {
    let mut map = serde_json::Map::new();
    map.insert("type".into(), ty.into());
    map.insert("enum".into(), values.into());
    schemars::Schema::from(map)
}

/// Every function is `#[inline]`: rustc then compiles it only in the crates that call it, so a
/// catalogue of thousands of enums costs little to build where few are used.
///
/// Implements the wire behaviour of an open enum: the listed values map to variants, any other
/// value is kept in the catch-all variant, so a value fal adds later never breaks decoding.
///
/// The enum has value semantics: every way in (`From`, `FromStr`, deserialization) maps a
/// listed value to its variant, and equality, hashing and ordering compare the wire values, so
/// `Unknown("16:9".into()) == Ratio16_9` even when built by hand.
///
/// `open_enum!(Name: str { Variant => "wire", ... } else Unknown);` for string enums,
/// `open_enum!(Name: int { Variant => 4, ... } else Unknown);` for integer enums.
#[macro_export]
macro_rules! open_enum {
    ($name:ident : str { $($variant:ident => $wire:literal),* $(,)? } else $other:ident) => {
        impl $name {
            /// Every value the schema lists, in the schema's order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),*];

            /// The value as sent on the wire.
            #[inline]
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::$other(value) => value.as_str(),
                }
            }
        }
        impl ::core::convert::From<&str> for $name {
            #[inline]
            fn from(value: &str) -> Self {
                match value {
                    $($wire => Self::$variant,)*
                    other => Self::$other(other.to_owned()),
                }
            }
        }
        impl ::core::convert::From<String> for $name {
            #[inline]
            fn from(value: String) -> Self {
                match value.as_str() {
                    $($wire => Self::$variant,)*
                    _ => Self::$other(value),
                }
            }
        }
        impl ::core::fmt::Display for $name {
            #[inline]
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::core::str::FromStr for $name {
            type Err = ::core::convert::Infallible;
            #[inline]
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }
        impl ::core::cmp::PartialEq for $name {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }
        impl ::core::cmp::Eq for $name {}
        impl ::core::hash::Hash for $name {
            #[inline]
            fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }
        impl $crate::codegen_support::__serde::Serialize for $name {
            #[inline]
            fn serialize<S: $crate::codegen_support::__serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> $crate::codegen_support::__serde::Deserialize<'de> for $name {
            #[inline]
            fn deserialize<D: $crate::codegen_support::__serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as $crate::codegen_support::__serde::Deserialize>::deserialize(d).map(Self::from)
            }
        }
        impl $crate::codegen_support::__schemars::JsonSchema for $name {
            #[inline]
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
            #[inline]
            fn json_schema(_: &mut $crate::codegen_support::__schemars::SchemaGenerator) -> $crate::codegen_support::__schemars::Schema {
                $crate::codegen_support::str_enum_schema(Self::KNOWN)
            }
        }
    };
    ($name:ident : int { $($variant:ident => $wire:literal),* $(,)? } else $other:ident) => {
        impl $name {
            /// Every value the schema lists, in the schema's order.
            pub const KNOWN: &'static [i64] = &[$($wire),*];

            /// The value as sent on the wire.
            #[inline]
            pub fn as_i64(&self) -> i64 {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::$other(value) => *value,
                }
            }
        }
        impl ::core::convert::From<i64> for $name {
            #[inline]
            fn from(value: i64) -> Self {
                match value {
                    $($wire => Self::$variant,)*
                    other => Self::$other(other),
                }
            }
        }
        impl ::core::fmt::Display for $name {
            #[inline]
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.as_i64(), f)
            }
        }
        impl ::core::str::FromStr for $name {
            type Err = ::core::num::ParseIntError;
            #[inline]
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                value.trim().parse::<i64>().map(Self::from)
            }
        }
        impl ::core::cmp::PartialEq for $name {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                self.as_i64() == other.as_i64()
            }
        }
        impl ::core::cmp::Eq for $name {}
        impl ::core::hash::Hash for $name {
            #[inline]
            fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                self.as_i64().hash(state)
            }
        }
        impl $crate::codegen_support::__serde::Serialize for $name {
            #[inline]
            fn serialize<S: $crate::codegen_support::__serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.as_i64())
            }
        }
        impl<'de> $crate::codegen_support::__serde::Deserialize<'de> for $name {
            #[inline]
            fn deserialize<D: $crate::codegen_support::__serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <i64 as $crate::codegen_support::__serde::Deserialize>::deserialize(d).map(Self::from)
            }
        }
        impl $crate::codegen_support::__schemars::JsonSchema for $name {
            #[inline]
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
            #[inline]
            fn json_schema(_: &mut $crate::codegen_support::__schemars::SchemaGenerator) -> $crate::codegen_support::__schemars::Schema {
                $crate::codegen_support::int_enum_schema(Self::KNOWN)
            }
        }
    };
}
