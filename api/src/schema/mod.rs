//! The GraphQL schema, split by area and merged here.

mod admin;
mod assignment;
mod kb;
mod kpi;
mod kpi_item;
mod live;
mod mirror;
mod org;
mod outlook;
mod period;
mod scalars;
mod summary;
mod webhook;

use async_graphql::{Context, ID, Interface, MergedObject, Object, Schema};
use domain::access::Material;
use sea_orm::EntityTrait;

pub(crate) use crate::context::Ctx;

use crate::id::{Kind, decode_any};
use crate::limits::Limits;

#[derive(MergedObject, Default)]
pub struct Query(
    org::OrgQuery,
    period::PeriodQuery,
    assignment::AssignmentQuery,
    kpi::KpiQuery,
    webhook::WebhookQuery,
    NodeQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    assignment::AssignmentMutation,
    admin::AdminMutation,
    kb::KbMutation,
    kpi::KpiMutation,
    webhook::WebhookMutation,
    org::OrgMutation,
);

pub use live::Subscription;

pub type ZeroboardSchema = Schema<Query, Mutation, Subscription>;

/// The schema requests over HTTP are executed by: no extension, since with any extension
/// async-graphql resolves every field on its slow path (a registry lookup and a boxed hook
/// per field), which a report of 300 rows pays thousands of times.
pub fn build_schema(limits: &Limits) -> ZeroboardSchema {
    limited(
        Schema::build(Query::default(), Mutation::default(), Subscription),
        limits,
    )
    .finish()
}

/// The same schema for WebSocket connections, with the extension that gives each of their
/// executions its loaders (`live::Fresh`).
pub fn build_live_schema(limits: &Limits) -> ZeroboardSchema {
    limited(
        Schema::build(Query::default(), Mutation::default(), Subscription),
        limits,
    )
    .extension(crate::live::Fresh)
    .finish()
}

fn limited(
    builder: async_graphql::SchemaBuilder<Query, Mutation, Subscription>,
    limits: &Limits,
) -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    builder
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_recursive_depth(limits.nesting)
        .limit_directives(limits.directives)
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
        let Some((kind, n)) = decode_any(&id) else {
            return Ok(None);
        };
        Ok(match kind {
            Kind::Employee => c
                .employee(n)
                .await?
                .map(|e| Node::Employee(org::Employee(e))),
            Kind::Department => c
                .department(n)
                .await?
                .map(|d| Node::Department(org::Department(d))),
            Kind::Period => c.period(n).await?.map(|p| Node::Period(period::Period(p))),
            Kind::Assignment => assignment::load_visible(&c, n).await?.map(Node::Assignment),
            Kind::Article => {
                let row =
                    crate::context::db(entity::article::Entity::find_by_id(n).one(c.db()).await)?;
                match row {
                    Some(a)
                        if sees(
                            &c,
                            Material {
                                author_id: a.author_id,
                                audience: a.department_id,
                                visible_from: a.published_at,
                            },
                        )
                        .await? =>
                    {
                        Some(Node::Article(kb::Article(a)))
                    }
                    _ => None,
                }
            }
            Kind::Proposal => {
                let row =
                    crate::context::db(entity::proposal::Entity::find_by_id(n).one(c.db()).await)?;
                match row {
                    Some(p)
                        if sees(
                            &c,
                            Material {
                                author_id: p.author_id,
                                audience: p.department_id,
                                visible_from: p.opens_at,
                            },
                        )
                        .await? =>
                    {
                        Some(Node::Proposal(kb::Proposal(p)))
                    }
                    _ => None,
                }
            }
            _ => None,
        })
    }
}

/// Whether the principal may see an article or a proposal (`domain::access` decides).
async fn sees(c: &Ctx<'_>, material: Material) -> async_graphql::Result<bool> {
    let department = match c.who.employee_id() {
        Some(me) => c.employee(me).await?.map(|e| e.department_id),
        None => None,
    };
    Ok(domain::access::sees_material(
        c.who,
        department,
        material,
        c.now(),
    ))
}
