//! Which database kinds the end-to-end tests run on: `ZEROBOARD_TEST_DATABASES` (default
//! `sqlite,postgres`). A kind that is not selected compiles its tests as ignored, so the
//! test runner reports them as skipped, never as passed.

fn main() {
    println!("cargo::rerun-if-env-changed=ZEROBOARD_TEST_DATABASES");
    let wanted =
        std::env::var("ZEROBOARD_TEST_DATABASES").unwrap_or_else(|_| "sqlite,postgres".into());
    for kind in ["sqlite", "postgres"] {
        println!("cargo::rustc-check-cfg=cfg(zb_skip_{kind})");
        if !wanted.split(',').any(|w| w.trim() == kind) {
            println!("cargo::rustc-cfg=zb_skip_{kind}");
        }
    }
}
