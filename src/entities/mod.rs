//! sea-orm entities, one per table and 1:1 with the migrations. No behaviour lives here:
//! queries are in `store`, and nothing here is ever serialised to a client (responses have
//! their own types in `routes`, so a new column cannot leak).

pub mod refresh_token;
pub mod session;
pub mod user;
