//! The demo company: five departments, 25 people in a management chain, duty templates,
//! six closed periods of history with KPI results ([`history`]: the real scheduler over
//! simulated time, with seeded behaviour), and the open period with assignments in every
//! status a live period can hold (some overdue), knowledge-base articles, open proposals
//! with votes, and KPI targets.
//!
//! Everything is loaded in one transaction through the same services the product uses
//! (periods are opened, duties generated and periods closed by scheduler ticks, statuses
//! reached by real transitions), and only into a database without employees, so a second
//! run changes nothing.

pub mod history;

use chrono::{DateTime, Duration, Utc};
use entity::enums::{AssignmentKind, AssignmentStatus, Role, VoteChoice};
use entity::{
    article, article_read, assignment, department, duty_template, employee, kpi_target, period,
    proposal, vote,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::transition::Action;
use crate::{Company, DomainResult, assignments};

/// Departments of the original company.
pub const DEPARTMENTS: [&str; 5] = ["Development", "Support", "Marketing", "Sales", "Accounting"];

/// (name, department index, role, manager's index in this list).
const PEOPLE: [(&str, usize, Role, Option<usize>); 25] = [
    ("Anna Petrova", 4, Role::Admin, None),
    ("Dmitry Orlov", 0, Role::Manager, Some(0)),
    ("Svetlana Kuznetsova", 1, Role::Manager, Some(0)),
    ("Igor Smirnov", 2, Role::Manager, Some(0)),
    ("Elena Volkova", 3, Role::Manager, Some(0)),
    ("Natalia Sokolova", 4, Role::Manager, Some(0)),
    ("Pavel Lebedev", 0, Role::Employee, Some(1)),
    ("Maria Kozlova", 0, Role::Employee, Some(1)),
    ("Sergey Novikov", 0, Role::Employee, Some(1)),
    ("Olga Morozova", 0, Role::Employee, Some(1)),
    ("Alexey Popov", 0, Role::Employee, Some(1)),
    ("Irina Vasilieva", 1, Role::Employee, Some(2)),
    ("Nikolai Fedorov", 1, Role::Employee, Some(2)),
    ("Tatiana Mikhailova", 1, Role::Employee, Some(2)),
    ("Andrey Egorov", 1, Role::Employee, Some(2)),
    ("Yulia Pavlova", 1, Role::Employee, Some(2)),
    ("Roman Semenov", 2, Role::Employee, Some(3)),
    ("Ksenia Golubeva", 2, Role::Employee, Some(3)),
    ("Viktor Vinogradov", 2, Role::Employee, Some(3)),
    ("Daria Bogdanova", 3, Role::Employee, Some(4)),
    ("Maxim Zaitsev", 3, Role::Employee, Some(4)),
    ("Anastasia Solovieva", 3, Role::Employee, Some(4)),
    ("Kirill Borisov", 3, Role::Employee, Some(4)),
    ("Ekaterina Yakovleva", 4, Role::Employee, Some(5)),
    ("Artem Grigoriev", 4, Role::Employee, Some(5)),
];

/// E-mail of a demo person: `first.last@zeroboard.demo`.
pub fn email_of(name: &str) -> String {
    format!("{}@zeroboard.demo", name.to_lowercase().replace(' ', "."))
}

/// The demo people whose tokens `serve --demo` prints, one per role.
pub const DEMO_EMPLOYEE: &str = "Pavel Lebedev";
pub const DEMO_MANAGER: &str = "Dmitry Orlov";
pub const DEMO_ADMIN: &str = "Anna Petrova";

/// What a demo run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// The company was loaded now.
    Created { employees: usize, assignments: u64 },
    /// The database already has employees; nothing was changed.
    AlreadyPresent,
}

/// Loads the demo company into an empty database.
pub async fn load(db: &impl Db, company: &Company, now: DateTime<Utc>) -> DomainResult<Loaded> {
    let txn = begin_write(db).await?;
    if employee::Entity::find().count(&txn).await? > 0 {
        return Ok(Loaded::AlreadyPresent);
    }
    let today = company.calendar.local_date(now);
    let mut departments = Vec::new();
    for name in DEPARTMENTS {
        let row = department::ActiveModel {
            name: Set(name.into()),
            created_at: Set(now),
            ..Default::default()
        };
        departments.push(row.insert(&txn).await?);
    }
    let mut people: Vec<employee::Model> = Vec::new();
    for (i, (name, dept, role, manager)) in PEOPLE.iter().enumerate() {
        // Most people joined long ago; a few recently, so "hired on" varies.
        let hired_on = today - Duration::days(if i % 7 == 3 { 40 } else { 400 + 30 * i as i64 });
        let row = employee::ActiveModel {
            department_id: Set(departments[*dept].id),
            manager_id: Set(manager.map(|m| people[m].id)),
            name: Set((*name).into()),
            email: Set(email_of(name)),
            role: Set(*role),
            hired_on: Set(hired_on),
            left_on: Set(None),
            created_at: Set(now),
            ..Default::default()
        };
        people.push(row.insert(&txn).await?);
    }
    let person = |name: &str| people.iter().find(|p| p.name == name).map(|p| p.id);
    let start = today - Duration::days(365);
    // (title, description, employee, department index, controller, every n periods, due offset days)
    type Template<'a> = (
        &'a str,
        &'a str,
        Option<i64>,
        Option<usize>,
        Option<i64>,
        i32,
        Option<i32>,
    );
    let templates: [Template; 8] = [
        (
            "Collect client feedback",
            "Call five clients and log their feedback in the CRM.",
            None,
            Some(1),
            None,
            1,
            Some(7),
        ),
        (
            "Update a knowledge-base article",
            "Review one article of your area and bring it up to date.",
            None,
            Some(0),
            None,
            1,
            None,
        ),
        (
            "Monthly sales report",
            "Revenue, pipeline and extra services sold, by client.",
            None,
            Some(3),
            person("Anna Petrova"),
            2,
            None,
        ),
        (
            "Publish a case study",
            "One client story for the blog, approved by the client.",
            None,
            Some(2),
            None,
            1,
            None,
        ),
        (
            "Reconcile accounts",
            "Bank statements against the ledger; list the differences.",
            None,
            Some(4),
            person("Anna Petrova"),
            1,
            Some(5),
        ),
        (
            "Weekly team sync notes",
            "Decisions and owners from the team's syncs.",
            person(DEMO_MANAGER),
            None,
            person("Anna Petrova"),
            1,
            None,
        ),
        (
            "Review support macros",
            "Check the canned answers against the current release.",
            person("Irina Vasilieva"),
            None,
            person(DEMO_MANAGER),
            1,
            None,
        ),
        (
            "Release notes for support",
            "What changed for users this period, in plain words.",
            person("Maria Kozlova"),
            None,
            person("Svetlana Kuznetsova"),
            1,
            Some(10),
        ),
    ];
    for (title, description, employee_id, dept, controller_id, every_n, due_offset) in templates {
        duty_template::ActiveModel {
            title: Set(title.into()),
            description: Set(description.into()),
            weight: Set(if title.starts_with("Monthly") {
                2.0
            } else {
                1.0
            }),
            controller_id: Set(controller_id),
            employee_id: Set(employee_id),
            department_id: Set(dept.map(|d| departments[d].id)),
            every_n_periods: Set(every_n),
            due_offset_days: Set(due_offset),
            active: Set(true),
            starts_on: Set(start),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }

    history::run(
        &txn,
        company,
        &departments,
        &people,
        history::Span {
            periods: history::PERIODS,
            seed: history::SEED,
        },
        now,
    )
    .await?;
    let current = company.calendar.period_containing(today);
    let current = period::Entity::find()
        .filter(period::Column::StartsOn.eq(current.starts_on))
        .one(&txn)
        .await?
        .ok_or(crate::DomainError::NotFound("period"))?;

    // Additional assignments from managers, some already overdue.
    let past_due = overdue_instant(current.starts_at, now);
    // (assignee, controller, title, due, weight)
    type Additional<'a> = (&'a str, &'a str, &'a str, Option<DateTime<Utc>>, f64);
    let additional: [Additional; 6] = [
        (
            "Pavel Lebedev",
            DEMO_MANAGER,
            "Fix the export of the quarterly report",
            past_due,
            2.0,
        ),
        (
            "Sergey Novikov",
            DEMO_MANAGER,
            "Prepare the demo stand for the client",
            past_due,
            1.0,
        ),
        (
            "Andrey Egorov",
            "Svetlana Kuznetsova",
            "Answer the backlog of tickets older than a week",
            past_due,
            1.0,
        ),
        (
            "Maxim Zaitsev",
            "Elena Volkova",
            "Call back the clients of the trade fair",
            None,
            1.0,
        ),
        (
            "Roman Semenov",
            "Igor Smirnov",
            "Draft the newsletter",
            None,
            1.0,
        ),
        (
            "Olga Morozova",
            DEMO_MANAGER,
            "Onboard the new intern",
            None,
            1.0,
        ),
    ];
    for (assignee, controller, title, due, weight) in additional {
        let (Some(assignee_id), Some(controller_id)) = (person(assignee), person(controller))
        else {
            continue;
        };
        let task = Task {
            period_id: current.id,
            assignee_id,
            controller_id,
            title,
            weight,
            due_at: due.unwrap_or(current.ends_at),
        };
        add_additional(&txn, task, now).await?;
    }

    // Move the period's assignments through real transitions, in a fixed pattern, so every
    // live status appears and the tiles and reports have something to show.
    let all = assignment::Entity::find()
        .filter(assignment::Column::PeriodId.eq(current.id))
        .order_by_asc(assignment::Column::Id)
        .all(&txn)
        .await?;
    for (i, a) in all.iter().enumerate() {
        let assignee = principal(&people, a.assignee_id);
        let controller = principal(&people, a.controller_id);
        let steps: &[(Action, bool, Option<&str>)] = match i % 8 {
            0 => &[(Action::Start, true, None)],
            1 => &[(Action::Submit, true, None)],
            2 => &[(Action::Submit, true, None), (Action::Accept, false, None)],
            3 => &[
                (Action::Submit, true, None),
                (
                    Action::Return,
                    false,
                    Some("Please add the numbers for last week."),
                ),
            ],
            4 if i % 16 == 4 => &[(Action::Cancel, false, Some("No longer needed this period."))],
            5 => &[(Action::Start, true, None), (Action::Submit, true, None)],
            _ => &[],
        };
        for (action, by_assignee, comment) in steps {
            let who = if *by_assignee { &assignee } else { &controller };
            assignments::act(&txn, who, a.id, *action, *comment, now).await?;
        }
    }

    load_knowledge_base(&txn, &departments, &people, current.starts_at, now).await?;
    load_proposals(&txn, &departments, &people, now).await?;
    for (i, p) in people
        .iter()
        .filter(|p| p.department_id == departments[3].id)
        .enumerate()
    {
        kpi_target::ActiveModel {
            period_id: Set(current.id),
            employee_id: Set(p.id),
            metric: Set("extra_services_sold".into()),
            target_value: Set(5.0),
            actual_value: Set((i % 2 == 0).then_some(3.0 + i as f64)),
            weight: Set(1.0),
            recorded_at: Set((i % 2 == 0).then_some(now)),
            recorded_by: Set((i % 2 == 0).then(|| person("Elena Volkova")).flatten()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    let count = assignment::Entity::find().count(&txn).await?;
    txn.commit().await?;
    Ok(Loaded::Created {
        employees: people.len(),
        assignments: count,
    })
}

/// Acting as a demo person, with their role.
fn principal(people: &[employee::Model], id: i64) -> Principal {
    let role = people
        .iter()
        .find(|p| p.id == id)
        .map_or(Role::Employee, |p| p.role);
    Principal::Employee {
        id,
        role,
        token_id: 0,
    }
}

/// An additional assignment a manager hands out.
struct Task<'a> {
    period_id: i64,
    assignee_id: i64,
    controller_id: i64,
    title: &'a str,
    weight: f64,
    due_at: DateTime<Utc>,
}

/// Creates an additional assignment at `at`, with the event a creation writes.
async fn add_additional(db: &impl Db, task: Task<'_>, at: DateTime<Utc>) -> DomainResult<()> {
    let row = assignment::ActiveModel {
        kind: Set(AssignmentKind::Additional),
        template_id: Set(None),
        period_id: Set(task.period_id),
        assignee_id: Set(task.assignee_id),
        controller_id: Set(task.controller_id),
        title: Set(task.title.into()),
        description: Set(String::new()),
        weight: Set(task.weight),
        due_at: Set(task.due_at),
        status: Set(AssignmentStatus::Todo),
        submitted_at: Set(None),
        decided_at: Set(None),
        created_at: Set(at),
        created_by: Set(Some(task.controller_id)),
        version: Set(1),
        ..Default::default()
    }
    .insert(db)
    .await?;
    assignments::record_event(
        db,
        row.id,
        Some(task.controller_id),
        None,
        AssignmentStatus::Todo,
        None,
        at,
    )
    .await
}

/// A due instant inside the period that has already passed: an hour ago, or halfway
/// between the period's start and now when the period began less than an hour ago.
fn overdue_instant(starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let candidate = (now - Duration::hours(1)).max(starts_at + (now - starts_at) / 2);
    (candidate < now).then_some(candidate)
}

async fn load_knowledge_base(
    txn: &impl Db,
    departments: &[department::Model],
    people: &[employee::Model],
    period_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let published = period_start.max(now - Duration::hours(2));
    let articles = [
        ("How we answer refund requests", None, true, published),
        (
            "Release 4.2: what changed for clients",
            Some(1),
            true,
            published,
        ),
        (
            "Style guide for case studies",
            Some(2),
            false,
            now - Duration::days(40),
        ),
        ("Closing the month: checklist", Some(4), false, published),
    ];
    for (i, (title, dept, mandatory, at)) in articles.into_iter().enumerate() {
        let post = Post {
            title: title.into(),
            link: Some(format!("https://kb.zeroboard.demo/articles/{}", i + 1)),
            body: None,
            author_id: Some(people[0].id),
            audience: dept.map(|d: usize| departments[d].id),
            mandatory,
            published_at: at,
        };
        let row = add_article(txn, post, now).await?;
        // Every third person of the audience (not the first, so the demo employee has
        // something new to read) has read it already.
        for p in people
            .iter()
            .filter(|p| row.department_id.is_none_or(|d| d == p.department_id))
            .skip(1)
            .step_by(3)
        {
            add_read(txn, row.id, p.id, now.max(at)).await?;
        }
    }
    Ok(())
}

async fn load_proposals(
    txn: &impl Db,
    departments: &[department::Model],
    people: &[employee::Model],
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let proposals = [
        ("Move the weekly sync to Tuesdays", None, Duration::days(5)),
        (
            "Adopt the new ticket priority scheme",
            Some(1),
            Duration::days(3),
        ),
    ];
    for (title, dept, open_for) in proposals {
        let poll = Poll {
            title: title.into(),
            body: format!("{title}: vote for, against, or abstain."),
            author_id: Some(people[0].id),
            audience: dept.map(|d: usize| departments[d].id),
            opens_at: now - Duration::days(1),
            closes_at: now + open_for,
        };
        let row = add_proposal(txn, poll, now).await?;
        let choices = [VoteChoice::For, VoteChoice::Against, VoteChoice::Abstain];
        for (i, p) in people
            .iter()
            .filter(|p| row.department_id.is_none_or(|d| d == p.department_id))
            .skip(1)
            .step_by(2)
            .enumerate()
        {
            add_vote(txn, row.id, p.id, choices[i % 3], now).await?;
        }
    }
    Ok(())
}

/// A knowledge-base article to publish.
struct Post {
    title: String,
    link: Option<String>,
    body: Option<String>,
    author_id: Option<i64>,
    /// A department, or everyone.
    audience: Option<i64>,
    mandatory: bool,
    published_at: DateTime<Utc>,
}

async fn add_article(
    db: &impl Db,
    post: Post,
    created_at: DateTime<Utc>,
) -> DomainResult<article::Model> {
    let row = article::ActiveModel {
        title: Set(post.title),
        link: Set(post.link),
        body: Set(post.body),
        author_id: Set(post.author_id),
        department_id: Set(post.audience),
        mandatory: Set(post.mandatory),
        published_at: Set(post.published_at),
        created_at: Set(created_at),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

async fn add_read(
    db: &impl Db,
    article_id: i64,
    employee_id: i64,
    at: DateTime<Utc>,
) -> DomainResult<()> {
    let row = article_read::ActiveModel {
        article_id: Set(article_id),
        employee_id: Set(employee_id),
        read_at: Set(at),
        ..Default::default()
    };
    row.insert(db).await?;
    Ok(())
}

/// A proposal to put to a vote.
struct Poll {
    title: String,
    body: String,
    author_id: Option<i64>,
    /// A department, or everyone.
    audience: Option<i64>,
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
}

async fn add_proposal(
    db: &impl Db,
    poll: Poll,
    created_at: DateTime<Utc>,
) -> DomainResult<proposal::Model> {
    let row = proposal::ActiveModel {
        title: Set(poll.title),
        body: Set(poll.body),
        author_id: Set(poll.author_id),
        department_id: Set(poll.audience),
        opens_at: Set(poll.opens_at),
        closes_at: Set(poll.closes_at),
        created_at: Set(created_at),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

async fn add_vote(
    db: &impl Db,
    proposal_id: i64,
    employee_id: i64,
    choice: VoteChoice,
    at: DateTime<Utc>,
) -> DomainResult<()> {
    let row = vote::ActiveModel {
        proposal_id: Set(proposal_id),
        employee_id: Set(employee_id),
        choice: Set(choice),
        voted_at: Set(at),
        ..Default::default()
    };
    row.insert(db).await?;
    Ok(())
}

/// The size and seed of a synthetic company, for trying Zeroboard at scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSpec {
    pub employees: usize,
    /// Closed periods of history before the current one.
    pub periods: usize,
    pub seed: u64,
}

/// Loads a synthetic company into a database without employees: departments of about 25
/// people under a manager each, all under one admin; one recurring duty per department
/// (and a two-periodic one for every third); hire dates spread over two years; and
/// `periods` closed periods acted out by the real scheduler with seeded behaviour, as in
/// the demo. The same spec gives the same company.
pub async fn seed(
    db: &impl Db,
    company: &Company,
    spec: SeedSpec,
    now: DateTime<Utc>,
) -> DomainResult<Loaded> {
    if !(2..=100_000).contains(&spec.employees) {
        return Err(crate::DomainError::bad_input(
            "employees",
            "give between 2 and 100000 employees",
        ));
    }
    if spec.periods > 240 {
        return Err(crate::DomainError::bad_input(
            "periods",
            "give at most 240 periods of history",
        ));
    }
    let txn = begin_write(db).await?;
    if employee::Entity::find().count(&txn).await? > 0 {
        return Ok(Loaded::AlreadyPresent);
    }
    let today = company.calendar.local_date(now);
    let count = (spec.employees - 1).div_ceil(25);
    let mut departments = Vec::new();
    for k in 0..count {
        let row = department::ActiveModel {
            name: Set(format!("Department {}", k + 1)),
            created_at: Set(now),
            ..Default::default()
        };
        departments.push(row.insert(&txn).await?);
    }
    let hire = |i: usize| today - Duration::days(20 + (i as i64 * 37) % 700);
    let person =
        |i: usize, department_id: i64, manager_id: Option<i64>, role: Role| employee::ActiveModel {
            department_id: Set(department_id),
            manager_id: Set(manager_id),
            name: Set(format!("Person {i}")),
            email: Set(format!("person{i}@seed.zeroboard")),
            role: Set(role),
            hired_on: Set(hire(i)),
            left_on: Set(None),
            created_at: Set(now),
            ..Default::default()
        };
    let chief = person(0, departments[0].id, None, Role::Admin)
        .insert(&txn)
        .await?;
    let mut people = vec![chief.clone()];
    // The first person of each department manages it.
    for i in 1..spec.employees {
        let department = &departments[(i - 1) % count];
        let manager = if i <= count {
            Some(chief.id)
        } else {
            Some(people[1 + (i - 1) % count].id)
        };
        let role = if i <= count {
            Role::Manager
        } else {
            Role::Employee
        };
        people.push(person(i, department.id, manager, role).insert(&txn).await?);
    }
    for (k, department) in departments.iter().enumerate() {
        let recurring = [("Period report", 1, Some(7)), ("Process review", 2, None)];
        for (title, every_n, offset) in recurring.into_iter().take(if k % 3 == 0 { 2 } else { 1 }) {
            duty_template::ActiveModel {
                title: Set(format!("{title} of {}", department.name)),
                description: Set(String::new()),
                weight: Set(1.0),
                controller_id: Set(None),
                employee_id: Set(None),
                department_id: Set(Some(department.id)),
                every_n_periods: Set(every_n),
                due_offset_days: Set(offset),
                active: Set(true),
                starts_on: Set(today - Duration::days(3650)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    history::run(
        &txn,
        company,
        &departments,
        &people,
        history::Span {
            periods: spec.periods,
            seed: spec.seed,
        },
        now,
    )
    .await?;
    let assignments = assignment::Entity::find().count(&txn).await?;
    txn.commit().await?;
    Ok(Loaded::Created {
        employees: people.len(),
        assignments,
    })
}

/// The demo person's employee id, for printing tokens.
pub async fn person_id(db: &impl Db, name: &str) -> DomainResult<Option<i64>> {
    Ok(employee::Entity::find()
        .filter(employee::Column::Email.eq(email_of(name)))
        .one(db)
        .await?
        .map(|e| e.id))
}
