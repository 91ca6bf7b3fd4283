//! Integration tests over real HTTP: each test starts the real server on port 0 with a fresh SQLite file
//! (`TestApp::spawn()`) and talks to it with reqwest, as a phone or the admin console would.

mod auth;
mod cards;
mod common;
mod communities;
mod dashboard;
mod errors;
mod login;
mod matrix;
mod open311;
mod reports;
mod sizes;
mod sync;
