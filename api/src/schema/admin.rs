//! Changes to the organisation and to what people are asked to do: departments,
//! employees, duty templates, additional assignments, KPI targets, tokens.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::auth::Scope;
use domain::org::EmployeeInput;
use domain::text::{self, Kind as TextKind};
use domain::tokens::TokenOwner;
use domain::work::{AssignmentInput, TemplateInput};
use entity::{api_token, duty_template, kpi_target};

use super::assignment::Assignment;
use super::org::{Department, Employee, Language, Role};
use super::period::Period;
use super::scalars::Date;
use crate::context::Ctx;
use crate::error::{OrGql, bad_input};
use crate::id::{Kind, decode, encode};

fn id_of(id: &ID, kind: Kind, field: &str) -> async_graphql::Result<i64> {
    decode(id, kind, field)
}

fn maybe_id(
    v: &MaybeUndefined<ID>,
    kind: Kind,
    field: &str,
) -> async_graphql::Result<Option<Option<i64>>> {
    Ok(match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(id) => Some(Some(id_of(id, kind, field)?)),
    })
}

/// A recurring job duty.
pub struct DutyTemplate(pub duty_template::Model);

#[Object]
impl DutyTemplate {
    pub async fn id(&self) -> ID {
        encode(Kind::DutyTemplate, self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn weight(&self) -> f64 {
        self.0.weight
    }
    /// The fixed controller; null means each employee's manager.
    async fn controller(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        match self.0.controller_id {
            Some(id) => Ok(Ctx::new(ctx)?.employee(id).await?.map(Employee)),
            None => Ok(None),
        }
    }
    /// The one employee targeted, if the template targets an employee.
    async fn employee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        match self.0.employee_id {
            Some(id) => Ok(Ctx::new(ctx)?.employee(id).await?.map(Employee)),
            None => Ok(None),
        }
    }
    /// The department targeted (every active member), if the template targets one.
    async fn department(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Department>> {
        match self.0.department_id {
            Some(id) => Ok(Ctx::new(ctx)?.department(id).await?.map(Department)),
            None => Ok(None),
        }
    }
    async fn every_n_periods(&self) -> i32 {
        self.0.every_n_periods
    }
    /// Due this many days after the period starts; null means at the period's end.
    async fn due_offset_days(&self) -> Option<i32> {
        self.0.due_offset_days
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn starts_on(&self) -> Date {
        Date(self.0.starts_on)
    }
}

/// A KPI target of one employee in one period.
pub struct KpiTarget(pub kpi_target::Model);

#[Object]
impl KpiTarget {
    pub async fn id(&self) -> ID {
        encode(Kind::KpiTarget, self.0.id)
    }
    async fn employee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        Ok(Ctx::new(ctx)?
            .employee(self.0.employee_id)
            .await?
            .map(Employee))
    }
    async fn period(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<super::period::Period>> {
        Ok(Ctx::new(ctx)?.period(self.0.period_id).await?.map(Period))
    }
    async fn metric(&self) -> &str {
        &self.0.metric
    }
    async fn target(&self) -> f64 {
        self.0.target_value
    }
    /// Null until recorded; an unrecorded actual counts 0 at close.
    async fn actual(&self) -> Option<f64> {
        self.0.actual_value
    }
    async fn weight(&self) -> f64 {
        self.0.weight
    }
    async fn recorded_at(&self) -> Option<DateTime<Utc>> {
        self.0.recorded_at
    }
}

/// A bearer token's record; the secret itself is shown only when created.
pub struct ApiToken(pub api_token::Model);

#[Object]
impl ApiToken {
    pub async fn id(&self) -> ID {
        encode(Kind::ApiToken, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn employee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        match self.0.employee_id {
            Some(id) => Ok(Ctx::new(ctx)?.employee(id).await?.map(Employee)),
            None => Ok(None),
        }
    }
    async fn service(&self) -> Option<&str> {
        self.0.service.as_deref()
    }
    async fn scopes(&self) -> Vec<&str> {
        self.0.scopes.split_whitespace().collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
}

/// A one-time sign-in link for the web page.
#[derive(SimpleObject)]
pub struct LoginLink {
    /// Open it in a browser to sign in; it works once, until `expiresAt`.
    url: String,
    expires_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct CreatedToken {
    /// The secret, shown this once: send it as `Authorization: Bearer <secret>`.
    secret: String,
    token: ApiToken,
}

/// An employee's fields. Texts follow the text rules: no control or bidirectional
/// override characters, not blank or only invisible characters.
#[derive(InputObject)]
pub struct EmployeeFields {
    /// At most 200 characters, one line.
    pub name: Option<String>,
    /// At most 254 characters; unique regardless of case (Unicode case folding).
    pub email: Option<String>,
    pub role: Option<Role>,
    pub department_id: Option<ID>,
    /// Null removes the manager. An active employee, not this one nor anyone below them.
    pub manager_id: MaybeUndefined<ID>,
    /// From 1900-01-01 to 2200-12-31, and not after the day the employee left.
    pub hired_on: Option<Date>,
    /// Reads what the `payroll:read` scope reads: closed periods' results and the
    /// exports (a new employee: false).
    pub payroll: Option<bool>,
    /// The language of the messages Zeroboard sends them [default: EN].
    pub language: Option<Language>,
    /// Whether they get the daily e-mail reminders [default: true].
    pub reminders: Option<bool>,
}

impl EmployeeFields {
    fn decode(self) -> async_graphql::Result<EmployeeInput> {
        Ok(EmployeeInput {
            name: self.name,
            email: self.email,
            role: self.role.map(Into::into),
            department_id: self
                .department_id
                .map(|d| id_of(&d, Kind::Department, "input.departmentId"))
                .transpose()?,
            manager_id: maybe_id(&self.manager_id, Kind::Employee, "input.managerId")?,
            hired_on: self.hired_on.map(|d| d.0),
            payroll: self.payroll,
            language: self.language.map(Into::into),
            reminders: self.reminders,
        })
    }
}

/// A duty template's fields.
#[derive(InputObject)]
pub struct DutyTemplateFields {
    /// At most 200 characters, one line, not blank.
    pub title: Option<String>,
    /// At most 20,000 characters.
    pub description: Option<String>,
    /// Above 0 and at most 1000 (default 1).
    pub weight: Option<f64>,
    /// Null: each employee's manager controls. Someone who has not left.
    pub controller_id: MaybeUndefined<ID>,
    /// Target one employee (who has not left) ...
    pub employee_id: Option<ID>,
    /// ... or every active member of a department.
    pub department_id: Option<ID>,
    /// From 1 to 24 (default 1).
    pub every_n_periods: Option<i32>,
    /// Null: due at the period's end; else from 0 to 62 days after the period starts.
    pub due_offset_days: MaybeUndefined<i32>,
    /// From 1900-01-01 to 2200-12-31.
    pub starts_on: Option<Date>,
    pub active: Option<bool>,
}

impl DutyTemplateFields {
    fn decode(self) -> async_graphql::Result<TemplateInput> {
        Ok(TemplateInput {
            title: self.title,
            description: self.description,
            weight: self.weight,
            controller_id: maybe_id(&self.controller_id, Kind::Employee, "input.controllerId")?,
            employee_id: self
                .employee_id
                .map(|d| id_of(&d, Kind::Employee, "input.employeeId"))
                .transpose()?,
            department_id: self
                .department_id
                .map(|d| id_of(&d, Kind::Department, "input.departmentId"))
                .transpose()?,
            every_n_periods: self.every_n_periods,
            due_offset_days: match self.due_offset_days {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
            starts_on: self.starts_on.map(|d| d.0),
            active: self.active,
        })
    }
}

/// An additional assignment's fields.
#[derive(InputObject)]
pub struct AssignmentFields {
    /// Required when creating; someone who has not left.
    pub assignee_id: Option<ID>,
    /// Default: you, else the assignee's manager; someone who has not left.
    pub controller_id: Option<ID>,
    /// At most 200 characters, one line, not blank.
    pub title: Option<String>,
    /// At most 20,000 characters.
    pub description: Option<String>,
    /// Above 0 and at most 1000 (default 1).
    pub weight: Option<f64>,
    /// Required when creating; it picks the open period the assignment belongs to.
    pub due_at: Option<DateTime<Utc>>,
}

impl AssignmentFields {
    fn decode(self) -> async_graphql::Result<AssignmentInput> {
        Ok(AssignmentInput {
            assignee_id: self
                .assignee_id
                .map(|d| id_of(&d, Kind::Employee, "input.assigneeId"))
                .transpose()?,
            controller_id: self
                .controller_id
                .map(|d| id_of(&d, Kind::Employee, "input.controllerId"))
                .transpose()?,
            title: self.title,
            description: self.description,
            weight: self.weight,
            due_at: self.due_at,
        })
    }
}

#[derive(InputObject)]
pub struct SetKpiTargetInput {
    /// Default: the current period.
    pub period_id: Option<ID>,
    /// Employed on some day of the period.
    pub employee_id: ID,
    /// e.g. `extra_services_sold`; at most 200 characters, one line.
    pub metric: String,
    /// From 0 to 1e12.
    pub target: f64,
    /// Above 0 and at most 1000.
    #[graphql(default = 1.0)]
    pub weight: f64,
}

#[derive(InputObject)]
pub struct CreateTokenInput {
    /// A token acting as this employee ...
    pub employee_id: Option<ID>,
    /// ... or a service token with scopes (`admin`, `payroll:read`).
    pub service: Option<String>,
    #[graphql(default)]
    pub scopes: Vec<String>,
    /// At most 200 characters, one line.
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Admin. `name`: at most 200 characters, one line, unique.
    async fn create_department(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Department> {
        let c = Ctx::new(ctx)?;
        Ok(Department(
            domain::org::create_department(c.db(), c.who, &name, c.now())
                .await
                .gql()?,
        ))
    }

    /// Admin. `name` as in `createDepartment`.
    async fn rename_department(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<Department> {
        let c = Ctx::new(ctx)?;
        let id = id_of(&id, Kind::Department, "id")?;
        Ok(Department(
            domain::org::rename_department(c.db(), c.who, id, &name)
                .await
                .gql()?,
        ))
    }

    /// Admin. Name, e-mail and department are required.
    async fn create_employee(
        &self,
        ctx: &Context<'_>,
        input: EmployeeFields,
    ) -> async_graphql::Result<Employee> {
        let c = Ctx::new(ctx)?;
        let mut input = input.decode()?;
        // Hired today, in the company's time zone, unless said otherwise.
        input
            .hired_on
            .get_or_insert(c.state.company.calendar.local_date(c.now()));
        Ok(Employee(
            domain::org::create_employee(c.db(), c.who, input, c.now(), c.today())
                .await
                .gql_input()?,
        ))
    }

    /// Admin. Changes only the fields given; also moves between departments and managers.
    async fn update_employee(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: EmployeeFields,
    ) -> async_graphql::Result<Employee> {
        let c = Ctx::new(ctx)?;
        let id = id_of(&id, Kind::Employee, "id")?;
        Ok(Employee(
            domain::org::update_employee(c.db(), c.who, id, input.decode()?)
                .await
                .gql_input()?,
        ))
    }

    /// Admin. `leftOn` is the last working day: not before `hiredOn`, before 2201.
    async fn deactivate_employee(
        &self,
        ctx: &Context<'_>,
        id: ID,
        left_on: Date,
    ) -> async_graphql::Result<Employee> {
        let c = Ctx::new(ctx)?;
        let id = id_of(&id, Kind::Employee, "id")?;
        Ok(Employee(
            domain::org::deactivate_employee(c.db(), c.who, id, left_on.0)
                .await
                .gql()?,
        ))
    }

    /// Admin. A title and a target (employee or department) are required.
    async fn create_duty_template(
        &self,
        ctx: &Context<'_>,
        input: DutyTemplateFields,
    ) -> async_graphql::Result<DutyTemplate> {
        let c = Ctx::new(ctx)?;
        let mut input = input.decode()?;
        // Starting today, in the company's time zone, unless said otherwise.
        input
            .starts_on
            .get_or_insert(c.state.company.calendar.local_date(c.now()));
        Ok(DutyTemplate(
            domain::work::create_template(c.db(), c.who, input, c.now(), c.today())
                .await
                .gql_input()?,
        ))
    }

    /// Admin.
    async fn update_duty_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: DutyTemplateFields,
    ) -> async_graphql::Result<DutyTemplate> {
        let c = Ctx::new(ctx)?;
        let id = id_of(&id, Kind::DutyTemplate, "id")?;
        Ok(DutyTemplate(
            domain::work::update_template(c.db(), c.who, id, input.decode()?, c.now(), c.today())
                .await
                .gql_input()?,
        ))
    }

    /// Admin. No more duties are generated from it; existing ones stay.
    async fn archive_duty_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DutyTemplate> {
        let c = Ctx::new(ctx)?;
        let id = id_of(&id, Kind::DutyTemplate, "id")?;
        Ok(DutyTemplate(
            domain::work::archive_template(c.db(), c.who, id, c.now())
                .await
                .gql()?,
        ))
    }

    /// A manager for someone below them, or an admin.
    async fn create_assignment(
        &self,
        ctx: &Context<'_>,
        input: AssignmentFields,
    ) -> async_graphql::Result<Assignment> {
        let c = Ctx::new(ctx)?;
        Ok(Assignment(
            domain::work::create_assignment(c.db(), c.who, input.decode()?, c.now(), c.today())
                .await
                .gql_input()?,
        ))
    }

    /// A manager of the assignee, or an admin; additional assignments only.
    async fn update_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AssignmentFields,
    ) -> async_graphql::Result<Assignment> {
        let c = Ctx::new(ctx)?;
        let id = decode(&id, Kind::Assignment, "id")
            .map_err(|_| crate::error::not_found("assignment"))?;
        Ok(Assignment(
            domain::work::update_assignment(c.db(), c.who, id, input.decode()?, c.now(), c.today())
                .await
                .gql_input()?,
        ))
    }

    /// A manager for someone below them, or an admin. Replaces the target of the same metric.
    async fn set_kpi_target(
        &self,
        ctx: &Context<'_>,
        input: SetKpiTargetInput,
    ) -> async_graphql::Result<KpiTarget> {
        let c = Ctx::new(ctx)?;
        let employee_id = id_of(&input.employee_id, Kind::Employee, "input.employeeId")?;
        let period_id = input
            .period_id
            .map(|p| id_of(&p, Kind::Period, "input.periodId"))
            .transpose()?;
        let period = c.period_or_current(period_id).await?;
        let target = domain::work::TargetInput {
            period_id: period.id,
            employee_id,
            metric: input.metric,
            target: input.target,
            weight: input.weight,
        };
        let row = domain::work::set_target(c.db(), c.who, target, c.now())
            .await
            .gql_input()?;
        Ok(KpiTarget(row))
    }

    /// A manager of the employee, or an admin (or an integration with an admin token).
    /// `actual` is from 0 to 1e12.
    async fn record_kpi_actual(
        &self,
        ctx: &Context<'_>,
        id: ID,
        actual: f64,
    ) -> async_graphql::Result<KpiTarget> {
        let c = Ctx::new(ctx)?;
        let id = id_of(&id, Kind::KpiTarget, "id")?;
        Ok(KpiTarget(
            domain::work::record_actual(c.db(), c.who, id, actual, c.now())
                .await
                .gql()?,
        ))
    }

    /// Admin. The secret is returned once.
    async fn create_token(
        &self,
        ctx: &Context<'_>,
        input: CreateTokenInput,
    ) -> async_graphql::Result<CreatedToken> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        let owner = match (input.employee_id, input.service) {
            (Some(id), None) => {
                TokenOwner::Employee(id_of(&id, Kind::Employee, "input.employeeId")?)
            }
            (None, Some(name)) => {
                let name = text::check("service", TextKind::Name, &name).gql_input()?;
                let scopes = input
                    .scopes
                    .iter()
                    .map(|s| Scope::parse(s))
                    .collect::<Result<Vec<_>, _>>()
                    .gql_input()?;
                TokenOwner::Service { name, scopes }
            }
            _ => {
                return Err(bad_input(
                    "input.employeeId",
                    "give either `employeeId` or `service`",
                ));
            }
        };
        let name = text::check("name", TextKind::Name, &input.name).gql_input()?;
        let (row, secret) =
            domain::tokens::create_token(c.db(), c.who, owner, &name, input.expires_at, c.now())
                .await
                .gql_input()?;
        Ok(CreatedToken {
            secret,
            token: ApiToken(row),
        })
    }

    /// Admin. A one-time sign-in link to the web page for an employee who has not left,
    /// named by `employeeId` or `employeeEmail`; it expires after the server's
    /// `login_link_minutes` (15 by default).
    async fn create_login_link(
        &self,
        ctx: &Context<'_>,
        employee_id: Option<ID>,
        employee_email: Option<String>,
    ) -> async_graphql::Result<LoginLink> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        let id = match (employee_id, employee_email) {
            (Some(id), None) => id_of(&id, Kind::Employee, "employeeId")?,
            (None, Some(email)) => domain::directory::employee_id_by_email(c.db(), &email)
                .await
                .gql()?
                .ok_or_else(|| bad_input("employeeEmail", "no employee has this e-mail"))?,
            _ => {
                return Err(bad_input(
                    "employeeId",
                    "give either `employeeId` or `employeeEmail`",
                ));
            }
        };
        let http = &c.state.http;
        let (row, secret) = domain::sessions::create_login_link(
            c.db(),
            &c.state.company,
            c.who,
            id,
            &http.sessions,
            c.now(),
        )
        .await
        .gql()?;
        let base = http.public_url.as_deref().unwrap_or("");
        Ok(LoginLink {
            url: domain::sessions::login_url(base, &secret),
            expires_at: row.expires_at,
        })
    }

    /// Admin. Revoking twice is harmless.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiToken> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        let id = id_of(&id, Kind::ApiToken, "id")?;
        Ok(ApiToken(
            domain::tokens::revoke_token(c.db(), c.who, id, c.now())
                .await
                .gql()?,
        ))
    }
}
