//! The fuzz target: generated GraphQL requests (see [`generate`]) and the regression corpus
//! in `tests/fuzz-corpus/`, sent to the real HTTP endpoint in process (`api::routes` called
//! as a poem `Endpoint`, no socket) over the demo company on a fresh database.
//!
//! Every answer must come within a time bound, without a panic, with a status below 500, as
//! JSON whose every error carries `extensions.code` (and none is `INTERNAL`); a refusal (4xx, or no `data`) must
//! carry at least one error; and the server must answer a plain query afterwards (checked
//! after every corpus case and every 25th generated one). A corpus case may also name the
//! code every error must have (`expect.code`) and the `extensions.field` one must name.
//!
//! A request that overflows the stack aborts the whole process, and one that spins cannot be
//! cancelled, so the requests run in a child process (this test binary again, running the
//! ignored test `fuzz::child`). The child notes each case before sending it; when it dies,
//! the parent knows the case that killed it, keeps it under `fuzz-findings/` in cargo's
//! test scratch folder, and starts a new child at the next case.
//!
//! Settings: `ZEROBOARD_FUZZ_SECONDS` (how long the generated run lasts, default 10; CI sets
//! 90), `ZEROBOARD_FUZZ_SEED` (replays a run; printed by every run),
//! `ZEROBOARD_FUZZ_REQUEST_MS` (the time bound per request, default 2000),
//! `ZEROBOARD_FUZZ_CORPUS` (replays another folder of cases, e.g. the findings),
//! `ZEROBOARD_FUZZ_KEEP` (findings kept per kind of failure, default 3), and
//! `ZEROBOARD_FUZZ_TRACE` (a file to append one line per answered operation to: whether it
//! got data and its first error, to see what the generator reaches).

mod generate;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::endpoint::BoxEndpoint;
use poem::{Endpoint, EndpointExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;

/// Who sends a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    #[default]
    None,
    /// A demo employee with no reports.
    Employee,
    /// A demo department manager.
    Manager,
    /// A service token with the admin scope.
    Admin,
    /// The demo's admin person.
    AdminPerson,
    /// A service token with the payroll scope.
    Payroll,
    /// A token that does not exist.
    Bogus,
}

/// One request, as generated or as kept in the corpus.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Case {
    /// What the case is, and why it is kept.
    pub about: String,
    /// `POST` or `GET`.
    pub method: String,
    pub auth: Auth,
    /// The `Accept` header (none when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept: Option<String>,
    /// For GET: the path with its query string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For POST: the raw body, as text...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// ... or as hex, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_hex: Option<String>,
    /// For corpus cases: the refusal the right answer carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// Every error has this code (and there is one), and one of them names this field.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Expect {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What came back.
struct Answer {
    status: u16,
    body: Vec<u8>,
    elapsed: Duration,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn request_bound() -> Duration {
    Duration::from_millis(env_number("ZEROBOARD_FUZZ_REQUEST_MS", 2_000))
}

/// The server under test, in process.
struct Target {
    endpoint: Arc<BoxEndpoint<'static, poem::Response>>,
    tokens: BTreeMap<String, String>,
    bound: Duration,
}

impl Target {
    async fn start(url: &str) -> Target {
        let db = domain::db::connect(url).await.expect("connect");
        domain::db::migrate(&db).await.expect("migrate");
        let company = utc_company();
        fixtures::demo::load(&db, &company, t0())
            .await
            .expect("demo");
        let mut tokens = BTreeMap::new();
        let person = |name: &str| fixtures::demo::email_of(name);
        for (auth, email) in [
            (Auth::Employee, person(fixtures::demo::DEMO_EMPLOYEE)),
            (Auth::Manager, person(fixtures::demo::DEMO_MANAGER)),
            (Auth::AdminPerson, person(fixtures::demo::DEMO_ADMIN)),
        ] {
            let id = domain::directory::employee_id_by_email(&db, &email)
                .await
                .unwrap()
                .expect("demo person");
            let secret = domain::tokens::create_token(
                &db,
                &domain::auth::Principal::System,
                domain::tokens::TokenOwner::Employee(id),
                "fuzz",
                None,
                t0(),
            )
            .await
            .unwrap()
            .1;
            tokens.insert(auth_key(auth), secret);
        }
        for (auth, scope) in [
            (Auth::Admin, domain::auth::Scope::Admin),
            (Auth::Payroll, domain::auth::Scope::PayrollRead),
        ] {
            let owner = domain::tokens::TokenOwner::Service {
                name: "fuzz".into(),
                scopes: vec![scope],
            };
            tokens.insert(
                auth_key(auth),
                domain::tokens::create_token(
                    &db,
                    &domain::auth::Principal::System,
                    owner,
                    "fuzz",
                    None,
                    t0(),
                )
                .await
                .unwrap()
                .1,
            );
        }
        tokens.insert(
            auth_key(Auth::Bogus),
            "zb_0000000000000000000000000000000000000000".into(),
        );
        let state = api::AppState::new(
            db,
            company,
            domain::clock::Clock::fixed(t0()),
            api::Limits::default(),
        );
        let endpoint = Arc::new(api::routes(state).map_to_response().boxed());
        Target {
            endpoint,
            tokens,
            bound: request_bound(),
        }
    }

    /// Sends a case in its own task, bounded in time.
    async fn send(&self, case: &Case) -> Result<Answer, String> {
        let mut builder = poem::Request::builder();
        builder = if case.method == "GET" {
            builder
                .method(poem::http::Method::GET)
                .uri_str(case.path.as_deref().unwrap_or("/graphql"))
        } else {
            builder
                .method(poem::http::Method::POST)
                .uri_str("/graphql")
                .content_type("application/json")
        };
        if let Some(accept) = &case.accept {
            builder = builder.header("accept", accept.as_str());
        }
        if let Some(token) = self.tokens.get(&auth_key(case.auth)) {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match (&case.body, &case.body_hex) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(hex)) => generate::unhex(hex),
            (None, None) => Vec::new(),
        };
        let request = builder.body(body);
        let endpoint = self.endpoint.clone();
        let started = Instant::now();
        let mut task = tokio::spawn(async move {
            let response = endpoint.get_response(request).await;
            let status = response.status().as_u16();
            let body = response.into_body().into_vec().await.unwrap_or_default();
            (status, body)
        });
        match tokio::time::timeout(self.bound, &mut task).await {
            Err(_) => {
                task.abort();
                Err(format!("no answer within {:?}", self.bound))
            }
            Ok(Err(e)) if e.is_panic() => {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(format!("the request panicked: {message}"))
            }
            Ok(Err(e)) => Err(format!("the request task failed: {e}")),
            Ok(Ok((status, body))) => Ok(Answer {
                status,
                body,
                elapsed: started.elapsed(),
            }),
        }
    }

    /// A plain query still answers, at once, anonymously and with a token (the admin's
    /// service token: generated mutations may deactivate or change people, never it).
    async fn alive(&self) -> Result<(), String> {
        for (auth, query, want) in [
            (Auth::None, "{ __typename }", "__typename"),
            (Auth::Admin, "{ departments { id } }", "departments"),
        ] {
            let case = Case {
                method: "POST".into(),
                auth,
                body: Some(json!({ "query": query }).to_string()),
                ..Case::default()
            };
            let answer = self
                .send(&case)
                .await
                .map_err(|e| format!("after it, `{query}` failed: {e}"))?;
            let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            if answer.status != 200 || body["data"][want].is_null() {
                return Err(format!(
                    "after it, `{query}` answered {}: {body}",
                    answer.status
                ));
            }
        }
        Ok(())
    }

    /// The schema, read through the endpoint, and IDs and cursors of the demo to aim at.
    async fn model(&self) -> generate::Model {
        let admin = |query: &str| Case {
            method: "POST".into(),
            auth: Auth::Admin,
            body: Some(json!({ "query": query }).to_string()),
            ..Case::default()
        };
        let read = |a: Result<Answer, String>| -> Value {
            let a = a.expect("a setup query");
            serde_json::from_slice::<Value>(&a.body)
                .map(|v| v["data"].clone())
                .unwrap_or(Value::Null)
        };
        let schema = read(self.send(&admin(generate::INTROSPECTION)).await);
        assert!(
            schema["__schema"]["types"].is_array(),
            "introspection failed: {schema}"
        );
        let mut ids = Vec::new();
        let mut cursors = Vec::new();
        for q in [
            "{ employees(first: 100) { nodes { id } edges { cursor } } departments { id } }",
            "{ periods(first: 30) { nodes { id } edges { cursor } } }",
            "{ assignments(first: 100) { nodes { id } edges { cursor } } }",
            "{ me { kpiHistory(first: 10) { nodes { id } edges { cursor } } summary { knowledgeBaseNew { items(first: 10) { nodes { id } } } proposalsToVote { items(first: 10) { nodes { id } } } } } }",
        ] {
            collect(&read(self.send(&admin(q)).await), &mut ids, &mut cursors);
        }
        ids.sort();
        ids.dedup();
        generate::Model::from_introspection(&schema, ids, cursors)
    }
}

fn auth_key(auth: Auth) -> String {
    format!("{auth:?}")
}

/// Every `id` and `cursor` string in a response.
fn collect(v: &Value, ids: &mut Vec<String>, cursors: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("id", Value::String(s)) => ids.push(s.clone()),
                    ("cursor", Value::String(s)) => cursors.push(s.clone()),
                    _ => collect(v, ids, cursors),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, ids, cursors)),
        _ => {}
    }
}

/// The rules every answer keeps; `Err` says which one it broke.
fn check(case: &Case, answer: &Answer, bound: Duration) -> Result<Seen, String> {
    if answer.status >= 500 {
        return Err(format!("status {}", answer.status));
    }
    if answer.elapsed > bound {
        return Err(format!(
            "answered in {:?}, over the bound of {bound:?}",
            answer.elapsed
        ));
    }
    let body: Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("status {}, the body is not JSON ({e})", answer.status))?;
    let responses: Vec<&Value> = match &body {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if responses.is_empty() {
        return Err("an empty batch answer".into());
    }
    let mut codes: Vec<String> = Vec::new();
    let mut fields = Vec::new();
    let mut data = 0;
    for r in &responses {
        data += usize::from(r["data"].is_object());
        let errors = r["errors"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for e in errors {
            match e["extensions"]["code"].as_str() {
                // The server's own failure, answered with a 200: as bad as a 500.
                Some("INTERNAL") => return Err(format!("an INTERNAL error: {e}")),
                Some(code) => codes.push(code.to_owned()),
                None => return Err(format!("an error without a code: {e}")),
            }
            if let Some(f) = e["extensions"]["field"].as_str() {
                fields.push(f.to_owned());
            }
        }
        // (A 200 with `"data": null` and no error is an answer: async-graphql gives it when
        // `@include`/`@skip` leave nothing to run.)
        let refused = answer.status >= 400 || r.get("data").is_none();
        if refused && errors.is_empty() {
            return Err(format!(
                "status {}, a refusal without an error: {r}",
                answer.status
            ));
        }
    }
    if let Some(expect) = &case.expect {
        if codes.is_empty() || codes.iter().any(|c| *c != expect.code) {
            return Err(format!(
                "expected only {} errors, got codes {codes:?} (status {})",
                expect.code, answer.status
            ));
        }
        if let Some(field) = &expect.field
            && !fields.contains(field)
        {
            return Err(format!(
                "expected an error with field `{field}`, got fields {fields:?}"
            ));
        }
    }
    // For tuning the generator: one line per operation, whether it got data, its first error.
    if let Some(path) = std::env::var_os("ZEROBOARD_FUZZ_TRACE") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the trace file");
        for r in &responses {
            let (data, error) = (r["data"].is_object(), &r["errors"][0]["message"]);
            writeln!(file, "{} | {data} | {error}", case.about).expect("write the trace");
        }
    }
    let mut counted = BTreeMap::new();
    codes
        .into_iter()
        .for_each(|c| *counted.entry(c).or_default() += 1);
    Ok(Seen {
        responses: responses.len(),
        data,
        codes: counted,
    })
}

/// What a correct answer held.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Seen {
    /// Operations answered (more than one for a batch).
    responses: usize,
    /// Of them, those with data (they reached the resolvers).
    data: usize,
    /// How many errors had each code.
    codes: BTreeMap<String, u64>,
}

/// How a child process reports: one JSON object per line.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Record {
    /// The case index being sent (written before it is sent).
    start: Option<u64>,
    /// The case index answered correctly, with its answer's figures.
    done: Option<Done>,
    /// A broken rule, with the case.
    fail: Option<Finding>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Done {
    index: u64,
    status: u16,
    ms: f64,
    bytes: usize,
    /// The case, when it is the slowest or largest of this child so far.
    preview: Option<String>,
    seen: Seen,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Finding {
    index: u64,
    why: String,
    case: Case,
}

/// The child's exit code after a request that never answered (its task may still spin).
const HUNG: i32 = 3;

/// Runs the cases of the mode the parent set, writing records. Only in a child process.
#[test]
#[ignore = "the fuzz tests run it in a child process"]
fn child() {
    let Ok(mode) = std::env::var("ZEROBOARD_FUZZ_CHILD") else {
        return;
    };
    // The server's own runtime: tokio's defaults (2 MiB worker stacks).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run_child(&mode));
}

async fn run_child(mode: &str) {
    let var =
        |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"));
    let dir = PathBuf::from(var("ZEROBOARD_FUZZ_DIR"));
    let start: u64 = var("ZEROBOARD_FUZZ_START").parse().expect("start");
    let target = Target::start(&var("ZEROBOARD_FUZZ_DB")).await;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("records.jsonl"))
        .expect("records");
    let mut write = |r: &Record| {
        let mut line = serde_json::to_string(r).expect("record");
        line.push('\n');
        log.write_all(line.as_bytes())
            .and_then(|()| log.flush())
            .expect("write a record");
    };
    let cases: Box<dyn Fn(u64) -> Option<Case>> = match mode {
        "generate" => {
            let model = target.model().await;
            let seed: u64 = var("ZEROBOARD_FUZZ_SEED").parse().expect("seed");
            let deadline = Instant::now()
                + Duration::from_millis(var("ZEROBOARD_FUZZ_MILLIS").parse().expect("millis"));
            Box::new(move |i| (Instant::now() < deadline).then(|| generate::case(&model, seed, i)))
        }
        _ => {
            let corpus = corpus_files();
            Box::new(move |i| corpus.get(i as usize).map(|p| read_case(p)))
        }
    };
    let (mut slowest, mut largest) = (0.0f64, 0usize);
    let mut index = start;
    while let Some(case) = cases(index) {
        std::fs::write(
            dir.join("current.json"),
            serde_json::to_vec(&case).expect("case"),
        )
        .expect("write the current case");
        write(&Record {
            start: Some(index),
            ..Record::default()
        });
        let outcome = target.send(&case).await;
        let hung = outcome.is_err();
        let mut verdict = outcome.and_then(|a| {
            let ms = a.elapsed.as_secs_f64() * 1000.0;
            let record = ms > slowest || a.body.len() > largest;
            (slowest, largest) = (slowest.max(ms), largest.max(a.body.len()));
            check(&case, &a, target.bound).map(|seen| Done {
                index,
                status: a.status,
                ms,
                bytes: a.body.len(),
                preview: record.then(|| preview(&case)),
                seen,
            })
        });
        if !hung && (mode == "corpus" || index.is_multiple_of(25)) {
            let alive = target.alive().await;
            verdict = verdict.and_then(|done| alive.map(|()| done));
        }
        match verdict {
            Ok(done) => write(&Record {
                done: Some(done),
                ..Record::default()
            }),
            Err(why) => {
                write(&Record {
                    fail: Some(Finding { index, why, case }),
                    ..Record::default()
                });
                if hung {
                    std::process::exit(HUNG);
                }
            }
        }
        index += 1;
    }
}

/// The start of a case, for reports.
fn preview(case: &Case) -> String {
    let text = case
        .body
        .clone()
        .or_else(|| case.path.clone())
        .unwrap_or_else(|| "(bytes)".into());
    let cut = text.floor_char_boundary(160);
    format!(
        "{} [{} {:?}] {}",
        case.about,
        case.method,
        case.auth,
        &text[..cut]
    )
}

/// `tests/fuzz-corpus/`, or the folder `ZEROBOARD_FUZZ_CORPUS` names (to replay findings).
fn corpus_dir() -> PathBuf {
    std::env::var_os("ZEROBOARD_FUZZ_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus"))
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fuzz-corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn read_case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut case: Case =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if case.about.is_empty() {
        case.about = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    case
}

/// What the children of one run found.
#[derive(Default)]
struct Run {
    findings: Vec<Finding>,
    /// Findings not kept, being of a kind already kept often enough.
    dropped: usize,
    done: Vec<Done>,
    children: usize,
    seconds: f64,
}

impl Run {
    fn cases(&self) -> usize {
        self.done.len() + self.findings.len() + self.dropped
    }

    /// Keeps at most `per_kind` findings with the same first words (a run on code with a
    /// known hole finds it over and over).
    fn push(&mut self, finding: Finding, per_kind: usize) {
        let kind = |f: &Finding| f.why.chars().take(24).collect::<String>();
        if self
            .findings
            .iter()
            .filter(|f| kind(f) == kind(&finding))
            .count()
            < per_kind
        {
            self.findings.push(finding);
        }
    }
}

/// Runs children until the cases run out (or the time does), each starting after the case
/// that stopped the one before.
fn run_children(
    mode: &str,
    db: &dyn Fn(usize) -> String,
    seed: u64,
    millis: u64,
    per_kind: usize,
) -> Run {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let records_path = dir.path().join("records.jsonl");
    let deadline = Instant::now() + Duration::from_millis(millis);
    let mut run = Run::default();
    let mut start = 0u64;
    loop {
        let _ = std::fs::remove_file(&records_path);
        let stderr_path = dir.path().join(format!("child-{}.stderr", run.children));
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as u64;
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "fuzz::child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ZEROBOARD_FUZZ_CHILD", mode)
            .env("ZEROBOARD_FUZZ_DIR", dir.path())
            .env("ZEROBOARD_FUZZ_DB", db(run.children))
            .env("ZEROBOARD_FUZZ_START", start.to_string())
            .env("ZEROBOARD_FUZZ_SEED", seed.to_string())
            .env("ZEROBOARD_FUZZ_MILLIS", left.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("start the child");
        run.children += 1;
        // The child bounds itself; this is the backstop for a child that cannot.
        let limit = Instant::now() + Duration::from_millis(left) + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                break Some(status);
            }
            if Instant::now() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let records: Vec<Record> = std::fs::read_to_string(&records_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let mut last_start = None;
        let mut last_done = None;
        for r in records {
            last_start = r.start.or(last_start);
            if let Some(d) = r.done {
                last_done = Some(d.index);
                run.done.push(d);
            }
            if let Some(f) = r.fail {
                last_done = Some(f.index);
                run.push(f, per_kind);
            }
        }
        let died = status.is_none_or(|s| !s.success() && s.code() != Some(HUNG));
        if died {
            let tail = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let tail: String = tail
                .lines()
                .filter(|l| !l.trim().is_empty())
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            let why = match status {
                None => "the child never finished and was killed".to_owned(),
                Some(s) => format!("the process died ({s}): {tail}"),
            };
            match last_start.filter(|s| Some(*s) != last_done) {
                Some(index) => {
                    let case = std::fs::read(dir.path().join("current.json"))
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or_default();
                    run.push(Finding { index, why, case }, per_kind);
                }
                // It died before sending anything: nothing to go on with.
                None => panic!("the fuzz child failed before its first case: {why}"),
            }
        }
        let finished = status.is_some_and(|s| s.success());
        if finished || Instant::now() >= deadline {
            break;
        }
        start = last_start.map_or(start, |s| s + 1);
    }
    run.seconds = began.elapsed().as_secs_f64();
    run
}

/// Keeps findings where a developer can copy them into the corpus.
fn keep(findings: &[Finding], seed: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings");
    std::fs::create_dir_all(&dir).expect("findings dir");
    for f in findings {
        let mut case = f.case.clone();
        case.about = format!(
            "{} -- {}",
            case.about,
            f.why.lines().next().unwrap_or_default()
        );
        let path = dir.join(format!("{seed:016x}-{}.json", f.index));
        std::fs::write(&path, serde_json::to_string_pretty(&case).expect("case"))
            .expect("write a finding");
    }
    dir
}

fn describe(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("- case {}: {}\n  {}", f.index, f.why, preview(&f.case)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Generated requests for `ZEROBOARD_FUZZ_SECONDS`, over SQLite.
#[test]
fn generated_requests_are_answered_safely() {
    let seconds = env_number("ZEROBOARD_FUZZ_SECONDS", 10);
    let seed = std::env::var("ZEROBOARD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let files = tempfile::tempdir().expect("temp dir");
    let db = |n: usize| {
        format!(
            "sqlite://{}?mode=rwc",
            files.path().join(format!("fuzz-{n}.db")).display()
        )
    };
    let keep_per_kind = env_number("ZEROBOARD_FUZZ_KEEP", 3) as usize;
    let run = run_children("generate", &db, seed, seconds * 1000, keep_per_kind);
    let sending: f64 = run.done.iter().map(|d| d.ms).sum::<f64>() / 1000.0;
    eprintln!(
        "fuzz: seed {seed} (ZEROBOARD_FUZZ_SEED={seed} replays it): {} cases in {:.1} s over {} process(es), {:.0} cases/s overall, {:.0} cases/s while sending",
        run.cases(),
        run.seconds,
        run.children,
        run.cases() as f64 / run.seconds.max(0.001),
        run.done.len() as f64 / sending.max(0.001)
    );
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    run.done
        .iter()
        .for_each(|d| *statuses.entry(d.status).or_default() += 1);
    eprintln!("fuzz: answers by status {statuses:?}");
    let operations: usize = run.done.iter().map(|d| d.seen.responses).sum();
    let with_data: usize = run.done.iter().map(|d| d.seen.data).sum();
    let mut codes: BTreeMap<&str, u64> = BTreeMap::new();
    for d in &run.done {
        for (code, n) in &d.seen.codes {
            *codes.entry(code).or_default() += n;
        }
    }
    eprintln!(
        "fuzz: {operations} operations answered, {with_data} with data (past validation, into the resolvers); error codes {codes:?}"
    );
    if let Some(d) = run
        .done
        .iter()
        .filter(|d| d.preview.is_some())
        .max_by(|a, b| a.ms.total_cmp(&b.ms))
    {
        eprintln!(
            "fuzz: slowest answer {:.0} ms: {}",
            d.ms,
            d.preview.as_deref().unwrap_or_default()
        );
    }
    if let Some(d) = run
        .done
        .iter()
        .filter(|d| d.preview.is_some())
        .max_by_key(|d| d.bytes)
    {
        eprintln!(
            "fuzz: largest answer {} bytes: {}",
            d.bytes,
            d.preview.as_deref().unwrap_or_default()
        );
    }
    if !run.findings.is_empty() {
        let dir = keep(&run.findings, seed);
        panic!(
            "{} generated request(s) broke a rule, {} more of the same kinds not kept (kept in {}; copy one into tests/fuzz-corpus/ with an `expect` to keep it as a regression case):\n{}",
            run.findings.len(),
            run.dropped,
            dir.display(),
            describe(&run.findings)
        );
    }
    assert!(run.cases() > 0, "no case ran");
}

/// Every case kept in `tests/fuzz-corpus/`, on one database kind.
fn replay_corpus(kind: Kind) {
    let pg_names = PgDatabases::default();
    let files = tempfile::tempdir().expect("temp dir");
    let db = |n: usize| match kind {
        Kind::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            files.path().join(format!("corpus-{n}.db")).display()
        ),
        Kind::Postgres => {
            let name = format!("zb_fuzz_{}_{n}", std::process::id());
            pg_admin(&format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("{e}"));
            pg_names.0.borrow_mut().push(name.clone());
            let admin = pg_admin_url();
            format!(
                "{}/{name}",
                admin
                    .rsplit_once('/')
                    .map(|(base, _)| base)
                    .unwrap_or(&admin)
            )
        }
    };
    let cases = corpus_files();
    let bound = request_bound().as_millis() as u64;
    let run = run_children(
        "corpus",
        &db,
        0,
        60_000 + bound * 2 * cases.len() as u64,
        usize::MAX,
    );
    let ran = run.cases();
    eprintln!(
        "fuzz corpus: {} cases, {ran} answered or failed, {} process(es), {:.1} s",
        cases.len(),
        run.children,
        run.seconds
    );
    let name = |i: u64| {
        cases
            .get(i as usize)
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for d in &run.done {
        eprintln!(
            "fuzz corpus: {}: {} in {:.1} ms, {} bytes",
            name(d.index),
            d.status,
            d.ms,
            d.bytes
        );
    }
    let failed: Vec<String> = run
        .findings
        .iter()
        .map(|f| format!("- {}: {}", name(f.index), f.why))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
    assert_eq!(ran, cases.len(), "every corpus case ran");
}

/// PostgreSQL databases the children used, dropped with this (a child that died could not).
#[derive(Default)]
struct PgDatabases(std::cell::RefCell<Vec<String>>);

impl Drop for PgDatabases {
    fn drop(&mut self) {
        for name in self.0.borrow().iter() {
            let _ = pg_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Runs one statement on the PostgreSQL server as its admin.
fn pg_admin(sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        use sea_orm::ConnectionTrait;
        let admin = pg_admin_url();
        let conn = domain::db::connect(&admin)
            .await
            .map_err(|e| format!("PostgreSQL at {admin}: {e}"))?;
        let result = conn
            .execute_unprepared(sql)
            .await
            .map(|_| ())
            .map_err(|e| format!("{sql}: {e}"));
        conn.close().await.ok();
        result
    })
}

mod corpus_replays {
    use super::*;

    #[test]
    #[cfg_attr(zb_skip_sqlite, ignore = "sqlite is not in ZEROBOARD_TEST_DATABASES")]
    fn sqlite() {
        replay_corpus(Kind::Sqlite)
    }

    #[test]
    #[cfg_attr(
        zb_skip_postgres,
        ignore = "postgres is not in ZEROBOARD_TEST_DATABASES"
    )]
    fn postgres() {
        replay_corpus(Kind::Postgres)
    }
}

/// The generator reaches every part of its grammar, from the real schema, and a case is the
/// same whenever it is made again from its seed and index.
#[tokio::test]
async fn the_generator_covers_its_grammar() {
    use base64::Engine;
    let schema = api::build_schema(&api::Limits::default());
    let data = schema
        .execute(generate::INTROSPECTION)
        .await
        .data
        .into_json()
        .expect("introspection as JSON");
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let ids = ["Employee:1", "Department:1", "Period:1", "Assignment:1"]
        .map(b64)
        .to_vec();
    let model = generate::Model::from_introspection(&data, ids, vec![b64("5")]);
    let cases: Vec<Case> = (0..3_000).map(|i| generate::case(&model, 7, i)).collect();
    let again = serde_json::to_string(&generate::case(&model, 7, 1_234)).unwrap();
    assert_eq!(again, serde_json::to_string(&cases[1_234]).unwrap());
    let bodies: Vec<&str> = cases.iter().filter_map(|c| c.body.as_deref()).collect();
    let count = |needle: &str| bodies.iter().filter(|b| b.contains(needle)).count();
    let deep_list = "[".repeat(3_000);
    let deep_object = "{a: ".repeat(3_000);
    let features: [(&str, &str); 20] = [
        ("named fragments", "fragment F0 on"),
        ("inline fragments", "... on "),
        ("aliases", "k1: "),
        ("@include with a variable", "@include(if: $v"),
        ("unknown directives", "@unknown"),
        ("variables", "($v0: "),
        ("a list nested 3,000 deep", &deep_list),
        ("an object nested 3,000 deep", &deep_object),
        ("a self-spreading fragment", "...A ...A"),
        ("a doubling fragment chain", "...F20 ...F20"),
        (
            "kpiHistory chains",
            "kpiHistory(first: 100) { nodes { employee {",
        ),
        ("i64::MAX", "9223372036854775807"),
        ("1e308", "1e308"),
        ("-0", "-0"),
        ("NUL in a string", "\\\\u0000"),
        ("a bidi override", "\u{202E}"),
        ("a lone surrogate in JSON", "\\ud800"),
        ("an offset cursor of i64::MAX", "OTIyMzM3MjAzNjg1NDc3NTgwNw"),
        ("mutations", "mutation Fuzz"),
        ("enum values", "by: "),
    ];
    for (feature, needle) in features {
        assert!(count(needle) > 0, "no case has {feature} (`{needle}`)");
    }
    // Every field of the query root is asked for by some case.
    let roots = data["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Query")
        .unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    for root in &roots {
        let asked = [" ", ": "]
            .iter()
            .flat_map(|before| ["(", " {"].map(|after| format!("{before}{root}{after}")))
            .any(|needle| count(&needle) > 0);
        assert!(asked, "no case asks for `{root}`");
    }
    // Every transport.
    assert!(cases.iter().any(|c| c.method == "GET"), "GET");
    assert!(bodies.iter().any(|b| b.starts_with('[')), "batches");
    assert!(
        cases.iter().any(|c| c.body_hex.is_some()),
        "bodies that are not UTF-8 or not JSON"
    );
    let auths: std::collections::BTreeSet<String> =
        cases.iter().map(|c| auth_key(c.auth)).collect();
    assert_eq!(auths.len(), 7, "every kind of caller: {auths:?}");
}
