//! Typed Rust bindings for [fal.ai](https://fal.ai) model endpoints, with a queue client.
//!
//! ```no_run
//! # #[cfg(feature = "sora")]
//! # async fn demo() -> Result<(), fal_models::Error> {
//! use fal_models::fal_ai::sora_2::text_to_video::{Duration, Input};
//!
//! let client = fal_models::Client::from_env()?; // FAL_KEY
//! let input = Input::new("a cat surfing at dusk").duration(Duration::Seconds8);
//! let out = client.subscribe(input).await?; // progress, retries, timeout inside
//! println!("{}", out.video.url);
//! # Ok(()) }
//! ```
//!
//! Each endpoint lives in a module whose path is its endpoint id
//! (`fal-ai/sora-2/text-to-video` is `fal_ai::sora_2::text_to_video`); its `Input` implements
//! [`Endpoint`], so the client returns the matching typed `Output`. Endpoints are behind cargo
//! features by family (`sora`, `veo`, `pika`, `minimax`, `hunyuan`; `all-models`, the default,
//! enables every one); types several endpoints share are in [`types`].
//!
//! - [`client`]: submit, status (and its stream), result, cancel, run, subscribe; retries.
//! - [`files`] and [`storage`]: `data:` URIs, local files uploaded to fal storage, downloads.
//! - [`webhook`]: verified webhook deliveries decoded into typed outputs.
//! - `mock` (feature `mock`): a fal-compatible server on loopback for tests and offline runs.
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
#[cfg(feature = "proxy")]
pub mod proxy;
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
