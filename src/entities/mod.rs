//! sea-orm entities, one per table and 1:1 with the migrations. No behaviour lives here:
//! queries are in `store`, and nothing here is ever serialised to a client (responses have
//! their own types in `routes`, so a new column cannot leak).

pub mod agenda_item;
pub mod agenda_lead;
pub mod agenda_status_history;
pub mod agenda_topic;
pub mod agenda_version;
pub mod api_token;
pub mod audit_entry;
pub mod calendar_feed;
pub mod chatham_note;
pub mod dialogue;
pub mod dialogue_organizer;
pub mod dialogue_side;
pub mod invitation;
pub mod mail_outbox;
pub mod participant;
pub mod private_note;
pub mod refresh_token;
pub mod round;
pub mod session;
pub mod statement;
pub mod statement_approval;
pub mod summary;
pub mod user;
pub mod webhook;
pub mod webhook_delivery;
