//! KPI results over GraphQL, the CSV export and the CLI's JSON export: the same numbers;
//! adjustments beside results; policy versions; the admin period mutations.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::on_both;

/// The demo, then the clock moved past the current period's close, and one tick.
async fn closed_demo(app: &TestApp) -> Value {
    app.demo().await;
    let admin = app.admin().await;
    close_the_current_period(app, &admin).await
}

on_both! {
    async fn graphql_csv_and_json_give_the_same_numbers(kind: Kind) {
        let app = TestApp::start(kind).await;
        let period = closed_demo(&app).await;
        let payroll = app.service_token(domain::auth::Scope::PayrollRead).await;
        let d = app
            .gql(&payroll, "query($p: ID!) { bonusResults(periodId: $p, first: 100) { totalCount edges { node { employee { email } kpi discipline targetsScore eligible bonusFactor reasons policyVersion obligations { kind outcome count weight } adjustments { delta } } } } }", json!({ "p": period["id"] }))
            .await;
        let results = d["bonusResults"]["edges"].as_array().unwrap();
        assert_eq!(d["bonusResults"]["totalCount"], results.len());
        assert!(results.len() >= 20, "one result per active employee: {}", results.len());
        for r in results {
            let r = &r["node"];
            assert_eq!(r["eligible"].as_bool().unwrap(), r["bonusFactor"].as_f64().unwrap() > 0.0, "{r}");
            if !r["eligible"].as_bool().unwrap() {
                assert!(!r["reasons"].as_array().unwrap().is_empty(), "{r}");
            }
        }
        // The CSV export of the same period.
        let url = format!("{}/export/bonus.csv?period={}", app.base, period["startsOn"].as_str().unwrap());
        let resp = app.http.get(&url).bearer_auth(&payroll).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = resp.text().await.unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let kpi_col = header.iter().position(|h| *h == "kpi").unwrap();
        let email_col = header.iter().position(|h| *h == "email").unwrap();
        let factor_col = header.iter().position(|h| *h == "bonus_factor").unwrap();
        let rows: Vec<Vec<String>> = lines.map(|l| l.split(',').map(str::to_owned).collect()).collect();
        assert_eq!(rows.len(), results.len());
        for r in results {
            let r = &r["node"];
            let line = rows.iter().find(|l| l[email_col] == r["employee"]["email"].as_str().unwrap()).unwrap();
            assert_eq!(line[kpi_col].parse::<f64>().unwrap(), r["kpi"].as_f64().unwrap());
            assert_eq!(line[factor_col].parse::<f64>().unwrap(), r["bonusFactor"].as_f64().unwrap());
        }
        // The JSON export of the domain, as `zeroboard export bonus --format json` prints it.
        let start = chrono::NaiveDate::parse_from_str(period["startsOn"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        let json_rows = domain::export::to_json(&domain::export::bonus_rows(&app.db, &domain::auth::Principal::System, start).await.unwrap());
        for r in results {
            let r = &r["node"];
            let j = json_rows.as_array().unwrap().iter().find(|j| j["email"] == r["employee"]["email"]).unwrap();
            assert_eq!(j["kpi"].as_f64(), r["kpi"].as_f64());
            assert_eq!(j["bonus_factor"].as_f64(), r["bonusFactor"].as_f64());
            assert_eq!(j["eligible"], r["eligible"]);
        }
        // Who may export, and the export's errors.
        let employee = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        assert_eq!(app.http.get(&url).bearer_auth(&employee).send().await.unwrap().status(), 403);
        assert_eq!(app.http.get(&url).send().await.unwrap().status(), 401);
        let open = app.gql(&payroll, "{ currentPeriod { startsOn } }", json!({})).await;
        let open_url = format!("{}/export/bonus.csv?period={}", app.base, open["currentPeriod"]["startsOn"].as_str().unwrap());
        assert_eq!(app.http.get(&open_url).bearer_auth(&payroll).send().await.unwrap().status(), 409);
        let none_url = format!("{}/export/bonus.csv?period=1999-01-01", app.base);
        assert_eq!(app.http.get(&none_url).bearer_auth(&payroll).send().await.unwrap().status(), 404);
        let bad_url = format!("{}/export/bonus.csv?period=yesterday", app.base);
        assert_eq!(app.http.get(&bad_url).bearer_auth(&payroll).send().await.unwrap().status(), 400);

        // A payroll clerk is an employee with the payroll grant: the demo's accountant reads
        // the same results and the same CSV as the payroll service; the admin takes the
        // grant away and she is refused, as any employee is.
        let clerk_email = fixtures::demo::email_of(fixtures::demo::DEMO_PAYROLL);
        let clerk = app.token_for_email(&clerk_email).await;
        let bonus = "query($p: ID!) { bonusResults(periodId: $p, first: 100) { totalCount } }";
        let seen = app.gql(&clerk, bonus, json!({ "p": period["id"] })).await;
        assert_eq!(seen["bonusResults"]["totalCount"], results.len());
        let resp = app.http.get(&url).bearer_auth(&clerk).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), csv);
        let me = app.gql(&clerk, "{ me { id role payroll } }", json!({})).await;
        assert_eq!(me["me"]["role"], "EMPLOYEE");
        assert_eq!(me["me"]["payroll"], true);
        let admin = app.admin().await;
        let revoked = app
            .gql(&admin, "mutation($id: ID!) { updateEmployee(id: $id, input: { payroll: false }) { payroll } }", json!({ "id": me["me"]["id"] }))
            .await;
        assert_eq!(revoked["updateEmployee"]["payroll"], false);
        assert_eq!(app.http.get(&url).bearer_auth(&clerk).send().await.unwrap().status(), 403);
        let (_, body) = app.post(Some(&clerk), bonus, json!({ "p": period["id"] })).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        // Nobody else in the demo holds the grant.
        let all = app.gql(&admin, "{ employees(first: 100) { nodes { email payroll } } }", json!({})).await;
        let holders: Vec<&Value> = all["employees"]["nodes"].as_array().unwrap().iter().filter(|e| e["payroll"] == true).collect();
        assert!(holders.is_empty(), "{holders:?}");
    }
}

on_both! {
    async fn history_average_and_adjustments(kind: Kind) {
        let app = TestApp::start(kind).await;
        let period = closed_demo(&app).await;
        let employee = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let d = app.gql(&employee, "{ me { kpiHistory(first: 10) { totalCount edges { node { id kpi period { startsOn } } } } summary { averageKpi } } }", json!({})).await;
        let history = d["me"]["kpiHistory"]["edges"].as_array().unwrap();
        assert!(!history.is_empty());
        // The average spans the policy's window (6), newest first; the demo's history is longer.
        let kpis: Vec<f64> = history.iter().take(6).map(|h| h["node"]["kpi"].as_f64().unwrap()).collect();
        let mean = (kpis.iter().sum::<f64>() / kpis.len() as f64 * 100.0).round() / 100.0;
        assert_eq!(d["me"]["summary"]["averageKpi"].as_f64().unwrap(), mean);
        // A new policy's window applies at once: the newest two.
        let admin = app.token_for_email("anna.petrova@zeroboard.demo").await;
        app.gql(&admin, "mutation { updateKpiPolicy(input: { averageWindow: 2 }) { version } }", json!({})).await;
        let d2 = app.gql(&employee, "{ me { summary { averageKpi } } }", json!({})).await;
        let two = ((kpis[0] + kpis[1]) / 2.0 * 100.0).round() / 100.0;
        assert_ne!(two, mean, "the demo's history tells the two windows apart: {kpis:?}");
        assert_eq!(d2["me"]["summary"]["averageKpi"].as_f64().unwrap(), two, "{kpis:?}");
        let result = history.iter().find(|h| h["node"]["period"]["startsOn"] == period["startsOn"]).unwrap()["node"].clone();

        // An adjustment is stored beside the result, which does not change.
        let adjust = "mutation($r: ID!, $d: Float!, $why: String!) { adjustKpiResult(resultId: $r, delta: $d, reason: $why) { kpi adjustments { delta reason author { email } } } }";
        let d = app.gql(&admin, adjust, json!({ "r": result["id"], "d": -2.5, "why": "late report of a sale" })).await;
        assert_eq!(d["adjustKpiResult"]["kpi"], result["kpi"]);
        assert_eq!(d["adjustKpiResult"]["adjustments"], json!([{ "delta": -2.5, "reason": "late report of a sale", "author": { "email": "anna.petrova@zeroboard.demo" } }]));
        let (_, body) = app.post(Some(&admin), adjust, json!({ "r": result["id"], "d": 1.0, "why": " " })).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"]);
        assert_eq!(body["errors"][0]["extensions"]["field"], "reason");
        let (_, body) = app.post(Some(&employee), adjust, json!({ "r": result["id"], "d": 1.0, "why": "me" })).await;
        assert_eq!(codes(&body), ["FORBIDDEN"]);
        let start = chrono::NaiveDate::parse_from_str(period["startsOn"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        let rows = domain::export::bonus_rows(&app.db, &domain::auth::Principal::System, start).await.unwrap();
        let pavel = rows.iter().find(|r| r.email == "pavel.lebedev@zeroboard.demo").unwrap();
        assert_eq!(pavel.adjustment_total_x100, -250);
    }
}

on_both! {
    async fn policy_versions_and_period_mutations(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let d = app.gql(&admin, "{ kpiPolicy { version bonusMinKpi lateCredit averageWindow } }", json!({})).await;
        assert_eq!(d["kpiPolicy"], json!({ "version": 1, "bonusMinKpi": 80.0, "lateCredit": 0.5, "averageWindow": 6 }));
        let (_, body) = app.post(Some(&admin), "mutation { updateKpiPolicy(input: { lateCredit: 2 }) { version } }", json!({})).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"]);
        assert_eq!(body["errors"][0]["extensions"]["field"], "input.lateCredit");
        let d = app.gql(&admin, "mutation { updateKpiPolicy(input: { bonusMinKpi: 75, note: \"softer\" }) { version bonusMinKpi lateCredit note } }", json!({})).await;
        assert_eq!(d["updateKpiPolicy"], json!({ "version": 2, "bonusMinKpi": 75.0, "lateCredit": 0.5, "note": "softer" }));
        // The open period keeps version 1; a period opened afterwards takes version 2.
        let current = app.gql(&admin, "{ currentPeriod { id } }", json!({})).await["currentPeriod"]["id"].clone();
        let (_, body) = app.post(Some(&admin), "mutation($p: ID!) { closePeriod(id: $p) { id } }", json!({ "p": current })).await;
        assert_eq!(codes(&body), ["CONFLICT"], "a period that has not ended cannot close");
        app.clock.set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 30, 0).unwrap());
        let d = app.gql(&admin, "mutation { openPeriod { startsOn endsOn status } }", json!({})).await;
        assert_eq!(d["openPeriod"], json!([{ "startsOn": "2026-12-01", "endsOn": "2026-12-15", "status": "OPEN" }]));
        let d = app.gql(&admin, "mutation($p: ID!) { closePeriod(id: $p) { status } }", json!({ "p": current })).await;
        assert_eq!(d["closePeriod"]["status"], "CLOSED");
        let (_, body) = app.post(Some(&admin), "mutation($p: ID!) { closePeriod(id: $p) { id } }", json!({ "p": current })).await;
        assert_eq!(codes(&body), ["CONFLICT"], "closing twice");
        let d = app.gql(&admin, "query($p: ID!) { bonusResults(periodId: $p, first: 1) { edges { node { policyVersion } } } }", json!({ "p": current })).await;
        assert_eq!(d["bonusResults"]["edges"][0]["node"]["policyVersion"], 1);
    }
}
