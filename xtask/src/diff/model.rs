//! The diff compares two [`fal_schema`] models of one endpoint's document: its input and output
//! schemas with every `$ref` resolved and fal's spellings of the same thing folded into one
//! form, so that the rules only see changes that mean something. The generator, its value
//! audit and the mock read documents by the same rules (which operation is the input, how deep
//! to go, which fields are secret).

use serde_json::Value;

pub use fal_schema::model::{Endpoint as Document, Kind, Object, Property, Scalar, Schema};

/// Reads a parsed document. Never fails: what cannot be understood is a problem of the model.
pub fn load(doc: &Value) -> Document {
    Document::read(doc)
}
