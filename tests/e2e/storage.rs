//! The schema and the database settings, on both databases.

use std::sync::Arc;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use super::*;
use crate::on_both;

/// Tables the model must have after `up`.
const TABLES: [&str; 25] = [
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
    "kpi_item",
    "article",
    "article_read",
    "proposal",
    "vote",
    "scheduler_run",
    "login_link",
    "session",
    "outbox_event",
    "webhook",
    "webhook_delivery",
    "reminder_day",
    "reminder",
    "live_due",
];

/// Whether a statement failed on a unique key (not on some other constraint).
fn unique_violation(r: &Result<sea_orm::ExecResult, sea_orm::DbErr>) -> bool {
    matches!(
        r.as_ref().map_err(|e| e.sql_err()),
        Err(Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
    )
}

/// Undoes the migration `name` and every one after it.
async fn undo_since(db: &sea_orm::DatabaseConnection, name: &str) {
    let since = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == name)
        .expect("a migration of that name")
        + 1;
    Migrator::down(db, Some(since as u32)).await.unwrap();
}

/// Has each of the pool's connections read the schema, by holding them all at once.
async fn read_schema_on_every_connection(db: &sea_orm::DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let size = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => db
            .get_sqlite_connection_pool()
            .options()
            .get_max_connections(),
        _ => 1,
    };
    let mut held = Vec::new();
    for _ in 0..size {
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("SELECT language FROM employee WHERE 1 = 0")
            .await
            .unwrap();
        held.push(txn);
    }
    for txn in held {
        txn.commit().await.unwrap();
    }
}

async fn table_exists(db: &impl ConnectionTrait, table: &str) -> bool {
    db.execute_unprepared(&format!("SELECT 1 FROM {table} WHERE 1 = 0"))
        .await
        .is_ok()
}

on_both! {
    async fn migrations_go_up_down_and_up_again(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let pool = domain::db::connect(&test_db.url).await.unwrap();
        let db = domain::db::for_schema_changes(&pool).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        for t in TABLES {
            assert!(table_exists(&db, t).await, "{t} missing after up");
        }
        Migrator::down(&db, None).await.unwrap();
        for t in TABLES {
            assert!(!table_exists(&db, t).await, "{t} left after down");
        }
        Migrator::up(&db, None).await.unwrap();
        let policy = entity::kpi_policy::Entity::find_by_id(1).one(&db).await.unwrap().expect("policy version 1");
        assert_eq!((policy.late_credit, policy.acceptance_sla_hours, policy.bonus_min_kpi), (0.5, 48, 80.0));
        assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
    }
}

on_both! {
    async fn results_closed_before_items_were_stored_keep_their_tallies(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let db = &app.db;
        let mut before = entity::kpi_result::Entity::find().all(db).await.unwrap();
        before.sort_by_key(|r| r.id);
        assert!(!before.is_empty() && before.iter().all(|r| r.itemized));
        // Back to the schema before items (undoing the items' table and every migration
        // since), then up again as the server upgrades a database with closed periods. Every
        // pooled connection has read the schema first, so on SQLite each one's copy is out of
        // date when the upgrade adds back what the undoing dropped.
        read_schema_on_every_connection(db).await;
        undo_since(&domain::db::for_schema_changes(db).await.unwrap(), "m20261128_000001_kpi_item").await;
        assert!(!table_exists(db, "kpi_item").await);
        domain::db::migrate(db).await.unwrap();
        let mut after = entity::kpi_result::Entity::find().all(db).await.unwrap();
        after.sort_by_key(|r| r.id);
        assert_eq!(after.len(), before.len());
        for (a, b) in after.iter().zip(&before) {
            assert!(!a.itemized, "an upgraded result says it has no items");
            assert_eq!((a.kpi_x100, &a.obligations, &a.reasons), (b.kpi_x100, &b.obligations, &b.reasons), "and keeps its tally");
        }
        assert_eq!(entity::kpi_item::Entity::find().count(db).await.unwrap(), 0);
    }
}

on_both! {
    async fn rekeying_the_items_keeps_every_one(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let db = &app.db;
        let items = || async {
            let mut all = entity::kpi_item::Entity::find().all(db).await.unwrap();
            all.sort_by_key(|i| (i.result_id, i.position));
            all
        };
        let before = items().await;
        assert!(!before.is_empty());
        // Down to the surrogate id and the foreign key, then up again: the same items.
        let migrating = domain::db::for_schema_changes(db).await.unwrap();
        undo_since(&migrating, "m20261129_000001_kpi_item_key").await;
        let previous = migrating.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT id, result_id FROM kpi_item")).await.unwrap();
        assert_eq!(previous.len(), before.len());
        Migrator::up(&migrating, None).await.unwrap();
        assert_eq!(items().await, before);
        // Keyed by result and position.
        let mut again = entity::kpi_item::ActiveModel::from(before[0].clone());
        again.title = sea_orm::Set("again".into());
        assert!(entity::kpi_item::Entity::insert(again).exec_without_returning(db).await.is_err());
    }
}

on_both! {
    async fn unique_keys_hold(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let db = &app.db;
        // A second employee with the same e-mail in other case is refused by the database
        // (its folded `email_key` is the same).
        let dup = db
            .execute_unprepared(
                "INSERT INTO employee (department_id, name, email, email_key, role, hired_on, created_at) \
                 SELECT department_id, 'Copy', upper(email), email_key, role, hired_on, created_at FROM employee WHERE id = 1",
            )
            .await;
        assert!(unique_violation(&dup), "case-insensitive e-mail uniqueness");
        // One period per start date.
        let dup = db
            .execute_unprepared(
                "INSERT INTO period (starts_on, ends_on, starts_at, ends_at, status, policy_version, cadence, opened_at) \
                 SELECT starts_on, ends_on, starts_at, ends_at, status, policy_version, cadence, opened_at FROM period",
            )
            .await;
        assert!(unique_violation(&dup), "one period per start date");
        // One duty per template, period and assignee.
        let dup = db
            .execute_unprepared(
                "INSERT INTO assignment (kind, template_id, period_id, assignee_id, controller_id, title, description, weight, \
                 due_at, status, created_at, version) SELECT kind, template_id, period_id, assignee_id, controller_id, title, \
                 description, weight, due_at, status, created_at, version FROM assignment WHERE template_id IS NOT NULL",
            )
            .await;
        assert!(unique_violation(&dup), "one duty per template, period and assignee");
        // A foreign key to nowhere.
        let orphan = db
            .execute_unprepared(
                "INSERT INTO article_read (article_id, employee_id, read_at) VALUES (999999, 1, '2026-01-01 00:00:00+00:00')",
            )
            .await;
        assert!(
            matches!(orphan.as_ref().map_err(|e| e.sql_err()), Err(Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)))),
            "foreign keys are enforced: {orphan:?}"
        );
        // An assignee controlling their own assignment.
        let own = db.execute_unprepared("UPDATE assignment SET controller_id = assignee_id").await;
        assert!(own.is_err(), "controller is never the assignee");
    }
}

on_both! {
    async fn thirty_two_concurrent_writers_all_commit(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = Arc::new(test_db.connect().await);
        const TASKS: usize = 32;
        const WRITES: usize = 10;
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                for n in 0..WRITES {
                    // Read, then write, in one transaction: the pattern that fails with
                    // "database is locked" when a deferred SQLite transaction must upgrade.
                    let txn = domain::db::begin_write(db.as_ref()).await?;
                    let before = entity::department::Entity::find().count(&txn).await?;
                    entity::department::ActiveModel {
                        name: Set(format!("task {task} write {n} after {before}")),
                        created_at: Set(t0()),
                        ..Default::default()
                    }
                    .insert(&txn)
                    .await?;
                    txn.commit().await?;
                }
                Ok::<_, sea_orm::DbErr>(())
            }));
        }
        let mut errors = Vec::new();
        for h in handles {
            if let Err(e) = h.await.unwrap() {
                errors.push(e.to_string());
            }
        }
        assert!(errors.is_empty(), "writers failed: {errors:?}");
        let rows = entity::department::Entity::find().count(db.as_ref()).await.unwrap();
        assert_eq!(rows as usize, TASKS * WRITES);
        // On SQLite each transaction holds the write lock from its BEGIN, so each saw every
        // earlier write: the counts read are all different. (PostgreSQL's read committed
        // lets concurrent transactions read the same count; it needs no such lock.)
        if kind == Kind::Sqlite {
        let names: std::collections::HashSet<String> = entity::department::Entity::find()
            .all(db.as_ref())
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name.rsplit(' ').next().unwrap().to_owned())
            .collect();
        assert_eq!(names.len(), TASKS * WRITES, "writes were serialised");
        }
    }
}

on_both! {
    async fn bulk_inserted_items_read_back_exactly(kind: Kind) {
        use domain::db::Column;
        let app = TestApp::start(kind).await;
        app.demo().await;
        let db = &app.db;
        let result = entity::kpi_result::Entity::find().one(db).await.unwrap().expect("a demo result").id;
        // Floats that a text round trip could get wrong, in the range of a KPI's figures
        // (weights up to 100, points up to 1,000, contributions down to a billionth), and
        // 2,000 more spread over it; a title JSON must escape; instants.
        let mut floats: Vec<f64> = vec![0.1 + 0.2, 4.444444444444445, 1.0 / 3.0, 2.0 / 3.0 * 100.0, 123456.78901234567, 1e-9, 999.995, 0.0];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mantissa = 1.0 + (state >> 11) as f64 / (1u64 << 53) as f64;
            floats.push(mantissa * 10f64.powi((state % 14) as i32 - 10));
        }
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T12:34:56.789+00:00").unwrap().to_utc();
        let rows: Vec<Vec<sea_orm::Value>> = floats
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                vec![result.into(), (1000 + i as i32).into(), "duty".into(), None::<i64>.into(), format!("\"quoted\" ✓ {i}\n").into(),
                    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false).into(), None::<String>.into(), "late".into(),
                    x.into(), x.into(), x.into(), x.into(), (i as i64 - 3).into(), x.into()]
            })
            .collect();
        let columns = [
            ("result_id", Column::BigInt), ("position", Column::Int), ("kind", Column::Text), ("subject_id", Column::BigInt),
            ("title", Column::Text), ("due_at", Column::Instant), ("met_at", Column::Instant), ("outcome", Column::Text),
            ("ratio", Column::Real), ("weight", Column::Real), ("credit", Column::Real), ("points", Column::Real),
            ("points_x100", Column::BigInt), ("points_lost", Column::Real),
        ];
        domain::db::insert_rows(db, "kpi_item", &columns, rows).await.unwrap();
        let mut back = entity::kpi_item::Entity::find()
            .filter(entity::kpi_item::Column::Position.gte(1000))
            .all(db)
            .await
            .unwrap();
        back.sort_by_key(|i| i.position);
        assert_eq!(back.len(), floats.len());
        for (i, (item, x)) in back.iter().zip(floats.iter().copied()).enumerate() {
            assert_eq!((item.points.to_bits(), item.weight.to_bits(), item.ratio.map(f64::to_bits)), (x.to_bits(), x.to_bits(), Some(x.to_bits())), "{x:e}");
            assert_eq!(item.title, format!("\"quoted\" ✓ {i}\n"));
            assert_eq!((item.due_at, item.met_at, item.subject_id, item.points_x100), (Some(at), None, None, i as i64 - 3));
        }
        // The instants compare as the ones sea-orm writes.
        let due = entity::kpi_item::Entity::find().filter(entity::kpi_item::Column::DueAt.eq(at)).count(db).await.unwrap();
        assert_eq!(due as usize, floats.len());
    }
}

/// Each database's own account of how it would run a statement, line by line. PostgreSQL is
/// told to avoid whole-table scans, which tables this small would otherwise win (in a
/// transaction, so that the setting and the statement share a connection).
async fn plan(db: &sea_orm::DatabaseConnection, statement: sea_orm::Statement) -> Vec<String> {
    let txn = sea_orm::TransactionTrait::begin(db).await.unwrap();
    let (explain, column) = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .unwrap();
            ("EXPLAIN ", "QUERY PLAN")
        }
        _ => ("EXPLAIN QUERY PLAN ", "detail"),
    };
    let explained = sea_orm::Statement {
        sql: format!("{explain}{}", statement.sql),
        ..statement
    };
    let lines = txn
        .query_all_raw(explained)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", column).unwrap())
        .collect();
    txn.rollback().await.unwrap();
    lines
}

/// A manager of the demo company.
async fn demo_manager(db: &sea_orm::DatabaseConnection) -> entity::employee::Model {
    entity::employee::Entity::find()
        .filter(entity::employee::Column::Role.eq(entity::enums::Role::Manager))
        .one(db)
        .await
        .unwrap()
        .expect("a demo manager")
}

on_both! {
    async fn the_reach_below_a_manager_reads_the_chain_from_its_index_alone(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let db = &app.db;
        let backend = db.get_database_backend();
        let manager = demo_manager(db).await;
        if backend == sea_orm::DatabaseBackend::Postgres {
            // As a company's settled table is: its pages marked all-visible, so an index can
            // answer for them without the rows.
            db.execute_unprepared("VACUUM ANALYZE employee").await.unwrap();
            // The query's row estimate is far too high; no JIT compilation may follow from it.
            let jit = db.query_one_raw(sea_orm::Statement::from_string(backend, "SELECT current_setting('jit') AS jit")).await.unwrap().unwrap();
            assert_eq!(jit.try_get::<String>("", "jit").unwrap(), "off");
        }
        let lines = plan(db, backend.build(&domain::access::below_query(backend, &[manager.id]))).await;
        // Every step down the chain reads `(manager_id, id)` from the index alone; on
        // PostgreSQL a step is a nested loop over the people found so far, not a hash of the
        // whole table.
        let by_index = |l: &&String| l.contains("ix_employee_manager_id") && (l.contains("Index Only Scan") || l.contains("COVERING INDEX"));
        assert_eq!(lines.iter().filter(by_index).count(), 2, "{lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("Hash Join")), "{lines:#?}");
        // And it finds the people the chain puts below the manager.
        let below = domain::access::below(db, manager.id).await.unwrap();
        let everyone = entity::employee::Entity::find().all(db).await.unwrap();
        let manager_of: std::collections::HashMap<i64, Option<i64>> = everyone.iter().map(|e| (e.id, e.manager_id)).collect();
        let under = |mut id: i64| loop {
            match manager_of[&id] {
                Some(m) if m == manager.id => return true,
                Some(m) => id = m,
                None => return false,
            }
        };
        let expected: std::collections::HashSet<i64> = everyone.iter().map(|e| e.id).filter(|&id| under(id)).collect();
        assert!(!expected.is_empty());
        assert_eq!(below, expected);
    }
}

on_both! {
    async fn overdue_queries_read_the_partial_index_of_unfinished_work(kind: Kind) {
        use sea_orm::QueryTrait;
        let app = TestApp::start(kind).await;
        app.demo().await;
        let db = &app.db;
        let backend = db.get_database_backend();
        let overdue = entity::assignment::Entity::find()
            .filter(domain::read::reports::overdue_condition(app.clock.now()))
            .build(backend);
        let lines = plan(db, overdue).await;
        assert!(lines.iter().any(|l| l.contains("ix_assignment_unfinished_due")), "{lines:#?}");
        // The index lists exactly the statuses the domain calls unfinished, in its order.
        let statuses: Vec<String> = domain::transition::UNFINISHED.iter().map(sea_orm::ActiveEnum::to_value).collect();
        assert_eq!(statuses, migration::m20261202_000001_unfinished_due::UNFINISHED);
    }
}

on_both! {
    async fn a_report_checks_its_rows_against_the_reach_by_hash(kind: Kind) {
        use sea_orm::QueryTrait;
        let app = TestApp::start(kind).await;
        app.demo().await;
        let db = &app.db;
        let backend = db.get_database_backend();
        let manager = demo_manager(db).await;
        let principal = domain::auth::Principal::Employee { id: manager.id, role: manager.role, payroll: false, token_id: 0 };
        let reach = domain::access::reach(db, &principal).await.unwrap();
        let period = entity::period::Entity::find().one(db).await.unwrap().expect("a demo period");
        let facts = domain::read::reports::facts(backend, &reach, period.id, Some(manager.department_id), app.clock.now());
        let lines = plan(db, facts.build(backend)).await;
        // The period and department pick the rows through indexes; on PostgreSQL each is
        // then looked up in a hash of the reach's ids, not compared with each id in turn.
        assert!(lines.iter().any(|l| l.contains("ix_assignment_")), "{lines:#?}");
        if backend == sea_orm::DatabaseBackend::Postgres {
            assert!(lines.iter().any(|l| l.contains("(hashed SubPlan 1) OR (hashed SubPlan 2)")), "{lines:#?}");
        }
    }
}
