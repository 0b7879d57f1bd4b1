//! The whole data model: organisation, tokens, policy, periods, duties, assignments,
//! KPI records, knowledge base, proposals and the scheduler's log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_model"
    }
}

/// Tables in creation order; `down` drops them in reverse.
const TABLES: [&str; 16] = [
    "department",
    "employee",
    "api_token",
    "kpi_policy",
    "period",
    "duty_template",
    "assignment",
    "assignment_event",
    "kpi_target",
    "kpi_result",
    "kpi_adjustment",
    "article",
    "article_read",
    "proposal",
    "vote",
    "scheduler_run",
];

fn fk(
    table: &'static str,
    column: &'static str,
    to: &'static str,
    to_column: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, column)
        .to(to, to_column)
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

fn index(
    table: &'static str,
    name: &str,
    columns: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(format!("ix_{table}_{name}")).table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    index.take()
}

fn instant(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}

fn instant_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table("department")
            .col(big_pk_auto("id"))
            .col(string_uniq("name"))
            .col(instant("created_at"))
            .take(),
        Table::create()
            .table("employee")
            .col(big_pk_auto("id"))
            .col(big_integer("department_id"))
            .col(big_integer_null("manager_id"))
            .col(string("name"))
            .col(string("email"))
            .col(string("role"))
            .col(date("hired_on"))
            .col(date_null("left_on"))
            .col(instant("created_at"))
            .foreign_key(&mut fk("employee", "department_id", "department", "id"))
            .foreign_key(&mut fk("employee", "manager_id", "employee", "id"))
            .check(Expr::col("role").is_in(["employee", "manager", "admin"]))
            .check(Expr::col("manager_id").ne(Expr::col("id")))
            .take(),
        Table::create()
            .table("api_token")
            .col(big_pk_auto("id"))
            .col(string_uniq("token_hash"))
            .col(string("name"))
            .col(big_integer_null("employee_id"))
            .col(string_null("service"))
            .col(string("scopes"))
            .col(instant("created_at"))
            .col(instant_null("expires_at"))
            .col(instant_null("revoked_at"))
            .col(instant_null("last_used_at"))
            .foreign_key(&mut fk("api_token", "employee_id", "employee", "id"))
            // A token belongs to exactly one principal: an employee or a service.
            .check(
                Expr::col("employee_id")
                    .is_null()
                    .ne(Expr::col("service").is_null()),
            )
            .take(),
        Table::create()
            .table("kpi_policy")
            .col(integer("version").primary_key())
            .col(double("late_credit"))
            .col(double("duty_weight"))
            .col(double("additional_weight"))
            .col(double("acceptance_weight"))
            .col(big_integer("acceptance_sla_hours"))
            .col(double("vote_weight"))
            .col(double("reading_weight"))
            .col(big_integer("reading_sla_hours"))
            .col(double("target_cap"))
            .col(double("discipline_share"))
            .col(integer("max_late_duties"))
            .col(double("bonus_min_kpi"))
            .col(double("bonus_cap_kpi"))
            .col(integer("average_window"))
            .col(big_integer("close_after_hours"))
            .col(instant("created_at"))
            .col(big_integer_null("created_by"))
            .col(text_null("note"))
            .foreign_key(&mut fk("kpi_policy", "created_by", "employee", "id"))
            .take(),
        Table::create()
            .table("period")
            .col(big_pk_auto("id"))
            .col(date_uniq("starts_on"))
            .col(date("ends_on"))
            .col(instant("starts_at"))
            .col(instant("ends_at"))
            .col(string("status"))
            .col(integer("policy_version"))
            .col(string("cadence"))
            .col(instant("opened_at"))
            .col(instant_null("closed_at"))
            .foreign_key(&mut fk("period", "policy_version", "kpi_policy", "version"))
            .check(Expr::col("status").is_in(["open", "closing", "closed"]))
            .check(Expr::col("ends_on").gte(Expr::col("starts_on")))
            .take(),
        Table::create()
            .table("duty_template")
            .col(big_pk_auto("id"))
            .col(string("title"))
            .col(text("description"))
            .col(double("weight"))
            .col(big_integer_null("controller_id"))
            .col(big_integer_null("employee_id"))
            .col(big_integer_null("department_id"))
            .col(integer("every_n_periods"))
            .col(integer_null("due_offset_days"))
            .col(boolean("active"))
            .col(date("starts_on"))
            .col(instant("created_at"))
            .col(instant("updated_at"))
            .foreign_key(&mut fk("duty_template", "controller_id", "employee", "id"))
            .foreign_key(&mut fk("duty_template", "employee_id", "employee", "id"))
            .foreign_key(&mut fk(
                "duty_template",
                "department_id",
                "department",
                "id",
            ))
            // Exactly one target: an employee or a department.
            .check(
                Expr::col("employee_id")
                    .is_null()
                    .ne(Expr::col("department_id").is_null()),
            )
            .check(Expr::col("every_n_periods").gte(1))
            .check(Expr::col("weight").gt(0))
            .take(),
        Table::create()
            .table("assignment")
            .col(big_pk_auto("id"))
            .col(string("kind"))
            .col(big_integer_null("template_id"))
            .col(big_integer("period_id"))
            .col(big_integer("assignee_id"))
            .col(big_integer("controller_id"))
            .col(string("title"))
            .col(text("description"))
            .col(double("weight"))
            .col(instant("due_at"))
            .col(string("status"))
            .col(instant_null("submitted_at"))
            .col(instant_null("decided_at"))
            .col(instant("created_at"))
            .col(big_integer_null("created_by"))
            .col(integer("version"))
            .foreign_key(&mut fk("assignment", "template_id", "duty_template", "id"))
            .foreign_key(&mut fk("assignment", "period_id", "period", "id"))
            .foreign_key(&mut fk("assignment", "assignee_id", "employee", "id"))
            .foreign_key(&mut fk("assignment", "controller_id", "employee", "id"))
            .foreign_key(&mut fk("assignment", "created_by", "employee", "id"))
            .check(Expr::col("kind").is_in(["duty", "additional"]))
            .check(Expr::col("status").is_in([
                "todo",
                "in_progress",
                "submitted",
                "accepted",
                "returned",
                "cancelled",
                "missed",
            ]))
            .check(Expr::col("assignee_id").ne(Expr::col("controller_id")))
            .check(Expr::col("weight").gt(0))
            .take(),
        Table::create()
            .table("assignment_event")
            .col(big_pk_auto("id"))
            .col(big_integer("assignment_id"))
            .col(big_integer_null("actor_id"))
            .col(string_null("from_status"))
            .col(string("to_status"))
            .col(text_null("comment"))
            .col(instant("at"))
            .foreign_key(&mut fk(
                "assignment_event",
                "assignment_id",
                "assignment",
                "id",
            ))
            .foreign_key(&mut fk("assignment_event", "actor_id", "employee", "id"))
            .take(),
        Table::create()
            .table("kpi_target")
            .col(big_pk_auto("id"))
            .col(big_integer("period_id"))
            .col(big_integer("employee_id"))
            .col(string("metric"))
            .col(double("target_value"))
            .col(double_null("actual_value"))
            .col(double("weight"))
            .col(instant_null("recorded_at"))
            .col(big_integer_null("recorded_by"))
            .col(instant("created_at"))
            .foreign_key(&mut fk("kpi_target", "period_id", "period", "id"))
            .foreign_key(&mut fk("kpi_target", "employee_id", "employee", "id"))
            .foreign_key(&mut fk("kpi_target", "recorded_by", "employee", "id"))
            .check(Expr::col("target_value").gte(0))
            .check(Expr::col("weight").gt(0))
            .take(),
        Table::create()
            .table("kpi_result")
            .col(big_pk_auto("id"))
            .col(big_integer("period_id"))
            .col(big_integer("employee_id"))
            .col(integer("policy_version"))
            .col(big_integer("kpi_x100"))
            .col(big_integer("discipline_x100"))
            .col(big_integer_null("targets_x100"))
            .col(boolean("eligible"))
            .col(big_integer("bonus_factor_x10000"))
            .col(string("reasons"))
            .col(integer("duties_missed"))
            .col(integer("duties_late"))
            .col(text("obligations"))
            .col(instant("computed_at"))
            .foreign_key(&mut fk("kpi_result", "period_id", "period", "id"))
            .foreign_key(&mut fk("kpi_result", "employee_id", "employee", "id"))
            .foreign_key(&mut fk(
                "kpi_result",
                "policy_version",
                "kpi_policy",
                "version",
            ))
            .take(),
        Table::create()
            .table("kpi_adjustment")
            .col(big_pk_auto("id"))
            .col(big_integer("result_id"))
            .col(big_integer("delta_x100"))
            .col(text("reason"))
            .col(big_integer_null("author_id"))
            .col(string_null("author_service"))
            .col(instant("created_at"))
            .foreign_key(&mut fk("kpi_adjustment", "result_id", "kpi_result", "id"))
            .foreign_key(&mut fk("kpi_adjustment", "author_id", "employee", "id"))
            .take(),
        Table::create()
            .table("article")
            .col(big_pk_auto("id"))
            .col(string("title"))
            .col(string_null("link"))
            .col(text_null("body"))
            .col(big_integer_null("author_id"))
            .col(big_integer_null("department_id"))
            .col(boolean("mandatory"))
            .col(instant("published_at"))
            .col(instant("created_at"))
            .foreign_key(&mut fk("article", "author_id", "employee", "id"))
            .foreign_key(&mut fk("article", "department_id", "department", "id"))
            .take(),
        Table::create()
            .table("article_read")
            .col(big_pk_auto("id"))
            .col(big_integer("article_id"))
            .col(big_integer("employee_id"))
            .col(instant("read_at"))
            .foreign_key(&mut fk("article_read", "article_id", "article", "id"))
            .foreign_key(&mut fk("article_read", "employee_id", "employee", "id"))
            .take(),
        Table::create()
            .table("proposal")
            .col(big_pk_auto("id"))
            .col(string("title"))
            .col(text("body"))
            .col(big_integer_null("author_id"))
            .col(big_integer_null("department_id"))
            .col(instant("opens_at"))
            .col(instant("closes_at"))
            .col(instant("created_at"))
            .foreign_key(&mut fk("proposal", "author_id", "employee", "id"))
            .foreign_key(&mut fk("proposal", "department_id", "department", "id"))
            .check(Expr::col("closes_at").gt(Expr::col("opens_at")))
            .take(),
        Table::create()
            .table("vote")
            .col(big_pk_auto("id"))
            .col(big_integer("proposal_id"))
            .col(big_integer("employee_id"))
            .col(string("choice"))
            .col(instant("voted_at"))
            .foreign_key(&mut fk("vote", "proposal_id", "proposal", "id"))
            .foreign_key(&mut fk("vote", "employee_id", "employee", "id"))
            .check(Expr::col("choice").is_in(["for", "against", "abstain"]))
            .take(),
        Table::create()
            .table("scheduler_run")
            .col(big_pk_auto("id"))
            .col(string("step"))
            .col(big_integer_null("period_id"))
            .col(instant("tick_at"))
            .col(instant("started_at"))
            .col(instant_null("finished_at"))
            .col(string("outcome"))
            .col(text("counts"))
            .col(text_null("error"))
            .foreign_key(&mut fk("scheduler_run", "period_id", "period", "id"))
            .take(),
    ]
}

/// Unique keys the design relies on, and indexes for the tile and report queries.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("employee", "department", &["department_id"], false),
        index("employee", "manager", &["manager_id"], false),
        index("api_token", "employee", &["employee_id"], false),
        index("duty_template", "employee", &["employee_id"], false),
        index("duty_template", "department", &["department_id"], false),
        // One duty per template, period and assignee. Additional assignments have no
        // template, and NULLs are distinct in a unique index on both databases.
        index(
            "assignment",
            "template_period_assignee",
            &["template_id", "period_id", "assignee_id"],
            true,
        ),
        index(
            "assignment",
            "assignee_period_status",
            &["assignee_id", "period_id", "status"],
            false,
        ),
        index(
            "assignment",
            "controller_status",
            &["controller_id", "status"],
            false,
        ),
        index(
            "assignment",
            "period_status",
            &["period_id", "status"],
            false,
        ),
        index("assignment", "due_at", &["due_at"], false),
        index("assignment_event", "assignment", &["assignment_id"], false),
        index(
            "kpi_target",
            "period_employee_metric",
            &["period_id", "employee_id", "metric"],
            true,
        ),
        index("kpi_target", "employee", &["employee_id"], false),
        index(
            "kpi_result",
            "period_employee",
            &["period_id", "employee_id"],
            true,
        ),
        index("kpi_result", "employee", &["employee_id"], false),
        index("kpi_adjustment", "result", &["result_id"], false),
        index("article", "published_at", &["published_at"], false),
        index(
            "article_read",
            "article_employee",
            &["article_id", "employee_id"],
            true,
        ),
        index("article_read", "employee", &["employee_id"], false),
        index("proposal", "closes_at", &["closes_at"], false),
        index(
            "vote",
            "proposal_employee",
            &["proposal_id", "employee_id"],
            true,
        ),
        index("vote", "employee", &["employee_id"], false),
        index("scheduler_run", "started_at", &["started_at"], false),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        // Case-insensitive unique e-mail: an expression index, the same SQL on both databases.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ix_employee_email_lower ON employee (lower(email))",
            )
            .await?;
        // Version 1 of the KPI policy: the defaults of the design.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("kpi_policy")
                    .columns([
                        "version",
                        "late_credit",
                        "duty_weight",
                        "additional_weight",
                        "acceptance_weight",
                        "acceptance_sla_hours",
                        "vote_weight",
                        "reading_weight",
                        "reading_sla_hours",
                        "target_cap",
                        "discipline_share",
                        "max_late_duties",
                        "bonus_min_kpi",
                        "bonus_cap_kpi",
                        "average_window",
                        "close_after_hours",
                        "created_at",
                        "note",
                    ])
                    .values_panic([
                        1.into(),
                        0.5.into(),
                        1.0.into(),
                        1.0.into(),
                        0.5.into(),
                        48.into(),
                        0.25.into(),
                        0.25.into(),
                        72.into(),
                        1.2.into(),
                        0.5.into(),
                        0.into(),
                        80.0.into(),
                        120.0.into(),
                        6.into(),
                        24.into(),
                        Expr::current_timestamp(),
                        "the defaults of the design".into(),
                    ])
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(*table).take())
                .await?;
        }
        Ok(())
    }
}
