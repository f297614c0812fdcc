//! Parse-don't-validate types and pure rules. A value of these types is valid by construction.

pub mod account;
pub mod agenda;
pub mod dialogue;
pub mod guard;
pub mod readiness;
pub mod rights;
pub mod round;
pub mod scopes;
pub mod text;
pub mod webhooks;
