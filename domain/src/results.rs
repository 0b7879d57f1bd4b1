//! KPI results: the live projection of one (the "current KPI"), the outlook of an open
//! period item by item, corrections beside the closed ones, and the running average.
//!
//! A `kpi_result` is written once, at close, and never changes. A correction is a
//! `kpi_adjustment` with an author and a reason, shown beside the result; the average KPI
//! is of the results as stored, so a correction is visible as such rather than silently
//! moving history (DESIGN section 4: "a closed period and its results never change").

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::enums::PeriodStatus;
use entity::{kpi_adjustment, kpi_policy, kpi_result, period};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::explain::{self, Outlook, Titles};
use crate::kpi::{self, Evaluation, Obligation, Policy, round_half_away};
use crate::live::{self, Change};
use crate::obligations::{Owed, PeriodRows, owed};
use crate::outbox::{self, Event, EventType};
use crate::periods::close_time;
use crate::{Company, DomainError, DomainResult, policy};

/// The "current KPI" of DESIGN section 3: the KPI formula under the period's policy over
/// the obligations that are fulfilled or whose deadline has passed, judged as if the period
/// closed now (an unfinished duty past its due date counts as missed; a duty due next week
/// and not yet done does not count). Targets count once their actual is recorded. For a
/// closed period it reproduces the stored result. `None` when there is no such period.
pub async fn live_kpi(
    db: &impl ConnectionTrait,
    company: &Company,
    period_id: i64,
    employee_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<Option<Evaluation>> {
    let Some(period) = period::Entity::find_by_id(period_id).one(db).await? else {
        return Ok(None);
    };
    let tz = company.calendar.tz;
    Ok(live_kpis(db, tz, &period, None, &[employee_id], now)
        .await?
        .remove(&employee_id))
}

/// The live KPI (see [`live_kpi`]) of employees in a period, judged once for all of them
/// from the rows that concern them (a fixed number of statements, whatever their number).
/// `policy` is the period's version when the caller has it at hand.
pub async fn live_kpis(
    db: &impl ConnectionTrait,
    tz: Tz,
    period: &period::Model,
    policy: Option<&kpi_policy::Model>,
    employees: &[i64],
    now: DateTime<Utc>,
) -> DomainResult<HashMap<i64, Evaluation>> {
    let (policy, rows) = policy_and_rows(db, period, policy, employees).await?;
    let rules = policy::rules(&policy);
    Ok(live_evaluations(&rows, period, &rules, tz, employees, now))
}

/// The period's policy version (`policy` when it is that version, else read) and the
/// period's rows that concern `employees`: what judging a batch live starts from.
async fn policy_and_rows(
    db: &impl ConnectionTrait,
    period: &period::Model,
    policy: Option<&kpi_policy::Model>,
    employees: &[i64],
) -> DomainResult<(kpi_policy::Model, PeriodRows)> {
    let policy = match policy.filter(|p| p.version == period.policy_version) {
        Some(policy) => policy.clone(),
        None => policy::by_version(db, period.policy_version).await?,
    };
    Ok((policy, PeriodRows::load(db, period, Some(employees)).await?))
}

/// The live KPI of several employees from a period's rows (see [`live_kpi`]), judging the
/// rows' obligations once for all of them. Pure.
pub fn live_evaluations(
    rows: &PeriodRows,
    period: &period::Model,
    rules: &Policy,
    tz: Tz,
    employee_ids: &[i64],
    now: DateTime<Utc>,
) -> HashMap<i64, Evaluation> {
    let as_of = period.closed_at.map_or(now, |closed| Ord::min(closed, now));
    let settled_only = period.status == PeriodStatus::Open;
    let mut owed_by: HashMap<i64, Vec<Obligation>> =
        employee_ids.iter().map(|id| (*id, Vec::new())).collect();
    for o in owed(rows, rules, tz, as_of) {
        if let Some(list) = owed_by.get_mut(&o.employee_id)
            && (!settled_only || o.fulfilled || o.deadline <= as_of)
        {
            list.push(o.obligation);
        }
    }
    owed_by
        .into_iter()
        .map(|(id, obligations)| {
            let targets = rows.targets_of(id, settled_only);
            (id, kpi::evaluate(&obligations, &targets, rules))
        })
        .collect()
}

/// One employee's outlook with what reading it needs: the rules it was judged under (for the
/// sentences of [`explain::say::advice`]) and the instants it is about.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub outlook: Outlook,
    /// The period's policy version, as rules.
    pub policy: Policy,
    /// The instant judged: now, but never past the close instant; for a closed period, the
    /// instant its results were judged.
    pub as_of: DateTime<Utc>,
    /// When the period closes (`periods::close_time`), after which nothing can change; for a
    /// closed period, `as_of`.
    pub closes_at: DateTime<Utc>,
}

/// The outlook of employees in a period (see [`explain::outlook`]): the period's rows loaded
/// once for all of them, their obligations judged once, then each employee's projection. A
/// fixed number of statements whatever their number. `policy` is the period's version when
/// the caller has it at hand.
///
/// For a closed period it reproduces the close: the rows judged as of the instant the
/// close judged them (`min(closed_at, close_time)`: the scheduler judges at the close
/// instant however late it runs, an admin's early close at its own instant), with nothing
/// left to change, so its items are the stored ones.
pub async fn outlooks(
    db: &impl ConnectionTrait,
    tz: Tz,
    period: &period::Model,
    policy: Option<&kpi_policy::Model>,
    employees: &[i64],
    now: DateTime<Utc>,
) -> DomainResult<HashMap<i64, Projection>> {
    let (version, rows) = policy_and_rows(db, period, policy, employees).await?;
    Ok(projections(&rows, period, &version, tz, employees, now))
}

/// The outlooks of several employees from a period's rows (see [`outlooks`]). Pure.
pub fn projections(
    rows: &PeriodRows,
    period: &period::Model,
    version: &kpi_policy::Model,
    tz: Tz,
    employee_ids: &[i64],
    now: DateTime<Utc>,
) -> HashMap<i64, Projection> {
    let rules = policy::rules(version);
    let closes = close_time(period, version);
    let (as_of, closes_at) = match (period.status, period.closed_at) {
        (PeriodStatus::Open, _) => (Ord::min(now, closes), closes),
        (_, Some(closed)) => {
            let judged = Ord::min(closed, closes);
            (judged, judged)
        }
        (_, None) => (closes, closes),
    };
    let mut owed_by: HashMap<i64, Vec<Owed>> =
        employee_ids.iter().map(|id| (*id, Vec::new())).collect();
    for o in owed(rows, &rules, tz, as_of) {
        if let Some(list) = owed_by.get_mut(&o.employee_id) {
            list.push(o);
        }
    }
    let titles = Titles::of(rows);
    owed_by
        .into_iter()
        .map(|(id, owed)| {
            let targets: Vec<&entity::kpi_target::Model> = rows
                .targets
                .iter()
                .filter(|t| t.employee_id == id)
                .collect();
            let outlook = explain::outlook(&owed, &targets, &titles, &rules, as_of, closes_at);
            let projection = Projection {
                outlook,
                policy: rules.clone(),
                as_of,
                closes_at,
            };
            (id, projection)
        })
        .collect()
}

/// Who made a correction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Author {
    Employee(i64),
    /// A service token's name, e.g. `payroll`, or `system` for the operator's commands.
    Service(String),
}

impl Author {
    pub fn of(who: &Principal) -> Author {
        match who {
            Principal::Employee { id, .. } => Author::Employee(*id),
            Principal::Service { name, .. } => Author::Service(name.clone()),
            Principal::System => Author::Service("system".into()),
        }
    }
}

/// Records a correction of `delta_x100` hundredths to a result. The reason is required
/// (`BadInput` on `reason`), the delta must not be zero (`BadInput` on `delta`), the
/// result must exist (`NotFound`). The result itself is not touched.
pub async fn adjust(
    db: &impl Db,
    who: &Principal,
    result_id: i64,
    delta_x100: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> DomainResult<kpi_adjustment::Model> {
    crate::access::require_admin(who)?;
    let author = Author::of(who);
    let Some(reason) = crate::text::optional("reason", crate::text::Kind::Comment, Some(reason))?
    else {
        return Err(DomainError::bad_input(
            "reason",
            "an adjustment needs a reason",
        ));
    };
    if delta_x100 == 0 {
        return Err(DomainError::bad_input(
            "delta",
            "an adjustment of zero changes nothing",
        ));
    }
    // The documented range, in hundredths (`bounds::ADJUSTMENT_MAX` KPI points either way).
    let most = crate::kpi::round_half_away(crate::bounds::ADJUSTMENT_MAX, 100.0);
    if !(-most..=most).contains(&delta_x100) {
        return Err(DomainError::invalid(
            "delta",
            "must be a number of KPI points between -1000 and 1000",
        ));
    }
    let (author_id, author_service) = match author {
        Author::Employee(id) => (Some(id), None),
        Author::Service(name) => (None, Some(name)),
    };
    let txn = begin_write(db).await?;
    let Some(result) = kpi_result::Entity::find_by_id(result_id).one(&txn).await? else {
        return Err(DomainError::NotFound("KPI result"));
    };
    let row = kpi_adjustment::ActiveModel {
        result_id: Set(result_id),
        delta_x100: Set(delta_x100),
        reason: Set(reason),
        author_id: Set(author_id),
        author_service: Set(author_service),
        created_at: Set(now),
        ..Default::default()
    };
    let stored = kpi_adjustment::Entity::insert(row)
        .exec_with_returning(&txn)
        .await?;
    let data = serde_json::json!({
        "adjustment": {
            "id": stored.id,
            "delta": stored.delta_x100 as f64 / 100.0,
            "reason": stored.reason,
            "author_id": stored.author_id,
            "author_service": stored.author_service,
            "created_at": outbox::instant(stored.created_at),
        },
        "result": {
            "id": result.id,
            "period_id": result.period_id,
            "employee_id": result.employee_id,
            "kpi": result.kpi_x100 as f64 / 100.0,
        },
    });
    outbox::record(
        &txn,
        vec![Event::new(EventType::KpiResultAdjusted, data)],
        now,
    )
    .await?;
    live::announce(&txn, Change::employees([result.employee_id])).await?;
    txn.commit().await?;
    Ok(stored)
}

/// The sum of the adjustments of each result of a period, in hundredths; results without
/// any are absent. One query, whatever the size of the period.
pub async fn adjustment_totals(
    db: &impl ConnectionTrait,
    period_id: i64,
) -> DomainResult<HashMap<i64, i64>> {
    let of_period = Query::select()
        .column(kpi_result::Column::Id)
        .from(kpi_result::Entity)
        .and_where(kpi_result::Column::PeriodId.eq(period_id))
        .to_owned();
    let rows = kpi_adjustment::Entity::find()
        .filter(kpi_adjustment::Column::ResultId.in_subquery(of_period))
        .all(db)
        .await?;
    let mut totals = HashMap::new();
    for a in rows {
        *totals.entry(a.result_id).or_insert(0_i64) += a.delta_x100;
    }
    Ok(totals)
}

/// The mean KPI of an employee's last `window` results (by period start), in hundredths
/// rounded half away from zero; `None` without results. Results count as stored, without
/// adjustments (see the module comment).
pub async fn average_kpi_x100(
    db: &impl ConnectionTrait,
    employee_id: i64,
    window: u32,
) -> DomainResult<Option<i64>> {
    let results = kpi_result::Entity::find()
        .filter(kpi_result::Column::EmployeeId.eq(employee_id))
        .all(db)
        .await?;
    if results.is_empty() || window == 0 {
        return Ok(None);
    }
    let starts: HashMap<i64, chrono::NaiveDate> = period::Entity::find()
        .filter(period::Column::Id.is_in(results.iter().map(|r| r.period_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.starts_on))
        .collect();
    let mut dated: Vec<(Option<chrono::NaiveDate>, i64)> = results
        .iter()
        .map(|r| (starts.get(&r.period_id).copied(), r.kpi_x100))
        .collect();
    dated.sort_by_key(|(starts_on, _)| std::cmp::Reverse(*starts_on));
    Ok(mean_x100(
        dated.iter().take(window as usize).map(|(_, kpi)| *kpi),
    ))
}

/// The mean of figures in hundredths, rounded half away from zero; `None` for none.
pub fn mean_x100(figures: impl IntoIterator<Item = i64>) -> Option<i64> {
    let (sum, n) = figures
        .into_iter()
        .fold((0_i128, 0_i128), |(s, n), x| (s + i128::from(x), n + 1));
    // Integer sums are exact; one division in f64 is then exact to far below a hundredth.
    (n > 0).then(|| round_half_away(sum as f64 / n as f64, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn means() {
        assert_eq!(mean_x100([]), None);
        assert_eq!(mean_x100([10444]), Some(10444));
        assert_eq!(mean_x100([10444, 8500]), Some(9472));
        assert_eq!(mean_x100([1, 2]), Some(2)); // 1.5 rounds away from zero
        assert_eq!(mean_x100([1, 1, 2]), Some(1)); // 1.33
        assert_eq!(mean_x100([-1, -2]), Some(-2));
        assert_eq!(mean_x100([10000, 10000, 10000, 0, 0, 0]), Some(5000));
    }
}
