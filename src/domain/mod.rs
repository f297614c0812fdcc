//! Parse-don't-validate types and pure rules. A value of these types is valid by construction.

pub mod account;
pub mod dialogue;
pub mod readiness;
pub mod rights;
pub mod round;
pub mod text;
