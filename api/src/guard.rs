//! Checks on a request before anything recursive touches it.
//!
//! The GraphQL parser, async-graphql's validator and its depth and complexity visitors all
//! recurse: into nested values, nested selections and fragment spreads. So a request is
//! first scanned as flat text (its nesting, in one pass), and the parsed document is then
//! measured with each fragment visited once (cycles refused, expansion counted with
//! saturating arithmetic), so every walk here is linear in the request's size and every
//! walk after it runs on a document of bounded shape.

use std::collections::HashMap;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};

/// Why a request was refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Brackets (`{`, `[`, `(`) nested deeper than the limit, in the document or in JSON.
    TooDeep {
        limit: usize,
    },
    /// A fragment that spreads itself, directly or through others.
    FragmentCycle(String),
    /// The fields the operation would have once its fragments are spread out.
    TooManyFields {
        fields: u64,
        limit: usize,
    },
    TooManyAliases {
        aliases: u64,
        limit: usize,
    },
    TooManyDirectives {
        directives: u64,
        limit: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooDeep { limit } => {
                write!(f, "the request nests brackets deeper than {limit} levels")
            }
            Refusal::FragmentCycle(name) => write!(f, "fragment `{name}` spreads itself"),
            Refusal::TooManyFields { fields, limit } => {
                write!(
                    f,
                    "the operation has {fields} fields once its fragments are spread; at most {limit} are allowed"
                )
            }
            Refusal::TooManyAliases { aliases, limit } => write!(
                f,
                "the operation uses {aliases} aliases; at most {limit} are allowed"
            ),
            Refusal::TooManyDirectives { directives, limit } => {
                write!(
                    f,
                    "the operation uses {directives} directives; at most {limit} are allowed"
                )
            }
        }
    }
}

/// The deepest bracket nesting of a GraphQL document, skipping strings, block strings and
/// comments. One pass; stops counting once past `limit`.
pub fn check_document_nesting(text: &str, limit: usize) -> Result<(), Refusal> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Err(Refusal::TooDeep { limit });
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The deepest nesting of arrays and objects in JSON text, skipping strings. One pass.
pub fn check_json_nesting(bytes: &[u8], limit: usize) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(Refusal::TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The nesting of a variable value, walked without recursion.
pub fn check_value_nesting(value: &async_graphql::Value, limit: usize) -> Result<(), Refusal> {
    use async_graphql::Value;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::List(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > limit {
            return Err(Refusal::TooDeep { limit });
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    Ok(())
}

/// What an operation amounts to once its fragments are spread out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub fields: u64,
    pub aliases: u64,
    pub directives: u64,
}

impl Shape {
    fn add(self, other: Shape) -> Shape {
        Shape {
            fields: self.fields.saturating_add(other.fields),
            aliases: self.aliases.saturating_add(other.aliases),
            directives: self.directives.saturating_add(other.directives),
        }
    }
}

/// The limits [`check_operation`] applies.
#[derive(Clone, Copy, Debug)]
pub struct ShapeLimits {
    pub fields: usize,
    pub aliases: usize,
    pub directives: usize,
}

/// The operation a request will run: the only one, or the one named.
pub fn operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, op)| op),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    }
}

/// Whether the operation is a mutation.
pub fn is_mutation(op: &Positioned<OperationDefinition>) -> bool {
    op.node.ty == OperationType::Mutation
}

/// The names of the fields at an operation's root, through fragments (each visited once).
pub fn root_fields<'a>(
    doc: &'a ExecutableDocument,
    op: &'a Positioned<OperationDefinition>,
) -> impl Iterator<Item = &'a str> {
    let mut names = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut sets = vec![&op.node.selection_set.node];
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => names.push(f.node.name.node.as_str()),
                Selection::InlineFragment(f) => sets.push(&f.node.selection_set.node),
                Selection::FragmentSpread(s) => {
                    let name = &s.node.fragment_name.node;
                    if seen.insert(name.as_str())
                        && let Some(def) = doc.fragments.get(name)
                    {
                        sets.push(&def.node.selection_set.node);
                    }
                }
            }
        }
    }
    names.into_iter()
}

/// Measures the operation with its fragments spread, visiting each fragment once, and
/// refuses a fragment cycle or an operation past the limits.
pub fn check_operation(
    doc: &ExecutableDocument,
    op: &Positioned<OperationDefinition>,
    limits: ShapeLimits,
) -> Result<Shape, Refusal> {
    let mut memo = Memo {
        doc,
        done: HashMap::new(),
        on_path: Vec::new(),
    };
    let shape = memo
        .set(&op.node.selection_set.node)?
        .add(directives(&op.node.directives));
    if shape.fields > limits.fields as u64 {
        return Err(Refusal::TooManyFields {
            fields: shape.fields,
            limit: limits.fields,
        });
    }
    if shape.aliases > limits.aliases as u64 {
        return Err(Refusal::TooManyAliases {
            aliases: shape.aliases,
            limit: limits.aliases,
        });
    }
    if shape.directives > limits.directives as u64 {
        return Err(Refusal::TooManyDirectives {
            directives: shape.directives,
            limit: limits.directives,
        });
    }
    Ok(shape)
}

fn directives(d: &[Positioned<Directive>]) -> Shape {
    Shape {
        directives: d.len() as u64,
        ..Shape::default()
    }
}

/// Fragment shapes computed so far, and the fragments being computed (to find cycles).
struct Memo<'a> {
    doc: &'a ExecutableDocument,
    done: HashMap<&'a str, Shape>,
    on_path: Vec<&'a Name>,
}

impl<'a> Memo<'a> {
    /// The shape of a selection set. Recursion follows the document's nesting (bounded by
    /// the nesting check) and each fragment's body at most once.
    fn set(&mut self, set: &'a SelectionSet) -> Result<Shape, Refusal> {
        let mut total = Shape::default();
        for item in &set.items {
            let shape = match &item.node {
                Selection::Field(f) => Shape {
                    fields: 1,
                    aliases: u64::from(f.node.alias.is_some()),
                    directives: 0,
                }
                .add(directives(&f.node.directives))
                .add(self.set(&f.node.selection_set.node)?),
                Selection::InlineFragment(f) => {
                    directives(&f.node.directives).add(self.set(&f.node.selection_set.node)?)
                }
                Selection::FragmentSpread(s) => {
                    directives(&s.node.directives).add(self.fragment(&s.node.fragment_name.node)?)
                }
            };
            total = total.add(shape);
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<Shape, Refusal> {
        if let Some(shape) = self.done.get(name.as_str()) {
            return Ok(*shape);
        }
        if self.on_path.contains(&name) {
            return Err(Refusal::FragmentCycle(name.to_string()));
        }
        // An unknown fragment is the validator's to report.
        let Some(def) = self.doc.fragments.get(name) else {
            return Ok(Shape::default());
        };
        self.on_path.push(name);
        let shape = self
            .set(&def.node.selection_set.node)?
            .add(directives(&def.node.directives));
        self.on_path.pop();
        self.done.insert(name.as_str(), shape);
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ShapeLimits = ShapeLimits {
        fields: 1000,
        aliases: 30,
        directives: 50,
    };

    fn shape(query: &str) -> Result<Shape, Refusal> {
        check_document_nesting(query, 32)?;
        let doc = async_graphql::parser::parse_query(query).expect("parses");
        let op = operation(&doc, None).expect("one operation");
        check_operation(&doc, op, LIMITS)
    }

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        let cases: [(&str, usize, bool); 8] = [
            ("{ a { b } }", 2, true),
            ("{ a { b } }", 1, false),
            ("{ a(x: [[1]]) }", 4, true),
            ("{ a(x: [[1]]) }", 3, false),
            (r#"{ a(x: "[[[[[[") }"#, 2, true),
            ("{ a # [[[[[[\n }", 1, true),
            (r#"{ a(x: """ {{{{ \""" [[[[ """) }"#, 2, true),
            (r#"{ a(x: "\" [[[[") }"#, 2, true),
        ];
        for (text, limit, ok) in cases {
            assert_eq!(
                check_document_nesting(text, limit).is_ok(),
                ok,
                "{text} at {limit}"
            );
        }
        let deep = format!(
            "{{ node(id: {}1{}) {{ id }} }}",
            "[".repeat(3000),
            "]".repeat(3000)
        );
        assert_eq!(
            check_document_nesting(&deep, 32),
            Err(Refusal::TooDeep { limit: 32 })
        );
    }

    #[test]
    fn json_nesting_skips_strings() {
        assert!(check_json_nesting(br#"{"a": "[[[[[[[[", "b": [1, {"c": 2}]}"#, 3).is_ok());
        assert!(check_json_nesting(br#"{"a": "\"[[", "b": [1, {"c": [2]}]}"#, 3).is_err());
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(check_json_nesting(deep.as_bytes(), 32).is_err());
    }

    #[test]
    fn value_nesting_without_recursion() {
        let mut v = async_graphql::Value::Null;
        for _ in 0..10_000 {
            v = async_graphql::Value::List(vec![v]);
        }
        assert_eq!(
            check_value_nesting(&v, 32),
            Err(Refusal::TooDeep { limit: 32 })
        );
        let mut shallow = async_graphql::Value::Null;
        for _ in 0..32 {
            shallow = async_graphql::Value::List(vec![shallow]);
        }
        assert!(check_value_nesting(&shallow, 32).is_ok());
        // Dropping the deep value is itself recursive in async-graphql; forget it here, as a
        // request never gets that far.
        std::mem::forget(v);
    }

    #[test]
    fn fragments_are_measured_once_each() {
        assert_eq!(
            shape("{ a b: c }"),
            Ok(Shape {
                fields: 2,
                aliases: 1,
                directives: 0
            })
        );
        assert_eq!(
            shape("{ ...F ...F } fragment F on Query { x: a @skip(if: false) }"),
            Ok(Shape {
                fields: 2,
                aliases: 2,
                directives: 2
            })
        );
        assert_eq!(
            shape("query { ...A } fragment A on Query { x: __typename ...A ...A }"),
            Err(Refusal::FragmentCycle("A".into()))
        );
        assert_eq!(
            shape("{ ...A } fragment A on Query { ...B } fragment B on Query { a ...A }"),
            Err(Refusal::FragmentCycle("A".into()))
        );
        // Thirty fragments that each spread the next twice: 2^30 fields, counted in 31 steps.
        let chain: String = (0..30)
            .map(|i| format!("fragment F{i} on Query {{ ...F{} ...F{} }} ", i + 1, i + 1))
            .collect();
        let doubling = format!("query {{ ...F0 }} {chain} fragment F30 on Query {{ __typename }}");
        assert_eq!(
            shape(&doubling),
            Err(Refusal::TooManyFields {
                fields: 1 << 30,
                limit: 1000
            })
        );
        // Aliases inside a fragment spread many times count every time.
        let aliased = "{ ...F ...F ...F ...F } fragment F on Query { a: x b: x c: x d: x e: x f: x g: x h: x }";
        assert_eq!(
            shape(aliased),
            Err(Refusal::TooManyAliases {
                aliases: 32,
                limit: 30
            })
        );
        let directed = format!("{{ a {} }}", "@skip(if: false) ".repeat(51));
        assert_eq!(
            shape(&directed),
            Err(Refusal::TooManyDirectives {
                directives: 51,
                limit: 50
            })
        );
    }
}
