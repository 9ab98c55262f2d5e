//! Helpers the generated code calls; not part of the public API.
