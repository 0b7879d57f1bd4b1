//! The GraphQL schema, split by area and merged here.

mod admin;
mod assignment;
mod context;
mod kb;
mod kpi;
mod org;
mod period;
mod scalars;
mod summary;

use async_graphql::{Context, EmptySubscription, ID, Interface, MergedObject, Object, Schema};
use sea_orm::EntityTrait;

pub use context::{Ctx, RequestCache};

use crate::http::Limits;
use crate::id::{Kind, decode_any};

#[derive(MergedObject, Default)]
pub struct Query(org::OrgQuery, period::PeriodQuery, assignment::AssignmentQuery, kpi::KpiQuery, NodeQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(assignment::AssignmentMutation, admin::AdminMutation, kb::KbMutation, kpi::KpiMutation);

pub type ZeroboardSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn build_schema(limits: &Limits) -> ZeroboardSchema {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_recursive_depth(limits.depth.max(32))
        .finish()
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    build_schema(&Limits::default()).sdl()
}

/// Anything with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Employee(org::Employee),
    Department(org::Department),
    Period(period::Period),
    Assignment(assignment::Assignment),
    Article(kb::Article),
    Proposal(kb::Proposal),
}

#[derive(Default)]
struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global ID; null when it does not exist or is not yours to see.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let c = Ctx::new(ctx)?;
        let Some((kind, n)) = decode_any(&id) else { return Ok(None) };
        Ok(match kind {
            Kind::Employee => c.employee(n).await?.map(Node::Employee),
            Kind::Department => c.department(n).await?.map(Node::Department),
            Kind::Period => c.period(n).await?.map(Node::Period),
            Kind::Assignment => assignment::load_visible(&c, n).await?.map(Node::Assignment),
            Kind::Article => {
                let row = context::db(entity::article::Entity::find_by_id(n).one(c.db()).await)?;
                match row {
                    Some(a) if in_audience(&c, a.department_id).await? => Some(Node::Article(kb::Article(a))),
                    _ => None,
                }
            }
            Kind::Proposal => {
                let row = context::db(entity::proposal::Entity::find_by_id(n).one(c.db()).await)?;
                match row {
                    Some(p) if in_audience(&c, p.department_id).await? => Some(Node::Proposal(kb::Proposal(p))),
                    _ => None,
                }
            }
            _ => None,
        })
    }
}

/// Whether the principal is in an audience (`None`: everyone); admins see every audience.
async fn in_audience(c: &Ctx<'_>, department: Option<i64>) -> async_graphql::Result<bool> {
    let Some(department) = department else { return Ok(true) };
    if c.who.is_admin() {
        return Ok(true);
    }
    let Some(me) = c.who.employee_id() else { return Ok(false) };
    Ok(c.employee(me).await?.is_some_and(|e| domain::kb::in_audience(Some(department), &e.0)))
}
