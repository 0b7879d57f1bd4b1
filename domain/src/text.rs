//! What text a service stores: one rule per kind of field, checked in one place.
//!
//! Every service that stores text a client sent passes it through [`check`] (or
//! [`email`], [`link`]) and stores what comes back: the value trimmed of surrounding
//! white space, with `\r\n` line ends made `\n` in multi-line kinds.
//!
//! | kind | used for | max chars | line breaks and tabs | may be empty |
//! |---|---|---|---|---|
//! | [`Kind::Name`] | names, titles, metrics, token names | [`NAME_MAX`] (200) | no | no, and not only invisible characters |
//! | [`Kind::Comment`] | comments, reasons, notes | [`COMMENT_MAX`] (2,000) | yes | no, and not only invisible characters |
//! | [`Kind::Body`] | descriptions, article and proposal bodies | [`BODY_MAX`] (20,000) | yes | yes |
//! | [`email`] | e-mail addresses | [`EMAIL_MAX`] (254) | no | no |
//! | [`link`] | article links, `http`/`https` only | [`LINK_MAX`] (2,048) | no | no |
//!
//! Never accepted in any kind: NUL and the other control characters (Unicode category Cc;
//! a multi-line kind allows `\n` and `\t`), and the bidirectional embedding, override and
//! isolate characters U+202A–U+202E and U+2066–U+2069, which make text display in another
//! order than it is stored (a name that reads differently in a report than in the
//! database). Lengths count Unicode scalar values (`char`s), after trimming.
//!
//! Errors are [`DomainError::BadInput`] naming the field as the caller gives it, the
//! domain's `snake_case` name (`title`, `name`, `comment`), with a predicate about it ("must
//! be at most 200 characters, got 201"); the one sentence is an address's "`<value>` is not
//! an e-mail address".

use crate::{DomainError, DomainResult};

/// The longest name, title or metric, in characters.
pub const NAME_MAX: usize = 200;
/// The longest comment, reason or note, in characters.
pub const COMMENT_MAX: usize = 2_000;
/// The longest description or body, in characters.
pub const BODY_MAX: usize = 20_000;
/// The longest e-mail address (RFC 5321's limit on a path), in characters.
pub const EMAIL_MAX: usize = 254;
/// The longest article link, in characters.
pub const LINK_MAX: usize = 2_048;

/// The kinds of free text, each with its rules (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One line, visible, at most [`NAME_MAX`] characters.
    Name,
    /// Lines, visible, at most [`COMMENT_MAX`] characters.
    Comment,
    /// Lines, possibly empty, at most [`BODY_MAX`] characters.
    Body,
}

impl Kind {
    fn max(self) -> usize {
        match self {
            Kind::Name => NAME_MAX,
            Kind::Comment => COMMENT_MAX,
            Kind::Body => BODY_MAX,
        }
    }
    fn multi_line(self) -> bool {
        !matches!(self, Kind::Name)
    }
    fn required(self) -> bool {
        !matches!(self, Kind::Body)
    }
}

/// The bidirectional embedding, override and isolate characters.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: white space, and the format and filler characters that
/// render as nothing (zero-width spaces and joiners, marks, the BOM, soft hyphen, Hangul
/// and Braille blanks, ...). A name made only of these looks empty in every list.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}' // soft hyphen
                | '\u{034F}' // combining grapheme joiner
                | '\u{061C}' // Arabic letter mark
                | '\u{115F}' | '\u{1160}' // Hangul choseong / jungseong fillers
                | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
                | '\u{180B}'..='\u{180F}' // Mongolian variation selectors, vowel separator
                | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated formats
                | '\u{2800}' // Braille blank
                | '\u{3164}' // Hangul filler
                | '\u{FE00}'..='\u{FE0F}' // variation selectors
                | '\u{FEFF}' // BOM, zero-width no-break space
                | '\u{FFA0}' // halfwidth Hangul filler
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1D173}'..='\u{1D17A}' // musical formatting
                | '\u{E0000}'..='\u{E007F}' // tags
                | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

/// Bad input on `field`, told by a predicate ("must not ...").
fn bad(field: &'static str, predicate: impl Into<String>) -> DomainError {
    DomainError::invalid(field, predicate)
}

/// Checks one text field of `kind` and returns it as stored (trimmed; `\r\n` → `\n` in
/// multi-line kinds).
pub fn check(field: &'static str, kind: Kind, value: &str) -> DomainResult<String> {
    run(field, kind, value, kind.required())
}

fn run(field: &'static str, kind: Kind, value: &str, required: bool) -> DomainResult<String> {
    let value = if kind.multi_line() {
        value.replace("\r\n", "\n")
    } else {
        value.to_owned()
    };
    let value = value.trim();
    for c in value.chars() {
        if c == '\0' {
            return Err(bad(field, "must not contain NUL characters"));
        }
        if c.is_control() && !(kind.multi_line() && matches!(c, '\n' | '\t')) {
            let what = if kind.multi_line() {
                "control characters other than line breaks and tabs"
            } else {
                "control characters or line breaks"
            };
            return Err(bad(
                field,
                format!("must not contain {what} (found U+{:04X})", c as u32),
            ));
        }
        if is_bidi_control(c) {
            return Err(bad(
                field,
                format!(
                    "must not contain bidirectional override characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
    }
    if required && value.chars().all(is_invisible) {
        return Err(bad(field, "must not be empty or only invisible characters"));
    }
    let length = value.chars().count();
    if length > kind.max() {
        return Err(bad(
            field,
            format!("must be at most {} characters, got {length}", kind.max()),
        ));
    }
    Ok(value.to_owned())
}

/// An optional text of `kind`: `None` or blank (white space only) is `None`, anything
/// else is checked by the kind's rules.
pub fn optional(
    field: &'static str,
    kind: Kind,
    value: Option<&str>,
) -> DomainResult<Option<String>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => check(field, kind, v).map(Some),
    }
}

/// An e-mail address: one line, no white space or control characters, at most
/// [`EMAIL_MAX`] characters, a non-empty local part and a host with a dot after one `@`.
pub fn email(field: &'static str, value: &str) -> DomainResult<String> {
    let value = value.trim();
    let not_an_address = || {
        DomainError::bad_input(
            field,
            format!(
                "`{}` is not an e-mail address",
                value.chars().take(EMAIL_MAX).collect::<String>()
            ),
        )
    };
    if value.chars().count() > EMAIL_MAX {
        return Err(bad(
            field,
            format!("must be at most {EMAIL_MAX} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c) || is_invisible(c))
    {
        return Err(not_an_address());
    }
    let ok = value.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty()
            && !host.contains('@')
            && host.contains('.')
            && !host.starts_with('.')
            && !host.ends_with('.')
    });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(not_an_address())
    }
}

/// An article link: an absolute `http` or `https` URL with a host, at most [`LINK_MAX`]
/// characters. Other schemes (`javascript:`, `data:`, `file:`) are refused: a link is
/// opened by readers' browsers.
pub fn link(field: &'static str, value: &str) -> DomainResult<String> {
    let value = value.trim();
    if value.chars().count() > LINK_MAX {
        return Err(bad(field, format!("must be at most {LINK_MAX} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c))
    {
        return Err(bad(
            field,
            "must not contain white space or control characters",
        ));
    }
    match url::Url::parse(value) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(value.to_owned())
        }
        _ => Err(bad(field, "must be an http:// or https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Message;

    fn field_of(r: DomainResult<String>) -> Result<String, &'static str> {
        r.map_err(|e| match e {
            DomainError::BadInput { field, .. } => field,
            other => panic!("{other}"),
        })
    }

    #[test]
    #[rustfmt::skip]
    fn text_rules_by_kind() {
        use Kind::*;
        let ok = |s: &str| Ok(s.to_owned());
        let cases: &[(Kind, &str, Result<String, &'static str>)] = &[
            (Name, "Anna Schmidt", ok("Anna Schmidt")),
            (Name, "  Anna  ", ok("Anna")),
            (Name, "Änna 李 😀", ok("Änna 李 😀")),
            (Name, "=HYPERLINK(\"x\")", ok("=HYPERLINK(\"x\")")), // neutralised in the CSV, not here
            (Name, "", Err("f")),
            (Name, "   ", Err("f")),
            (Name, "\u{200B}\u{200B}", Err("f")), // zero-width spaces only
            (Name, "\u{3164}", Err("f")), // Hangul filler
            (Name, "\u{FEFF}\u{00AD}\u{2800}", Err("f")),
            (Name, "a\u{200B}b", ok("a\u{200B}b")), // invisible inside visible text is fine
            (Name, "a\0b", Err("f")),
            (Name, "a\nb", Err("f")), // one line
            (Name, "a\tb", Err("f")),
            (Name, "a\u{7}b", Err("f")),
            (Name, "a\u{85}b", Err("f")), // C1 control
            (Name, "evil\u{202E}gnp.exe", Err("f")), // right-to-left override
            (Name, "a\u{2066}b\u{2069}", Err("f")), // isolates
            (Name, "\u{202A}x", Err("f")),
            (Comment, "line one\nline two\tand a tab", ok("line one\nline two\tand a tab")),
            (Comment, "windows\r\nline", ok("windows\nline")),
            (Comment, "lone\rcr", Err("f")),
            (Comment, "nul\0", Err("f")),
            (Comment, "\u{200B}\n", Err("f")),
            (Comment, "x\u{202D}", Err("f")),
            (Body, "", ok("")),
            (Body, "  \n ", ok("")),
            (Body, "para\n\npara", ok("para\n\npara")),
            (Body, "\u{0}", Err("f")),
            (Body, "\u{1B}[31m", Err("f")), // escape sequence
        ];
        for (kind, input, expected) in cases {
            assert_eq!(&field_of(check("f", *kind, input)), expected, "{kind:?} {input:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn lengths_count_characters() {
        assert!(check("f", Kind::Name, &"ä".repeat(NAME_MAX)).is_ok());
        assert!(check("f", Kind::Name, &"ä".repeat(NAME_MAX + 1)).is_err());
        assert!(check("f", Kind::Name, &format!("  {}  ", "a".repeat(NAME_MAX))).is_ok()); // after trimming
        assert!(check("f", Kind::Comment, &"a".repeat(COMMENT_MAX)).is_ok());
        assert!(check("f", Kind::Comment, &"a".repeat(COMMENT_MAX + 1)).is_err());
        assert!(check("f", Kind::Body, &"a".repeat(BODY_MAX)).is_ok());
        assert!(check("f", Kind::Body, &"a".repeat(200_000)).is_err());
        let err = check("title", Kind::Name, &"a".repeat(201)).unwrap_err();
        let DomainError::BadInput { field, message } = &err else { panic!("{err:?}") };
        assert_eq!((*field, message), ("title", &Message::Predicate("must be at most 200 characters, got 201".into())));
        assert_eq!(err.to_string(), "`title` must be at most 200 characters, got 201");
        assert_eq!(message.naming("input.title"), "`input.title` must be at most 200 characters, got 201");
    }

    #[test]
    fn optional_texts() {
        assert_eq!(optional("f", Kind::Body, None).unwrap(), None);
        assert_eq!(optional("f", Kind::Body, Some("  ")).unwrap(), None);
        assert_eq!(
            optional("f", Kind::Body, Some(" x ")).unwrap(),
            Some("x".into())
        );
        assert!(optional("f", Kind::Body, Some("x\0")).is_err());
        assert!(optional("f", Kind::Comment, Some("\u{200B}")).is_err()); // not blank, but invisible
        assert_eq!(
            optional("f", Kind::Comment, Some(" why ")).unwrap(),
            Some("why".into())
        );
    }

    #[test]
    #[rustfmt::skip]
    fn emails() {
        let cases: &[(&str, Result<String, &'static str>)] = &[
            ("anna@example.com", Ok("anna@example.com".into())),
            (" änna@x.de ", Ok("änna@x.de".into())),
            ("anna", Err("e")),
            ("@x.de", Err("e")),
            ("a@b", Err("e")),
            ("a@b@c.de", Err("e")),
            ("a b@c.de", Err("e")),
            ("a\0@c.de", Err("e")),
            ("a\u{202E}@c.de", Err("e")),
            ("a\u{200B}@c.de", Err("e")),
            ("a@.de", Err("e")),
            ("a@c.", Err("e")),
        ];
        for (input, expected) in cases {
            assert_eq!(&field_of(email("e", input)), expected, "{input:?}");
        }
        assert!(email("e", &format!("{}@x.de", "a".repeat(EMAIL_MAX))).is_err());
        // The one sentence: it names the value, not the field.
        let err = email("email", "anna").unwrap_err();
        assert_eq!(err.to_string(), "`anna` is not an e-mail address");
        let DomainError::BadInput { message, .. } = err else { unreachable!() };
        assert_eq!(message.naming("input.email"), "`anna` is not an e-mail address");
    }

    #[test]
    #[rustfmt::skip]
    fn links() {
        let cases: &[(&str, bool)] = &[
            ("https://wiki.example.com/page?x=1#y", true),
            ("http://intranet.local/a", true),
            ("HTTPS://EXAMPLE.COM", true),
            ("javascript:alert(1)", false),
            (" JavaScript:alert(1)", false),
            ("data:text/html,<script>alert(1)</script>", false),
            ("file:///etc/passwd", false),
            ("ftp://example.com/x", false),
            ("//example.com/x", false),
            ("/relative", false),
            ("https://", false),
            ("https://exa mple.com", false),
            ("https://example.com/\u{0}", false),
            ("https://example.com/\u{202E}", false),
        ];
        for (input, ok) in cases {
            assert_eq!(link("link", input).is_ok(), *ok, "{input:?}");
        }
        assert!(link("l", &format!("https://x.de/{}", "a".repeat(LINK_MAX))).is_err());
    }
}
