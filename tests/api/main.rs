//! Integration tests: the real application over HTTP, on SQLite by default or on
//! PostgreSQL when TEST_DATABASE_URL is set.

mod helpers;

mod crash;
mod hostile;

mod account_delete;
mod account_profile;
mod account_security;
mod admin_access;
mod admin_invite;
mod admin_members;
mod api_account;
mod api_clients;
mod api_fhir;
mod api_invite;
mod api_login;
mod api_members;
mod bulk;
mod email_change;
mod everyday;
mod external_signin;
mod faults;
mod instances;
mod invite_bulk;
mod lifecycle;
mod mail;
mod matrix;
mod member_list;
mod member_profile;
mod operations;
mod ownership;
mod project_delete;
mod projects;
mod races;
mod register;
mod reset;
mod security;
mod signin;
mod trust;
