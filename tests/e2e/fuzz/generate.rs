//! A grammar-aware generator of GraphQL requests that knows the schema: it reads the
//! schema's own introspection, picks real fields, arguments, enum values and input fields,
//! fills IDs and cursors from the demo, and mixes in the shapes that have hurt GraphQL
//! servers: deep nesting of every kind, fragment cycles and doubling chains, many aliases
//! and directives, huge numbers, odd strings, deep JSON variables, odd cursors, GET and
//! batches. Every case comes from `(seed, index)`, so any one can be made again.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::{Auth, Case};

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn for_case(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A type reference as introspection gives it.
#[derive(Clone, Debug)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn from_json(v: &Value) -> TypeRef {
        match v["kind"].as_str() {
            Some("NON_NULL") => TypeRef::NonNull(Box::new(TypeRef::from_json(&v["ofType"]))),
            Some("LIST") => TypeRef::List(Box::new(TypeRef::from_json(&v["ofType"]))),
            _ => TypeRef::Named(v["name"].as_str().unwrap_or("String").to_owned()),
        }
    }

    pub fn named(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::List(t) | TypeRef::NonNull(t) => t.named(),
        }
    }

    fn required(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }

    fn sdl(&self) -> String {
        match self {
            TypeRef::Named(n) => n.clone(),
            TypeRef::List(t) => format!("[{}]", t.sdl()),
            TypeRef::NonNull(t) => format!("{}!", t.sdl()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub name: String,
    pub ty: TypeRef,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub args: Vec<Arg>,
    pub ty: TypeRef,
}

#[derive(Clone, Debug, Default)]
pub struct Type {
    pub kind: String,
    pub fields: Vec<Field>,
    pub inputs: Vec<Arg>,
    pub values: Vec<String>,
    pub possible: Vec<String>,
}

/// The schema as the generator needs it, and what the demo offers to aim at.
pub struct Model {
    pub types: HashMap<String, Type>,
    pub query: String,
    pub mutation: Option<String>,
    /// Global IDs of real objects.
    pub ids: Vec<String>,
    /// Cursors the server handed out.
    pub cursors: Vec<String>,
}

/// Introspection deep enough for `[T!]!` and `[[T]]`, and small enough for the depth limit.
pub const INTROSPECTION: &str = "{ __schema { queryType { name } mutationType { name } types { name kind \
    fields { name args { name type { ...T } } type { ...T } } inputFields { name type { ...T } } \
    enumValues { name } possibleTypes { name } } } } \
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

impl Model {
    pub fn from_introspection(data: &Value, ids: Vec<String>, cursors: Vec<String>) -> Model {
        let schema = &data["__schema"];
        let args = |v: &Value| -> Vec<Arg> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|a| Arg {
                    name: a["name"].as_str().unwrap_or_default().to_owned(),
                    ty: TypeRef::from_json(&a["type"]),
                })
                .collect()
        };
        let mut types = HashMap::new();
        for t in schema["types"]
            .as_array()
            .expect("introspection lists types")
        {
            let name = t["name"].as_str().unwrap_or_default().to_owned();
            let fields = t["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| Field {
                    name: f["name"].as_str().unwrap_or_default().to_owned(),
                    args: args(&f["args"]),
                    ty: TypeRef::from_json(&f["type"]),
                })
                .collect();
            let names = |v: &Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x["name"].as_str().map(str::to_owned))
                    .collect()
            };
            types.insert(
                name,
                Type {
                    kind: t["kind"].as_str().unwrap_or_default().to_owned(),
                    fields,
                    inputs: args(&t["inputFields"]),
                    values: names(&t["enumValues"]),
                    possible: names(&t["possibleTypes"]),
                },
            );
        }
        Model {
            types,
            query: schema["queryType"]["name"]
                .as_str()
                .unwrap_or("Query")
                .to_owned(),
            mutation: schema["mutationType"]["name"].as_str().map(str::to_owned),
            ids,
            cursors,
        }
    }

    /// A real ID, of the kind asked for when the demo has one (usually).
    fn id(&self, rng: &mut Rng, kind: Option<&str>) -> String {
        let prefix = kind.map(|k| format!("{k}:"));
        let of_kind: Vec<&String> = self
            .ids
            .iter()
            .filter(|id| {
                let text = URL_SAFE_NO_PAD.decode(id.as_bytes()).unwrap_or_default();
                prefix
                    .as_ref()
                    .is_some_and(|p| text.starts_with(p.as_bytes()))
            })
            .collect();
        if !of_kind.is_empty() && rng.chance(85) {
            return of_kind[rng.below(of_kind.len())].clone();
        }
        if self.ids.is_empty() {
            return URL_SAFE_NO_PAD.encode("Employee:1");
        }
        rng.pick(&self.ids).clone()
    }

    fn ty(&self, name: &str) -> Option<&Type> {
        self.types.get(name)
    }

    fn is_composite(&self, name: &str) -> bool {
        self.ty(name)
            .is_some_and(|t| matches!(t.kind.as_str(), "OBJECT" | "INTERFACE" | "UNION"))
    }
}

/// A GraphQL string literal holding `s` (control characters escaped, the rest raw).
pub fn gql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// `open` repeated `n` times, then `inner`, then `close` repeated `n` times.
pub fn nest(open: &str, inner: &str, close: &str, n: usize) -> String {
    let mut s = String::with_capacity((open.len() + close.len()) * n + inner.len());
    for _ in 0..n {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..n {
        s.push_str(close);
    }
    s
}

const VALID_DATE_TIMES: [&str; 4] = [
    "2026-11-25T10:00:00Z",
    "2026-11-20T10:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
];

const VALID_DATES: [&str; 5] = [
    "2026-11-20",
    "2026-12-01",
    "0001-01-01",
    "9999-12-31",
    "2024-02-29",
];

/// Nesting depths worth trying: around the limits, and far past them.
const DEPTHS: [usize; 10] = [2, 15, 16, 17, 33, 64, 129, 600, 3_000, 9_000];

/// Numbers that break naive code.
const NUMBERS: [&str; 22] = [
    "0",
    "-0",
    "1",
    "-1",
    "100",
    "101",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "1e309",
    "1e-320",
    "4.9e-324",
    "0.1",
    "1.5",
    "123456789012345678901234567890",
    "-0.0",
    "1E+2",
];

/// Strings that break naive code (GraphQL source; escapes as the spec allows and not).
fn odd_string(rng: &mut Rng, clean: bool) -> String {
    // Cases 5 to 8 are not valid GraphQL strings.
    let mut pick = rng.below(14);
    while clean && (5..=8).contains(&pick) {
        pick = rng.below(14);
    }
    match pick {
        0 => gql_string("\0"),
        1 => gql_string("a\0b"),
        2 => gql_string("\u{202E}evil\u{202C}"),
        3 => gql_string("\u{200B}\u{200B}"),
        4 => gql_string(&"x".repeat(*rng.pick(&[256, 10_000, 200_000]))),
        5 => "\"\\uD800\"".into(),
        6 => "\"\\uDFFF\\uD800\"".into(),
        7 => "\"\\x41\"".into(),
        8 => "\"\\u{1F600}\"".into(),
        9 => "\"\"\"block \\\"\"\" \u{0007} \r\n\"\"\"".into(),
        10 => gql_string("=HYPERLINK(\"http://x\")"),
        11 => gql_string("\u{FEFF}\u{FFFF}\u{10FFFF}"),
        12 => gql_string("' OR 1=1; --"),
        _ => gql_string("javascript:alert(1)"),
    }
}

/// The same family, as JSON text for variables (including escapes JSON allows but UTF-8 does not).
fn odd_json_string(rng: &mut Rng, clean: bool) -> String {
    // Cases 1, 2 and 7 hold surrogates no UTF-8 string can.
    let mut pick = rng.below(10);
    while clean && matches!(pick, 1 | 2 | 7) {
        pick = rng.below(10);
    }
    match pick {
        0 => "\"\\u0000\"".into(),
        1 => "\"\\ud800\"".into(),
        2 => "\"\\udfff\\ud800x\"".into(),
        3 => json_string("\u{202E}evil"),
        4 => json_string(&"y".repeat(*rng.pick(&[256, 10_000, 200_000]))),
        5 => json_string(""),
        6 => json_string("\u{FEFF}"),
        7 => "\"\\uDBFF\\uDFFF\"".into(),
        8 => json_string("=cmd|' /C calc'!A0"),
        _ => json_string("0001-01-01"),
    }
}

/// Cursors: what the server handed out, and offsets it never would.
fn cursor(rng: &mut Rng, model: &Model) -> String {
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let raw = match rng.below(12) {
        0 if !model.cursors.is_empty() => rng.pick(&model.cursors).clone(),
        1 => b64("9223372036854775807"),
        2 => b64("-9223372036854775808"),
        3 => b64("-1"),
        4 => b64("18446744073709551616"),
        5 => b64("2147483647"),
        6 => b64("1e308"),
        7 => b64("\"x\""),
        8 => "!!!not base64".into(),
        9 => String::new(),
        10 => b64(&"9".repeat(5_000)),
        _ => b64("0"),
    };
    gql_string(&raw)
}

fn gql_id(rng: &mut Rng, model: &Model, kind: Option<&str>) -> String {
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    match rng.below(8) {
        0..=4 => gql_string(&model.id(rng, kind)),
        5 => gql_string(&b64(&format!(
            "{}:9223372036854775807",
            rng.pick(&["Employee", "Assignment", "Period", "KpiResult", "Article"])
        ))),
        6 => gql_string(&b64("Employee:-1")),
        _ => rng
            .pick(&[
                "\"\"",
                "\"1\"",
                "1",
                "9223372036854775807",
                "\"Employee:1\"",
            ])
            .to_string(),
    }
}

/// One operation being built: the variables it declares and their JSON values.
struct Op<'m> {
    model: &'m Model,
    rng: Rng,
    vars: Vec<(String, String)>,
    values: Vec<(String, String)>,
    fragments: Vec<String>,
    max_depth: usize,
    size: usize,
    /// Only documents that pass validation (with odd but valid values), so they reach the
    /// resolvers; otherwise mistakes of every kind are mixed in.
    clean: bool,
    aliases: usize,
    /// The kind of object an ID argument being filled names, when its name tells.
    hint: Option<&'static str>,
}

/// The kind of object an ID argument names, from its name or its field's.
fn id_kind(arg: &str, field: &str) -> Option<&'static str> {
    let field = field.to_ascii_lowercase();
    match arg.strip_suffix("Id").unwrap_or(arg) {
        "period" => Some("Period"),
        "assignee" | "controller" | "employee" | "manager" => Some("Employee"),
        "department" => Some("Department"),
        "proposal" => Some("Proposal"),
        "id" if field.contains("assignment") => Some("Assignment"),
        "id" if field.contains("employee") => Some("Employee"),
        "id" if field.contains("department") => Some("Department"),
        "id" if field.contains("article") => Some("Article"),
        "id" if field.contains("token") => Some("ApiToken"),
        "id" if field.contains("kpi") => Some("KpiTarget"),
        "id" if field.contains("template") => Some("DutyTemplate"),
        _ => None,
    }
}

const CLEAN_INTS: [&str; 11] = [
    "0",
    "-0",
    "1",
    "2",
    "5",
    "10",
    "100",
    "101",
    "-1",
    "2147483647",
    "-2147483648",
];

const CLEAN_FLOATS: [&str; 12] = [
    "0",
    "-0.0",
    "0.5",
    "1",
    "1.5",
    "100",
    "1e308",
    "-1e308",
    "4.9e-324",
    "1e-320",
    "123456789012345678901234567890",
    "9007199254740993",
];

impl<'m> Op<'m> {
    /// Whether to make a mistake here (never in a clean document).
    fn oops(&mut self, percent: u64) -> bool {
        !self.clean && self.rng.chance(percent)
    }

    fn var(&mut self, ty: &TypeRef) -> String {
        let name = format!("v{}", self.vars.len());
        let mut decl = format!("${name}: {}", ty.sdl());
        if self.oops(15) {
            let v = self.value(ty, 0);
            let _ = write!(decl, " = {v}");
        }
        self.vars.push((name.clone(), decl));
        if !self.oops(10) {
            let j = self.json(ty, 0);
            self.values.push((name.clone(), j));
        }
        format!("${name}")
    }

    /// A GraphQL value for an argument of type `ty` (usually of that type, sometimes not).
    fn value(&mut self, ty: &TypeRef, depth: usize) -> String {
        if self.oops(6) {
            return self.wrong_value();
        }
        match ty {
            TypeRef::NonNull(t) => self.value(t, depth),
            TypeRef::List(t) => {
                if self.rng.chance(40) {
                    return self.value(t, depth + 1);
                }
                let n = self.rng.below(3);
                let items: Vec<String> = (0..n).map(|_| self.value(t, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            TypeRef::Named(name) => self.named_value(name, depth),
        }
    }

    fn named_value(&mut self, name: &str, depth: usize) -> String {
        let model = self.model;
        match name {
            "ID" => gql_id(&mut self.rng, model, self.hint),
            "Int" if self.clean => self.rng.pick(&CLEAN_INTS).to_string(),
            "Float" if self.clean => self.rng.pick(&CLEAN_FLOATS).to_string(),
            "Int" => self.rng.pick(&NUMBERS[..12]).to_string(),
            "Float" => self.rng.pick(&NUMBERS).to_string(),
            "Boolean" => self.rng.pick(&["true", "false"]).to_string(),
            "String" => {
                if self.rng.chance(50) {
                    gql_string(self.rng.pick::<&str>(&[
                        "Fuzz",
                        "a",
                        "Q4 numbers",
                        "https://example.org/a",
                        "admin",
                        "payroll:read",
                    ]))
                } else {
                    odd_string(&mut self.rng, self.clean)
                }
            }
            "DateTime" if self.clean => gql_string(self.rng.pick::<&str>(&VALID_DATE_TIMES)),
            "Date" if self.clean => gql_string(self.rng.pick::<&str>(&VALID_DATES)),
            "DateTime" => gql_string(self.rng.pick::<&str>(&[
                "2026-11-25T10:00:00Z",
                "2026-11-20T10:00:00+14:00",
                "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z",
                "2026-02-30T00:00:00Z",
                "yesterday",
                "+275760-09-13T00:00:00Z",
            ])),
            "Date" => gql_string(self.rng.pick::<&str>(&[
                "2026-11-20",
                "2026-12-01",
                "0001-01-01",
                "9999-12-31",
                "2026-02-29",
                "20261120",
                "",
            ])),
            _ => match model.ty(name) {
                Some(t) if t.kind == "ENUM" && !t.values.is_empty() => {
                    if !self.oops(10) {
                        self.rng.pick(&t.values).clone()
                    } else {
                        "NOT_A_VALUE".into()
                    }
                }
                Some(t) if t.kind == "INPUT_OBJECT" => {
                    if depth > 4 {
                        return "{}".into();
                    }
                    let inputs = t.inputs.clone();
                    let mut parts = Vec::new();
                    for a in &inputs {
                        if a.ty.required() || self.rng.chance(50) {
                            self.hint = id_kind(&a.name, "");
                            let v = if self.rng.chance(10) {
                                self.var(&a.ty)
                            } else {
                                self.value(&a.ty, depth + 1)
                            };
                            parts.push(format!("{}: {v}", a.name));
                        }
                    }
                    if self.oops(5) {
                        parts.push("unknownField: 1".into());
                    }
                    format!("{{{}}}", parts.join(", "))
                }
                _ => gql_string("?"),
            },
        }
    }

    fn wrong_value(&mut self) -> String {
        match self.rng.below(9) {
            0 => "null".into(),
            1 => self.rng.pick(&NUMBERS).to_string(),
            2 => odd_string(&mut self.rng, false),
            3 => "[1, \"a\", null, {a: 1}]".into(),
            4 => "{a: {b: [1]}}".into(),
            5 => "$undeclared".into(),
            6 => "SOME_ENUM".into(),
            7 => {
                let n = *self.rng.pick(&DEPTHS);
                nest("[", "1", "]", n)
            }
            _ => "true".into(),
        }
    }

    /// A JSON value (as text) for a variable of type `ty`.
    fn json(&mut self, ty: &TypeRef, depth: usize) -> String {
        if self.oops(6) {
            return match self.rng.below(7) {
                0 => "null".into(),
                1 => odd_json_string(&mut self.rng, false),
                2 => self.rng.pick(&NUMBERS).to_string(),
                3 => "{\"a\": [1, {\"b\": null}]}".into(),
                4 => nest("[", "0", "]", *self.rng.pick(&DEPTHS)),
                5 => nest("{\"a\":", "1", "}", *self.rng.pick(&DEPTHS)),
                _ => "[]".into(),
            };
        }
        match ty {
            TypeRef::NonNull(t) => self.json(t, depth),
            TypeRef::List(t) => {
                let n = self.rng.below(3);
                let items: Vec<String> = (0..n).map(|_| self.json(t, depth + 1)).collect();
                format!("[{}]", items.join(","))
            }
            TypeRef::Named(name) => {
                let model = self.model;
                match name.as_str() {
                    "ID" => {
                        if !model.ids.is_empty() && self.rng.chance(80) {
                            json_string(&model.id(&mut self.rng, self.hint))
                        } else {
                            json_string(&URL_SAFE_NO_PAD.encode("Assignment:9223372036854775807"))
                        }
                    }
                    "Int" if self.clean => self.rng.pick(&CLEAN_INTS).to_string(),
                    "Float" if self.clean => self.rng.pick(&CLEAN_FLOATS).to_string(),
                    "DateTime" if self.clean => {
                        json_string(self.rng.pick::<&str>(&VALID_DATE_TIMES))
                    }
                    "Date" if self.clean => json_string(self.rng.pick::<&str>(&VALID_DATES)),
                    "Boolean" if self.clean => self.rng.pick(&["true", "false"]).to_string(),
                    "Int" | "Float" => self.rng.pick(&NUMBERS).to_string(),
                    "Boolean" => self
                        .rng
                        .pick(&["true", "false", "\"true\"", "1"])
                        .to_string(),
                    "String" | "DateTime" | "Date" => {
                        if self.rng.chance(50) {
                            json_string(self.rng.pick::<&str>(&[
                                "Fuzz",
                                "2026-11-25T10:00:00Z",
                                "2026-12-01",
                                "x",
                            ]))
                        } else {
                            odd_json_string(&mut self.rng, self.clean)
                        }
                    }
                    _ => match model.ty(name) {
                        Some(t) if t.kind == "ENUM" && !t.values.is_empty() => {
                            json_string(self.rng.pick::<String>(&t.values))
                        }
                        Some(t) if t.kind == "INPUT_OBJECT" && depth < 5 => {
                            let inputs = t.inputs.clone();
                            let mut parts = Vec::new();
                            for a in &inputs {
                                if a.ty.required() || self.rng.chance(50) {
                                    self.hint = id_kind(&a.name, "");
                                    parts.push(format!(
                                        "{}:{}",
                                        json_string(&a.name),
                                        self.json(&a.ty, depth + 1)
                                    ));
                                }
                            }
                            format!("{{{}}}", parts.join(","))
                        }
                        _ => "{}".into(),
                    },
                }
            }
        }
    }

    fn args(&mut self, field: &Field) -> String {
        let mut parts = Vec::new();
        for a in &field.args {
            if !(a.ty.required() || self.rng.chance(45)) {
                continue;
            }
            self.hint = id_kind(&a.name, &field.name);
            let v = if a.name == "after" && self.rng.chance(70) {
                cursor(&mut self.rng, self.model)
            } else if a.name == "first" && self.rng.chance(60) {
                self.rng
                    .pick(&[
                        "1",
                        "2",
                        "5",
                        "10",
                        "100",
                        "100",
                        "101",
                        "0",
                        "-1",
                        "2147483647",
                    ])
                    .to_string()
            } else if self.rng.chance(15) {
                self.var(&a.ty)
            } else {
                self.value(&a.ty, 0)
            };
            parts.push(format!("{}: {v}", a.name));
        }
        if self.oops(3) {
            parts.push("notAnArgument: 1".into());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("({})", parts.join(", "))
        }
    }

    fn directives(&mut self) -> String {
        if !self.rng.chance(12) {
            return String::new();
        }
        let n = if self.clean {
            1
        } else if self.rng.chance(10) {
            *self.rng.pick(&[20, 51, 500])
        } else {
            self.rng.range(1, 3)
        };
        let mut s = String::new();
        for _ in 0..n {
            let choice = if self.clean {
                self.rng.below(3)
            } else {
                self.rng.below(6)
            };
            let d = match choice {
                0 => "@include(if: true)".to_owned(),
                1 => "@skip(if: false)".to_owned(),
                2 => {
                    let v = self.var(&TypeRef::NonNull(Box::new(TypeRef::Named(
                        "Boolean".into(),
                    ))));
                    format!("@include(if: {v})")
                }
                3 => "@deprecated(reason: \"x\")".to_owned(),
                4 => format!("@unknown{}(x: 1)", self.rng.below(3)),
                _ => "@skip(if: \"yes\")".to_owned(),
            };
            s.push(' ');
            s.push_str(&d);
        }
        s
    }

    /// A selection set on `ty`.
    fn selection(&mut self, ty: &str, depth: usize) -> String {
        let model = self.model;
        let Some(t) = model.ty(ty) else {
            return "{ __typename }".into();
        };
        let mut items = Vec::new();
        let n = if depth >= self.max_depth {
            1
        } else {
            self.rng.range(1, 4)
        };
        for _ in 0..n {
            if self.size > 3_000 {
                break;
            }
            self.size += 1;
            let roll = self.rng.below(100);
            if roll < 5 || t.fields.is_empty() && t.possible.is_empty() {
                items.push("__typename".to_owned());
            } else if roll < 14 && depth < self.max_depth {
                // An inline fragment: on a possible type, on the same type, or on none.
                let on = if !t.possible.is_empty() {
                    self.rng.pick(&t.possible).clone()
                } else {
                    ty.to_owned()
                };
                let cond = if self.rng.chance(80) {
                    format!(" on {on}")
                } else {
                    String::new()
                };
                let d = self.directives();
                let inner = self.selection(&on, depth + 1);
                items.push(format!("...{cond}{d} {inner}"));
            } else if roll < 20 && depth < self.max_depth {
                // A named fragment, spread once or twice.
                let name = format!("F{}", self.fragments.len());
                self.fragments.push(String::new());
                let inner = self.selection(ty, depth + 1);
                let index = name[1..].parse::<usize>().unwrap_or(0);
                self.fragments[index] = format!("fragment {name} on {ty} {inner}");
                items.push(format!("...{name}"));
                if self.rng.chance(20) {
                    items.push(format!("...{name}"));
                }
            } else if !t.fields.is_empty() {
                let f = self.rng.pick(&t.fields).clone();
                if !model.is_composite(f.ty.named())
                    || depth < self.max_depth
                    || self.rng.chance(30)
                {
                    items.push(self.field(&f, depth));
                } else {
                    items.push("__typename".into());
                }
            } else {
                items.push("__typename".into());
            }
        }
        format!("{{ {} }}", items.join(" "))
    }

    fn field(&mut self, f: &Field, depth: usize) -> String {
        // A clean document names every field with arguments apart, so no two conflict.
        let alias = if self.clean && (!f.args.is_empty() || self.rng.chance(12)) {
            self.aliases += 1;
            format!("k{}: ", self.aliases)
        } else if self.rng.chance(12) {
            format!(
                "{}: ",
                self.rng.pick(&["a", "b", "x", "id", "name", "me", "node"])
            )
        } else {
            String::new()
        };
        let args = self.args(f);
        let d = self.directives();
        let sub = if self.model.is_composite(f.ty.named()) {
            format!(" {}", self.selection(f.ty.named(), depth + 1))
        } else {
            String::new()
        };
        format!("{alias}{}{args}{d}{sub}", f.name)
    }

    fn finish(self, kind: &str, body: String) -> (String, String) {
        let decls: Vec<&str> = self.vars.iter().map(|(_, d)| d.as_str()).collect();
        let header = if decls.is_empty() {
            format!("{kind} Fuzz")
        } else {
            format!("{kind} Fuzz({})", decls.join(", "))
        };
        let mut doc = format!("{header} {body}");
        for f in &self.fragments {
            doc.push('\n');
            doc.push_str(f);
        }
        let values: Vec<String> = self
            .values
            .iter()
            .map(|(n, v)| format!("{}:{v}", json_string(n)))
            .collect();
        (doc, format!("{{{}}}", values.join(",")))
    }
}

/// What one generated request aims at.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Schema,
    Mutation,
    Pathological,
    Mangled,
}

pub struct Generated {
    pub query: String,
    pub variables: String,
    pub shape: Shape,
}

/// A document that uses the schema: real fields and arguments, plus the odd value.
fn schema_document(model: &Model, rng: Rng, mutation: bool) -> (String, String) {
    let mut op = Op {
        model,
        rng,
        vars: Vec::new(),
        values: Vec::new(),
        fragments: Vec::new(),
        max_depth: 0,
        size: 0,
        clean: false,
        aliases: 0,
        hint: None,
    };
    op.clean = op.rng.chance(60);
    op.max_depth = if op.rng.chance(85) {
        op.rng.range(1, 6)
    } else {
        op.rng.range(7, 24)
    };
    let root = if mutation {
        model
            .mutation
            .clone()
            .unwrap_or_else(|| model.query.clone())
    } else {
        model.query.clone()
    };
    let body = if mutation {
        // One or two mutations, each with a small selection.
        let fields = model
            .ty(&root)
            .map(|t| t.fields.clone())
            .unwrap_or_default();
        let mut items = Vec::new();
        for _ in 0..op.rng.range(1, 2) {
            if fields.is_empty() {
                break;
            }
            let f = op.rng.pick(&fields).clone();
            items.push(op.field(&f, 1));
        }
        format!("{{ {} }}", items.join(" "))
    } else {
        op.selection(&root, 0)
    };
    let d = if op.clean {
        String::new()
    } else {
        op.directives()
    };
    let kind = if mutation { "mutation" } else { "query" };
    let (doc, vars) = op.finish(kind, body);
    // Directives on the operation go after its variables.
    let doc = if d.is_empty() {
        doc
    } else {
        doc.replacen(" {", &format!("{d} {{"), 1)
    };
    (doc, vars)
}

/// The shapes that took servers down: nesting, fragments, aliases, directives, numbers.
fn pathological(model: &Model, rng: &mut Rng) -> (String, String) {
    let n = *rng.pick(&DEPTHS);
    let id = model.ids.first().cloned().unwrap_or_else(|| "x".into());
    let v = String::from("{}");
    match rng.below(20) {
        0 => (format!("{{ node(id: {}) {{ id }} }}", nest("[", &gql_string(&id), "]", n)), v),
        1 => (format!("{{ assignments(filter: {}) {{ totalCount }} }}", nest("{status: ", "TODO", "}", n)), v),
        2 => (format!("{{ node(id: {}) {{ id }} }}", nest("{a: ", "1", "}", n)), v),
        3 => (format!("query($v: ID = {}) {{ node(id: $v) {{ id }} }}", nest("[", "1", "]", n)), v),
        4 => (format!("{{ __typename @include(if: {}) }}", nest("[", "true", "]", n)), v),
        5 => (format!("{{ __typename @skip(if: {}) }}", nest("{a: ", "true", "}", n)), v),
        6 => ("query($v: ID!) { node(id: $v) { id } }".into(), format!("{{\"v\":{}}}", nest("[", "1", "]", n.max(200)))),
        7 => ("query($f: AssignmentFilter) { assignments(filter: $f) { totalCount } }".into(), format!("{{\"f\":{}}}", nest("{\"status\":", "\"TODO\"", "}", n.max(200)))),
        8 => (format!("query($v: {}) {{ __typename }}", nest("[", "ID", "]", n)), v),
        9 => (format!("{{ me {{ {} id {} }} }}", "manager { ".repeat(n), "}".repeat(n)), v),
        10 => (format!("{{ {} }}", nest("... on Query { ", "__typename", " }", n)), v),
        11 => (nest("{ a ", "", "}", n), v),
        12 => match rng.below(3) {
            0 => ("query { ...A } fragment A on Query { x: __typename ...A ...A }".into(), v),
            1 => ("query { ...A } fragment A on Query { ...B } fragment B on Query { __typename ...A }".into(), v),
            _ => ("{ me { ...E } } fragment E on Employee { manager { ...E } }".into(), v),
        },
        13 => {
            // Each fragment spreads the next one twice: 2^levels expansions.
            let levels = rng.range(4, 40);
            let mut doc = String::from("query { ...F0 }");
            for i in 0..levels {
                let _ = write!(doc, " fragment F{i} on Query {{ a{i}: __typename ...F{} ...F{} }}", i + 1, i + 1);
            }
            let _ = write!(doc, " fragment F{levels} on Query {{ __typename }}");
            (doc, v)
        }
        14 => {
            let count = *rng.pick(&[31, 100, 5_000]);
            let fields: Vec<String> = (0..count).map(|i| format!("a{i}: __typename")).collect();
            (format!("{{ {} }}", fields.join(" ")), v)
        }
        15 => {
            let count = *rng.pick(&[50, 51, 1_000, 10_000]);
            (format!("{{ __typename{} }}", " @include(if: true)".repeat(count)), v)
        }
        16 => {
            // Connections nested through employees, each asking a full page, many times.
            // (Five levels under `me` is depth 16, the default limit.)
            let levels = rng.range(1, 5);
            let inner = nest(
                "kpiHistory(first: 100) { nodes { employee { ",
                "kpiHistory(first: 100) { nodes { kpi discipline } }",
                " } } }",
                levels - 1,
            );
            let (open, close) = *rng.pick(&[
                ("me {", "}"),
                ("employees(first: 100) { nodes {", "} }"),
                ("assignments(first: 100) { nodes { assignee {", "} } }"),
            ]);
            let aliases: Vec<String> = (0..rng.range(1, 10))
                .map(|i| format!("a{i}: {open} {inner} {close}"))
                .collect();
            (format!("{{ {} }}", aliases.join(" ")), v)
        }
        17 => {
            let after = cursor(rng, model);
            let list = rng.pick(&["duties", "additional", "toAccept"]);
            (format!("{{ me {{ summary {{ {list} {{ items(first: 100, after: {after}) {{ totalCount }} }} }} }} }}"), v)
        }
        18 => {
            let ops: Vec<String> = (0..*rng.pick(&[2, 100, 2_000])).map(|i| format!("query Q{i} {{ __typename }}")).collect();
            (ops.join(" "), v)
        }
        _ => {
            let count = *rng.pick(&[100, 3_000]);
            let vars: Vec<String> = (0..count).map(|i| format!("$v{i}: Int = {}", rng.pick(&NUMBERS[..12]))).collect();
            (format!("query({}) {{ __typename }}", vars.join(", ")), v)
        }
    }
}

/// A document with a span cut, doubled, or replaced by odd text.
fn mangle(rng: &mut Rng, doc: &str) -> String {
    let mut s = doc.to_owned();
    for _ in 0..rng.range(1, 3) {
        if s.is_empty() {
            break;
        }
        let a = s.floor_char_boundary(rng.below(s.len()));
        let b = s.floor_char_boundary((a + rng.below(24)).min(s.len()));
        let insert = match rng.below(8) {
            0 => String::new(),
            1 => s[a..b].repeat(rng.range(2, 50)),
            2 => rng
                .pick(&[
                    "{", "}", "(", ")", "[", "]", "...", "$", "@", ":", "\"", "\"\"\"", "#", "!",
                    "=", "|", "&",
                ])
                .to_string(),
            3 => "\u{0}".into(),
            4 => "\u{FFFD}\u{202E}".into(),
            5 => rng.pick(&NUMBERS).to_string(),
            6 => " fragment X on Query { ...X } ".into(),
            _ => " on ".into(),
        };
        s.replace_range(a..b, &insert);
    }
    s
}

/// One generated GraphQL request (document and variables).
pub fn request(model: &Model, rng: &mut Rng) -> Generated {
    let roll = rng.below(100);
    let sub = Rng::new(rng.next());
    let (shape, (query, variables)) = if roll < 50 {
        (Shape::Schema, schema_document(model, sub, false))
    } else if roll < 62 {
        (Shape::Mutation, schema_document(model, sub, true))
    } else if roll < 85 {
        (Shape::Pathological, pathological(model, rng))
    } else {
        let (doc, vars) = schema_document(model, sub, rng.chance(20));
        (Shape::Mangled, (mangle(rng, &doc), vars))
    };
    Generated {
        query,
        variables,
        shape,
    }
}

/// Percent-encodes a query-string component.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A whole HTTP case: one request sent as POST, GET or in a batch, with a token or none.
pub fn case(model: &Model, seed: u64, index: u64) -> Case {
    let mut rng = Rng::for_case(seed, index);
    let auth = *rng.pick(&[
        Auth::Employee,
        Auth::Employee,
        Auth::Manager,
        Auth::Manager,
        Auth::Admin,
        Auth::AdminPerson,
        Auth::Payroll,
        Auth::None,
        Auth::Bogus,
    ]);
    let accept = rng
        .pick(&[
            Some("application/graphql-response+json"),
            Some("application/json"),
            None,
            Some("*/*"),
        ])
        .map(str::to_owned);
    let g = request(model, &mut rng);
    let body_of = |g: &Generated, name: Option<&str>| {
        let mut b = format!(
            "{{\"query\":{},\"variables\":{}",
            json_string(&g.query),
            g.variables
        );
        if let Some(n) = name {
            let _ = write!(b, ",\"operationName\":{}", json_string(n));
        }
        b.push('}');
        b
    };
    let operation_name = rng.chance(10).then_some("Fuzz");
    let about = format!("generated {:?} seed {seed:#x} case {index}", g.shape);
    match rng.below(100) {
        0..=74 => Case {
            about,
            method: "POST".into(),
            auth,
            accept,
            body: Some(body_of(&g, operation_name)),
            ..Case::default()
        },
        75..=89 if g.query.len() + g.variables.len() < 15_000 => {
            let mut path = format!("/graphql?query={}", url_encode(&g.query));
            if g.variables != "{}" || rng.chance(20) {
                let _ = write!(path, "&variables={}", url_encode(&g.variables));
            }
            Case {
                about,
                method: "GET".into(),
                auth,
                accept,
                path: Some(path),
                ..Case::default()
            }
        }
        75..=97 => {
            let mut parts = vec![body_of(&g, operation_name)];
            for _ in 0..rng.range(0, 11) {
                let more = request(model, &mut rng);
                parts.push(body_of(&more, None));
            }
            Case {
                about,
                method: "POST".into(),
                auth,
                accept,
                body: Some(format!("[{}]", parts.join(","))),
                ..Case::default()
            }
        }
        _ => {
            // Not quite JSON: truncated, with a lone surrogate, or raw bytes.
            let body = body_of(&g, None);
            let cut = body.floor_char_boundary(rng.below(body.len().max(1)));
            let text = match rng.below(3) {
                0 => body[..cut].to_owned(),
                1 => format!(
                    "{{\"query\":\"{{ __typename }}\",\"variables\":{{\"a\":\"\\ud800\"}},\"extensions\":{}}}",
                    nest("[", "", "]", 100)
                ),
                _ => body,
            };
            let mut bytes = text.into_bytes();
            if rng.chance(30) && !bytes.is_empty() {
                let at = rng.below(bytes.len());
                bytes[at] = 0xFF;
            }
            Case {
                about,
                method: "POST".into(),
                auth,
                accept,
                body_hex: Some(hex(&bytes)),
                ..Case::default()
            }
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}
