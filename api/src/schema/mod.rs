//! The GraphQL schema, split by area and merged here.

mod context;
mod org;
mod period;
mod scalars;

use async_graphql::{EmptyMutation, EmptySubscription, Interface, MergedObject, Schema};

pub use context::Ctx;

use crate::http::Limits;

#[derive(MergedObject, Default)]
pub struct Query(org::OrgQuery, period::PeriodQuery, NodeQuery);

pub type ZeroboardSchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub fn build_schema(limits: &Limits) -> ZeroboardSchema {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .finish()
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    build_schema(&Limits::default()).sdl()
}

/// Anything with a global ID.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "async_graphql::ID"))]
pub enum Node {
    Employee(org::Employee),
    Department(org::Department),
    Period(period::Period),
}

#[derive(Default)]
struct NodeQuery;

#[async_graphql::Object]
impl NodeQuery {
    /// Any object by its global ID; null when it does not exist or is not yours to see.
    async fn node(&self, ctx: &async_graphql::Context<'_>, id: async_graphql::ID) -> async_graphql::Result<Option<Node>> {
        use crate::id::{Kind, decode_any};
        let c = Ctx::new(ctx)?;
        let Some((kind, n)) = decode_any(&id) else { return Ok(None) };
        Ok(match kind {
            Kind::Employee => c.employee(n).await?.map(Node::Employee),
            Kind::Department => c.department(n).await?.map(Node::Department),
            Kind::Period => c.period(n).await?.map(Node::Period),
            Kind::Assignment => None,
        })
    }
}
