//! End-to-end tests: the real server over HTTP, the real binary, on SQLite and PostgreSQL.

mod common;

mod graphql;
mod http;
mod access;
mod cli;
mod foundation;
mod payroll;
mod scheduler;
mod snapshots;
mod storage;

use common::*;
