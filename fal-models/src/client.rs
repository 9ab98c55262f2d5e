//! The fal queue client (being written).

/// Placeholder until the client lands.
pub struct Client;
