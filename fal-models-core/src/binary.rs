//! [`Binary`]: a value a document marks `format: binary`.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;

/// Bytes that fal sends as such: a field the document marks `{"type": "string", "format":
/// "binary"}`, such as a realtime app's JPEG frame or a file's inline `file_data`.
///
/// On a binary wire (fal's realtime msgpack frames, where fal's apps pack `bytes` as `bin`) it
/// is the bytes themselves. On a text wire (JSON) fal's Python apps write bytes as their UTF-8
/// text, so a JSON string becomes its UTF-8 bytes and bytes that are valid UTF-8 are written back
/// as that string; bytes that are not are written as a list of numbers (which this type also
/// reads), never altered. Cloning is cheap ([`Bytes`]).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Binary(pub Bytes);

impl Binary {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The bytes as text, if they are UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for Binary {
    // A frame can be megabytes: show its size and a short prefix, not every byte.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 16;
        let head = &self.0[..self.0.len().min(SHOWN)];
        write!(f, "Binary({} bytes: {head:02x?}", self.0.len())?;
        if self.0.len() > SHOWN {
            f.write_str("..")?;
        }
        f.write_str(")")
    }
}

impl Deref for Binary {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Binary {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Bytes> for Binary {
    fn from(bytes: Bytes) -> Self {
        Binary(bytes)
    }
}

impl From<Vec<u8>> for Binary {
    fn from(bytes: Vec<u8>) -> Self {
        Binary(bytes.into())
    }
}

impl From<&[u8]> for Binary {
    fn from(bytes: &[u8]) -> Self {
        Binary(Bytes::copy_from_slice(bytes))
    }
}

impl From<String> for Binary {
    fn from(text: String) -> Self {
        Binary(text.into())
    }
}

impl From<&str> for Binary {
    fn from(text: &str) -> Self {
        Binary(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Binary> for Bytes {
    fn from(binary: Binary) -> Self {
        binary.0
    }
}

impl serde::Serialize for Binary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return s.serialize_bytes(&self.0);
        }
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.collect_seq(self.0.iter()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Binary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BinaryVisitor;
        impl<'de> Visitor<'de> for BinaryVisitor {
            type Value = Binary;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes, a string or a list of byte values")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Binary, E> {
                Ok(Binary::from(v))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Binary, E> {
                Ok(Binary::from(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Binary, E> {
                Ok(Binary::from(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Binary, E> {
                Ok(Binary::from(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Binary, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(byte) = seq.next_element::<u8>()? {
                    out.push(byte);
                }
                Ok(Binary::from(out))
            }
        }
        d.deserialize_any(BinaryVisitor)
    }
}

impl schemars::JsonSchema for Binary {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Binary")
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "binary" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_round_trip_as_text_and_other_bytes_as_numbers() {
        let text: Binary = serde_json::from_str(r#""héllo""#).unwrap();
        assert_eq!(text.as_bytes(), "héllo".as_bytes());
        assert_eq!(serde_json::to_string(&text).unwrap(), r#""héllo""#);

        let raw = Binary::from(vec![0xff, 0x00, 0xd8]);
        let json = serde_json::to_string(&raw).unwrap();
        assert_eq!(json, "[255,0,216]");
        assert_eq!(serde_json::from_str::<Binary>(&json).unwrap(), raw);
    }

    #[test]
    fn debug_shows_the_size_not_every_byte() {
        let big = Binary::from(vec![7u8; 1 << 20]);
        let shown = format!("{big:?}");
        assert!(
            shown.starts_with("Binary(1048576 bytes: [07, 07"),
            "{shown}"
        );
        assert!(shown.len() < 120, "{shown}");
    }
}
