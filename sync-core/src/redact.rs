//! Error messages without the values they refuse. Serde's messages quote what they could not read ("invalid type:
//! integer `13912345678`, expected a string", "unknown variant `王秀英`, expected …", "unknown field `…`"), and an
//! op's or a request's values can be personal data (names, phone numbers, notes). Errors travel back to clients and
//! into logs, so only what the receiver's own types say is kept: the kind of mistake, what was expected, field
//! names the type declares, and the position in the text.

/// A serde_json error as a message naming the kind of mistake, what was expected and where, never the value.
pub fn serde_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let inner = text.strip_suffix(&position).unwrap_or(&text);
    let message = match e.classify() {
        // serde_json's own syntax messages are fixed texts ("expected value", "trailing characters", …).
        Category::Syntax | Category::Eof => inner.to_string(),
        Category::Data => message(inner),
        Category::Io => "the text could not be read".to_string(),
    };
    if e.line() == 0 {
        message
    } else {
        format!("{message}{position}")
    }
}

/// A deserialiser's message (serde's standard wording) without the value it quotes. A message in another
/// wording (a type's own `custom` error, which may quote anything) becomes "invalid value".
pub fn message(msg: &str) -> String {
    // What was expected is written by the receiving type (its `Visitor::expecting`, its variant and field names):
    // the last ", expected " starts it, whatever the quoted value before it holds.
    let expected = |rest: &str| {
        rest.rfind(", expected ")
            .map(|at| rest[at..].to_string())
            .unwrap_or_default()
    };
    for kind in [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
        "unknown field",
    ] {
        if let Some(rest) = msg.strip_prefix(kind) {
            return format!("{kind}{}", expected(rest));
        }
    }
    for kind in ["missing field `", "duplicate field `"] {
        // The field name of these two is the receiving type's own (a `&'static str`).
        if msg.starts_with(kind) && msg.ends_with('`') && msg.matches('`').count() == 2 {
            return msg.to_string();
        }
    }
    "invalid value".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only read to provoke errors")]
    struct Reporter {
        phone: String,
        channel: Channel,
        age: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Channel {
        Phone,
        Visit,
    }

    fn check(json: &str, expected: &str) {
        let e = serde_json::from_str::<Reporter>(json).expect_err("refused");
        assert_eq!(serde_error(&e), expected, "{e}");
    }

    /// Found in issue 15: a phone number sent as a number, a name as an enum variant, were quoted back in full;
    /// the old redaction only blanked double-quoted text.
    #[test]
    fn values_are_never_quoted_whatever_their_type() {
        check(
            r#"{"phone":13912345678,"channel":"phone"}"#,
            "invalid type, expected a string at line 1 column 20",
        );
        check(
            r#"{"phone":"x","channel":"王秀英, expected x"}"#,
            "unknown variant, expected `phone` or `visit` at line 1 column 46",
        );
        check(
            r#"{"phone":"x","channel":"visit","王秀英":1}"#,
            "unknown field, expected one of `phone`, `channel`, `age` at line 1 column 42",
        );
        check(
            r#"{"phone":"x","channel":"visit","age":13912345678}"#,
            "invalid value, expected u8 at line 1 column 48",
        );
        check(
            r#"{"channel":"visit"}"#,
            "missing field `phone` at line 1 column 19",
        );
        check(
            r#"{"phone":"13912345678""#,
            "EOF while parsing an object at line 1 column 22",
        );
        assert_eq!(message("bad input `13912345678`"), "invalid value");
        assert_eq!(message("missing field `a`, `13912345678`"), "invalid value");
    }
}
