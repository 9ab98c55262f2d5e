//! fal-codegen: typed Rust bindings from fal.ai queue OpenAPI documents.
//!
//! The pipeline is document -> IR ([`ir`]) -> Rust tokens (`quote`) -> `prettyplease`.
//! fal's documents use a loose mix of OpenAPI 3.0 and JSON Schema 3.1 idioms, so the reader is
//! tolerant: what it cannot type becomes `serde_json::Value` with a [`Diagnostic`] naming the
//! file and JSON pointer, and generation goes on.
//!
//! Use it from `cargo xtask regen` (this workspace) or from your own `build.rs`:
//!
//! ```no_run
//! // build.rs
//! let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
//! let doc = fal_codegen::Document::load("openapi/my-app.json").unwrap();
//! let generated = fal_codegen::Config::new().generate(&[doc]);
//! for d in &generated.diagnostics {
//!     println!("cargo::warning={d}");
//! }
//! std::fs::write(out.join("fal_app.rs"), generated.single_file()).unwrap();
//! ```
//!
//! and in the crate: `include!(concat!(env!("OUT_DIR"), "/fal_app.rs"));`.

mod config;
mod emit;
mod examples;
pub mod ir;
mod layout;
mod lower;
mod schema_export;
pub mod naming;
mod share;

pub use config::{Config, Document, Generated, WriteReport};
pub use examples::Example;
pub use ir::Diagnostic;
