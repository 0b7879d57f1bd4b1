//! Zeroboard's rules and use cases.
//!
//! Pure rules (no I/O, `now` and policy are arguments): [`calendar`], [`transition`],
//! [`kpi`], [`obligations`] (who owes what in a period, judged from its rows), and what
//! input is accepted: [`text`] (text fields) and [`bounds`] (the documented ranges of
//! numbers and dates).
//!
//! Services over sea-orm that every entry point calls (GraphQL, scheduler, CLI): [`db`]
//! (connections, transactions, advisory locks), [`auth`], [`sessions`] (sign-in links and
//! the web page's sessions), [`credentials`] (what an open live connection's credential
//! still amounts to), [`access`] (who sees what),
//! [`assignments`] (transitions and their events), [`org`], [`work`], [`kb`], [`read`] (the read model: tiles, reports, rows by id),
//! [`periods`] (open, changeability, a period's rows), [`duties`] (generate), [`close`],
//! [`tick`] (the three steps in order, logged), [`live`] (the live tiles' change feed), [`policy`], [`results`] (live KPI,
//! adjustments, average), [`export`]. Nothing here knows GraphQL, HTTP or cron; the demo
//! and seeded companies are the `fixtures` crate's, built on these services.

pub mod access;
pub mod assignments;
pub mod auth;
pub mod bounds;
pub mod calendar;
pub mod clock;
pub mod close;
pub mod company;
pub mod credentials;
pub mod db;
pub mod delivery;
pub mod directory;
pub mod duties;
pub mod error;
pub mod explain;
pub mod export;
pub mod kb;
pub mod kpi;
pub mod live;
pub mod obligations;
pub mod org;
pub mod outbox;
pub mod periods;
pub mod policy;
pub mod read;
pub mod reminders;
pub mod reminding;
pub mod results;
pub mod sessions;
pub mod stored;
pub mod text;
pub mod tick;
pub mod tokens;
pub mod transition;
pub mod webhooks;
pub mod work;

pub use error::{DomainError, DomainResult};

/// The company settings every service needs: its calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Company {
    pub calendar: calendar::Calendar,
}
