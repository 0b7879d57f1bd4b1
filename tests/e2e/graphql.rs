//! The GraphQL API over HTTP: tiles, reports, the state machine, access, statement
//! counts, GraphQL-over-HTTP behaviour and limits.

use serde_json::{Value, json};

use super::*;
use crate::on_both;

const TILES: &str = "{ me { summary { period { id }
  toAccept { count items(first: 100) { edges { node { id } } } }
  duties { total done awaitingAcceptance remaining overdue }
  additional { total done awaitingAcceptance remaining overdue }
  averageKpi currentKpi
  knowledgeBaseNew { count } proposalsToVote { count } } } }";

/// The demo's first TODO duty, seen by an admin service token.
struct Todo {
    id: String,
    assignee: String,
    controller: String,
    /// Tokens of the admin service, the assignee and the controller.
    admin: String,
    t_ass: String,
    t_ctl: String,
}

/// Loads the demo and picks its first TODO duty, with tokens for the people involved.
async fn a_todo(app: &TestApp) -> Todo {
    app.demo().await;
    let admin = app.admin().await;
    let d = app
        .gql(&admin, "{ assignments(first: 100, filter: { status: TODO, kind: DUTY }) { edges { node { id assignee { email } controller { email } } } } }", json!({}))
        .await;
    let a = &d["assignments"]["edges"][0]["node"];
    let (assignee, controller) = (
        a["assignee"]["email"].as_str().unwrap().to_owned(),
        a["controller"]["email"].as_str().unwrap().to_owned(),
    );
    Todo {
        id: a["id"].as_str().unwrap().to_owned(),
        t_ass: app.token_for_email(&assignee).await,
        t_ctl: app.token_for_email(&controller).await,
        assignee,
        controller,
        admin,
    }
}

fn mutate(id: &str, op: &str) -> String {
    match op {
        "return" => format!(
            "mutation {{ returnAssignment(id: \"{id}\", comment: \"more please\") {{ id status }} }}"
        ),
        "cancel" => format!(
            "mutation {{ cancelAssignment(id: \"{id}\", reason: \"not needed\") {{ id status }} }}"
        ),
        _ => format!(
            "mutation {{ {op}Assignment(id: \"{id}\") {{ id status submittedAt decidedAt }} }}"
        ),
    }
}

on_both! {
    async fn tiles_follow_the_state_machine(kind: Kind) {
        let app = TestApp::start(kind).await;
        let Todo { id, assignee, controller, admin, t_ass, t_ctl } = a_todo(&app).await;
        let before_ctl = app.gql(&t_ctl, TILES, json!({})).await["me"]["summary"].clone();
        let before = app.gql(&t_ass, TILES, json!({})).await["me"]["summary"].clone();

        let d = app.gql(&t_ass, &mutate(&id, "submit"), json!({})).await;
        assert_eq!(d["submitAssignment"]["status"], "SUBMITTED");
        assert_eq!(d["submitAssignment"]["submittedAt"], "2026-11-20T10:00:00+00:00");

        let after = app.gql(&t_ass, TILES, json!({})).await["me"]["summary"].clone();
        assert_eq!(after["duties"]["remaining"], before["duties"]["remaining"].as_u64().unwrap() - 1);
        assert_eq!(after["duties"]["awaitingAcceptance"], before["duties"]["awaitingAcceptance"].as_u64().unwrap() + 1);
        assert_eq!(after["duties"]["total"], before["duties"]["total"]);
        let after_ctl = app.gql(&t_ctl, TILES, json!({})).await["me"]["summary"].clone();
        assert_eq!(after_ctl["toAccept"]["count"], before_ctl["toAccept"]["count"].as_u64().unwrap() + 1);
        let listed: Vec<&str> = after_ctl["toAccept"]["items"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap()).collect();
        assert!(listed.contains(&id.as_str()));

        app.clock.set(t0() + chrono::Duration::hours(1));
        let d = app.gql(&t_ctl, &mutate(&id, "accept"), json!({})).await;
        assert_eq!(d["acceptAssignment"]["status"], "ACCEPTED");
        assert_eq!(d["acceptAssignment"]["decidedAt"], "2026-11-20T11:00:00+00:00");
        let done = app.gql(&t_ass, TILES, json!({})).await["me"]["summary"].clone();
        assert_eq!(done["duties"]["done"], before["duties"]["done"].as_u64().unwrap() + 1);

        // Every transition left an event with its actor.
        let d = app.gql(&admin, "query($id: ID!) { assignment(id: $id) { events { actor { email } from to comment } } }", json!({ "id": id })).await;
        let events: Vec<(Value, Value, Value)> = d["assignment"]["events"].as_array().unwrap().iter().map(|e| (e["actor"]["email"].clone(), e["from"].clone(), e["to"].clone())).collect();
        assert_eq!(events, [
            (Value::Null, Value::Null, json!("TODO")),
            (json!(assignee), json!("TODO"), json!("SUBMITTED")),
            (json!(controller), json!("SUBMITTED"), json!("ACCEPTED")),
        ]);

        // Anything else is a conflict, and the wrong person is forbidden.
        let (_, body) = app.post(Some(&t_ass), &mutate(&id, "submit"), json!({})).await;
        assert_eq!(codes(&body), ["CONFLICT"]);
        let (_, body) = app.post(Some(&t_ctl), &mutate(&id, "cancel"), json!({})).await;
        assert_eq!(codes(&body), ["CONFLICT"]);
        let (_, body) = app.post(Some(&t_ass), &mutate(&id, "accept"), json!({})).await;
        assert_eq!(codes(&body), ["FORBIDDEN"]);
        // A return needs a comment.
        let (_, body) = app.post(Some(&t_ctl), &format!("mutation {{ returnAssignment(id: \"{id}\", comment: \"  \") {{ id }} }}"), json!({})).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"]);
        assert_eq!(body["errors"][0]["extensions"]["field"], "comment");
    }
}

on_both! {
    async fn of_ten_racing_accepts_one_wins(kind: Kind) {
        let app = TestApp::start(kind).await;
        let Todo { id, admin, t_ass, t_ctl, .. } = a_todo(&app).await;
        app.gql(&t_ass, &mutate(&id, "submit"), json!({})).await;
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (http, base, token, query) = (app.http.clone(), app.base.clone(), t_ctl.clone(), mutate(&id, "accept"));
            tasks.push(tokio::spawn(async move {
                let resp = http.post(format!("{base}/graphql")).bearer_auth(token).json(&json!({ "query": query })).send().await.unwrap();
                resp.json::<Value>().await.unwrap()
            }));
        }
        let mut wins = 0;
        let mut conflicts = 0;
        for t in tasks {
            let body = t.await.unwrap();
            if body["data"]["acceptAssignment"]["status"] == "ACCEPTED" {
                wins += 1;
            } else if codes(&body) == ["CONFLICT"] {
                conflicts += 1;
            }
        }
        assert_eq!((wins, conflicts), (1, 9));
        let d = app.gql(&admin, "query($id: ID!) { assignment(id: $id) { events { to } } }", json!({ "id": id })).await;
        let accepted = d["assignment"]["events"].as_array().unwrap().iter().filter(|e| e["to"] == "ACCEPTED").count();
        assert_eq!(accepted, 1, "exactly one accept event");
    }
}

on_both! {
    async fn reports_count_the_whole_filter_and_order_debtors(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        // The current period's assignments: the demo's closed history holds more than a page.
        let current = app.gql(&admin, "{ currentPeriod { id } }", json!({})).await["currentPeriod"]["id"].clone();
        let d = app
            .gql(&admin, "query($p: ID!) { assignments(first: 3, filter: { periodId: $p }) { totalCount counts { total done awaitingAcceptance remaining overdue } edges { node { id } } pageInfo { hasNextPage } } all: assignments(first: 100, filter: { periodId: $p }) { edges { node { status overdue kind } } } }", json!({ "p": current }))
            .await;
        let all = d["all"]["edges"].as_array().unwrap();
        let count = |f: &dyn Fn(&Value) -> bool| all.iter().filter(|e| f(&e["node"])).count() as u64;
        let c = &d["assignments"]["counts"];
        assert_eq!(d["assignments"]["edges"].as_array().unwrap().len(), 3);
        assert_eq!(d["assignments"]["totalCount"], all.len() as u64);
        assert_eq!(c["total"], count(&|n| n["status"] != "CANCELLED"));
        assert_eq!(c["done"], count(&|n| n["status"] == "ACCEPTED"));
        assert_eq!(c["awaitingAcceptance"], count(&|n| n["status"] == "SUBMITTED"));
        assert_eq!(c["remaining"], count(&|n| ["TODO", "IN_PROGRESS", "RETURNED"].contains(&n["status"].as_str().unwrap())));
        assert_eq!(c["overdue"], count(&|n| n["overdue"] == true));
        assert!(c["overdue"].as_u64().unwrap() > 0, "the demo has overdue work");
        let overdue = app.gql(&admin, "query($p: ID!) { assignments(first: 100, filter: { overdue: true, periodId: $p }) { totalCount } }", json!({ "p": current })).await;
        assert_eq!(overdue["assignments"]["totalCount"], c["overdue"]);

        let d = app.gql(&admin, "{ assignmentReport(by: DEBTORS) { employee { email } overdue oldestDueAt assignments(first: 10) { totalCount edges { node { overdue } } } } }", json!({})).await;
        let rows = d["assignmentReport"].as_array().unwrap();
        assert!(!rows.is_empty());
        let keys: Vec<(i64, String)> = rows.iter().map(|r| (-r["overdue"].as_i64().unwrap(), r["oldestDueAt"].as_str().unwrap().to_owned())).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "most overdue first, then oldest due");
        for r in rows {
            assert_eq!(r["assignments"]["totalCount"], r["overdue"]);
            assert!(r["assignments"]["edges"].as_array().unwrap().iter().all(|e| e["node"]["overdue"] == true));
        }

        let d = app.gql(&admin, "{ assignmentReport(by: CONTROLLER) { employee { email } awaitingAcceptance awaitingFrom { employee { email } count } assignments(first: 50) { totalCount } } }", json!({})).await;
        for r in d["assignmentReport"].as_array().unwrap() {
            let from: u64 = r["awaitingFrom"].as_array().unwrap().iter().map(|f| f["count"].as_u64().unwrap()).sum();
            assert_eq!(from, r["awaitingAcceptance"].as_u64().unwrap());
            assert_eq!(r["assignments"]["totalCount"], r["awaitingAcceptance"]);
        }

        // A manager's report covers their subtree only, and its counts are theirs.
        let by_assignee = app.gql(&admin, "{ assignmentReport(by: ASSIGNEE) { employee { email } total remaining missed } }", json!({})).await;
        let summed: u64 = by_assignee["assignmentReport"].as_array().unwrap().iter().map(|r| r["total"].as_u64().unwrap()).sum();
        assert_eq!(summed, c["total"].as_u64().unwrap(), "the rows add up to the period's total");
        assert!(by_assignee["assignmentReport"].as_array().unwrap().iter().all(|r| r["missed"] == 0), "nothing is missed in an open period");
        let manager = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
        let d = app.gql(&manager, "{ assignmentReport(by: ASSIGNEE) { employee { department { name } manager { email } } total } }", json!({})).await;
        let rows = d["assignmentReport"].as_array().unwrap();
        assert!(!rows.is_empty());
        for r in rows {
            assert_eq!(r["employee"]["department"]["name"], "Development", "{r}");
        }
    }
}

on_both! {
    async fn bad_input_names_the_field_and_writes_nothing(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let manager = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
        let d = app.gql(&manager, "{ me { id } employees(first: 10) { edges { node { id email } } } }", json!({})).await;
        let pavel = d["employees"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["email"] == "pavel.lebedev@zeroboard.demo").unwrap()["node"]["id"].clone();
        let before = app.gql(&manager, "{ assignments(first: 1) { totalCount } }", json!({})).await["assignments"]["totalCount"].clone();
        let create = "mutation($i: AssignmentFields!) { createAssignment(input: $i) { id title status dueAt assignee { email } controller { email } } }";
        for (input, field) in [
            (json!({ "assigneeId": pavel, "title": " ", "dueAt": "2026-11-25T12:00:00Z" }), "input.title"),
            (json!({ "assigneeId": pavel, "title": "x", "dueAt": "2026-11-19T12:00:00Z" }), "input.dueAt"),
            (json!({ "assigneeId": pavel, "title": "x", "dueAt": "2026-11-25T12:00:00Z", "weight": -1 }), "input.weight"),
            (json!({ "assigneeId": "bad", "title": "x", "dueAt": "2026-11-25T12:00:00Z" }), "input.assigneeId"),
        ] {
            let (_, body) = app.post(Some(&manager), create, json!({ "i": input })).await;
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{input}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
        let after = app.gql(&manager, "{ assignments(first: 1) { totalCount } }", json!({})).await["assignments"]["totalCount"].clone();
        assert_eq!(before, after, "nothing was written");
        let d = app.gql(&manager, create, json!({ "i": { "assigneeId": pavel, "title": "Write the postmortem", "dueAt": "2026-11-25T12:00:00Z" } })).await;
        assert_eq!(d["createAssignment"]["status"], "TODO");
        assert_eq!(d["createAssignment"]["controller"]["email"], "dmitry.orlov@zeroboard.demo");
    }
}

/// The GraphQL blocks of the README's tour, with the role named on their first line.
fn readme_tour() -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    readme
        .split("```graphql\n")
        .skip(1)
        .map(|block| {
            let block = block.split("```").next().unwrap();
            let role = block
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("# as:")
                .trim()
                .to_owned();
            (role, block.to_owned())
        })
        .collect()
}

on_both! {
    async fn the_readme_tour_works_as_written(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let employee = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let manager = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
        let tour = readme_tour();
        assert_eq!(tour.len(), 6, "five queries and one mutation");
        let mut queue_head = None;
        for (role, query) in &tour {
            let token = if role == "employee" { &employee } else { &manager };
            let vars = match &queue_head {
                Some(id) if query.contains("mutation") => json!({ "id": id }),
                _ => json!({}),
            };
            let data = app.gql(token, query, vars).await;
            if let Some(id) = data["me"]["summary"]["toAccept"]["items"]["edges"][0]["node"]["id"].as_str() {
                queue_head = Some(id.to_owned());
            }
            if query.contains("mutation") {
                assert_eq!(data["acceptAssignment"]["status"], "ACCEPTED");
            }
            if query.contains("outlook") {
                let outlook = &data["me"]["summary"]["outlook"];
                assert!(!outlook["items"]["nodes"].as_array().unwrap().is_empty(), "{outlook}");
                assert!(!outlook["advice"].as_array().unwrap().is_empty(), "{outlook}");
            }
            if query.contains("explanation") {
                let last = &data["me"]["kpiHistory"]["edges"][0]["node"];
                assert!(last["explanation"].as_str().unwrap().starts_with("KPI "), "{last}");
            }
            if query.contains("DEBTORS") {
                assert!(!data["assignmentReport"].as_array().unwrap().is_empty(), "the demo has debtors");
            }
        }
        assert!(queue_head.is_some(), "the demo manager has submissions to accept");
    }
}

on_both! {
    async fn an_ended_period_takes_changes_until_its_close_is_due(kind: Kind) {
        use chrono::TimeZone;
        let app = TestApp::start(kind).await;
        let Todo { id, controller, admin, t_ass, t_ctl, .. } = a_todo(&app).await;
        // The period ended at midnight; its close is due a day later. A late submission
        // still counts, and the controller's queue shows it.
        app.clock.set(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap());
        assert_eq!(app.gql(&t_ass, &mutate(&id, "submit"), json!({})).await["submitAssignment"]["status"], "SUBMITTED");
        let queue = app.gql(&t_ctl, "{ me { summary { toAccept { count items(first: 100) { edges { node { id } } } } } } }", json!({})).await;
        assert!(queue.to_string().contains(&id), "{queue}");
        // Once the close is due nothing changes, even while no scheduler runs.
        let due = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
        app.clock.set(due + chrono::Duration::hours(30));
        let (_, body) = app.post(Some(&t_ctl), &mutate(&id, "accept"), json!({})).await;
        assert_eq!(codes(&body), ["CONFLICT"]);
        // The late tick closes the period as of the due instant: the submission is still
        // waiting, so the controller missed that acceptance.
        domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, app.clock.now()).await.unwrap();
        let d = app.gql(&admin, "query($id: ID!) { assignment(id: $id) { status period { id status } } }", json!({ "id": id })).await;
        assert_eq!(d["assignment"]["status"], "SUBMITTED");
        assert_eq!(d["assignment"]["period"]["status"], "CLOSED");
        let results = app
            .gql(&admin, "query($p: ID!) { bonusResults(periodId: $p, first: 100) { edges { node { employee { email } obligations { kind outcome count } } } } }", json!({ "p": d["assignment"]["period"]["id"] }))
            .await;
        let mine = results["bonusResults"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["employee"]["email"] == controller.as_str()).unwrap();
        let missed = mine["node"]["obligations"].as_array().unwrap().iter().find(|o| o["kind"] == "acceptance" && o["outcome"] == "missed");
        assert!(missed.is_some_and(|o| o["count"].as_u64().unwrap() >= 1), "{mine}");
    }
}

on_both! {
    /// A page loads each tile for all its employees at once (one batch per tile, the live
    /// KPI from the rows that concern the page's people); every number must be what the
    /// same employee's summary shows when asked for alone.
    async fn a_page_of_tiles_agrees_with_each_employee_alone(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        const SUMMARY: &str = "summary { toAccept { count } duties { total done awaitingAcceptance remaining overdue } \
            additional { total done awaitingAcceptance remaining overdue } knowledgeBaseNew { count } proposalsToVote { count } \
            averageKpi currentKpi }";
        let page = app.gql(&admin, &format!("{{ employees(first: 30) {{ edges {{ node {{ id {SUMMARY} }} }} }} }}"), json!({})).await;
        let nodes = page["employees"]["edges"].as_array().unwrap();
        assert!(nodes.len() >= 20, "{page}");
        let mut live = 0;
        for edge in nodes {
            let node = &edge["node"];
            let alone = app.gql(&admin, &format!("query($id: ID!) {{ employee(id: $id) {{ {SUMMARY} }} }}"), json!({ "id": node["id"] })).await;
            assert_eq!(alone["employee"]["summary"], node["summary"], "{}", node["id"]);
            live += usize::from(node["summary"]["currentKpi"].is_number());
        }
        assert!(live >= 10, "the demo's people have a live KPI: {page}");
    }
}
