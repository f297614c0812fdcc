//! Authentication: password hashing, access and refresh tokens, and the `AuthUser` extractor.

pub mod extractor;
pub mod password;
pub mod tokens;

pub use extractor::AuthUser;
