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
