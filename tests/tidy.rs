//! The house's rules that a test can check, in the spirit of rust-analyzer's tidy tests:
//! which crate may depend on which (ARCHITECTURE.md's arrows and "only X knows Y"), and
//! that every file ARCHITECTURE.md names exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The normal (not dev) dependencies a crate declares.
fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let doc: toml::Table = toml::from_str(&text).expect("a valid Cargo.toml");
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_where_the_architecture_allows() {
    // (crate, what it must not depend on)
    #[rustfmt::skip]
    let rules: [(&str, &[&str]); 7] = [
        ("entity", &["migration", "domain", "api", "scheduler", "async-graphql", "poem", "tokio-cron-scheduler"]),
        ("migration", &["domain", "api", "scheduler", "async-graphql", "poem", "tokio-cron-scheduler"]),
        ("domain", &["api", "scheduler", "fixtures", "async-graphql", "poem", "tokio-cron-scheduler"]),
        ("fixtures", &["api", "scheduler", "async-graphql", "poem", "tokio-cron-scheduler"]),
        ("api", &["scheduler", "fixtures", "tokio-cron-scheduler"]),
        ("scheduler", &["api", "fixtures", "async-graphql", "poem"]),
        (".", &["tokio-cron-scheduler", "async-graphql", "poem", "sea-orm", "migration", "entity"]),
    ];
    let mut broken = Vec::new();
    for (krate, forbidden) in rules {
        let deps = dependencies(&root().join(krate).join("Cargo.toml"));
        for f in forbidden {
            if deps.contains(*f) {
                broken.push(format!("{krate} depends on {f}"));
            }
        }
    }
    assert!(broken.is_empty(), "ARCHITECTURE.md forbids: {broken:?}");
}

#[test]
fn every_file_the_architecture_names_exists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut files = BTreeSet::new();
    collect(&root(), &mut files);
    let named: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| t.ends_with(".rs") && !t.contains(' '))
        .collect();
    assert!(!named.is_empty());
    let missing: Vec<&&str> = named
        .iter()
        .filter(|n| {
            !files
                .iter()
                .any(|f: &String| f == *n || f.ends_with(&format!("/{n}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {missing:?}"
    );
}

/// Every `.rs` file of the workspace, as a path relative to the root.
fn collect(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | "node_modules" | ".git") {
                collect(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.insert(
                path.strip_prefix(root())
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

/// A policy field is spelled out in three places: its row in `domain::policy_fields!`, its
/// column in `entity::kpi_policy` and the migration that adds it. Any other file naming
/// most of the fields would be a fourth place to change.
#[test]
fn the_policy_fields_are_spelled_out_in_three_places() {
    let kpi = std::fs::read_to_string(root().join("domain/src/kpi.rs")).expect("kpi.rs");
    let rows = kpi
        .split("macro_rules! policy_fields")
        .nth(1)
        .and_then(|s| s.split("\n    };").next())
        .expect("the policy_fields! macro");
    let fields: Vec<&str> = rows
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("///"))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    assert!(fields.len() >= 15, "found {fields:?}");
    let mut files = BTreeSet::new();
    collect(&root(), &mut files);
    let allowed = ["domain/src/kpi.rs", "entity/src/kpi_policy.rs"];
    let mut places = Vec::new();
    for file in files.iter().filter(|f| {
        !f.starts_with("migration/") && !f.starts_with("tests/") && !allowed.contains(&f.as_str())
    }) {
        let text = std::fs::read_to_string(root().join(file)).expect("readable");
        let named = fields.iter().filter(|f| text.contains(*f)).count();
        if named * 2 > fields.len() {
            places.push(format!("{file} ({named} fields)"));
        }
    }
    assert!(places.is_empty(), "policy fields spelled out in {places:?}");
}

/// The API's plumbing (request context, paging, loaders, errors, limits, HTTP guards) sits
/// below the GraphQL types and never imports them, so only the types, which reference
/// each other as the graph they describe does, form a cycle.
#[test]
fn the_api_plumbing_never_imports_the_graphql_types() {
    let plumbing = [
        "context",
        "paging",
        "loaders",
        "error",
        "guard",
        "limits",
        "listener",
        "live",
        "id",
        "metrics",
        "playground",
    ];
    let mut broken = Vec::new();
    for module in plumbing {
        let path = root().join("api/src").join(format!("{module}.rs"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{module}: {e}"));
        if text.contains("crate::schema") {
            broken.push(module);
        }
    }
    assert!(
        broken.is_empty(),
        "api modules importing the GraphQL types: {broken:?}"
    );
}

/// SQL is built with sea-query, never assembled from strings: raw statements (fixed text
/// for pragmas, advisory locks and the readiness probe) live only in `domain/src/db.rs`.
#[test]
fn raw_sql_lives_only_in_the_database_module() {
    let mut files = BTreeSet::new();
    collect(&root(), &mut files);
    let raw = ["Statement::from", "_raw(", "execute_unprepared"];
    let offenders: Vec<&String> = files
        .iter()
        .filter(|f| {
            !f.starts_with("tests/")
                && !f.starts_with("migration/")
                && !f.starts_with("examples/")
                && f.as_str() != "domain/src/db.rs"
        })
        .filter(|f| {
            let text = std::fs::read_to_string(root().join(f)).expect("readable");
            raw.iter().any(|r| text.contains(r))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "raw SQL outside domain/src/db.rs: {offenders:?}"
    );
}

/// The modules of `domain` import each other one way only: each holds one concept, and a
/// concept that needs another never is needed by it (`periods` and `policy` once did).
#[test]
fn domain_modules_import_each_other_one_way() {
    use std::collections::BTreeMap;
    let src = root().join("domain/src");
    let mut all = BTreeSet::new();
    collect(&src, &mut all);
    let modules: BTreeSet<String> = all
        .iter()
        .filter_map(|f| f.strip_prefix("domain/src/").map(str::to_owned))
        .collect();
    let name = |file: &str| -> String {
        let file = file.trim_end_matches(".rs").trim_end_matches("/mod");
        file.split('/').next().unwrap_or(file).to_owned()
    };
    let top: BTreeSet<String> = modules
        .iter()
        .map(|f| name(f))
        .filter(|m| m != "lib")
        .collect();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &modules {
        let module = name(file);
        let text = std::fs::read_to_string(src.join(file)).expect("readable");
        // Unit tests may reach anywhere; comments (doc links) import nothing.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or(&text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let code = code.as_str();
        let entry = imports.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let used: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if used != module && top.contains(&used) {
                entry.insert(used);
            }
        }
        // `use crate::{a, b::c}` groups.
        for (i, _) in code.match_indices("use crate::{") {
            let group = &code[i + "use crate::{".len()..];
            let group = &group[..group.find("};").unwrap_or(group.len())];
            for part in group.split(',') {
                let used = part
                    .trim()
                    .split("::")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                if used != module && top.contains(&used) {
                    entry.insert(used);
                }
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        m: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            return Some(path[at..].iter().cloned().chain([m.to_owned()]).collect());
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in imports.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, imports, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in imports.keys() {
        let cycle = visit(m, &imports, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "domain modules import each other: {cycle:?}"
        );
    }
    assert!(
        imports.get("close").is_some_and(|i| i.contains("db")),
        "the scan sees imports"
    );
}

/// Services name a bad field as the domain does, in `snake_case` (`due_at`); only the API's
/// edge (`api::error`) turns it into a GraphQL argument path (`input.dueAt`). Checked where
/// a field's name is written: the first argument of `DomainError::bad_input`/`invalid` and
/// of the `text` and `bounds` checks, outside tests.
#[test]
fn services_name_fields_in_snake_case() {
    let mut files = BTreeSet::new();
    collect(&root(), &mut files);
    let heads = [
        "bad_input(",
        "invalid(",
        "required_text(",
        "check(",
        "optional(",
        "email(",
        "link(",
        "weight(",
        "value(",
        "date(",
        "instant(",
        "whole(",
    ];
    let mut broken = Vec::new();
    for file in files.iter().filter(|f| {
        ["domain/", "fixtures/", "scheduler/"]
            .iter()
            .any(|c| f.starts_with(c))
    }) {
        let text = std::fs::read_to_string(root().join(file)).expect("readable");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        if code.contains("\"input.") {
            broken.push(format!("{file}: an argument path"));
        }
        for head in heads {
            for (at, _) in code.match_indices(head) {
                let rest = code[at + head.len()..].trim_start();
                let Some(literal) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) else {
                    continue;
                };
                let snake = literal
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !snake {
                    broken.push(format!("{file}: {head}\"{literal}\""));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "fields not named in snake_case: {broken:?}"
    );
}
