//! Rollcall: sign-up, projects and member administration, with a Medplum-compatible admin API.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod services;
pub mod startup;
pub mod telemetry;
pub mod web;
