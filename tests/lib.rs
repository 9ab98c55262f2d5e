//! Workspace-level tests live beside this file; see the [[test]] entries in Cargo.toml. The
//! compile-fail cases of the type-level promises are in `compile-fail/` (a crate of its own, so
//! trybuild builds them against only the families they name).
