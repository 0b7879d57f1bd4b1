//! End-to-end tests: the real server over HTTP, the real binary, on SQLite and PostgreSQL.

mod common;

mod access;
mod cli;
mod foundation;
mod fuzz;
mod graphql;
mod hardening;
mod http;
mod items;
mod live;
mod outlook;
mod payroll;
mod playground;
mod reminders;
mod scheduler;
mod snapshots;
mod storage;
mod validation;
mod web;
mod webhooks;

use common::*;
