//! Who may do what: the rights table of DESIGN.md §2, checked by one call at the top of each
//! handler. Roles are read from the database on every request, never from a token.
//!
//! Platform admins manage accounts only; they see no dialogue content unless they are members.

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};

/// Account administration.
pub fn require_admin(auth: &AuthUser) -> ApiResult<()> {
    if auth.user.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only platform admins may manage accounts.",
        ))
    }
}
