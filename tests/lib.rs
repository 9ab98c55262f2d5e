//! Workspace-level tests live beside this file; see the [[test]] entries in Cargo.toml.

pub mod type_promises;
