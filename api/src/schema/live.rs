//! The subscriptions: the viewer's board as it changes, and the assignments of the reports
//! as they change. Each item is resolved as a query would resolve it, from its batch's
//! loaders (see `crate::live`).

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::futures_util::{Stream, stream};
use async_graphql::{Context, Subscription};
use domain::auth::Principal;
use domain::live::Change;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::assignment::{Assignment, AssignmentFilter};
use super::summary::Summary;
use crate::AppState;
use crate::error::{OrGql, code, coded, not_found, unauthenticated};
use crate::live::{Batch, Connection, Slot, SubscriptionSlot};
use domain::read::tiles::Asked;

#[derive(Default)]
pub struct Subscription;

/// What every subscription holds: who it is for, its batches and its slots.
struct Watch {
    who: Principal,
    state: AppState,
    batches: Receiver<Arc<Batch>>,
    slot: Slot,
    seen: u64,
    _taken: SubscriptionSlot,
}

impl Watch {
    fn new(ctx: &Context<'_>) -> async_graphql::Result<Watch> {
        let who = ctx
            .data_opt::<Principal>()
            .cloned()
            .ok_or_else(unauthenticated)?;
        let internal = |what: &str| crate::error::internal(&format!("no {what} in a subscription"));
        let state = ctx
            .data_opt::<AppState>()
            .cloned()
            .ok_or_else(|| internal("state"))?;
        let slot = ctx.data_opt::<Slot>().cloned().ok_or_else(|| {
            coded(
                code::BAD_USER_INPUT,
                "subscribe over a WebSocket at /graphql",
            )
        })?;
        let taken = ctx
            .data_opt::<Connection>()
            .ok_or_else(|| internal("connection"))?
            .take()?;
        // Listen before the first board is read, so nothing that commits meanwhile is missed.
        let batches = state.live.subscribe();
        Ok(Watch {
            who,
            batches,
            state,
            slot,
            seen: 0,
            _taken: taken,
        })
    }

    /// A batch to read afresh from: the first, or after falling behind.
    fn fresh(&mut self) -> Arc<Batch> {
        let b = self.state.live.fresh(&self.state, Change::everyone());
        self.seen = b.seq;
        b
    }

    /// The next batch newer than the last one read; `None` when the server stops.
    async fn next(&mut self) -> Option<Arc<Batch>> {
        loop {
            match self.batches.recv().await {
                Ok(b) if b.seq > self.seen => {
                    self.seen = b.seq;
                    return Some(b);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Some(self.fresh()),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[Subscription]
impl Subscription {
    /// Your board (`me { summary }` for the current period): at once, then again whenever
    /// something on it changes: an assignment of yours or one you control changes status,
    /// is created, cancelled or becomes overdue; an article or proposal reaches you; the
    /// period opens or closes; a result of yours is written or adjusted. Changes are
    /// gathered for a short window (`live_window_ms`), so a burst sends one board, and a
    /// board is never older than one sent before it. For employees only.
    async fn summary_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Summary>> + use<>> {
        let watch = Watch::new(ctx)?;
        let me = watch.who.employee_id().ok_or_else(|| {
            coded(
                code::FORBIDDEN,
                "only an employee has a board; use assignmentChanged",
            )
        })?;
        let asked = super::summary::asked(&ctx.look_ahead());
        Ok(stream::unfold(
            (watch, true),
            move |(mut w, first)| async move {
                let batch = if first {
                    w.fresh()
                } else {
                    loop {
                        let b = w.next().await?;
                        if hears(&b, me).await {
                            break b;
                        }
                    }
                };
                w.slot.set(batch.clone());
                let board = board(&w.state, &batch, me, asked).await;
                Some((board, (w, false)))
            },
        ))
    }

    /// Assignments within your reach that match `filter`, each time one is created or
    /// changes (status, due date, people), as `assignments(filter:)` would show them now.
    async fn assignment_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<AssignmentFilter>,
    ) -> async_graphql::Result<impl Stream<Item = Assignment> + use<>> {
        let filter = filter.unwrap_or_default().decode()?;
        let watch = Watch::new(ctx)?;
        let queue: VecDeque<Assignment> = VecDeque::new();
        Ok(stream::unfold((watch, queue), move |(mut w, mut queue)| {
            let filter = filter.clone();
            async move {
                loop {
                    if let Some(next) = queue.pop_front() {
                        return Some((next, (w, queue)));
                    }
                    let batch = w.next().await?;
                    if batch.change.assignments.is_empty() {
                        continue;
                    }
                    match changed(&w, &batch, &filter).await {
                        Ok(found) => {
                            w.slot.set(batch);
                            queue.extend(found.into_iter().map(Assignment));
                        }
                        Err(e) => tracing::warn!(error = %e, "live: assignments not read"),
                    }
                }
            }
        }))
    }
}

/// Whether a batch may change employee `me`'s board (`access::hears`); their department
/// is read through the batch's loaders only when the batch names departments.
async fn hears(batch: &Batch, me: i64) -> bool {
    let department = if batch.change.departments.is_empty() {
        None
    } else {
        match batch.loaders.employees.load_one(me).await {
            Ok(e) => e.map(|e| e.department_id),
            // Cannot tell: read the board (it is the viewer's own either way).
            Err(_) => return true,
        }
    };
    domain::access::hears(&batch.change, me, department)
}

/// The board of `me` for the batch's current period.
async fn board(
    state: &AppState,
    batch: &Batch,
    me: i64,
    asked: Asked,
) -> async_graphql::Result<Summary> {
    let period = batch
        .cache
        .current_period(&state.db)
        .await
        .gql()?
        .cloned()
        .ok_or_else(|| not_found("open period"))?;
    Ok(Summary {
        employee_id: me,
        period,
        asked,
    })
}

/// The batch's assignments the principal may see and that match the filter.
async fn changed(
    w: &Watch,
    batch: &Batch,
    filter: &domain::read::reports::Filter,
) -> Result<Vec<entity::assignment::Model>, String> {
    let rows = batch
        .loaders
        .assignments
        .load_many(batch.change.assignments.iter().copied())
        .await
        .map_err(|e| e.to_string())?;
    // Through the batch's loaders: every subscriber's reach in one statement.
    let reach = crate::context::reach_through(&batch.loaders, &w.who)
        .await
        .map_err(|e| e.message)?;
    let mut out = Vec::new();
    let mut rows: Vec<_> = rows.into_values().collect();
    rows.sort_by_key(|a| a.id);
    for a in rows {
        if !reach.sees_assignment(&a) {
            continue;
        }
        let department = if filter.department_id.is_some() {
            batch
                .loaders
                .employees
                .load_one(a.assignee_id)
                .await
                .map_err(|e| e.to_string())?
                .map(|e| e.department_id)
        } else {
            None
        };
        if filter.matches(&a, department, batch.cache.now()) {
            out.push(a);
        }
    }
    Ok(out)
}
