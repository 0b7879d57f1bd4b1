//! Snapshots of the main answers over the demo company (ids and instants redacted). Both
//! databases must produce the same snapshot.

use serde_json::json;

use super::*;
use crate::on_both;

const MY_TILES: &str = "{ me { name summary { period { startsOn endsOn status }
  toAccept { count items(first: 5) { totalCount edges { node { title status assignee { name } } } } }
  duties { total done awaitingAcceptance remaining overdue missed items(first: 10) { edges { node { title status overdue weight } } } }
  additional { total done awaitingAcceptance remaining overdue items(first: 10) { edges { node { title status overdue } } } }
  knowledgeBaseNew { count items(first: 10) { edges { node { title mandatory department { name } } } } }
  proposalsToVote { count items(first: 10) { edges { node { title myVote } } } }
  averageKpi } } }";

/// Snapshots live beside this file, named without the module path, since both database
/// kinds must match the same one.
fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

on_both! {
    async fn main_answers(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let manager = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
        let employee = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let tiles = app.gql(&employee, MY_TILES, json!({})).await;
        let manager_tiles = app.gql(&manager, MY_TILES, json!({})).await;
        let debtors = app.gql(&manager, "{ assignmentReport(by: DEBTORS) { employee { name } total done awaitingAcceptance remaining overdue oldestDueAt assignments(first: 5) { edges { node { title dueAt } } } } }", json!({})).await;
        let controller = app.gql(&manager, "{ assignmentReport(by: CONTROLLER) { employee { name } awaitingAcceptance awaitingFrom { employee { name } count } } }", json!({})).await;
        let settings = settings();
        settings.bind(|| {
            insta::assert_json_snapshot!("employee_tiles", tiles);
            insta::assert_json_snapshot!("manager_tiles", manager_tiles);
            insta::assert_json_snapshot!("debtors", debtors, {
                ".**.oldestDueAt" => "[instant]",
                ".**.dueAt" => "[instant]",
            });
            insta::assert_json_snapshot!("by_controller", controller);
        });
    }
}
