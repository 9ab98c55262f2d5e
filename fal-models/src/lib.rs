//! Typed Rust bindings for [fal.ai](https://fal.ai) model endpoints, with a queue client.
//!
//! Each endpoint lives in a module whose path is its endpoint id
//! (`fal-ai/sora-2/text-to-video` is [`fal_ai::sora_2::text_to_video`]); its `Input` implements
//! [`Endpoint`], so the client returns the matching typed `Output`.
//!
//! The model modules are generated from the OpenAPI documents in `schemas/` by
//! `cargo xtask regen`; everything else in this crate is written by hand.

mod endpoint;
pub use endpoint::Endpoint;

#[doc(hidden)]
pub mod codegen_support;

pub mod client;
pub mod error;
pub mod files;
#[cfg(feature = "mock")]
pub mod mock;
pub mod storage;
pub mod webhook;

pub use client::Client;
pub use error::Error;

// Generated code is laid out by prettyplease; `cargo fmt` must not touch it (the freshness
// test compares bytes).
#[rustfmt::skip]
mod generated;
#[allow(unused_imports)]
pub use generated::*;
