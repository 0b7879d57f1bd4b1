//! End-to-end tests: the real server over HTTP, the real binary, on SQLite and PostgreSQL.

mod common;

mod cli;
mod foundation;
mod scheduler;
mod storage;

use common::*;
