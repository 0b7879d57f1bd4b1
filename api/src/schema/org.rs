//! The organisation: employees and departments.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use entity::{department, employee};
use sea_orm::{EntityTrait, QueryOrder};

use super::kpi::KpiResult;
use super::mirror::mirror_enum;
use super::scalars::Date;
use super::summary::{Summary, prefetch, summary_of};
use crate::context::{Ctx, db};
use crate::error::OrGql;
use crate::id::{Kind, decode, encode};
use crate::paging::{Order, Page, PageArgs, page};

use entity::enums::{Language as StoredLanguage, Role as StoredRole};

mirror_enum!(Role <=> StoredRole { Employee, Manager, Admin });
mirror_enum!(
    /// The language of the messages Zeroboard sends a person: English or Russian.
    Language <=> StoredLanguage { En, Ru }
);

/// A person in the company directory.
pub struct Employee(pub employee::Model);

impl Employee {
    /// Whether the principal may see this person's private fields: themselves, those
    /// above them, admins and payroll.
    async fn private(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let c = Ctx::new(ctx)?;
        Ok(domain::access::private_fields(
            c.who,
            &*c.reach_for(self.0.id).await?,
            self.0.id,
        ))
    }
}

#[Object]
impl Employee {
    pub async fn id(&self) -> ID {
        encode(Kind::Employee, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Visible to the employee, those above them, admins and payroll; null for others,
    /// who see the directory's names and departments only.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        Ok(self.private(ctx).await?.then_some(self.0.email.as_str()))
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// Whether they read payroll figures (closed periods' results and the exports).
    /// Visible like `email`.
    async fn payroll(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<bool>> {
        Ok(self.private(ctx).await?.then_some(self.0.payroll))
    }

    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Department>> {
        Ok(Ctx::new(ctx)?
            .department(self.0.department_id)
            .await?
            .map(Department))
    }

    /// The employee's manager; null at the top of the chain.
    async fn manager(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        match self.0.manager_id {
            Some(id) => Ok(Ctx::new(ctx)?.employee(id).await?.map(Employee)),
            None => Ok(None),
        }
    }

    /// Visible like `email`.
    async fn hired_on(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Date>> {
        Ok(self.private(ctx).await?.then_some(Date(self.0.hired_on)))
    }

    /// The last working day; null while employed (and for those who may not see it).
    async fn left_on(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Date>> {
        Ok(if self.private(ctx).await? {
            self.0.left_on.map(Date)
        } else {
            None
        })
    }

    /// The language of the messages Zeroboard sends them (the e-mail reminders). Visible
    /// like `email`.
    async fn language(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Language>> {
        Ok(self.private(ctx).await?.then_some(self.0.language.into()))
    }

    /// Whether they get the daily e-mail reminders of their overdue work and of the
    /// submissions waiting for them. Visible like `email`.
    async fn reminders(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<bool>> {
        Ok(self.private(ctx).await?.then_some(self.0.reminders))
    }

    /// The tiles of this employee for a period (default: the current one). Yours, your
    /// subtree's, or anyone's for an admin; NOT_FOUND otherwise.
    async fn summary(
        &self,
        ctx: &Context<'_>,
        period_id: Option<ID>,
    ) -> async_graphql::Result<Summary> {
        let asked = super::summary::asked(&ctx.look_ahead());
        summary_of(&Ctx::new(ctx)?, self.0.id, period_id, asked).await
    }

    /// KPI results of closed periods, newest first (yours, your subtree's; admins and
    /// payroll see everyone's).
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn kpi_history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<KpiResult>> {
        let c = Ctx::new(ctx)?;
        let page = super::kpi::history(&c, self.0.id, first, after).await?;
        super::kpi::prefetch(&c, ctx.look_ahead(), &page).await?;
        Ok(page)
    }
}

pub struct Department(pub department::Model);

#[Object]
impl Department {
    pub async fn id(&self) -> ID {
        encode(Kind::Department, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }
}

#[derive(Default)]
pub struct OrgQuery;

#[Object]
impl OrgQuery {
    /// The employee behind the token; null for a service token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        let c = Ctx::new(ctx)?;
        match c.who.employee_id() {
            Some(id) => Ok(c.employee(id).await?.map(Employee)),
            None => Ok(None),
        }
    }

    /// One employee of the directory.
    async fn employee(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Employee>> {
        let c = Ctx::new(ctx)?;
        Ok(c.employee(decode(&id, Kind::Employee, "id")?)
            .await?
            .map(Employee))
    }

    /// The directory, in the order people were added.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn employees(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Employee>> {
        let c = Ctx::new(ctx)?;
        let page = page(
            &c,
            employee::Entity::find(),
            employee::Column::Id,
            Order::Ascending,
            PageArgs::new(first, after),
            |e| e.id,
            Employee,
        )
        .await?;
        // Load what the page's nodes ask for up front, one statement per kind, whether they
        // are selected through `edges { node }` or `nodes` (loaded once if through both).
        let rows: Vec<&employee::Model> = page.edges.iter().map(|e| &e.node.0).collect();
        c.loaders
            .employees
            .feed_many(rows.iter().map(|e| (e.id, (*e).clone())))
            .await;
        let ids: Vec<i64> = rows.iter().map(|e| e.id).collect();
        let look = ctx.look_ahead();
        for node in [look.field("edges").field("node"), look.field("nodes")] {
            if node.field("department").exists() {
                c.loaders
                    .departments
                    .load_many(rows.iter().map(|e| e.department_id))
                    .await
                    .gql()?;
            }
            if node.field("manager").exists() {
                c.loaders
                    .employees
                    .load_many(rows.iter().filter_map(|e| e.manager_id))
                    .await
                    .gql()?;
            }
            prefetch(&c, node.field("summary"), &ids).await?;
        }
        Ok(page)
    }

    #[graphql(complexity = "crate::paging::list_cost(crate::paging::LONG_LIST, child_complexity)")]
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Department>> {
        let c = Ctx::new(ctx)?;
        let rows = db(department::Entity::find()
            .order_by_asc(department::Column::Name)
            .all(c.db())
            .await)?;
        Ok(rows.into_iter().map(Department).collect())
    }
}

/// What a person may change about themselves; fields left out stay as they are.
#[derive(InputObject)]
pub struct ProfileFields {
    /// The language of the messages Zeroboard sends (the e-mail reminders).
    pub language: Option<Language>,
    /// False turns the daily e-mail reminders off; true turns them back on.
    pub reminders: Option<bool>,
}

#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    /// The signed-in employee's own settings: the language of their messages and whether
    /// they get e-mail reminders. Not for service tokens (FORBIDDEN); admins change
    /// anyone's with `updateEmployee`.
    async fn update_my_profile(
        &self,
        ctx: &Context<'_>,
        input: ProfileFields,
    ) -> async_graphql::Result<Employee> {
        let c = Ctx::new(ctx)?;
        let me = domain::access::require_employee(c.who).gql()?;
        let input = domain::org::ProfileInput {
            language: input.language.map(Into::into),
            reminders: input.reminders,
        };
        Ok(Employee(
            domain::org::update_profile(c.db(), c.who, me, input)
                .await
                .gql_input()?,
        ))
    }
}
