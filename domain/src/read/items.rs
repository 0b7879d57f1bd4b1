//! The stored items of KPI results (`kpi_item`, written by the close): a page of each of
//! many results in one statement, all of each result's items for its explanation, and a
//! closed period's items for the payroll export. Items are read in `position` order, the
//! display order the close stored.

use std::collections::HashMap;

use entity::{kpi_item, kpi_result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
};

use crate::DomainResult;
use crate::explain::{ItemKind, ItemOutcome};

/// Which items of a result one page holds: those of a kind and/or an outcome, after the
/// item at position `after` (0: from the start), at most `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub kind: Option<ItemKind>,
    pub outcome: Option<ItemOutcome>,
    pub after: i32,
    pub first: u64,
}

/// One page of one result's items.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemPage {
    pub items: Vec<kpi_item::Model>,
    /// Whether more items of the window follow the page.
    pub has_next: bool,
    /// The items of the kind and outcome over all pages.
    pub total: u64,
}

/// A page of each result's items, in one statement whatever the number of results: the
/// items of the window's kind and outcome are numbered per result in SQL (one count over
/// the whole filtered list for `total`, one running count of those after the cursor), and
/// only the page, one item more to tell whether another page follows, and the first item
/// (which carries `total` when the page is past the end) come back. Every result asked for
/// gets a page, empty when it has no such items.
pub async fn pages_of(
    db: &impl ConnectionTrait,
    results: &[i64],
    window: Window,
) -> DomainResult<HashMap<i64, ItemPage>> {
    let mut out: HashMap<i64, ItemPage> =
        results.iter().map(|r| (*r, ItemPage::default())).collect();
    if results.is_empty() {
        return Ok(out);
    }
    let rows = db.query_all(&page_query(results, window)).await?;
    for row in rows {
        let item = kpi_item::Model::from_query_result(&row, "")?;
        let total: i64 = row.try_get("", "total")?;
        let page = out.entry(item.result_id).or_default();
        page.total = u64::try_from(total).unwrap_or(0);
        if item.position <= window.after {
            continue; // the carrier of `total`, before the cursor
        }
        if page.items.len() as u64 >= window.first {
            page.has_next = true;
        } else {
            page.items.push(item);
        }
    }
    Ok(out)
}

/// `SELECT * FROM (SELECT kpi_item.*, COUNT(*) OVER w AS total, ROW_NUMBER() OVER w' AS
/// number, SUM(CASE WHEN position > after THEN 1 ELSE 0 END) OVER w' AS past FROM kpi_item
/// WHERE …) AS t WHERE (position > after AND past <= first + 1) OR number = 1 ORDER BY
/// result_id, position`, with `w` partitioned by result and `w'` also ordered by position.
fn page_query(results: &[i64], window: Window) -> SelectStatement {
    use sea_orm::sea_query::WindowStatement;
    let by_result = || WindowStatement::partition_by(kpi_item::Column::ResultId);
    let in_order = || {
        by_result()
            .order_by(kpi_item::Column::Position, Order::Asc)
            .to_owned()
    };
    let mut inner = Query::select();
    inner
        .columns(kpi_item_columns())
        .from(kpi_item::Entity)
        .expr_window_as(
            Func::count(Expr::col(kpi_item::Column::Position)),
            by_result(),
            Alias::new("total"),
        )
        .expr_window_as(Func::cust("ROW_NUMBER"), in_order(), Alias::new("number"))
        .expr_window_as(
            Func::sum(
                Expr::case(
                    Expr::col(kpi_item::Column::Position).gt(window.after),
                    Expr::val(1i32),
                )
                .finally(Expr::val(0i32)),
            ),
            in_order(),
            Alias::new("past"),
        )
        .and_where(kpi_item::Column::ResultId.is_in(results.iter().copied()));
    if let Some(kind) = window.kind {
        inner.and_where(kpi_item::Column::Kind.eq(kind.code()));
    }
    if let Some(outcome) = window.outcome {
        inner.and_where(kpi_item::Column::Outcome.eq(outcome.code()));
    }
    let past_limit = i64::try_from(window.first.saturating_add(1)).unwrap_or(i64::MAX);
    Query::select()
        .column(sea_orm::sea_query::Asterisk)
        .from_subquery(inner.to_owned(), Alias::new("t"))
        .cond_where(
            sea_orm::Condition::any()
                .add(
                    Expr::col(Alias::new("position"))
                        .gt(window.after)
                        .and(Expr::col(Alias::new("past")).lte(past_limit)),
                )
                .add(Expr::col(Alias::new("number")).eq(1i64)),
        )
        .order_by(Alias::new("result_id"), Order::Asc)
        .order_by(Alias::new("position"), Order::Asc)
        .to_owned()
}

fn kpi_item_columns() -> Vec<(kpi_item::Entity, kpi_item::Column)> {
    use sea_orm::Iterable;
    kpi_item::Column::iter()
        .map(|c| (kpi_item::Entity, c))
        .collect()
}

/// All the items of each result, in order; every result asked for gets an entry.
pub async fn items_of(
    db: &impl ConnectionTrait,
    results: &[i64],
) -> DomainResult<HashMap<i64, Vec<kpi_item::Model>>> {
    let rows = kpi_item::Entity::find()
        .filter(kpi_item::Column::ResultId.is_in(results.iter().copied()))
        .order_by_asc(kpi_item::Column::ResultId)
        .order_by_asc(kpi_item::Column::Position)
        .all(db)
        .await?;
    let mut out: HashMap<i64, Vec<kpi_item::Model>> =
        results.iter().map(|r| (*r, Vec::new())).collect();
    for row in rows {
        out.entry(row.result_id).or_default().push(row);
    }
    Ok(out)
}

/// Every item of a period's results, by result id, each result's in order.
pub async fn items_of_period(
    db: &impl ConnectionTrait,
    period_id: i64,
) -> DomainResult<HashMap<i64, Vec<kpi_item::Model>>> {
    let results = Query::select()
        .column(kpi_result::Column::Id)
        .from(kpi_result::Entity)
        .and_where(kpi_result::Column::PeriodId.eq(period_id))
        .to_owned();
    let rows = kpi_item::Entity::find()
        .filter(kpi_item::Column::ResultId.in_subquery(results))
        .order_by_asc(kpi_item::Column::ResultId)
        .order_by_asc(kpi_item::Column::Position)
        .all(db)
        .await?;
    let mut out: HashMap<i64, Vec<kpi_item::Model>> = HashMap::new();
    for row in rows {
        out.entry(row.result_id).or_default().push(row);
    }
    Ok(out)
}
