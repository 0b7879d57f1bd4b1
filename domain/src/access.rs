//! Who may see and change what (DESIGN section 6), in one place. Resolvers and services
//! ask here; none of them decides on its own.
//!
//! | principal | sees | may change |
//! | employee | own profile, tiles, assignments (as assignee or controller), KPI history; the directory | own assignments' start/submit; accept/return what they control; vote; mark read |
//! | manager | plus everything about employees below them | plus additional assignments and KPI targets for that subtree |
//! | admin | everything | everything |
//! | payroll service | closed periods' results and the export | nothing |
//! | payroll clerk (an employee with `payroll`) | an employee's, plus what the payroll service sees | an employee's |

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::assignment;
use sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::auth::{Principal, Scope};
use crate::{DomainError, DomainResult};

/// How far a principal's sight reaches over employees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Admins: everyone.
    All,
    /// An employee: themselves and everyone below them in the management chain.
    Team { me: i64, below: HashSet<i64> },
    /// A service without the admin scope: no one's details.
    Nobody,
}

impl Reach {
    /// Whether the principal sees everything about this employee (tiles, KPI, assignments).
    pub fn sees_employee(&self, id: i64) -> bool {
        match self {
            Reach::All => true,
            Reach::Team { me, below } => *me == id || below.contains(&id),
            Reach::Nobody => false,
        }
    }

    /// Whether the principal manages this employee (is above them, or is an admin).
    pub fn manages(&self, id: i64) -> bool {
        match self {
            Reach::All => true,
            Reach::Team { below, .. } => below.contains(&id),
            Reach::Nobody => false,
        }
    }

    /// Whether the principal sees an assignment: when they see its assignee or its
    /// controller (themselves, or someone below them). A manager thus sees what their
    /// reports control, as part of everything about those reports.
    pub fn sees_assignment(&self, a: &assignment::Model) -> bool {
        self.sees_employee(a.assignee_id) || self.sees_employee(a.controller_id)
    }

    /// The reach of an employee restricted to themselves: it answers every question about
    /// that one employee as their whole reach does (they see themselves and do not manage
    /// themselves), without reading the management chain.
    pub fn of_self(me: i64) -> Reach {
        Reach::Team {
            me,
            below: HashSet::new(),
        }
    }

    /// The employees whose details are visible, or `None` for everyone.
    pub fn visible_ids(&self) -> Option<Vec<i64>> {
        match self {
            Reach::All => None,
            Reach::Team { me, below } => {
                Some(std::iter::once(*me).chain(below.iter().copied()).collect())
            }
            Reach::Nobody => Some(Vec::new()),
        }
    }
}

/// The reach of a principal: one recursive query for an employee, none otherwise.
pub async fn reach(db: &impl ConnectionTrait, who: &Principal) -> DomainResult<Reach> {
    let below = match team_of(who) {
        Some(me) => below(db, me).await?,
        None => HashSet::new(),
    };
    Ok(reach_of(who, below))
}

/// The employee whose subordinates make up the principal's reach: a non-admin employee.
/// Admins see everyone and services without the admin scope no one, without reading.
pub fn team_of(who: &Principal) -> Option<i64> {
    if who.is_admin() {
        None
    } else {
        who.employee_id()
    }
}

/// The reach of a principal, given the employees below [`team_of`] it (ignored for the
/// others). With [`below_many`], the reaches of many principals cost one statement.
pub fn reach_of(who: &Principal, below: HashSet<i64>) -> Reach {
    match team_of(who) {
        Some(me) => Reach::Team { me, below },
        None if who.is_admin() => Reach::All,
        None => Reach::Nobody,
    }
}

/// Everyone below `manager` in the management chain: one recursive query.
pub async fn below(db: &impl ConnectionTrait, manager: i64) -> DomainResult<HashSet<i64>> {
    Ok(below_many(db, &[manager])
        .await?
        .remove(&manager)
        .unwrap_or_default())
}

/// Everyone below each of `managers` in the management chain (an entry for each, empty for
/// someone nobody reports to): one recursive query whatever their number, so the reaches
/// of a live batch's subscribers cost one statement. The chain is a tree (a manager change
/// holds the org-structure lock while it checks for cycles), so the steps are joined with
/// `UNION ALL`, which needs no hash table of the rows seen; a depth bound keeps even a
/// corrupted chain finite.
pub async fn below_many(
    db: &impl ConnectionTrait,
    managers: &[i64],
) -> DomainResult<HashMap<i64, HashSet<i64>>> {
    let mut out: HashMap<i64, HashSet<i64>> =
        managers.iter().map(|m| (*m, HashSet::new())).collect();
    if managers.is_empty() {
        return Ok(out);
    }
    let query = below_query(db.get_database_backend(), managers);
    for row in db.query_all(&query).await? {
        let root = row.try_get::<i64>("", "root")?;
        out.entry(root)
            .or_default()
            .insert(row.try_get::<i64>("", "id")?);
    }
    Ok(out)
}

/// The recursive query of [`below_many`], for `backend`: a row `(root, id)` for everyone
/// below each of `managers` (not empty).
pub fn below_query(backend: DatabaseBackend, managers: &[i64]) -> sea_orm::sea_query::WithQuery {
    use entity::employee;
    use sea_orm::sea_query::{
        CommonTableExpression, Expr, ExprTrait, JoinType, Query, UnionType, WithClause,
    };
    const MAX_DEPTH: i64 = 1_000;
    let first = Query::select()
        .expr_as(Expr::col(employee::Column::ManagerId), "root")
        .column(employee::Column::Id)
        .expr(Expr::val(1i64))
        .from(employee::Entity)
        .and_where(Expr::col(employee::Column::ManagerId).is_in(managers.iter().copied()))
        .to_owned();
    // The next step: `(root, id, depth + 1)` for the direct reports of each employee found.
    let mut next = Query::select();
    next.column(("below", "root"));
    if backend == DatabaseBackend::Postgres {
        // Each step reads the direct reports of each employee found so far from the index
        // `(manager_id, id)` alone. Joined plainly, PostgreSQL hashed all employees at every
        // step instead (2 ms for a manager of 300 among 10,000; this way 0.3 ms); the
        // subquery's `OFFSET` keeps it from being joined plainly.
        let reports = Query::select()
            .column((employee::Entity, employee::Column::Id))
            .from(employee::Entity)
            .and_where(
                Expr::col((employee::Entity, employee::Column::ManagerId)).equals(("below", "id")),
            )
            .offset(0)
            .take();
        next.column(("step", "id")).from("below").join_lateral(
            JoinType::InnerJoin,
            reports,
            "step",
            Expr::val(true),
        );
    } else {
        next.column((employee::Entity, employee::Column::Id))
            .from(employee::Entity)
            .join(
                JoinType::InnerJoin,
                "below",
                Expr::col(("below", "id")).equals((employee::Entity, employee::Column::ManagerId)),
            );
    }
    next.expr(Expr::col(("below", "depth")).add(1i64))
        .and_where(Expr::col(("below", "depth")).lt(MAX_DEPTH));
    let below = CommonTableExpression::new()
        .query(first.clone().union(UnionType::All, next).to_owned())
        .columns(["root", "id", "depth"])
        .table_name("below")
        .to_owned();
    Query::select()
        .columns(["root", "id"])
        .from("below")
        .to_owned()
        .with(WithClause::new().recursive(true).cte(below).to_owned())
}

/// Whether the principal sees an employee's private fields (e-mail, hiring and leaving
/// dates): the employee, those above them, admins and payroll. Others see the directory's
/// names and departments only.
pub fn private_fields(who: &Principal, reach: &Reach, employee_id: i64) -> bool {
    who.has_scope(Scope::PayrollRead) || reach.sees_employee(employee_id)
}

/// Whether the principal sees an employee's KPI history: the same people as see their
/// private fields (the employee, those above them, admins and payroll).
pub fn history(who: &Principal, reach: &Reach, employee_id: i64) -> bool {
    private_fields(who, reach, employee_id)
}

/// Whether the principal sees an employee's board (tiles, current KPI): the employee, those
/// above them and admins; payroll reads results, not boards.
pub fn board(reach: &Reach, employee_id: i64) -> bool {
    reach.sees_employee(employee_id)
}

/// Whether a change may alter the board of employee `me` (of department `department_id`)
/// and so be heard by their `summaryChanged`: it names them, their department's audience
/// or everyone. A board is only ever the viewer's own, resolved as `me { summary }` is, so
/// hearing a change never shows an object the viewer could not query; this only keeps
/// boards from being pushed for changes that are none of theirs.
pub fn hears(change: &crate::live::Change, me: i64, department_id: Option<i64>) -> bool {
    change.everyone
        || change.employees.binary_search(&me).is_ok()
        || department_id.is_some_and(|d| change.departments.binary_search(&d).is_ok())
}

/// Whether a change asks the live connections of `who` to check their credentials again:
/// it names their employee (a session ended, they left, their rights changed) or their
/// token (revoked). A session carries no token (`token_id` 0), so it is named by its
/// employee only.
pub fn rechecks(change: &crate::live::Change, who: &Principal) -> bool {
    let token = match who {
        Principal::Employee { token_id, .. } | Principal::Service { token_id, .. } => *token_id,
        Principal::System => 0,
    };
    who.employee_id()
        .is_some_and(|e| change.recheck_employees.binary_search(&e).is_ok())
        || (token != 0 && change.recheck_tokens.binary_search(&token).is_ok())
}

/// Only admins (an admin employee or a service with the admin scope).
pub fn require_admin(who: &Principal) -> DomainResult<()> {
    if who.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden("only an admin may do this".into()))
    }
}

/// Admins, and managers for employees below them.
pub async fn require_manager_of(
    db: &impl ConnectionTrait,
    who: &Principal,
    employee_id: i64,
) -> DomainResult<()> {
    if reach(db, who).await?.manages(employee_id) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "only the employee's manager or an admin may do this".into(),
        ))
    }
}

/// Payroll figures: the payroll scope or an admin.
pub fn require_payroll(who: &Principal) -> DomainResult<()> {
    if who.has_scope(Scope::PayrollRead) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "payroll figures need the payroll:read scope".into(),
        ))
    }
}

/// The server's metrics: the metrics scope or an admin.
pub fn require_metrics(who: &Principal) -> DomainResult<()> {
    if who.has_scope(Scope::MetricsRead) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "the metrics need the metrics:read scope".into(),
        ))
    }
}

/// A knowledge-base article or a proposal, as far as seeing it goes.
#[derive(Clone, Copy, Debug)]
pub struct Material {
    pub author_id: Option<i64>,
    /// Its audience: `None` is everyone, else one department.
    pub audience: Option<i64>,
    /// When readers may first see it: an article's publication, a proposal's opening.
    pub visible_from: DateTime<Utc>,
}

/// Whether a principal may see an article or a proposal: admins always, its author always,
/// other employees of its audience once it is visible; services never (payroll reads
/// results, not content). `department` is the reader's department, if an employee.
pub fn sees_material(
    who: &Principal,
    department: Option<i64>,
    material: Material,
    now: DateTime<Utc>,
) -> bool {
    if who.is_admin() || (who.employee_id().is_some() && who.employee_id() == material.author_id) {
        return true;
    }
    let Some(department) = department else {
        return false;
    };
    who.employee_id().is_some()
        && material.visible_from <= now
        && material.audience.is_none_or(|a| a == department)
}

/// An employee acting as themselves (votes, reads): not a service.
pub fn require_employee(who: &Principal) -> DomainResult<i64> {
    who.employee_id()
        .ok_or_else(|| DomainError::Forbidden("only an employee may do this".into()))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use entity::enums::{AssignmentKind, AssignmentStatus};

    use super::*;

    #[test]
    fn a_change_is_heard_by_whom_it_names_their_audience_or_everyone() {
        use crate::live::Change;
        let cases: [(Change, i64, Option<i64>, bool); 7] = [
            (Change::employees([1, 5]), 5, Some(2), true),
            (Change::employees([1, 5]), 4, Some(2), false),
            (Change::audience(Some(2)), 4, Some(2), true),
            (Change::audience(Some(2)), 4, Some(3), false),
            (Change::audience(Some(2)), 4, None, false),
            (Change::audience(None), 4, None, true),
            (Change::default(), 4, Some(2), false),
        ];
        for (change, me, dept, heard) in cases {
            assert_eq!(hears(&change, me, dept), heard, "{change:?} {me} {dept:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn a_reach_is_a_team_for_employees_everyone_for_admins_and_no_one_for_services() {
        use entity::enums::Role;
        let below = HashSet::from([7, 8]);
        let employee = Principal::Employee { id: 3, role: Role::Manager, payroll: true, token_id: 1 };
        let admin = Principal::Employee { id: 4, role: Role::Admin, payroll: false, token_id: 1 };
        let payroll = Principal::Service { name: "p".into(), scopes: vec![Scope::PayrollRead], token_id: 2 };
        let root = Principal::Service { name: "r".into(), scopes: vec![Scope::Admin], token_id: 3 };
        let cases = [
            // (who, whose subordinates are read, reach)
            (&employee, Some(3), Reach::Team { me: 3, below: below.clone() }),
            (&admin, None, Reach::All),
            (&root, None, Reach::All),
            (&Principal::System, None, Reach::All),
            (&payroll, None, Reach::Nobody),
        ];
        for (who, team, reach) in cases {
            assert_eq!(team_of(who), team, "{who:?}");
            assert_eq!(reach_of(who, below.clone()), reach, "{who:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn a_recheck_names_an_employees_connections_or_a_tokens() {
        use crate::live::Change;
        use entity::enums::Role;
        let by_token = Principal::Employee { id: 5, role: Role::Employee, payroll: false, token_id: 9 };
        let by_session = Principal::Employee { id: 5, role: Role::Employee, payroll: false, token_id: 0 };
        let service = Principal::Service { name: "s".into(), scopes: vec![], token_id: 9 };
        let cases = [
            // (change, who, checks again)
            (Change::recheck_employee(5), &by_token, true),
            (Change::recheck_employee(5), &by_session, true),
            (Change::recheck_employee(6), &by_token, false),
            (Change::recheck_employee(5), &service, false),
            (Change::recheck_token(9), &by_token, true),
            (Change::recheck_token(9), &service, true),
            (Change::recheck_token(0), &by_session, false), // no token: never named by one
            (Change::recheck_token(8), &service, false),
            (Change::employees([5]), &by_token, false),     // a board change is no recheck
        ];
        for (change, who, again) in cases {
            assert_eq!(rechecks(&change, who), again, "{change:?} {who:?}");
        }
    }

    fn assignment(assignee_id: i64, controller_id: i64) -> assignment::Model {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap();
        assignment::Model {
            id: 1,
            kind: AssignmentKind::Duty,
            template_id: None,
            period_id: 1,
            assignee_id,
            controller_id,
            title: String::new(),
            description: String::new(),
            weight: 1.0,
            due_at: at,
            status: AssignmentStatus::Todo,
            submitted_at: None,
            decided_at: None,
            created_at: at,
            created_by: None,
            version: 1,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn who_sees_which_material() {
        use entity::enums::Role;
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        let employee = |id| Principal::Employee { id, role: Role::Employee, payroll: false, token_id: 1 };
        let admin = Principal::Employee { id: 9, role: Role::Admin, payroll: false, token_id: 1 };
        let payroll = Principal::Service { name: "payroll".into(), scopes: vec![Scope::PayrollRead], token_id: 2 };
        let published = now - chrono::Duration::hours(1);
        let later = now + chrono::Duration::hours(1);
        let cases = [
            // (who, their department, author, audience, visible from, sees)
            (&employee(1), Some(10), Some(5), None, published, true),       // everyone's, published
            (&employee(1), Some(10), Some(5), Some(10), published, true),   // their department's
            (&employee(1), Some(10), Some(5), Some(11), published, false),  // another department's
            (&employee(1), Some(10), Some(5), None, later, false),          // not published yet
            (&employee(5), Some(11), Some(5), Some(10), later, true),       // its author, early and outside
            (&admin, Some(10), Some(5), Some(11), later, true),
            (&payroll, None, Some(5), None, published, false),              // services read no content
            (&payroll, None, Some(5), None, later, false),
        ];
        for (who, department, author_id, audience, visible_from, sees) in cases {
            let material = Material { author_id, audience, visible_from };
            assert_eq!(sees_material(who, department, material, now), sees, "{who:?} {department:?} {material:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn who_reads_payroll_and_metrics() {
        use entity::enums::Role;
        let person = |role, payroll| Principal::Employee { id: 1, role, payroll, token_id: 1 };
        let service = |scopes: &[Scope]| Principal::Service { name: "s".into(), scopes: scopes.to_vec(), token_id: 2 };
        let cases = [
            // (who, reads payroll, reads metrics)
            (person(Role::Employee, false), false, false),
            (person(Role::Manager, false), false, false),
            (person(Role::Employee, true), true, false),   // a payroll clerk: payroll only
            (person(Role::Admin, false), true, true),
            (service(&[Scope::PayrollRead]), true, false),
            (service(&[Scope::MetricsRead]), false, true),
            (service(&[Scope::Admin]), true, true),
            (service(&[]), false, false),
            (Principal::System, true, true),
        ];
        for (who, payroll, metrics) in cases {
            assert_eq!(require_payroll(&who).is_ok(), payroll, "{who:?} payroll");
            assert_eq!(require_metrics(&who).is_ok(), metrics, "{who:?} metrics");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn who_sees_which_assignment() {
        // Manager 1 has report 2; 3 and 4 are elsewhere.
        let manager = Reach::Team { me: 1, below: HashSet::from([2]) };
        let report = Reach::Team { me: 2, below: HashSet::new() };
        let cases = [
            // (reach, assignee, controller, sees)
            (&manager, 2, 3, true),   // their report's work
            (&manager, 3, 2, true),   // what their report controls
            (&manager, 3, 1, true),   // what they control themselves
            (&manager, 3, 4, false),  // nobody of theirs is involved
            (&report, 2, 3, true),
            (&report, 1, 2, true),
            (&report, 1, 3, false),   // their manager's own work
            (&Reach::All, 3, 4, true),
            (&Reach::Nobody, 2, 3, false),
        ];
        for (reach, assignee, controller, sees) in cases {
            assert_eq!(reach.sees_assignment(&assignment(assignee, controller)), sees, "{reach:?} {assignee} {controller}");
        }
    }
}
