//! The live tiles' change feed: every change that can alter someone's board announces, in
//! the transaction that makes it, whose boards it touches ([`Change`]); the API's
//! subscriptions listen and push fresh boards.
//!
//! On PostgreSQL [`announce`] is `pg_notify` on [`CHANNEL`] inside the caller's transaction,
//! so the notification is delivered (to every replica listening on the database) exactly
//! when the change commits, and never for a rollback. On SQLite, where one process serves,
//! it goes to the in-process listeners registered for the same database file with
//! [`listen_local`]; since that happens before the commit, the listener waits for the write
//! lock once (`db::begin_write`) before it reads, which a writer still inside its
//! transaction holds. A process with no listener (the CLI, a separate scheduler) is heard by
//! no other process on SQLite: the deployment runs its scheduler inside the server there.
//!
//! What reaches its audience later (an article published for a later date, a proposal
//! opening or closing) is stored by [`at`] in `live_due` and told by [`tell_due`], which
//! the scheduler's tick runs: a stored row stays until the transaction that tells it
//! commits, so a scheduler that stops in between tells it at its next tick.
//!
//! A change may also ask live connections to check their credentials again (a token
//! revoked, a session ended, an employee who left or got other rights); it carries them the
//! same way, to every replica.
//!
//! Who may hear a change is `access::hears`, whose connections check again
//! `access::rechecks`; this module only carries them.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{assignment, live_due};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, RuntimeErr, Set,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::DomainResult;
use crate::db::{Db, begin_write};

/// The PostgreSQL channel of the feed.
pub const CHANNEL: &str = "zeroboard_live";

/// PostgreSQL refuses payloads of 8,000 bytes and more; a larger change goes in parts.
const MAX_PAYLOAD: usize = 7_000;

/// Whose boards a committed change may alter, and which assignments it changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Employees whose own boards changed (assignees, controllers, a result's owner).
    #[serde(default, rename = "e", skip_serializing_if = "Vec::is_empty")]
    pub employees: Vec<i64>,
    /// Departments whose members are the audience of an article or proposal.
    #[serde(default, rename = "d", skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<i64>,
    /// Everyone's board (a period opened or closed, a company-wide article): also sent
    /// by a listener that may have missed something (a lost connection).
    #[serde(default, rename = "all", skip_serializing_if = "std::ops::Not::not")]
    pub everyone: bool,
    /// The assignments it created or changed.
    #[serde(default, rename = "a", skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<i64>,
    /// Employees whose open live connections must check their credentials again: a token
    /// of theirs was revoked, a session of theirs ended, they left or their rights changed.
    /// Not a change of any board.
    #[serde(default, rename = "re", skip_serializing_if = "Vec::is_empty")]
    pub recheck_employees: Vec<i64>,
    /// Tokens whose open live connections must check them again (a revoked token).
    #[serde(default, rename = "rt", skip_serializing_if = "Vec::is_empty")]
    pub recheck_tokens: Vec<i64>,
}

impl Change {
    /// A change of assignments: their assignees' and controllers' boards.
    pub fn assignments<'a>(changed: impl IntoIterator<Item = &'a assignment::Model>) -> Change {
        let mut c = Change::default();
        for a in changed {
            c.employees.push(a.assignee_id);
            c.employees.push(a.controller_id);
            c.assignments.push(a.id);
        }
        c.normalized()
    }

    /// The boards of some employees.
    pub fn employees(ids: impl IntoIterator<Item = i64>) -> Change {
        Change {
            employees: ids.into_iter().collect(),
            ..Change::default()
        }
        .normalized()
    }

    /// The boards of an audience: a department's members, or everyone (`None`).
    pub fn audience(department_id: Option<i64>) -> Change {
        match department_id {
            Some(d) => Change {
                departments: vec![d],
                ..Change::default()
            },
            None => Change::everyone(),
        }
    }

    /// Every board.
    pub fn everyone() -> Change {
        Change {
            everyone: true,
            ..Change::default()
        }
    }

    /// The live connections of an employee must check their credentials again.
    pub fn recheck_employee(id: i64) -> Change {
        Change {
            recheck_employees: vec![id],
            ..Change::default()
        }
    }

    /// The live connections of a token must check it again.
    pub fn recheck_token(id: i64) -> Change {
        Change {
            recheck_tokens: vec![id],
            ..Change::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.boards_unchanged() && !self.rechecks()
    }

    /// Whether it changes no board (it may still ask connections to check again).
    pub fn boards_unchanged(&self) -> bool {
        !self.everyone
            && self.employees.is_empty()
            && self.departments.is_empty()
            && self.assignments.is_empty()
    }

    /// Whether it asks some connections to check their credentials again.
    pub fn rechecks(&self) -> bool {
        !self.recheck_employees.is_empty() || !self.recheck_tokens.is_empty()
    }

    /// Splits off the credential checks it asks for, leaving what it changes on boards.
    pub fn take_rechecks(&mut self) -> Change {
        Change {
            recheck_employees: std::mem::take(&mut self.recheck_employees),
            recheck_tokens: std::mem::take(&mut self.recheck_tokens),
            ..Change::default()
        }
    }

    /// Adds `other` to this change (a window of changes told as one).
    pub fn merge(&mut self, other: &Change) {
        self.everyone |= other.everyone;
        self.employees.extend_from_slice(&other.employees);
        self.departments.extend_from_slice(&other.departments);
        self.assignments.extend_from_slice(&other.assignments);
        self.recheck_employees
            .extend_from_slice(&other.recheck_employees);
        self.recheck_tokens.extend_from_slice(&other.recheck_tokens);
        let merged = std::mem::take(self).normalized();
        *self = merged;
    }

    /// Every list of ids, in the order a change's parts are sent.
    fn lists(&self) -> [&Vec<i64>; 5] {
        [
            &self.employees,
            &self.departments,
            &self.assignments,
            &self.recheck_employees,
            &self.recheck_tokens,
        ]
    }

    /// [`Change::lists`], to change.
    fn lists_mut(&mut self) -> [&mut Vec<i64>; 5] {
        [
            &mut self.employees,
            &mut self.departments,
            &mut self.assignments,
            &mut self.recheck_employees,
            &mut self.recheck_tokens,
        ]
    }

    fn normalized(mut self) -> Change {
        for v in self.lists_mut() {
            v.sort_unstable();
            v.dedup();
        }
        self
    }

    /// The change as payloads of at most `max` bytes each (a payload names at least one
    /// id, so every part is a valid change).
    pub fn payloads(&self, max: usize) -> Vec<String> {
        let whole = serde_json::to_string(self).unwrap_or_default();
        if whole.len() <= max {
            return vec![whole];
        }
        // Each id costs at most 21 bytes (`-9223372036854775808,`); parts of a bounded
        // number of ids stay under `max`.
        let per = (max.saturating_sub(64) / 21).max(1);
        let mut parts = Vec::new();
        if self.everyone {
            parts.push(Change::everyone());
        }
        for (i, ids) in self.lists().into_iter().enumerate() {
            for chunk in ids.chunks(per) {
                let mut part = Change::default();
                *part.lists_mut()[i] = chunk.to_vec();
                parts.push(part);
            }
        }
        parts
            .iter()
            .map(|c| serde_json::to_string(c).unwrap_or_default())
            .collect()
    }

    /// A payload as [`announce`] sent it; `None` for anything else.
    pub fn parse(payload: &str) -> Option<Change> {
        serde_json::from_str::<Change>(payload)
            .ok()
            .map(Change::normalized)
    }
}

/// Tells the listeners of this database about `change`, in the caller's transaction (see
/// the module's documentation).
pub async fn announce(db: &impl ConnectionTrait, change: Change) -> DomainResult<()> {
    if change.is_empty() {
        return Ok(());
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            for payload in change.payloads(MAX_PAYLOAD) {
                crate::db::notify(db, CHANNEL, &payload).await?;
            }
        }
        _ => {
            if local_listeners_exist() {
                let file = crate::db::sqlite_file(db).await?;
                tell_local(&file, &change);
            }
        }
    }
    Ok(())
}

/// An announcement owed at a later instant: when an article published for a later date
/// reaches its audience, when a proposal opens and when it closes (the "to vote" tile
/// changes at both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Article(i64),
    ProposalOpens(i64),
    ProposalCloses(i64),
}

impl Due {
    fn key(self) -> (&'static str, i64) {
        match self {
            Due::Article(id) => ("article", id),
            Due::ProposalOpens(id) => ("proposal_opens", id),
            Due::ProposalCloses(id) => ("proposal_closes", id),
        }
    }
}

/// Tells the audience (`department_id`; `None` is everyone) of `due` now if `at` has come
/// by `now`, else stores it for the tick that passes `at` ([`tell_due`]); in the caller's
/// transaction either way. Storing it again changes nothing.
pub async fn at(
    db: &impl ConnectionTrait,
    due: Due,
    department_id: Option<i64>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    if at <= now {
        return announce(db, Change::audience(department_id)).await;
    }
    let (kind, subject_id) = due.key();
    live_due::Entity::insert(live_due::ActiveModel {
        kind: Set(kind.to_owned()),
        subject_id: Set(subject_id),
        department_id: Set(department_id),
        due_at: Set(at),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([live_due::Column::Kind, live_due::Column::SubjectId])
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Announces every stored announcement whose instant has passed by `now` (the audiences of
/// all of them as one change) and deletes them, in one write transaction under the step's
/// advisory lock: a row stays until the transaction that tells it commits, so a scheduler
/// that stops in between tells it on its next tick. The scheduler's tick calls it after
/// telling of overdue work. Returns how many it told.
pub async fn tell_due(db: &impl Db, now: DateTime<Utc>) -> DomainResult<u32> {
    let txn = begin_write(db).await?;
    crate::db::lock_step(&txn, crate::db::Step::LiveDue).await?;
    let due = live_due::Entity::find()
        .filter(live_due::Column::DueAt.lte(now))
        .order_by_asc(live_due::Column::Id)
        .all(&txn)
        .await?;
    if due.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let mut change = Change::default();
    for d in &due {
        change.merge(&Change::audience(d.department_id));
    }
    announce(&txn, change).await?;
    for chunk in due.chunks(500) {
        live_due::Entity::delete_many()
            .filter(live_due::Column::Id.is_in(chunk.iter().map(|d| d.id)))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(u32::try_from(due.len()).unwrap_or(u32::MAX))
}

/// The in-process listeners: the database file each listens on and where to send.
static LOCAL: Mutex<Vec<(u64, String, mpsc::UnboundedSender<Change>)>> = Mutex::new(Vec::new());
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn local_listeners_exist() -> bool {
    LOCAL.lock().map(|l| !l.is_empty()).unwrap_or(false)
}

fn tell_local(file: &str, change: &Change) {
    if let Ok(mut listeners) = LOCAL.lock() {
        listeners.retain(|(_, f, tx)| f != file || tx.send(change.clone()).is_ok());
    }
}

/// An in-process listener on one SQLite database; unregistered when dropped.
pub struct LocalListener {
    id: u64,
    pub changes: mpsc::UnboundedReceiver<Change>,
}

impl Drop for LocalListener {
    fn drop(&mut self) {
        if let Ok(mut listeners) = LOCAL.lock() {
            listeners.retain(|(id, ..)| *id != self.id);
        }
    }
}

/// Listens in process for the changes announced on the SQLite database behind `db`.
pub async fn listen_local(db: &impl ConnectionTrait) -> DomainResult<LocalListener> {
    let file = crate::db::sqlite_file(db).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut listeners) = LOCAL.lock() {
        listeners.push((id, file, tx));
    }
    Ok(LocalListener { id, changes: rx })
}

/// What a [`Feed`] hears: a change, or that it may have missed some (its connection was
/// lost and is back), after which every board must be read afresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    Change(Change),
    Missed,
}

/// The changes announced on a database, as one API process hears them: `LISTEN` on
/// PostgreSQL (a pooled connection held for it, re-established when lost), the in-process
/// listener on SQLite.
pub struct Feed {
    db: DatabaseConnection,
    source: Source,
}

enum Source {
    Pg(Option<PgListener>),
    Local(LocalListener),
}

impl Feed {
    pub async fn open(db: &DatabaseConnection) -> DomainResult<Feed> {
        let source = match db.get_database_backend() {
            DatabaseBackend::Postgres => Source::Pg(Some(pg_listener(db).await?)),
            _ => Source::Local(listen_local(db).await?),
        };
        Ok(Feed {
            db: db.clone(),
            source,
        })
    }

    /// The next thing heard; `None` once the database is closed (the process stops).
    pub async fn next(&mut self) -> Option<Heard> {
        match &mut self.source {
            Source::Pg(slot) => loop {
                let Some(listener) = slot.as_mut() else {
                    // Reconnect with a growing pause; once listening again, say that
                    // something may have been missed.
                    let mut pause = Duration::from_millis(100);
                    loop {
                        if self.db.get_postgres_connection_pool().is_closed() {
                            return None;
                        }
                        match pg_listener(&self.db).await {
                            Ok(l) => {
                                *slot = Some(l);
                                tracing::info!("live feed: listening again");
                                return Some(Heard::Missed);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "live feed: cannot listen yet");
                                tokio::time::sleep(pause).await;
                                pause = (pause * 2).min(Duration::from_secs(5));
                            }
                        }
                    }
                };
                match listener.try_recv().await {
                    Ok(Some(n)) => match Change::parse(n.payload()) {
                        Some(c) => return Some(Heard::Change(c)),
                        None => {
                            tracing::warn!(payload = n.payload(), "live feed: not a change");
                        }
                    },
                    // Lost and already re-established (sqlx reconnects eagerly).
                    Ok(None) => {
                        tracing::warn!("live feed: connection lost and re-established");
                        return Some(Heard::Missed);
                    }
                    Err(sea_orm::sqlx::Error::PoolClosed) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "live feed: connection lost");
                        *slot = None;
                    }
                }
            },
            Source::Local(listener) => {
                let mut change = listener.changes.recv().await?;
                while let Ok(more) = listener.changes.try_recv() {
                    change.merge(&more);
                }
                // The announcing writer may still be inside its transaction: wait for the
                // write lock once, so what is read next includes its commit.
                match crate::db::begin_write(&self.db).await {
                    Ok(txn) => {
                        let _ = txn.commit().await;
                    }
                    Err(e) => tracing::warn!(error = %e, "live feed: cannot wait for the writer"),
                }
                Some(Heard::Change(change))
            }
        }
    }
}

async fn pg_listener(db: &DatabaseConnection) -> DomainResult<PgListener> {
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool())
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e.into())))?;
    listener
        .listen(CHANNEL)
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e.into())))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_merge_without_repeats_and_split_into_valid_payloads() {
        let mut c = Change::employees([3, 1, 3]);
        c.merge(&Change::audience(Some(7)));
        c.merge(&Change::employees([1, 2]));
        assert_eq!(c.employees, vec![1, 2, 3]);
        assert_eq!(c.departments, vec![7]);
        assert!(!c.everyone);
        assert_eq!(Change::parse(&c.payloads(7000)[0]), Some(c.clone()));
        assert_eq!(Change::audience(None), Change::everyone());

        let big = Change {
            assignments: (1..=2000).collect(),
            employees: (1..=2000).collect(),
            everyone: true,
            recheck_employees: (1..=700).collect(),
            recheck_tokens: vec![4, 9],
            ..Change::default()
        };
        let parts = big.payloads(MAX_PAYLOAD);
        assert!(parts.len() > 2);
        let mut back = Change::default();
        for p in &parts {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            back.merge(&Change::parse(p).expect("a part parses"));
        }
        assert_eq!(back, big);
        assert_eq!(Change::parse("{\"x\":"), None);
        assert!(Change::default().is_empty());

        // Credential checks ride along and split off, leaving what boards hear.
        let mut c = Change::employees([5]);
        c.merge(&Change::recheck_token(9));
        c.merge(&Change::recheck_employee(5));
        assert!(!c.boards_unchanged() && c.rechecks());
        let checks = c.take_rechecks();
        assert_eq!(
            (checks.recheck_employees, checks.recheck_tokens),
            (vec![5], vec![9])
        );
        assert_eq!(c, Change::employees([5]));
        let only = Change::recheck_employee(3);
        assert!(only.boards_unchanged() && !only.is_empty());
    }
}
