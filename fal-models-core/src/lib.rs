//! The items fal-models' generated bindings build on: the [`Endpoint`] trait, the open-enum
//! machinery, [`files::RemoteFile`] and fal's media types ([`types`]).
//!
//! **Depend on [`fal-models`](https://docs.rs/fal-models), not on this crate.** The catalogue
//! is generated into several crates (`fal-models-shard-*`) so that cargo compiles it in
//! parallel and no single rustc holds all of it in memory; they all build on this crate, and
//! `fal-models` re-exports everything under its own paths (`fal_models::Endpoint`,
//! `fal_models::types`, `fal_models::fal_ai::...`).

#![cfg_attr(docsrs, feature(doc_cfg))]

// The generated code names this crate by its absolute path, in the shards and here alike.
extern crate self as fal_models_core;

mod binary;
mod endpoint;
pub use binary::Binary;
pub use endpoint::Endpoint;

#[doc(hidden)]
pub mod codegen_support;

pub mod files;

// Generated code is laid out by prettyplease; `cargo fmt` must not touch it (the freshness
// test compares bytes).
#[rustfmt::skip]
#[allow(
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::invalid_rust_codeblocks,
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items,
    clippy::too_long_first_doc_paragraph,
    clippy::large_enum_variant,
    clippy::upper_case_acronyms
)]
pub mod types;
