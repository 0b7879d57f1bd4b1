//! Relay cursor connections over an ordered sea-orm select, keyed by row id.

use async_graphql::connection::{Connection, Edge, EmptyFields, OpaqueCursor};
use async_graphql::futures_util::future::BoxFuture;
use async_graphql::{Object, OutputType};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::context::Ctx;
use crate::error::{OrGql, bad_input};

pub const DEFAULT_PAGE: i32 = 20;

/// The complexity a list without `first` counts per item: short lists (an assignment's
/// events, a result's adjustments and tallies) and long ones (report rows, departments).
pub const SHORT_LIST: usize = 10;
pub const LONG_LIST: usize = 100;

/// The largest offset an offset cursor may carry: far past any real list, and far from
/// the integer bounds the SQL binders take.
pub const MAX_OFFSET: i64 = 1 << 31;

/// A connection's complexity: its page size (`first`, default 20) times its selection.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    list_cost(
        first.unwrap_or(DEFAULT_PAGE).max(1) as usize,
        child_complexity,
    )
}

/// The most one list may count. async-graphql adds the costs of sibling fields without
/// saturating, so a cost of `usize::MAX` would overflow that sum (a panic in debug builds,
/// a wrap to a small total in release ones); capped here, a body's worth of fields at this
/// cost stays far inside `usize` while each is still far over any complexity limit.
pub const MAX_COST: usize = 1 << 40;

/// A list's complexity: the items it may hold times the selection on each.
pub fn list_cost(items: usize, child_complexity: usize) -> usize {
    items
        .saturating_mul(child_complexity)
        .saturating_add(1)
        .min(MAX_COST)
}

/// Extra fields on every connection. The total is counted only when a client asks for it.
pub struct Counted {
    count: Box<dyn Fn() -> BoxFuture<'static, Result<u64, sea_orm::DbErr>> + Send + Sync>,
}

impl Counted {
    /// The total of a select, counted when `totalCount` is resolved.
    fn of<E: EntityTrait>(c: &Ctx<'_>, select: &Select<E>) -> Self
    where
        E::Model: Sync,
    {
        let db = c.db().clone();
        let select = select.clone();
        Counted {
            count: Box::new(move || {
                let (db, select) = (db.clone(), select.clone());
                Box::pin(async move { select.count(&db).await })
            }),
        }
    }
}

impl Counted {
    /// A total already known, e.g. counted by the statement that read the page.
    pub fn known(total: u64) -> Self {
        Counted {
            count: Box::new(move || Box::pin(async move { Ok(total) })),
        }
    }

    pub async fn count(&self) -> async_graphql::Result<u64> {
        (self.count)().await.gql()
    }
}

#[Object]
impl Counted {
    /// How many items the whole list has, over all pages.
    async fn total_count(&self) -> async_graphql::Result<u64> {
        self.count().await
    }
}

pub type Page<T> = Connection<OpaqueCursor<i64>, T, Counted, EmptyFields>;

/// Checks `first` (1 to the page-size limit, default 20 or the limit if smaller).
pub fn page_size(first: Option<i32>, max: i32) -> async_graphql::Result<u64> {
    match first.unwrap_or(DEFAULT_PAGE.min(max)) {
        n if (1..=max).contains(&n) => Ok(n as u64),
        n => Err(bad_input(
            "first",
            format!("`first` must be between 1 and {max}, got {n}"),
        )),
    }
}

pub fn decode_after(after: Option<String>) -> async_graphql::Result<Option<i64>> {
    use async_graphql::connection::CursorType;
    after
        .map(|a| {
            OpaqueCursor::<i64>::decode_cursor(&a)
                .map(|c| c.0)
                .map_err(|_| bad_input("after", "`after` is not a valid cursor"))
        })
        .transpose()
}

/// `first` and `after`, as a connection field receives them.
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
}

impl PageArgs {
    pub fn new(first: Option<i32>, after: Option<String>) -> Self {
        PageArgs { first, after }
    }
}

/// Which way the id runs down the list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// One page of `select`, ordered by `id_column`, with the total count of the whole select.
pub async fn page<E, C, T>(
    c: &Ctx<'_>,
    select: Select<E>,
    id_column: C,
    order: Order,
    args: PageArgs,
    id_of: impl Fn(&E::Model) -> i64,
    wrap: impl Fn(E::Model) -> T,
) -> async_graphql::Result<Page<T>>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ColumnTrait,
    T: OutputType,
{
    let db = c.db();
    let size = page_size(args.first, c.state.limits.page_size)?;
    let after = decode_after(args.after)?;
    let total = Counted::of(c, &select);
    let mut rows = select;
    if let Some(after) = after {
        rows = match order {
            Order::Ascending => rows.filter(id_column.gt(after)),
            Order::Descending => rows.filter(id_column.lt(after)),
        };
    }
    rows = match order {
        Order::Ascending => rows.order_by_asc(id_column),
        Order::Descending => rows.order_by_desc(id_column),
    };
    let mut items = rows.limit(size + 1).all(db).await.gql()?;
    let has_next = items.len() as u64 > size;
    items.truncate(size as usize);
    let mut connection = Connection::with_additional_fields(after.is_some(), has_next, total);
    connection.edges.extend(
        items
            .into_iter()
            .map(|row| Edge::new(OpaqueCursor(id_of(&row)), wrap(row))),
    );
    Ok(connection)
}

/// One page of a select in its own order, with offset cursors: for drill-down lists
/// ordered by something other than the id (oldest submission first, earliest due first).
pub async fn page_by_offset<E, T>(
    c: &Ctx<'_>,
    select: Select<E>,
    args: PageArgs,
    wrap: impl Fn(E::Model) -> T,
) -> async_graphql::Result<Page<T>>
where
    E: EntityTrait,
    E::Model: Sync,
    T: OutputType,
{
    let db = c.db();
    let size = page_size(args.first, c.state.limits.page_size)?;
    let start = match decode_after(args.after)? {
        Some(offset) if (0..MAX_OFFSET).contains(&offset) => offset as u64 + 1,
        Some(_) => return Err(bad_input("after", "`after` is not a cursor of this list")),
        None => 0,
    };
    let total = Counted::of(c, &select);
    let mut items = select.offset(start).limit(size + 1).all(db).await.gql()?;
    let has_next = items.len() as u64 > size;
    items.truncate(size as usize);
    let mut connection = Connection::with_additional_fields(start > 0, has_next, total);
    connection.edges.extend(
        items
            .into_iter()
            .enumerate()
            .map(|(i, row)| Edge::new(OpaqueCursor((start + i as u64) as i64), wrap(row))),
    );
    Ok(connection)
}

/// One page of a list computed in memory, in its own order, with offset cursors as
/// [`page_by_offset`] gives them: for lists no select can produce (an outlook's items).
pub fn page_of_list<T: OutputType>(
    c: &Ctx<'_>,
    items: Vec<T>,
    args: PageArgs,
) -> async_graphql::Result<Page<T>> {
    let size = page_size(args.first, c.state.limits.page_size)?;
    let start = match decode_after(args.after)? {
        Some(offset) if (0..MAX_OFFSET).contains(&offset) => offset as u64 + 1,
        Some(_) => return Err(bad_input("after", "`after` is not a cursor of this list")),
        None => 0,
    };
    let total = items.len() as u64;
    let has_next = total > start.saturating_add(size);
    let mut connection =
        Connection::with_additional_fields(start > 0, has_next, Counted::known(total));
    connection.edges.extend(
        items
            .into_iter()
            .enumerate()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(size as usize)
            .map(|(i, item)| Edge::new(OpaqueCursor(i as i64), item)),
    );
    Ok(connection)
}
