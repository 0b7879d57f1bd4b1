//! The first GraphQL surface over HTTP: auth, the directory, periods, global IDs.

use serde_json::json;

use super::*;
use crate::on_both;

on_both! {
    async fn no_token_or_a_bad_one_is_unauthenticated(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let (_, body) = app.post(None, "{ me { name } }", json!({})).await;
        assert_eq!(codes(&body), ["UNAUTHENTICATED"]);
        assert!(body["data"].is_null() || body["data"]["me"].is_null(), "{body}");
        let (status, body) = app.post(Some("zb_not_a_token"), "{ me { name } }", json!({})).await;
        assert_eq!((status, codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]));
        // A revoked token stops working.
        let token = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        assert_eq!(app.gql(&token, "{ me { email } }", json!({})).await["me"]["email"], "pavel.lebedev@zeroboard.demo");
        let hash = domain::auth::hash_token(&token);
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let row = entity::api_token::Entity::find()
            .filter(entity::api_token::Column::TokenHash.eq(hash))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(row.last_used_at.is_some(), "use is recorded");
        domain::tokens::revoke_token(&app.db, &domain::auth::Principal::System, row.id, app.clock.now()).await.unwrap();
        let (_, body) = app.post(Some(&token), "{ me { email } }", json!({})).await;
        assert_eq!(codes(&body), ["UNAUTHENTICATED"]);
    }
}

on_both! {
    async fn the_directory_pages_forward_with_opaque_ids(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let page1 = app
            .gql(&admin, "{ employees(first: 10) { totalCount edges { cursor node { id name email role hiredOn department { name } manager { name } } } pageInfo { hasNextPage hasPreviousPage endCursor } } }", json!({}))
            .await;
        let e = &page1["employees"];
        assert_eq!(e["totalCount"], 25);
        assert_eq!(e["edges"].as_array().unwrap().len(), 10);
        assert_eq!(e["pageInfo"]["hasNextPage"], true);
        assert_eq!(e["edges"][0]["node"]["name"], "Anna Petrova");
        assert_eq!(e["edges"][0]["node"]["role"], "ADMIN");
        assert!(e["edges"][0]["node"]["manager"].is_null());
        assert_eq!(e["edges"][1]["node"]["manager"]["name"], "Anna Petrova");
        assert_eq!(e["edges"][1]["node"]["department"]["name"], "Development");
        let mut seen: Vec<String> = e["edges"].as_array().unwrap().iter().map(|x| x["node"]["id"].as_str().unwrap().to_owned()).collect();
        let mut after = e["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        loop {
            let page = app
                .gql(&admin, "query($a: String) { employees(first: 10, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }", json!({ "a": after }))
                .await;
            let p = &page["employees"];
            seen.extend(p["edges"].as_array().unwrap().iter().map(|x| x["node"]["id"].as_str().unwrap().to_owned()));
            if p["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = p["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        }
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (25, 25));
        // Global IDs resolve through `node` and do not show the row id.
        let id = &seen[3];
        assert!(!id.contains(':') && !id.chars().all(|c| c.is_ascii_digit()), "opaque: {id}");
        let node = app.gql(&admin, "query($id: ID!) { node(id: $id) { id ... on Employee { name } } }", json!({ "id": id })).await;
        assert_eq!(node["node"]["id"], *id);
        let same = app.gql(&admin, "query($id: ID!) { employee(id: $id) { id } }", json!({ "id": id })).await;
        assert_eq!(same["employee"]["id"], *id);
        // A malformed ID is bad input naming the argument; an unknown one is null.
        let (_, body) = app.post(Some(&admin), "{ employee(id: \"nope\") { id } }", json!({})).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"]);
        assert_eq!(body["errors"][0]["extensions"]["field"], "id");
        let node = app.gql(&admin, "{ node(id: \"nope\") { id } }", json!({})).await;
        assert!(node["node"].is_null());
        // Page size outside 1..=100.
        for first in [0, 101] {
            let (_, body) = app.post(Some(&admin), "query($f: Int) { employees(first: $f) { totalCount } }", json!({ "f": first })).await;
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "first: {first}");
        }
    }
}

on_both! {
    async fn departments_and_periods(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let token = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let d = app
            .gql(&token, "{ me { name department { name } } departments { id name } currentPeriod { id startsOn endsOn startsAt endsAt status } periods(first: 5) { totalCount edges { node { id startsOn status } } } }", json!({}))
            .await;
        assert_eq!(d["me"]["department"]["name"], "Development");
        let names: Vec<&str> = d["departments"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Accounting", "Development", "Marketing", "Sales", "Support"]);
        let p = &d["currentPeriod"];
        assert_eq!(
            (p["startsOn"].as_str(), p["endsOn"].as_str(), p["status"].as_str()),
            (Some("2026-11-16"), Some("2026-11-30"), Some("OPEN"))
        );
        assert_eq!(p["startsAt"], "2026-11-16T00:00:00+00:00");
        assert_eq!(p["endsAt"], "2026-12-01T00:00:00+00:00");
        // The demo's six closed periods of history, and the current one, newest first.
        assert_eq!(d["periods"]["totalCount"], 7);
        assert_eq!(d["periods"]["edges"][0]["node"]["id"], p["id"]);
    }
}

on_both! {
    async fn a_berlin_company_gets_local_midnights(kind: Kind) {
        use domain::calendar::{Cadence, Calendar};
        let company = domain::Company { calendar: Calendar::new(Cadence::Monthly, chrono_tz::Europe::Berlin) };
        // 2026-10-31 23:30 UTC is already 1 November in Berlin (UTC+1 after the DST change).
        let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 10, 31, 23, 30, 0).unwrap();
        let app = TestApp::start_with(kind, company, now, api::Limits::default()).await;
        app.demo().await;
        let admin = app.admin().await;
        let d = app.gql(&admin, "{ currentPeriod { startsOn endsOn startsAt endsAt } }", json!({})).await;
        let p = &d["currentPeriod"];
        assert_eq!((p["startsOn"].as_str(), p["endsOn"].as_str()), (Some("2026-11-01"), Some("2026-11-30")));
        assert_eq!(p["startsAt"], "2026-10-31T23:00:00+00:00");
        assert_eq!(p["endsAt"], "2026-11-30T23:00:00+00:00");
    }
}
