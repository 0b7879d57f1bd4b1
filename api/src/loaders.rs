//! DataLoaders, created for each request (never in schema-global data, so one user's
//! cache can never answer another's request). Each turns N lookups into one statement.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::{DateTime, Utc};
use entity::{
    assignment, assignment_event, department, employee, kpi_adjustment, kpi_policy, kpi_result,
    period, vote,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};

type Failure = Arc<DbErr>;

/// Loads rows of one entity by primary key.
pub struct ById<E> {
    db: DatabaseConnection,
    _entity: std::marker::PhantomData<E>,
}

macro_rules! by_id_loader {
    ($module:ident) => {
        impl Loader<i64> for ById<$module::Entity> {
            type Value = $module::Model;
            type Error = Failure;

            async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
                let rows = $module::Entity::find()
                    .filter($module::Column::Id.is_in(keys.iter().copied()))
                    .all(&self.db)
                    .await
                    .map_err(Arc::new)?;
                Ok(rows.into_iter().map(|r| (r.id, r)).collect())
            }
        }
    };
}

by_id_loader!(employee);
by_id_loader!(department);
by_id_loader!(period);
by_id_loader!(assignment);

/// Loads the rows of one entity that belong to each of many parents, oldest first.
pub struct ChildrenOf<E> {
    db: DatabaseConnection,
    _entity: std::marker::PhantomData<E>,
}

impl Loader<i64> for ChildrenOf<assignment_event::Entity> {
    type Value = Vec<assignment_event::Model>;
    type Error = Failure;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = assignment_event::Entity::find()
            .filter(assignment_event::Column::AssignmentId.is_in(keys.iter().copied()))
            .order_by_asc(assignment_event::Column::Id)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(group(keys, rows, |r| r.assignment_id))
    }
}

impl Loader<i64> for ChildrenOf<kpi_adjustment::Entity> {
    type Value = Vec<kpi_adjustment::Model>;
    type Error = Failure;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = kpi_adjustment::Entity::find()
            .filter(kpi_adjustment::Column::ResultId.is_in(keys.iter().copied()))
            .order_by_asc(kpi_adjustment::Column::Id)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(group(keys, rows, |r| r.result_id))
    }
}

/// Rows grouped by their parent, keeping their order. Every key gets an entry, empty when
/// it has no rows, so the cache remembers "none" and the key is not loaded again.
fn group<T>(keys: &[i64], rows: Vec<T>, parent: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut out: HashMap<i64, Vec<T>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        out.entry(parent(&row)).or_default().push(row);
    }
    out
}

/// An employee's vote on each of many proposals: key `(proposal, employee)`.
pub struct Votes {
    db: DatabaseConnection,
}

impl Loader<(i64, i64)> for Votes {
    type Value = vote::Model;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[(i64, i64)],
    ) -> Result<HashMap<(i64, i64), vote::Model>, Self::Error> {
        let rows = vote::Entity::find()
            .filter(vote::Column::ProposalId.is_in(keys.iter().map(|k| k.0)))
            .filter(vote::Column::EmployeeId.is_in(keys.iter().map(|k| k.1)))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(rows
            .into_iter()
            .map(|v| ((v.proposal_id, v.employee_id), v))
            .collect())
    }
}

/// The key of per-employee, per-period data.
pub type EmployeePeriod = (i64, i64);

/// The assignments of a period in which an employee is the assignee or the controller:
/// every work tile (`toAccept`, `duties`, `additional`) counts from these rows.
pub struct WorkRows {
    db: DatabaseConnection,
}

impl Loader<EmployeePeriod> for WorkRows {
    type Value = Vec<assignment::Model>;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[EmployeePeriod],
    ) -> Result<HashMap<EmployeePeriod, Self::Value>, Self::Error> {
        let employees: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let periods: Vec<i64> = keys.iter().map(|k| k.1).collect();
        let rows = assignment::Entity::find()
            .filter(assignment::Column::PeriodId.is_in(periods))
            .filter(
                Condition::any()
                    .add(assignment::Column::AssigneeId.is_in(employees.clone()))
                    .add(assignment::Column::ControllerId.is_in(employees)),
            )
            .order_by_asc(assignment::Column::Id)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<EmployeePeriod, Vec<assignment::Model>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            for who in [row.assignee_id, row.controller_id] {
                if let Some(list) = out.get_mut(&(who, row.period_id)) {
                    list.push(row.clone());
                }
            }
        }
        Ok(out)
    }
}

/// Submissions waiting for each controller in every open period: the `toAccept` tile.
/// A period that has ended but not yet closed still counts, since its acceptances are
/// judged at its close.
pub struct OpenSubmissions {
    db: DatabaseConnection,
}

/// The condition "submitted, in an open period, controlled by one of these".
pub fn open_submissions(controllers: impl IntoIterator<Item = i64>) -> Condition {
    use entity::enums::{AssignmentStatus, PeriodStatus};
    use sea_orm::sea_query::Query;
    Condition::all()
        .add(assignment::Column::ControllerId.is_in(controllers))
        .add(assignment::Column::Status.eq(AssignmentStatus::Submitted))
        .add(
            assignment::Column::PeriodId.in_subquery(
                Query::select()
                    .column(period::Column::Id)
                    .from(period::Entity)
                    .and_where(period::Column::Status.eq(PeriodStatus::Open))
                    .to_owned(),
            ),
        )
}

impl Loader<i64> for OpenSubmissions {
    type Value = Vec<assignment::Model>;
    type Error = Failure;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = assignment::Entity::find()
            .filter(open_submissions(keys.iter().copied()))
            .order_by_asc(assignment::Column::SubmittedAt)
            .order_by_asc(assignment::Column::Id)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(group(keys, rows, |r| r.controller_id))
    }
}

/// Counts per employee from one grouped statement whose only parameter is `now`.
pub struct CountPerEmployee {
    db: DatabaseConnection,
    now: DateTime<Utc>,
    /// SQL with `{ids}` for the id list and `{now}` for the instant's placeholder; it
    /// selects `(id, n)`.
    sql: &'static str,
}

impl Loader<i64> for CountPerEmployee {
    type Value = u64;
    type Error = Failure;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, u64>, Self::Error> {
        let backend = self.db.get_database_backend();
        let ids = keys
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let placeholder = if backend == sea_orm::DatabaseBackend::Postgres {
            "$1"
        } else {
            "?1"
        };
        let sql = self
            .sql
            .replace("{ids}", &ids)
            .replace("{now}", placeholder);
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [self.now.into()],
            ))
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<i64, u64> = keys.iter().map(|k| (*k, 0)).collect();
        for row in rows {
            let id: i64 = row.try_get_by_index(0).map_err(Arc::new)?;
            let n: i64 = row.try_get_by_index(1).map_err(Arc::new)?;
            out.insert(id, n as u64);
        }
        Ok(out)
    }
}

/// Published articles of the employee's audience that they have not read.
const NEW_ARTICLES: &str = "SELECT e.id, COUNT(a.id) FROM employee e \
    JOIN article a ON (a.department_id IS NULL OR a.department_id = e.department_id) AND a.published_at <= {now} \
    LEFT JOIN article_read r ON r.article_id = a.id AND r.employee_id = e.id \
    WHERE e.id IN ({ids}) AND r.id IS NULL GROUP BY e.id";

/// Open proposals of the employee's audience that they have not voted on.
const PROPOSALS_TO_VOTE: &str = "SELECT e.id, COUNT(p.id) FROM employee e \
    JOIN proposal p ON (p.department_id IS NULL OR p.department_id = e.department_id) \
        AND p.opens_at <= {now} AND p.closes_at > {now} \
    LEFT JOIN vote v ON v.proposal_id = p.id AND v.employee_id = e.id \
    WHERE e.id IN ({ids}) AND v.id IS NULL GROUP BY e.id";

/// The KPI results of employees, newest period first.
pub struct KpiResults {
    db: DatabaseConnection,
}

impl Loader<i64> for KpiResults {
    type Value = Vec<kpi_result::Model>;
    type Error = Failure;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = kpi_result::Entity::find()
            .filter(kpi_result::Column::EmployeeId.is_in(keys.iter().copied()))
            .order_by_desc(kpi_result::Column::PeriodId)
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(group(keys, rows, |r| r.employee_id))
    }
}

/// The live KPI of employees in a period (the `currentKpi` tile): each period's rows are
/// loaded once and judged once for all the keys.
pub struct LiveKpi {
    db: DatabaseConnection,
    company: domain::Company,
    now: DateTime<Utc>,
    /// Periods (and their policy version, when at hand) the request already read.
    known: std::sync::Mutex<HashMap<i64, (period::Model, Option<kpi_policy::Model>)>>,
}

impl LiveKpi {
    /// Hands over a period the request has read (and its policy version, if it has that
    /// too), so loading does not read them again.
    pub fn remember(&self, period: &period::Model, policy: Option<&kpi_policy::Model>) {
        let policy = policy
            .filter(|p| p.version == period.policy_version)
            .cloned();
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(period.id, (period.clone(), policy));
    }
}

impl Loader<EmployeePeriod> for LiveKpi {
    type Value = f64;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[EmployeePeriod],
    ) -> Result<HashMap<EmployeePeriod, f64>, Self::Error> {
        use domain::obligations::PeriodRows;
        use domain::results::live_evaluations;
        let fail = |e: domain::DomainError| Arc::new(DbErr::Custom(e.to_string()));
        let mut out = HashMap::new();
        let mut periods: Vec<i64> = keys.iter().map(|k| k.1).collect();
        periods.sort_unstable();
        periods.dedup();
        for period_id in periods {
            let known = self
                .known
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&period_id)
                .cloned();
            let (period, policy) = match known {
                Some(found) => found,
                None => match period::Entity::find_by_id(period_id)
                    .one(&self.db)
                    .await
                    .map_err(Arc::new)?
                {
                    Some(period) => (period, None),
                    None => continue,
                },
            };
            let policy = match policy {
                Some(policy) => policy,
                None => domain::policy::by_version(&self.db, period.policy_version)
                    .await
                    .map_err(fail)?,
            };
            let rules = domain::policy::rules(&policy);
            let employees: Vec<i64> = keys
                .iter()
                .filter(|k| k.1 == period_id)
                .map(|k| k.0)
                .collect();
            // One employee: only their rows. Several: the whole period's, in the same
            // number of statements.
            let only = if employees.len() == 1 {
                Some(employees[0])
            } else {
                None
            };
            let rows = PeriodRows::load(&self.db, &period, only)
                .await
                .map_err(fail)?;
            for (id, evaluation) in live_evaluations(
                &rows,
                &period,
                &rules,
                self.company.calendar.tz,
                &employees,
                self.now,
            ) {
                out.insert((id, period_id), evaluation.kpi_x100 as f64 / 100.0);
            }
        }
        Ok(out)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub employees: Cached<ById<employee::Entity>>,
    pub departments: Cached<ById<department::Entity>>,
    pub periods: Cached<ById<period::Entity>>,
    pub assignments: Cached<ById<assignment::Entity>>,
    pub work: Cached<WorkRows>,
    pub events: Cached<ChildrenOf<assignment_event::Entity>>,
    pub adjustments: Cached<ChildrenOf<kpi_adjustment::Entity>>,
    pub votes: Cached<Votes>,
    pub open_submissions: Cached<OpenSubmissions>,
    pub new_articles: Cached<CountPerEmployee>,
    pub proposals_to_vote: Cached<CountPerEmployee>,
    pub results: Cached<KpiResults>,
    pub live_kpi: Cached<LiveKpi>,
}

/// A loader whose answers are kept for the rest of the request, so a key loads once and a
/// prefetch (`load_many`, `feed_many`) serves the resolvers that follow.
pub type Cached<T> = DataLoader<T, HashMapCache>;

fn cached<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(
    loader: T,
) -> Cached<T>
where
    T::Value: Clone,
{
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

impl Loaders {
    pub fn new(db: &DatabaseConnection, company: domain::Company, now: DateTime<Utc>) -> Self {
        fn by_id<E>(db: &DatabaseConnection) -> Cached<ById<E>>
        where
            ById<E>: Loader<i64>,
            <ById<E> as Loader<i64>>::Value: Clone,
        {
            cached(ById {
                db: db.clone(),
                _entity: std::marker::PhantomData,
            })
        }
        let count = |sql| {
            cached(CountPerEmployee {
                db: db.clone(),
                now,
                sql,
            })
        };
        Loaders {
            employees: by_id(db),
            departments: by_id(db),
            periods: by_id(db),
            assignments: by_id(db),
            work: cached(WorkRows { db: db.clone() }),
            events: cached(ChildrenOf {
                db: db.clone(),
                _entity: std::marker::PhantomData,
            }),
            adjustments: cached(ChildrenOf {
                db: db.clone(),
                _entity: std::marker::PhantomData,
            }),
            votes: cached(Votes { db: db.clone() }),
            open_submissions: cached(OpenSubmissions { db: db.clone() }),
            new_articles: count(NEW_ARTICLES),
            proposals_to_vote: count(PROPOSALS_TO_VOTE),
            results: cached(KpiResults { db: db.clone() }),
            live_kpi: cached(LiveKpi {
                db: db.clone(),
                company,
                now,
                known: Default::default(),
            }),
        }
    }
}
