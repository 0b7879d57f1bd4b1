//! The scheduler's second step as a service: generating the duties of the period under way
//! from the active duty templates.
//!
//! The step is idempotent and safe to run concurrently: it runs in one write transaction,
//! holds a transaction-level advisory lock on PostgreSQL, takes shared locks on the period
//! rows, and inserts behind the unique key
//! `assignment(template_id, period_id, assignee_id)`, so a second run or a second instance
//! finds nothing left to do.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::enums::{AssignmentKind, AssignmentStatus, PeriodStatus};
use entity::{assignment, duty_template, employee, period};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::assignments::record_created;
use crate::auth::Principal;
use crate::calendar::{Calendar, PeriodDates};
use crate::db::{Db, Step, begin_write, lock_step};
use crate::live::{self, Change};
use crate::obligations::active_on;
use crate::{Company, DomainResult};

/// What one generation run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Generated {
    pub created: u32,
    /// Duties that already existed (an earlier or concurrent run made them).
    pub existing: u32,
    /// Duties skipped because no controller other than the assignee could be found.
    pub skipped_no_controller: u32,
}

/// Whether a template recurs in the period: it counts periods from the first one that
/// reaches its `starts_on` and is due in every `every_n_periods`-th of them.
pub fn template_due(
    template_starts_on: NaiveDate,
    every_n_periods: i32,
    periods_before: &[PeriodDates],
    period: PeriodDates,
) -> bool {
    if period.ends_on < template_starts_on {
        return false;
    }
    let index = periods_before
        .iter()
        .filter(|p| p.ends_on >= template_starts_on && p.starts_on < period.starts_on)
        .count();
    index % every_n_periods.max(1) as usize == 0
}

/// The due instant of a duty: the local midnight `due_offset_days` calendar days after the
/// period's first day (never after the period ends), else the period's end; a due date
/// already past at generation moves to the end.
///
/// Days are counted on the local calendar, not as multiples of 24 hours, so an offset that
/// crosses a daylight-saving change still falls on a local midnight.
pub fn duty_due_at(
    calendar: &Calendar,
    starts_on: NaiveDate,
    ends_at: DateTime<Utc>,
    due_offset_days: Option<i32>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let due = match due_offset_days {
        Some(days) => starts_on
            .checked_add_signed(Duration::days(i64::from(days)))
            .map_or(ends_at, |day| calendar.day_start(day).min(ends_at)),
        None => ends_at,
    };
    if due < now { ends_at } else { due }
}

/// Generates the duties of every open period under way at `now`.
pub async fn generate_due(
    db: &impl Db,
    who: &Principal,
    company: &Company,
    now: DateTime<Utc>,
) -> DomainResult<Generated> {
    crate::access::require_admin(who)?;
    let txn = begin_write(db).await?;
    lock_step(&txn, Step::Generate).await?;
    let mut report = Generated::default();
    // Shared row locks: a close (which updates its period's row first) cannot run while
    // duties are being added to that period, even by an instance whose clock differs.
    let periods = period::Entity::find()
        .order_by_asc(period::Column::StartsOn)
        .lock_shared()
        .all(&txn)
        .await?;
    // Only a period under way at `now`: one that has ended gets no duties (it was opened late,
    // after downtime), and one that has not started yet (seen by an instance whose clock lags
    // another's) gets them from the first tick inside it.
    let open: Vec<_> = periods
        .iter()
        .filter(|p| p.status == PeriodStatus::Open && p.starts_at <= now && now < p.ends_at)
        .collect();
    if open.is_empty() {
        txn.commit().await?;
        return Ok(report);
    }
    let dates: Vec<PeriodDates> = periods
        .iter()
        .map(|p| PeriodDates {
            starts_on: p.starts_on,
            ends_on: p.ends_on,
        })
        .collect();
    let templates = duty_template::Entity::find()
        .filter(duty_template::Column::Active.eq(true))
        .all(&txn)
        .await?;
    let employees = employee::Entity::find().all(&txn).await?;
    let by_id: HashMap<i64, &employee::Model> = employees.iter().map(|e| (e.id, e)).collect();
    // Collected first, then written a chunk of rows per statement: a period of 10,000
    // people is a few dozen statements, not two per duty.
    let mut new_duties = Vec::new();
    for period in open {
        let dates_now = PeriodDates {
            starts_on: period.starts_on,
            ends_on: period.ends_on,
        };
        let existing: std::collections::HashSet<(i64, i64)> = assignment::Entity::find()
            .select_only()
            .column(assignment::Column::TemplateId)
            .column(assignment::Column::AssigneeId)
            .filter(assignment::Column::PeriodId.eq(period.id))
            .filter(assignment::Column::TemplateId.is_not_null())
            .into_tuple::<(i64, i64)>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        for template in &templates {
            if !template_due(
                template.starts_on,
                template.every_n_periods,
                &dates,
                dates_now,
            ) {
                continue;
            }
            let targets: Vec<&employee::Model> =
                match (template.employee_id, template.department_id) {
                    (Some(id), _) => by_id.get(&id).into_iter().copied().collect(),
                    (None, Some(department)) => employees
                        .iter()
                        .filter(|e| e.department_id == department)
                        .collect(),
                    (None, None) => Vec::new(),
                };
            for assignee in targets
                .into_iter()
                .filter(|e| active_on(e, period.starts_on))
            {
                let Some(controller) = template
                    .controller_id
                    .or(assignee.manager_id)
                    .filter(|c| *c != assignee.id)
                else {
                    report.skipped_no_controller += 1;
                    continue;
                };
                if existing.contains(&(template.id, assignee.id)) {
                    report.existing += 1;
                    continue;
                }
                new_duties.push(assignment::ActiveModel {
                    kind: Set(AssignmentKind::Duty),
                    template_id: Set(Some(template.id)),
                    period_id: Set(period.id),
                    assignee_id: Set(assignee.id),
                    controller_id: Set(controller),
                    title: Set(template.title.clone()),
                    description: Set(template.description.clone()),
                    weight: Set(template.weight),
                    due_at: Set(duty_due_at(
                        &company.calendar,
                        period.starts_on,
                        period.ends_at,
                        template.due_offset_days,
                        now,
                    )),
                    status: Set(AssignmentStatus::Todo),
                    submitted_at: Set(None),
                    decided_at: Set(None),
                    created_at: Set(now),
                    created_by: Set(None),
                    version: Set(1),
                    ..Default::default()
                });
            }
        }
    }
    let mut pending = new_duties.into_iter().peekable();
    while pending.peek().is_some() {
        let chunk: Vec<_> = pending.by_ref().take(CHUNK).collect();
        let tried = chunk.len() as u32;
        // Behind the unique key (template, period, assignee): a duty another generator
        // wrote meanwhile is skipped, and only the rows written here get their event.
        let inserted = assignment::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([
                assignment::Column::TemplateId,
                assignment::Column::PeriodId,
                assignment::Column::AssigneeId,
            ])
            .exec_with_returning_keys(&txn)
            .await?;
        let ids = match inserted {
            sea_orm::TryInsertResult::Inserted(ids) => ids,
            _ => Vec::new(),
        };
        record_created(&txn, &ids, None, now).await?;
        // New duties land on boards all over the company: every board hears it.
        live::announce(
            &txn,
            Change {
                assignments: ids.clone(),
                ..Change::everyone()
            },
        )
        .await?;
        report.created += ids.len() as u32;
        report.existing += tried - ids.len() as u32;
    }
    txn.commit().await?;
    Ok(report)
}

/// Rows written per statement: 17 columns each, well under SQLite's limit of bound
/// parameters.
const CHUNK: usize = 500;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::calendar::Cadence;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }
    fn semi(starts: (u32, u32), ends: (u32, u32)) -> PeriodDates {
        PeriodDates {
            starts_on: d(starts.0, starts.1),
            ends_on: d(ends.0, ends.1),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn recurrence_counts_periods_from_the_first_that_reaches_starts_on() {
        let all = [semi((1, 1), (1, 15)), semi((1, 16), (1, 31)), semi((2, 1), (2, 15)), semi((2, 16), (2, 28)), semi((3, 1), (3, 15))];
        let due = |starts_on: NaiveDate, every: i32| -> Vec<bool> { all.iter().map(|p| template_due(starts_on, every, &all, *p)).collect() };
        assert_eq!(due(d(1, 1), 1), [true, true, true, true, true]);
        assert_eq!(due(d(1, 1), 2), [true, false, true, false, true]);
        assert_eq!(due(d(1, 20), 2), [false, true, false, true, false]); // starts mid-period: that period counts first
        assert_eq!(due(d(2, 16), 3), [false, false, false, true, false]);
        assert_eq!(due(d(4, 1), 1), [false, false, false, false, false]); // not started yet
        assert_eq!(due(d(1, 1), 0), [true, true, true, true, true]); // a bad n is read as 1
    }

    #[test]
    #[rustfmt::skip]
    fn due_dates_count_local_days_and_move_when_past() {
        let berlin = Calendar::new(Cadence::SemiMonthly, chrono_tz::Europe::Berlin);
        let utc = |m: u32, day: u32, h: u32| Utc.with_ymd_and_hms(2026, m, day, h, 0, 0).unwrap();
        let ends_at = utc(3, 31, 22); // end of 16–31 March in Berlin
        let early = utc(3, 15, 23);
        assert_eq!(duty_due_at(&berlin, d(3, 16), ends_at, None, early), ends_at);
        assert_eq!(duty_due_at(&berlin, d(3, 16), ends_at, Some(7), early), utc(3, 22, 23)); // before the change: UTC+1
        assert_eq!(duty_due_at(&berlin, d(3, 16), ends_at, Some(14), early), utc(3, 29, 22)); // after it: UTC+2, still local midnight
        assert_eq!(duty_due_at(&berlin, d(3, 16), ends_at, Some(40), early), ends_at); // never after the end
        assert_eq!(duty_due_at(&berlin, d(3, 16), ends_at, Some(7), utc(3, 25, 0)), ends_at); // already past: moved to the end
        assert_eq!(duty_due_at(&berlin, d(3, 16), ends_at, Some(7), utc(3, 22, 23)), utc(3, 22, 23)); // due exactly now is not past
    }
}
