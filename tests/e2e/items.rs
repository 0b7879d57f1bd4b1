//! A KPI result item by item: the items add up to the KPI, filter and page; they link only to
//! what the reader may see; the explanation in English and Russian; the obligations export
//! over HTTP and the CLI adds up to the bonus export.

use std::collections::BTreeMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};

use super::*;
use crate::on_both;

/// A title a spreadsheet would run as a formula.
const EVIL: &str = "=HYPERLINK(\"http://evil.example\",\"open\")";

/// The demo, an additional assignment for Pavel with a formula for a title, then the clock
/// moved past the period's close and one tick. Returns the closed period (`id`, `startsOn`).
async fn closed(app: &TestApp) -> Value {
    app.demo().await;
    let admin = app.admin().await;
    let manager = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
    let pavel = id_of(app, "pavel.lebedev@zeroboard.demo").await;
    let create = "mutation($i: AssignmentFields!) { createAssignment(input: $i) { id } }";
    app.gql(
        &manager,
        create,
        json!({ "i": { "assigneeId": pavel, "title": EVIL, "dueAt": "2026-11-27T12:00:00Z" } }),
    )
    .await;
    close_the_current_period(app, &admin).await
}

/// Points as hundredths, exactly.
fn x100(points: &Value) -> i64 {
    (points.as_f64().unwrap() * 100.0).round() as i64
}

/// A decimal cell (`104.44`, `-0.05`) as hundredths, without floating point.
fn cell_x100(cell: &str) -> i64 {
    let (sign, digits) = cell.strip_prefix('-').map_or((1, cell), |d| (-1, d));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let frac = format!("{frac:0<2}");
    sign * (whole.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap())
}

const ITEM: &str = "kind title dueAt metAt outcome weight credit points ratio pointsLost \
    assignment { id } article { id } proposal { id } target { id }";

on_both! {
    async fn items_add_up_to_the_kpi_and_filter_and_page(kind: Kind) {
        let app = TestApp::start(kind).await;
        let period = closed(&app).await;
        let payroll = app.service_token(domain::auth::Scope::PayrollRead).await;
        // Within the complexity limit: figures of every result, then links of every result.
        let q = "query($p: ID!) { bonusResults(periodId: $p, first: 30) { nodes { kpi itemized employee { email } items(first: 40) { totalCount pageInfo { hasNextPage } edges { node { kind title outcome points pointsLost } } } } } }";
        let d = app.gql(&payroll, q, json!({ "p": period["id"] })).await;
        let results: Vec<Value> = d["bonusResults"]["nodes"].as_array().unwrap().iter().map(|r| json!({ "node": r })).collect();
        assert!(results.len() >= 20);
        let mut kinds = std::collections::BTreeSet::new();
        for r in &results {
            let r = &r["node"];
            assert_eq!(r["itemized"], true, "{r}");
            let items = r["items"]["edges"].as_array().unwrap();
            assert!(!items.is_empty(), "every result has at least one item: {r}");
            assert_eq!(r["items"]["totalCount"], items.len(), "{r}");
            assert_eq!(r["items"]["pageInfo"]["hasNextPage"], false);
            let sum: i64 = items.iter().map(|i| x100(&i["node"]["points"])).sum();
            assert_eq!(sum, x100(&r["kpi"]), "the items of {} add up to the KPI", r["employee"]["email"]);
            for i in items {
                let i = &i["node"];
                kinds.insert(i["kind"].as_str().unwrap().to_owned());
                assert!(i["pointsLost"].as_f64().unwrap() >= 0.0, "{i}");
            }
        }
        let q = "query($p: ID!) { bonusResults(periodId: $p, first: 30) { nodes { items(first: 50) { nodes { assignment { id } article { id } proposal { id } target { id } } } } } }";
        let d = app.gql(&payroll, q, json!({ "p": period["id"] })).await;
        for r in d["bonusResults"]["nodes"].as_array().unwrap() {
            for i in r["items"]["nodes"].as_array().unwrap() {
                assert_eq!(i, &json!({ "assignment": null, "article": null, "proposal": null, "target": null }), "payroll gets no links into content");
            }
        }
        for k in ["DUTY", "ADDITIONAL", "READING", "VOTE"] {
            assert!(kinds.contains(k), "the demo's close has {k} items: {kinds:?}");
        }
        let pavel = results.iter().map(|r| &r["node"]).find(|r| r["employee"]["email"] == "pavel.lebedev@zeroboard.demo").unwrap();
        let all: Vec<&Value> = pavel["items"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
        let evil = all.iter().find(|i| i["title"] == EVIL).expect("the assignment with a formula title");
        assert_eq!((evil["kind"].as_str(), evil["outcome"].as_str()), (Some("ADDITIONAL"), Some("MISSED")));

        // Filters: a kind, an outcome, both; each a subset of the whole list, in its order.
        let one = |filter: &'static str| format!("query($p: ID!) {{ bonusResults(periodId: $p, first: 30) {{ edges {{ node {{ employee {{ email }} items(first: 50{filter}) {{ totalCount edges {{ node {{ kind outcome title }} }} }} }} }} }} }}");
        for (filter, keep) in [
            (", kind: DUTY", (Some("DUTY"), None)),
            (", outcome: MISSED", (None, Some("MISSED"))),
            (", kind: ADDITIONAL, outcome: MISSED", (Some("ADDITIONAL"), Some("MISSED"))),
        ] {
            let d = app.gql(&payroll, &one(filter), json!({ "p": period["id"] })).await;
            let mine = d["bonusResults"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).find(|r| r["employee"]["email"] == "pavel.lebedev@zeroboard.demo").unwrap();
            let got: Vec<(Value, Value, Value)> = mine["items"]["edges"].as_array().unwrap().iter().map(|e| (e["node"]["kind"].clone(), e["node"]["outcome"].clone(), e["node"]["title"].clone())).collect();
            let want: Vec<(Value, Value, Value)> = all
                .iter()
                .filter(|i| keep.0.is_none_or(|k| i["kind"] == k) && keep.1.is_none_or(|o| i["outcome"] == o))
                .map(|i| (i["kind"].clone(), i["outcome"].clone(), i["title"].clone()))
                .collect();
            assert!(!want.is_empty(), "{filter}");
            assert_eq!(got, want, "{filter}");
            assert_eq!(mine["items"]["totalCount"], want.len(), "{filter}");
        }

        // Paging, two at a time, gives the whole list; the total stays the whole list's.
        let admin = app.admin().await;
        let paged = "query($e: ID!, $after: String) { employee(id: $e) { kpiHistory(first: 1) { edges { node { items(first: 2, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { title kind } } } } } } } }";
        let pavel_id = id_of(&app, "pavel.lebedev@zeroboard.demo").await;
        let (mut after, mut seen, mut pages) = (Value::Null, Vec::new(), 0);
        loop {
            let d = app.gql(&admin, paged, json!({ "e": pavel_id, "after": after })).await;
            let items = &d["employee"]["kpiHistory"]["edges"][0]["node"]["items"];
            assert_eq!(items["totalCount"], all.len());
            assert_eq!(items["pageInfo"]["hasPreviousPage"], pages > 0);
            let edges = items["edges"].as_array().unwrap();
            assert!(edges.len() <= 2);
            seen.extend(edges.iter().map(|e| e["node"]["title"].clone()));
            pages += 1;
            if items["pageInfo"]["hasNextPage"] == false {
                // Past the end: no items, the same total.
                let d = app.gql(&admin, paged, json!({ "e": pavel_id, "after": items["pageInfo"]["endCursor"] })).await;
                let past = &d["employee"]["kpiHistory"]["edges"][0]["node"]["items"];
                assert_eq!(past["edges"], json!([]));
                assert_eq!(past["totalCount"], all.len());
                break;
            }
            after = items["pageInfo"]["endCursor"].clone();
        }
        let titles: Vec<Value> = all.iter().map(|i| i["title"].clone()).collect();
        assert_eq!(seen, titles);
        assert_eq!(pages, all.len().div_ceil(2));
        // A page size out of bounds, or a cursor of nothing, is the client's to fix.
        for (first, after) in [("0", "null"), ("101", "null"), ("2", "\"bm9wZQ\"")] {
            let q = format!("query($e: ID!) {{ employee(id: $e) {{ kpiHistory(first: 1) {{ edges {{ node {{ items(first: {first}, after: {after}) {{ totalCount }} }} }} }} }} }}");
            let (status, body) = app.post(Some(&admin), &q, json!({ "e": pavel_id })).await;
            assert_eq!((status, codes(&body)), (200, vec!["BAD_USER_INPUT".to_owned()]), "{first} {after}: {body}");
        }
    }
}

/// The newest result of an employee, as `who` sees it through `employee(id)`.
async fn newest(app: &TestApp, who: &str, email: &str, fields: &str) -> Value {
    let id = id_of(app, email).await;
    let q = format!(
        "query($e: ID!) {{ employee(id: $e) {{ kpiHistory(first: 1) {{ edges {{ node {{ {fields} }} }} }} }} }}"
    );
    app.gql(who, &q, json!({ "e": id })).await["employee"]["kpiHistory"]["edges"][0]["node"].clone()
}

on_both! {
    async fn items_link_only_to_what_the_reader_sees(kind: Kind) {
        let app = TestApp::start(kind).await;
        closed(&app).await;
        let fields = format!("items(first: 100) {{ edges {{ node {{ {ITEM} }} }} }}");
        let links = |result: &Value, link: &str, kinds: &[&str]| -> (usize, usize) {
            let items: Vec<&Value> = result["items"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).filter(|i| kinds.contains(&i["kind"].as_str().unwrap())).collect();
            (items.len(), items.iter().filter(|i| !i[link].is_null()).count())
        };
        // The employee's own result links to their own work, articles and proposals.
        let pavel = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let own = newest(&app, &pavel, "pavel.lebedev@zeroboard.demo", &fields).await;
        for (link, kinds) in [("assignment", &["DUTY", "ADDITIONAL"][..]), ("article", &["READING"][..]), ("proposal", &["VOTE"][..])] {
            let (n, linked) = links(&own, link, kinds);
            assert!(n > 0 && linked == n, "{link}: {linked} of {n} linked for the employee");
        }
        // Their manager sees the same work through their reach.
        let manager = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
        let theirs = newest(&app, &manager, "pavel.lebedev@zeroboard.demo", &fields).await;
        let (n, linked) = links(&theirs, "assignment", &["DUTY", "ADDITIONAL"]);
        assert!(n > 0 && linked == n, "{linked} of {n} for the manager");
        assert_eq!(own["items"]["edges"].as_array().unwrap().len(), theirs["items"]["edges"].as_array().unwrap().len());
        // A service with the admin scope sees everything; payroll nothing (see above).
        let admin = app.admin().await;
        let all = newest(&app, &admin, "pavel.lebedev@zeroboard.demo", &fields).await;
        let (n, linked) = links(&all, "assignment", &["DUTY", "ADDITIONAL"]);
        assert_eq!(linked, n);
        // A colleague's result is not theirs to read at all.
        let (_, body) = app.post(Some(&pavel), "query($e: ID!) { employee(id: $e) { kpiHistory(first: 1) { totalCount } } }", json!({ "e": crate::items::id_of(&app, "maria.kozlova@zeroboard.demo").await })).await;
        assert_eq!(codes(&body), ["NOT_FOUND"]);
    }
}

pub(crate) async fn id_of(app: &TestApp, email: &str) -> Value {
    let admin = app.admin().await;
    app.gql(
        &admin,
        "{ employees(first: 100) { edges { node { id email } } } }",
        json!({}),
    )
    .await["employees"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["email"] == email)
        .unwrap()["node"]["id"]
        .clone()
}

/// POSTs a query with an `Accept-Language` header.
async fn post_in(
    app: &TestApp,
    token: &str,
    accept_language: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut req = app
        .http
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(l) = accept_language {
        req = req.header("accept-language", l);
    }
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

on_both! {
    async fn explanations_in_english_and_russian(kind: Kind) {
        let app = TestApp::start(kind).await;
        closed(&app).await;
        let pavel = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let r = newest(&app, &pavel, "pavel.lebedev@zeroboard.demo", "kpi eligible en: explanation(lang: EN) ru: explanation(lang: RU) default: explanation").await;
        let (en, ru) = (r["en"].as_str().unwrap(), r["ru"].as_str().unwrap());
        let kpi = format!("{:.2}", r["kpi"].as_f64().unwrap());
        assert!(en.starts_with(&format!("KPI {kpi}")), "{en}");
        assert!(ru.starts_with(&format!("KPI {}", kpi.replace('.', ","))), "{ru}");
        assert!(en.contains(EVIL), "the costliest item, Pavel's missed assignment, is named: {en}");
        assert!(en.contains("No bonus:") || en.contains("The bonus is paid"), "{en}");
        assert!(ru.contains("Премии нет:") || ru.contains("Премия выплачивается"), "{ru}");
        assert_eq!(r["default"], r["en"], "English without a header");
        // By Accept-Language, when the field is given no language.
        let q = "{ me { kpiHistory(first: 1) { edges { node { explanation } } } } }";
        let said = |d: Value| d["me"]["kpiHistory"]["edges"][0]["node"]["explanation"].as_str().unwrap().to_owned();
        assert_eq!(said(post_in(&app, &pavel, Some("ru-RU,ru;q=0.9,en;q=0.8"), q, json!({})).await), ru);
        assert_eq!(said(post_in(&app, &pavel, Some("en-US,en;q=0.9,ru;q=0.8"), q, json!({})).await), en);
        assert_eq!(said(post_in(&app, &pavel, Some("de-DE"), q, json!({})).await), en);
        // The argument wins over the header.
        let q = "{ me { kpiHistory(first: 1) { edges { node { explanation(lang: EN) } } } } }";
        assert_eq!(said(post_in(&app, &pavel, Some("ru"), q, json!({})).await), en);

        // A result closed before items were stored explains that only its totals are known.
        let older = entity::kpi_result::Entity::find()
            .filter(entity::kpi_result::Column::Itemized.eq(true))
            .one(&app.db).await.unwrap().unwrap();
        let newcomer = entity::employee::Entity::find()
            .filter(entity::employee::Column::Email.eq("alexey.popov@zeroboard.demo"))
            .one(&app.db).await.unwrap().unwrap();
        let mut had = entity::kpi_result::Entity::find()
            .filter(entity::kpi_result::Column::EmployeeId.eq(newcomer.id))
            .all(&app.db).await.unwrap();
        had.retain(|r| r.period_id == older.period_id);
        assert!(had.is_empty(), "Alexey joined recently and has no result in the oldest closed period");
        let mut legacy = older.clone().into_active_model();
        legacy.id = sea_orm::ActiveValue::NotSet;
        legacy.employee_id = Set(newcomer.id);
        legacy.itemized = Set(false);
        legacy.insert(&app.db).await.unwrap();
        let admin = app.admin().await;
        let q = "query($e: ID!) { employee(id: $e) { kpiHistory(first: 100) { edges { node { itemized items { totalCount edges { node { kind } } } en: explanation ru: explanation(lang: RU) } } } } }";
        let d = app.gql(&admin, q, json!({ "e": id_of(&app, "alexey.popov@zeroboard.demo").await })).await;
        let edges = d["employee"]["kpiHistory"]["edges"].as_array().unwrap();
        let old = edges.iter().map(|e| &e["node"]).find(|n| n["itemized"] == false).expect("the legacy result");
        assert_eq!(old["items"], json!({ "totalCount": 0, "edges": [] }));
        assert!(old["en"].as_str().unwrap().contains("closed before Zeroboard stored obligations one by one"), "{}", old["en"]);
        assert!(old["ru"].as_str().unwrap().contains("закрыт до того"), "{}", old["ru"]);
    }
}

/// Parses CSV text into its header and records.
fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// Per employee e-mail, a column's hundredths summed.
fn sums(text: &str, column: &str) -> BTreeMap<String, i64> {
    let (header, rows) = parse_csv(text);
    let (email, col) = (
        header.iter().position(|h| h == "email").unwrap(),
        header.iter().position(|h| h == column).unwrap(),
    );
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry(r[email].clone()).or_default() += cell_x100(&r[col]);
    }
    out
}

on_both! {
    async fn obligations_export_adds_up_to_the_bonus_export(kind: Kind) {
        let app = TestApp::start(kind).await;
        let period = closed(&app).await;
        let starts_on = period["startsOn"].as_str().unwrap();
        let payroll = app.service_token(domain::auth::Scope::PayrollRead).await;
        let get = |path: String| {
            let req = app.http.get(format!("{}{path}", app.base));
            async { req }
        };
        let url = format!("/export/obligations.csv?period={starts_on}");
        let resp = get(url.clone()).await.bearer_auth(&payroll).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert!(resp.headers()["content-disposition"].to_str().unwrap().contains(&format!("obligations-{starts_on}.csv")));
        let obligations = resp.text().await.unwrap();
        let bonus = get(format!("/export/bonus.csv?period={starts_on}")).await.bearer_auth(&payroll).send().await.unwrap().text().await.unwrap();
        let (header, rows) = parse_csv(&obligations);
        assert_eq!(header, domain::export::OBLIGATION_COLUMNS);
        // Every employee of the bonus export, and their points add up to their KPI.
        let kpis = sums(&bonus, "kpi");
        assert!(kpis.len() >= 20);
        assert_eq!(sums(&obligations, "points"), kpis);
        // Rows by employee, each in the GraphQL items' order.
        let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert!(ids.is_sorted());
        // A formula in a title is made text, as in the bonus export.
        let title = header.iter().position(|h| h == "title").unwrap();
        assert!(rows.iter().any(|r| r[title] == format!("'{EVIL}")), "the title is neutralised");
        assert!(!rows.iter().any(|r| r[title].starts_with('=')));
        // The same rows as GraphQL's items, in the same order, for Pavel.
        let gql = app.gql(&payroll, "query($p: ID!) { bonusResults(periodId: $p, first: 30) { edges { node { employee { email } items(first: 50) { edges { node { kind title outcome points } } } } } } }", json!({ "p": period["id"] })).await;
        let pavel_items: Vec<(String, String, String, i64)> = gql["bonusResults"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).find(|n| n["employee"]["email"] == "pavel.lebedev@zeroboard.demo").unwrap()["items"]["edges"]
            .as_array().unwrap().iter().map(|e| &e["node"])
            .map(|i| (i["kind"].as_str().unwrap().to_lowercase(), i["title"].as_str().unwrap().to_owned(), i["outcome"].as_str().unwrap().to_lowercase(), x100(&i["points"])))
            .collect();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let pavel_rows: Vec<(String, String, String, i64)> = rows.iter().filter(|r| r[1] == "pavel.lebedev@zeroboard.demo")
            .map(|r| (r[col("kind")].clone(), r[col("title")].trim_start_matches('\'').to_owned(), r[col("outcome")].clone(), cell_x100(&r[col("points")])))
            .collect();
        assert_eq!(pavel_rows, pavel_items);

        // Who may export, and the export's errors, as for the bonus export.
        let employee = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        assert_eq!(get(url.clone()).await.bearer_auth(&employee).send().await.unwrap().status(), 403);
        assert_eq!(get(url.clone()).await.send().await.unwrap().status(), 401);
        let open = app.gql(&payroll, "{ currentPeriod { startsOn } }", json!({})).await;
        let open_url = format!("/export/obligations.csv?period={}", open["currentPeriod"]["startsOn"].as_str().unwrap());
        assert_eq!(get(open_url).await.bearer_auth(&payroll).send().await.unwrap().status(), 409);
        assert_eq!(get("/export/obligations.csv?period=1999-01-01".into()).await.bearer_auth(&payroll).send().await.unwrap().status(), 404);
        assert_eq!(get("/export/obligations.csv?period=yesterday".into()).await.bearer_auth(&payroll).send().await.unwrap().status(), 400);

        // The CLI prints the same CSV, and its JSON carries the true title.
        let out = crate::cli::zeroboard(app.url()).args(["export", "obligations", "--period", starts_on]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), obligations);
        let out = crate::cli::zeroboard(app.url()).args(["export", "bonus", "--period", starts_on]).output().unwrap();
        assert!(out.status.success());
        assert_eq!(sums(&String::from_utf8(out.stdout).unwrap(), "kpi"), kpis);
        let out = crate::cli::zeroboard(app.url()).args(["export", "obligations", "--period", starts_on, "--format", "json"]).output().unwrap();
        assert!(out.status.success());
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json.as_array().unwrap().len(), rows.len());
        assert!(json.as_array().unwrap().iter().any(|r| r["title"] == EVIL));
    }
}
