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
//! [`Endpoint`], so the client returns the matching typed `Output`. [`catalogue`] lists every
//! endpoint by category (text-to-image, image-to-video, ...) with its module and feature;
//! types several endpoints share are in [`types`].
//!
//! # Cargo features
//!
//! - One feature per model family (`flux`, `kling`, `sora`, `veo`, `wan`, ...: the first word
//!   of the model name) compiles that family's modules; `all-models` enables every one.
//! - `webhook`: `webhook`, fal's signed webhook deliveries (adds `ed25519-dalek`, `sha2`).
//! - `mock`: `mock`, a fal-compatible server on loopback for tests and offline runs (adds
//!   `axum`, `hyper`).
//!
//! The default is `all-models` and `webhook`: every endpoint works without configuration. The
//! whole catalogue is most of this crate's compile time; it is generated into eight shard
//! crates (`fal-models-shard-*`, each family whole in one of them) that cargo compiles in
//! parallel, re-exported here under their usual paths, so no rustc holds all of it in memory.
//! A family's feature turns on only its shard, with only that family in it. To compile only
//! what you use:
//!
//! ```toml
//! fal-models = { version = "0.1", default-features = false, features = ["flux", "kling"] }
//! ```
//!
//! **A module that "does not exist"?** Its family's feature is off, and the compiler says so:
//! under ``could not find `sora_2` in `fal_ai` `` rustc (1.95 does) adds "note: found an
//! item that was configured out ... the item is gated behind the `sora` feature". The module's docs show the
//! feature as a badge, and [`catalogue::ENDPOINTS`] lists it for every endpoint.
//!
//! - [`client`]: submit, status (and its stream), result, cancel, run, subscribe; retries.
//! - [`files`] and [`storage`]: `data:` URIs, local files uploaded to fal storage, downloads.
//! - `webhook` (feature `webhook`): verified webhook deliveries decoded into typed outputs.
//! - `mock` (feature `mock`): a fal-compatible server on loopback for tests and offline runs.
//!
//! The model modules are generated from the OpenAPI documents in `schemas/` by
//! `cargo xtask regen`; everything else in this crate is written by hand.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use fal_models_core::{Binary, Endpoint};

// What code generated outside this crate (a build script's `fal_codegen::Config`) names
// through `::fal_models`.
#[doc(hidden)]
pub use fal_models_core::{codegen_support, open_enum, serde_struct};

pub mod client;
pub mod error;
pub mod files;
mod http;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod storage;
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
pub mod webhook;

pub use client::Client;
pub use error::Error;

// Generated code is laid out by prettyplease; `cargo fmt` must not touch it (the freshness
// test compares bytes).
#[rustfmt::skip]
mod generated;
#[allow(unused_imports)]
pub use generated::*;
