//! Errors of the client (being written).

/// Placeholder until the client lands.
#[derive(Debug)]
pub enum Error {}
