//! The integration suite: every test drives the real server over HTTP, each with its own database.

mod helpers;

mod accounts;
mod agenda;
mod api_tokens;
mod demo;
mod edit_keys;
mod errors;
mod feeds;
mod health;
mod invitations;
mod login;
mod logs;
mod neemrana;
mod nodes;
mod notes;
mod openapi;
mod properties;
mod record;
mod rights;
mod rounds;
mod storage;
mod tokens;
mod webhooks;
