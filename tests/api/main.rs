//! The integration suite: every test drives the real server over HTTP, each with its own database.

mod helpers;

mod accounts;
mod errors;
mod health;
mod login;
mod logs;
mod openapi;
mod storage;
mod tokens;
mod neemrana;
mod rights;
mod rounds;
