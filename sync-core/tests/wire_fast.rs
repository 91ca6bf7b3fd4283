//! The text route of the wire (`Op::from_json`, `Op::from_json_canonical`, `Op::to_json`) against the `Value` route
//! that defines it (`Op::from_value` of the parsed text, `Op::to_value`): on generated ops, and on their text
//! mutated in the ways a newer, older or broken client could send it. For every input: the same op or the same
//! error, and byte-identical canonical text.

use linli_sync_core::prelude::*;
use linli_sync_core::test_support::{History, history, wire_examples};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// The old `Op::from_json`, kept here as the reference: parse to a `Value`, then `Op::from_value`.
fn reference(text: &str) -> Result<Op, WireError> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Op::from_value(value),
        Err(e) => Err(WireError::Json(linli_sync_core::redact::serde_error(&e))),
    }
}

/// Checks the text routes on `text` against the reference; returns the op when it parses.
fn check(text: &str) -> Result<Option<Op>, TestCaseError> {
    let want = reference(text);
    let got = Op::from_json(text);
    prop_assert_eq!(&got, &want, "from_json of {}", text);
    let canonical = Op::from_json_canonical(text);
    match want {
        Ok(op) => {
            let json = op.to_value().to_string();
            prop_assert_eq!(op.to_json(), json.clone(), "to_json of {}", text);
            prop_assert_eq!(
                canonical,
                Ok((op.clone(), json)),
                "from_json_canonical of {}",
                text
            );
            Ok(Some(op))
        }
        Err(e) => {
            prop_assert_eq!(canonical, Err(e));
            Ok(None)
        }
    }
}

/// The top-level members this version knows.
const KNOWN: [&str; 8] = [
    "v", "id", "replica", "author", "time", "kind", "entity", "body",
];

/// Any JSON value, with the odd keys and numbers a newer writer might send.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (0u32..100).prop_map(|n| json!(f64::from(n))),
        ".{0,6}".prop_map(Value::from),
        any::<u128>().prop_map(|n| Value::from(uuid::Uuid::from_u128(n).to_string())),
        prop::sample::select(&["small", "complex", "visit", "ticket.take", "{}"][..])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_]{1,8}",
        1 => ".{0,4}",
        1 => prop::sample::select(&KNOWN[..]).prop_map(str::to_owned),
    ]
}

/// Raw member values that a `Value` parse refuses or reads specially, and that a skipping reader might not.
const ODD_RAW: &[&str] = &[
    "1e400",
    "-1e400",
    r#""\ud800""#,
    r#""\udc00x""#,
    r#""\u0000""#,
    r#""\u00e9\n""#,
    "-0",
    "1.0",
    "18446744073709551616",
    "-9223372036854775809",
    "[[[{}]]]",
    "01",
    "1.",
    "nul",
    "\"\t\"",
];

/// Where a textual mutation goes.
#[derive(Clone, Copy, Debug)]
enum Place {
    Top,
    Body,
    Time,
}

#[derive(Clone, Debug)]
enum Mutation {
    None,
    UnknownTop(String, Value),
    UnknownBody(String, Value),
    /// An object inside the body (a `location`, a `purpose`, …) gains a member.
    NestedGains(Index, String, Value),
    /// A member of an object inside the body gets another value.
    NestedReplace(Index, Index, Value),
    Replace(Index, Value),
    ReplaceBody(Index, Value),
    Remove(Index),
    RemoveBody(Index),
    Kind(String),
    Version(Value),
    NotAnObject(Value),
    /// The time gains a member, or is written member by member in another order.
    TimeExtra(String, Value),
    /// A member sent twice: `"key":value` inserted before the real one (which wins) or after it.
    Duplicate(Place, Index, Value, bool),
    /// A known member's name written with an escape.
    EscapedKey(Index),
    /// An unknown member nested `n` deep, around `serde_json`'s limit of 128.
    Deep(Place, usize),
    Raw(Place, String, &'static str),
    Truncate(Index),
    Trailing(&'static str),
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Canonical,
    Pretty,
    /// Every object's members in reverse key order.
    Reversed,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        2 => (key(), json_value()).prop_map(|(k, v)| Mutation::UnknownTop(k, v)),
        2 => (key(), json_value()).prop_map(|(k, v)| Mutation::UnknownBody(k, v)),
        2 => (any::<Index>(), key(), json_value()).prop_map(|(i, k, v)| Mutation::NestedGains(i, k, v)),
        2 => (any::<Index>(), any::<Index>(), json_value())
            .prop_map(|(i, j, v)| Mutation::NestedReplace(i, j, v)),
        2 => (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::ReplaceBody(i, v)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::RemoveBody),
        1 => prop_oneof![
            prop::sample::select(OpKind::ALL).prop_map(|k| k.as_str().to_owned()),
            "[a-z._]{0,14}",
        ]
        .prop_map(Mutation::Kind),
        1 => prop_oneof![json_value(), (0u64..4).prop_map(Value::from), Just(json!(1.0))]
            .prop_map(Mutation::Version),
        1 => json_value().prop_map(Mutation::NotAnObject),
        1 => (key(), json_value()).prop_map(|(k, v)| Mutation::TimeExtra(k, v)),
        2 => (place(), any::<Index>(), json_value(), any::<bool>())
            .prop_map(|(p, i, v, before)| Mutation::Duplicate(p, i, v, before)),
        1 => any::<Index>().prop_map(Mutation::EscapedKey),
        1 => (place(), 124usize..=130).prop_map(|(p, n)| Mutation::Deep(p, n)),
        2 => (place(), key(), prop::sample::select(ODD_RAW)).prop_map(|(p, k, r)| Mutation::Raw(p, k, r)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => prop::sample::select(&[" ", "\n\t", "x", "{}", ","][..]).prop_map(Mutation::Trailing),
    ]
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![Just(Place::Top), Just(Place::Body), Just(Place::Time)]
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![
        3 => Just(Format::Canonical),
        1 => Just(Format::Pretty),
        1 => Just(Format::Reversed),
    ]
}

fn write(value: &Value, format: Format) -> String {
    match format {
        Format::Canonical => value.to_string(),
        Format::Pretty => serde_json::to_string_pretty(value).expect("serialises"),
        Format::Reversed => reversed(value),
    }
}

fn reversed(value: &Value) -> String {
    match value {
        Value::Object(m) => {
            let members: Vec<String> = m
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), reversed(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(reversed).collect();
            format!("[{}]", items.join(","))
        }
        v => v.to_string(),
    }
}

fn body(v: &mut Value) -> &mut Map<String, Value> {
    v["body"].as_object_mut().expect("the body is an object")
}

/// Inserts `"key":raw` as the first member of the object of `place`.
fn insert_member(text: &mut String, place: Place, key: &str, raw: &str) {
    let open = opening(text, place);
    let empty = text[open + 1..].starts_with('}');
    let member = format!("{}:{raw}{}", Value::from(key), if empty { "" } else { "," });
    text.insert_str(open + 1, &member);
}

/// Where the object of `place` opens in canonical text.
fn opening(text: &str, place: Place) -> usize {
    match place {
        Place::Top => 0,
        Place::Body => text.find(r#""body":{"#).expect("a body") + 7,
        Place::Time => text.find(r#""time":{"#).expect("a time") + 7,
    }
}

fn mutate(op: &Op, mutation: &Mutation, format: Format) -> String {
    let mut v = op.to_value();
    let pick = |i: &Index, keys: &[&str]| keys[i.index(keys.len())].to_owned();
    match mutation {
        Mutation::None => {}
        Mutation::UnknownTop(k, x) => {
            v[k.as_str()] = x.clone();
        }
        Mutation::UnknownBody(k, x) => {
            body(&mut v).insert(k.clone(), x.clone());
        }
        Mutation::NestedGains(i, k, x) => {
            let b = body(&mut v);
            let objects: Vec<String> = b
                .iter()
                .filter(|(_, m)| m.is_object())
                .map(|(k, _)| k.clone())
                .collect();
            match objects.is_empty() {
                true => b.insert(k.clone(), x.clone()),
                false => b[&objects[i.index(objects.len())]]
                    .as_object_mut()
                    .expect("an object")
                    .insert(k.clone(), x.clone()),
            };
        }
        Mutation::NestedReplace(i, j, x) => {
            let b = body(&mut v);
            let objects: Vec<String> = b
                .iter()
                .filter(|(_, m)| m.as_object().is_some_and(|o| !o.is_empty()))
                .map(|(k, _)| k.clone())
                .collect();
            if !objects.is_empty() {
                let o = b[&objects[i.index(objects.len())]]
                    .as_object_mut()
                    .expect("an object");
                let keys: Vec<String> = o.keys().cloned().collect();
                o[&keys[j.index(keys.len())]] = x.clone();
            }
        }
        Mutation::Replace(i, x) => {
            v[pick(i, &KNOWN)] = x.clone();
        }
        Mutation::ReplaceBody(i, x) => {
            let b = body(&mut v);
            let keys: Vec<String> = b.keys().cloned().collect();
            if !keys.is_empty() {
                b[&keys[i.index(keys.len())]] = x.clone();
            }
        }
        Mutation::Remove(i) => {
            v.as_object_mut()
                .expect("an object")
                .remove(&pick(i, &KNOWN));
        }
        Mutation::RemoveBody(i) => {
            let b = body(&mut v);
            let keys: Vec<String> = b.keys().cloned().collect();
            if !keys.is_empty() {
                b.remove(&keys[i.index(keys.len())]);
            }
        }
        Mutation::Kind(k) => v["kind"] = Value::from(k.as_str()),
        Mutation::Version(x) => v["v"] = x.clone(),
        Mutation::NotAnObject(x) => {
            if !x.is_object() {
                v = x.clone();
            }
        }
        Mutation::TimeExtra(k, x) => {
            v["time"][k.as_str()] = x.clone();
        }
        Mutation::Duplicate(place, i, x, before) => {
            let key = match place {
                Place::Top => pick(i, &KNOWN),
                Place::Body => {
                    let keys: Vec<String> = body(&mut v).keys().cloned().collect();
                    match keys.is_empty() {
                        true => "note".to_owned(),
                        false => keys[i.index(keys.len())].clone(),
                    }
                }
                Place::Time => pick(i, &["logical", "wall_ms"]),
            };
            let mut text = v.to_string();
            if *before {
                insert_member(&mut text, *place, &key, &x.to_string());
            } else {
                // After the real member: at the end of the object, which for the top level is the end.
                let close = match place {
                    Place::Top => text.len() - 1,
                    Place::Body | Place::Time => {
                        let open = opening(&text, *place);
                        open + matching_close(&text[open..])
                    }
                };
                text.insert_str(close, &format!(",{}:{x}", Value::from(key)));
            }
            return text;
        }
        Mutation::EscapedKey(i) => {
            let key = pick(i, &KNOWN);
            let text = v.to_string();
            let escaped = format!("\"\\u{:04x}{}\":", u32::from(key.as_bytes()[0]), &key[1..]);
            return text.replacen(&format!("\"{key}\":"), &escaped, 1);
        }
        Mutation::Deep(place, n) => {
            let mut text = v.to_string();
            let raw = format!("{}{}", "[".repeat(*n), "]".repeat(*n));
            insert_member(&mut text, *place, "deep", &raw);
            return text;
        }
        Mutation::Raw(place, k, raw) => {
            let mut text = v.to_string();
            insert_member(&mut text, *place, k, raw);
            return text;
        }
        Mutation::Truncate(i) => {
            let text = v.to_string();
            let mut at = i.index(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            return text[..at].to_owned();
        }
        Mutation::Trailing(t) => return format!("{}{t}", write(&v, format)),
    }
    write(&v, format)
}

/// The length up to and including the `}` closing the object `text` starts with (strings hold no unescaped
/// quotes, so counting braces outside strings suffices).
fn matching_close(text: &str) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices() {
        match (c, in_string) {
            (_, true) if escaped => escaped = false,
            ('\\', true) => escaped = true,
            ('"', _) => in_string = !in_string,
            ('{' | '[', false) => depth += 1,
            ('}' | ']', false) => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    text.len()
}

fn op_and_history() -> impl Strategy<Value = (History, Index)> {
    (
        (2usize..=5).prop_flat_map(|n| history(n, 30)),
        any::<Index>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Generated ops, mutated: the text route reads the same op or refuses with the same error, and writes the
    /// same bytes.
    #[test]
    fn text_route_equals_value_route(
        (h, which) in op_and_history(),
        use_example in prop::bool::weighted(0.3),
        mutation in mutation(),
        format in format(),
    ) {
        let examples = wire_examples();
        let op = if use_example || h.ops.is_empty() {
            which.get(&examples)
        } else {
            which.get(&h.ops)
        };
        let text = mutate(op, &mutation, format);
        if let Some(back) = check(&text)? {
            // And what it writes back reads the same both ways. (Not necessarily to the same op: without
            // `serde_json`'s `float_roundtrip`, a float in an unknown member may come back one ulp off, on
            // either route.)
            check(&back.to_json())?;
        }
    }

    /// Ops built in code, with unknown members that collide with known ones: `to_json` still equals `to_value`'s
    /// text (a known envelope member wins, an unknown body member wins).
    #[test]
    fn to_json_equals_to_value_text(
        which in any::<Index>(),
        envelope in prop::collection::btree_map(key(), json_value(), 0..4),
        body in prop::collection::btree_map(key(), json_value(), 0..4),
    ) {
        let examples = wire_examples();
        let mut op = which.get(&examples).clone();
        op.unknown.envelope = envelope.into_iter().collect();
        op.unknown.body = body.into_iter().collect();
        prop_assert_eq!(op.to_json(), op.to_value().to_string());
    }
}

#[test]
fn non_finite_coordinates_write_as_null_both_ways() {
    let mut op = wire_examples()[0].clone();
    let OpBody::Ticket(_, TicketOp::Create(create)) = &mut op.body else {
        panic!("the first example creates a ticket");
    };
    create.location.lat = Some(f64::NAN);
    create.location.lon = Some(f64::INFINITY);
    assert_eq!(op.to_json(), op.to_value().to_string());
}

#[test]
fn an_integer_coordinate_keeps_its_location_verbatim() {
    // A writer that sends `"lat":40` where this version writes `40.0`: the two routes agree that the location
    // differs from its typed form and keep it whole, so the op writes back byte for byte.
    let mut v = wire_examples()[0].to_value();
    v["body"]["location"]["lat"] = json!(40);
    let text = v.to_string();
    let op = check(&text).expect("checks").expect("parses");
    assert!(op.unknown.body.contains_key("location"));
    assert_eq!(op.to_json(), text);
}

/// Found by `text_route_equals_value_route`: a known member sent twice, the first with a value a `Value` parse
/// refuses. The fast reader had only skipped the first, so it read an op where the `Value` route refuses the text.
#[test]
fn a_shadowed_known_member_is_still_checked() {
    let text = wire_examples()[22].to_json();
    for (first, refused) in [
        ("1e400", true),
        (r#""\ud800""#, true),
        ("2", false),
        ("[[[1]]]", false),
    ] {
        let doubled = format!(r#"{{"v":{first},{}"#, &text[1..]);
        let read = check(&doubled).expect("both routes agree");
        assert_eq!(read.is_none(), refused, "{doubled}");
    }
}

/// Members the fast reader skips rather than parses: each must still meet every check a `Value` parse makes.
#[test]
fn skipped_text_is_checked_as_a_value_parse_checks_it() {
    let text = wire_examples()[22].to_json();
    let mut cases = Vec::new();
    for (place, open) in [
        ("top", 0),
        ("body", text.find(r#""body":{"#).expect("body") + 7),
    ] {
        for raw in ODD_RAW {
            cases.push((
                place,
                format!("{}\"x\":{raw},{}", &text[..=open], &text[open + 1..]),
            ));
        }
        // serde_json refuses nesting deeper than 127 inside the op object; the raw reader has no such limit.
        for n in 124..=129 {
            let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
            cases.push((
                place,
                format!("{}\"x\":{deep},{}", &text[..=open], &text[open + 1..]),
            ));
        }
    }
    let time = text.find(r#""time":{"#).expect("time") + 7;
    for raw in ODD_RAW {
        cases.push((
            "time",
            format!("{}\"x\":{raw},{}", &text[..=time], &text[time + 1..]),
        ));
    }
    for (place, case) in cases {
        check(&case).unwrap_or_else(|e| panic!("{place}: {e}"));
    }
}
