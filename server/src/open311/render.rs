//! GeoReport v2 answers are the same tree in two formats: JSON, where a list is an array, and XML, where a list
//! is an element holding one element per item (`<services><service>…</service></services>`). The handlers build
//! a [`Node`] once and this module writes it in the format the path asked for (`.json` or `.xml`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Map, Value};

/// The format of an answer, from the path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`
    Json,
    /// `.xml`
    Xml,
}

/// One node of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A string.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float (latitudes and longitudes).
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// No value: JSON `null`, an empty XML element.
    Null,
    /// Named fields, in order.
    Obj(Vec<(&'static str, Node)>),
    /// Items, each written as an element named by the first field in XML.
    List(&'static str, Vec<Node>),
}

impl Node {
    /// A text node.
    pub fn text(s: impl Into<String>) -> Node {
        Node::Text(s.into())
    }

    /// A text node, or null.
    pub fn opt(s: Option<impl Into<String>>) -> Node {
        s.map_or(Node::Null, |s| Node::Text(s.into()))
    }

    fn json(&self) -> Value {
        match self {
            Node::Text(s) => Value::String(s.clone()),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Bool(b) => Value::Bool(*b),
            Node::Null => Value::Null,
            Node::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), v.json()))
                    .collect::<Map<String, Value>>(),
            ),
            Node::List(_, items) => Value::Array(items.iter().map(Node::json).collect()),
        }
    }

    fn xml(&self, name: &str, out: &mut String) {
        match self {
            Node::Null => {
                out.push('<');
                out.push_str(name);
                out.push_str("/>");
            }
            Node::Obj(fields) => {
                open(name, out);
                for (k, v) in fields {
                    v.xml(k, out);
                }
                close(name, out);
            }
            Node::List(item, items) => {
                open(name, out);
                for v in items {
                    v.xml(item, out);
                }
                close(name, out);
            }
            Node::Text(s) => leaf(name, &escape(s), out),
            Node::Int(i) => leaf(name, &i.to_string(), out),
            Node::Float(f) => leaf(name, &f.to_string(), out),
            Node::Bool(b) => leaf(name, if *b { "true" } else { "false" }, out),
        }
    }
}

fn open(name: &str, out: &mut String) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(name: &str, out: &mut String) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn leaf(name: &str, text: &str, out: &mut String) {
    open(name, out);
    out.push_str(text);
    close(name, out);
}

/// XML text escaping; characters XML 1.0 cannot carry at all (control characters other than tab, newline and
/// carriage return) are dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The body of `node` in `format`, with `root` the XML document element.
pub fn body(format: Format, root: &str, node: &Node) -> (String, &'static str) {
    match format {
        Format::Json => (node.json().to_string(), "application/json; charset=utf-8"),
        Format::Xml => {
            let mut out = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
            node.xml(root, &mut out);
            (out, "text/xml; charset=utf-8")
        }
    }
}

/// An answer with `status`.
pub fn respond(status: StatusCode, format: Format, root: &str, node: &Node) -> HttpResponse {
    let (text, content_type) = body(format, root, node);
    HttpResponse::build(status)
        .content_type(content_type)
        .body(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_an_array_in_json_and_repeated_elements_in_xml() {
        let node = Node::List(
            "service",
            vec![
                Node::Obj(vec![
                    ("service_code", Node::text("a<b")),
                    ("metadata", Node::Bool(true)),
                ]),
                Node::Obj(vec![
                    ("service_code", Node::text("c")),
                    ("group", Node::Null),
                ]),
            ],
        );
        let (json, _) = body(Format::Json, "services", &node);
        assert_eq!(
            json,
            r#"[{"metadata":true,"service_code":"a<b"},{"group":null,"service_code":"c"}]"#
        );
        let (xml, _) = body(Format::Xml, "services", &node);
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="utf-8"?><services><service><service_code>a&lt;b</service_code><metadata>true</metadata></service><service><service_code>c</service_code><group/></service></services>"#
        );
    }

    #[test]
    fn xml_drops_characters_it_cannot_carry() {
        assert_eq!(escape("a\u{1}b\n&"), "ab\n&amp;");
    }
}
