//! DataLoaders, created for each request (never in schema-global data, so one user's cache
//! can never answer another's request). Each is a thin adapter over a batch function of
//! `domain::read`: it only turns the keys resolvers ask for within one batch into that
//! function's arguments, so N lookups cost one statement.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::{DateTime, Utc};
use domain::read::{items, rows, tiles};
use domain::{DomainError, DomainResult};
use entity::{
    article, assignment, assignment_event, department, employee, kpi_adjustment, kpi_item,
    kpi_policy, kpi_result, kpi_target, period, proposal, vote,
};
use sea_orm::DatabaseConnection;

/// What a failed batch tells every resolver that waited for it.
pub type Failure = Arc<DomainError>;

/// The key of per-employee, per-period data.
pub type EmployeePeriod = (i64, i64);

/// Defines a loader over one batch function of `domain::read`: `$load` receives the
/// loader, its database and the batch's keys, and returns the answers.
macro_rules! loader {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* }, $key:ty => $value:ty,
     |$this:ident, $db:ident, $keys:ident| $load:expr) => {
        $(#[$doc])*
        pub struct $name {
            db: DatabaseConnection,
            $($field: $ty),*
        }

        impl Loader<$key> for $name {
            type Value = $value;
            type Error = Failure;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, Failure> {
                let ($this, $db, $keys) = (self, &self.db, keys);
                let answer: DomainResult<HashMap<$key, $value>> = $load;
                answer.map_err(Arc::new)
            }
        }
    };
}

/// Loads rows of one entity by primary key.
pub struct ById<E> {
    db: DatabaseConnection,
    _entity: std::marker::PhantomData<E>,
}

impl<E: rows::ById> Loader<i64> for ById<E>
where
    E::Model: Clone + Send + Sync,
{
    type Value = E::Model;
    type Error = Failure;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, E::Model>, Failure> {
        rows::by_ids::<E>(&self.db, keys).await.map_err(Arc::new)
    }
}

loader!(
    /// Everyone below each manager in the management chain (their reach): the reaches of a
    /// live batch's subscribers load in one statement.
    Reaches {}, i64 => HashSet<i64>,
    |_this, db, keys| domain::access::below_many(db, keys).await
);

loader!(
    /// The events of each assignment, oldest first.
    Events {}, i64 => Vec<assignment_event::Model>,
    |_this, db, keys| rows::events_of(db, keys).await
);

loader!(
    /// The adjustments of each KPI result, oldest first.
    Adjustments {}, i64 => Vec<kpi_adjustment::Model>,
    |_this, db, keys| rows::adjustments_of(db, keys).await
);

loader!(
    /// An employee's vote on each of many proposals: key `(proposal, employee)`.
    Votes {}, (i64, i64) => vote::Model,
    |_this, db, keys| rows::votes_of(db, keys).await
);

loader!(
    /// The KPI results of employees, newest period first.
    KpiResults {}, i64 => Vec<kpi_result::Model>,
    |_this, db, keys| rows::results_of(db, keys).await
);

loader!(
    /// The KPIs an employee's `averageKpi` averages, newest first (`rows::recent_kpis_of`).
    RecentKpis {}, i64 => Vec<i64>,
    |_this, db, keys| rows::recent_kpis_of(db, keys).await
);

/// The key of a board's tile counts: the employee, the period and the tiles asked.
pub type BoardKey = (i64, tiles::BoardPeriod, tiles::Asked);

loader!(
    /// The tile counts of employees' boards: the keys of a batch that share the period and
    /// the tiles asked load in one statement.
    Boards { now: DateTime<Utc> }, BoardKey => tiles::Board,
    |this, db, keys| {
        let pairs: Vec<_> = keys.iter().map(|(id, period, asked)| (*id, (*period, *asked))).collect();
        let mut out = HashMap::new();
        for ((period, asked), employees) in by_second(&pairs) {
            for (id, board) in tiles::boards_for(db, &employees, period, asked, this.now).await? {
                out.insert((id, period, asked), board);
            }
        }
        Ok(out)
    }
);

loader!(
    /// The live KPI of employees in a period (the `currentKpi` tile).
    LiveKpi {
        company: domain::Company,
        now: DateTime<Utc>,
        known: Arc<KnownPeriods>
    }, EmployeePeriod => f64,
    |this, db, keys| {
        let mut out = HashMap::new();
        for (period_id, employees) in by_second(keys) {
            let Some((period, policy)) = this.known.get(db, period_id).await? else { continue };
            let tz = this.company.calendar.tz;
            let kpis = domain::results::live_kpis(db, tz, &period, policy.as_ref(), &employees, this.now).await?;
            for (id, evaluation) in kpis {
                out.insert((id, period_id), evaluation.kpi_x100 as f64 / 100.0);
            }
        }
        Ok(out)
    }
);

loader!(
    /// The outlook of employees in an open period (`Summary.outlook`): the period's rows
    /// judged once per batch, whatever its size.
    Outlooks {
        company: domain::Company,
        now: DateTime<Utc>,
        known: Arc<KnownPeriods>
    }, EmployeePeriod => Arc<domain::results::Projection>,
    |this, db, keys| {
        let mut out = HashMap::new();
        for (period_id, employees) in by_second(keys) {
            let Some((period, policy)) = this.known.get(db, period_id).await? else { continue };
            let tz = this.company.calendar.tz;
            let found = domain::results::outlooks(db, tz, &period, policy.as_ref(), &employees, this.now).await?;
            for (id, projection) in found {
                out.insert((id, period_id), Arc::new(projection));
            }
        }
        Ok(out)
    }
);

/// The periods (with their policy version, when known) a request has read, handed to the
/// loaders that judge a period's rows (`LiveKpi`, `Outlooks`) so that they do not read them
/// again.
#[derive(Default)]
pub struct KnownPeriods(Mutex<HashMap<i64, (period::Model, Option<kpi_policy::Model>)>>);

impl KnownPeriods {
    pub fn remember(&self, period: &period::Model, policy: Option<&kpi_policy::Model>) {
        let policy = policy
            .filter(|p| p.version == period.policy_version)
            .cloned();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(period.id, (period.clone(), policy));
    }

    /// A period as remembered, else as read now; `None` if there is no such period.
    async fn get(
        &self,
        db: &DatabaseConnection,
        id: i64,
    ) -> DomainResult<Option<(period::Model, Option<kpi_policy::Model>)>> {
        let known = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        if known.is_some() {
            return Ok(known);
        }
        Ok(rows::by_ids::<period::Entity>(db, &[id])
            .await?
            .remove(&id)
            .map(|p| (p, None)))
    }
}

/// Keys grouped by their second part (a period), each group's first parts in key order.
fn by_second<A: Copy, B: Copy + Ord>(keys: &[(A, B)]) -> std::collections::BTreeMap<B, Vec<A>> {
    let mut groups = std::collections::BTreeMap::<B, Vec<A>>::new();
    for (a, b) in keys {
        groups.entry(*b).or_default().push(*a);
    }
    groups
}

/// The loaders of one request.
#[derive(Clone)]
pub struct Loaders(Arc<LoaderSet>);

impl std::ops::Deref for Loaders {
    type Target = LoaderSet;

    fn deref(&self) -> &LoaderSet {
        &self.0
    }
}

/// The loaders themselves.
pub struct LoaderSet {
    /// Periods read by this request, for the loaders that judge a period's rows.
    pub known_periods: Arc<KnownPeriods>,
    pub employees: Cached<ById<employee::Entity>>,
    pub departments: Cached<ById<department::Entity>>,
    pub periods: Cached<ById<period::Entity>>,
    pub assignments: Cached<ById<assignment::Entity>>,
    pub events: Cached<Events>,
    pub adjustments: Cached<Adjustments>,
    pub votes: Cached<Votes>,
    pub results: Cached<KpiResults>,
    pub recent_kpis: Cached<RecentKpis>,
    pub boards: Cached<Boards>,
    pub live_kpi: Cached<LiveKpi>,
    pub outlooks: Cached<Outlooks>,
    pub item_pages: Cached<KpiItemPages>,
    pub items: Cached<KpiItems>,
    pub policies: Cached<Policies>,
    pub reaches: Cached<Reaches>,
    pub articles: Cached<ById<article::Entity>>,
    pub proposals: Cached<ById<proposal::Entity>>,
    pub targets: Cached<ById<kpi_target::Entity>>,
}

/// A loader whose answers are kept for the rest of the request, so a key loads once and a
/// prefetch (`load_many`, `feed_many`) serves the resolvers that follow.
pub type Cached<T> = DataLoader<T, HashMapCache>;

fn cached<T: Loader<K>, K: Send + Sync + std::hash::Hash + Eq + Clone + 'static>(
    delay: Option<std::time::Duration>,
    loader: T,
) -> Cached<T>
where
    T::Value: Clone,
{
    let loader = DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default());
    match delay {
        Some(d) => loader.delay(d),
        None => loader,
    }
}

/// How long the loaders of a live batch wait for more keys: the boards of one batch are
/// resolved by as many tasks as there are subscriptions, which ask within a few
/// milliseconds of each other rather than within one poll.
const SHARED_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

impl Loaders {
    pub fn new(db: &DatabaseConnection, company: domain::Company, now: DateTime<Utc>) -> Self {
        Loaders(Arc::new(LoaderSet::new(db, company, now, None)))
    }

    /// Loaders shared by the boards of one live batch (see `live`): the same loaders,
    /// waiting a little longer for each batch of keys.
    pub fn shared(db: &DatabaseConnection, company: domain::Company, now: DateTime<Utc>) -> Self {
        Loaders(Arc::new(LoaderSet::new(
            db,
            company,
            now,
            Some(SHARED_DELAY),
        )))
    }
}

impl LoaderSet {
    fn new(
        db: &DatabaseConnection,
        company: domain::Company,
        now: DateTime<Utc>,
        delay: Option<std::time::Duration>,
    ) -> Self {
        fn by_id<E: rows::ById>(
            db: &DatabaseConnection,
            delay: Option<std::time::Duration>,
        ) -> Cached<ById<E>>
        where
            E::Model: Clone + Send + Sync,
        {
            cached(
                delay,
                ById {
                    db: db.clone(),
                    _entity: std::marker::PhantomData,
                },
            )
        }
        let db = || db.clone();
        let known_periods = Arc::new(KnownPeriods::default());
        LoaderSet {
            known_periods: known_periods.clone(),
            employees: by_id(&db(), delay),
            departments: by_id(&db(), delay),
            periods: by_id(&db(), delay),
            assignments: by_id(&db(), delay),
            events: cached(delay, Events { db: db() }),
            adjustments: cached(delay, Adjustments { db: db() }),
            votes: cached(delay, Votes { db: db() }),
            results: cached(delay, KpiResults { db: db() }),
            recent_kpis: cached(delay, RecentKpis { db: db() }),
            boards: cached(delay, Boards { db: db(), now }),
            live_kpi: cached(
                delay,
                LiveKpi {
                    db: db(),
                    company,
                    now,
                    known: known_periods.clone(),
                },
            ),
            outlooks: cached(
                delay,
                Outlooks {
                    db: db(),
                    company,
                    now,
                    known: known_periods.clone(),
                },
            ),
            item_pages: cached(delay, KpiItemPages { db: db() }),
            items: cached(delay, KpiItems { db: db() }),
            policies: cached(delay, Policies { db: db() }),
            reaches: cached(delay, Reaches { db: db() }),
            articles: by_id(&db(), delay),
            proposals: by_id(&db(), delay),
            targets: by_id(&db(), delay),
        }
    }
}

loader!(
    /// A page of each KPI result's items: key `(result, window)`; the results asking for the
    /// same window (a page of results asking `items(first: 20)`) load in one statement.
    KpiItemPages {}, (i64, items::Window) => items::ItemPage,
    |_this, db, keys| {
        let mut out = HashMap::new();
        for (window, results) in by_second(keys) {
            for (id, page) in items::pages_of(db, &results, window).await? {
                out.insert((id, window), page);
            }
        }
        Ok(out)
    }
);

loader!(
    /// All the items of each KPI result, in order (for its explanation).
    KpiItems {}, i64 => Vec<kpi_item::Model>,
    |_this, db, keys| items::items_of(db, keys).await
);

loader!(
    /// KPI policy versions by number.
    Policies {}, i32 => kpi_policy::Model,
    |_this, db, keys| rows::policies_of(db, keys).await
);
