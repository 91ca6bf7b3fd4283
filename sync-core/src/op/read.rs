//! Reading an op from JSON text without building a `serde_json::Value` for what this version knows.
//!
//! The top-level object is read into borrowed raw slices, one per field; known fields are then parsed from their
//! slice, and the typed body straight from its text. Only unknown fields become `Value`s.
//!
//! This is the fast path for well-formed input and nothing else: whenever it meets something unexpected, including
//! every kind of bad input, it answers `None` and `Op::from_json` takes the `Value` route instead, which names the
//! error. So it only has to be right when it answers `Some`; the differential property test in `tests/wire_fast.rs`
//! holds it to that.
//!
//! Where `Value` parsing checks what a skipped raw slice does not (nesting depth, numbers out of range, lone
//! surrogates), every slice this path accepts is either parsed in full by `serde_json` or compared byte for byte
//! with text `serde_json` wrote.

use serde::Deserialize;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

use super::canonical::Canonical;
use super::{OpBody, OpKind, Unknown, WIRE_VERSION};
use crate::hlc::Hlc;
use crate::ids::{
    AgencyId, DecisionId, EntryId, GridId, OpId, ReplicaId, RouteId, TicketId, UserId,
};
use crate::op::Op;

/// An op read on the fast path.
#[derive(Debug)]
pub(super) struct Read {
    pub(super) op: Op,
    /// The canonical text of the body when nothing in it was unknown: the body of `op.to_json()`.
    pub(super) body_text: Option<Vec<u8>>,
}

/// Reads `text` as an op, or `None` when the `Value` route must decide.
pub(super) fn read(text: &str) -> Option<Read> {
    let mut de = serde_json::Deserializer::from_str(text);
    let env = Envelope::deserialize(&mut de).ok()?;
    de.end().ok()?;
    if env.repeated {
        return None;
    }

    let version: u64 = serde_json::from_str(env.v?.get()).ok()?;
    if version == 0 || version > u64::from(WIRE_VERSION) {
        return None;
    }
    let id = OpId(uuid(env.id?)?);
    let replica = ReplicaId(uuid(env.replica?)?);
    let author = UserId(uuid(env.author?)?);
    let time = hlc(env.time?)?;
    let kind = OpKind::from_str(&string(env.kind?)?).ok()?;
    let entity = uuid(env.entity?)?;
    let raw_body = env.body?.get();
    if !raw_body.starts_with('{') {
        return None;
    }
    let body = typed_body(kind, entity, raw_body).ok()?;

    // The typed body written canonically; when that is the text received, nothing in it is unknown (and the text,
    // being what `serde_json` wrote, needs no further checks). Otherwise compare member by member, as
    // `Op::from_value` does.
    let mut canonical = Canonical::with_capacity(raw_body.len());
    let written = body.write_body(&mut canonical, &Map::new()).is_ok();
    let (unknown_body, body_text) = if written && canonical.out == raw_body.as_bytes() {
        (Map::new(), Some(canonical.out))
    } else {
        let Value::Object(raw) = nested_value(raw_body)? else {
            return None;
        };
        let Value::Object(known) = body.body_value() else {
            return None;
        };
        let unknown: Map<String, Value> = raw
            .into_iter()
            .filter(|(k, v)| known.get(k) != Some(v))
            .collect();
        let text = (written && unknown.is_empty()).then_some(canonical.out);
        (unknown, text)
    };

    let mut unknown_envelope = Map::new();
    for (key, raw) in env.unknown {
        // Of a key sent twice, the last value counts, as in a `Value` parse.
        unknown_envelope.insert(key.into_owned(), nested_value(raw.get())?);
    }
    Some(Read {
        op: Op {
            id,
            replica,
            author,
            time,
            body,
            unknown: Unknown {
                envelope: unknown_envelope,
                body: unknown_body,
            },
        },
        body_text,
    })
}

/// The top-level members of an op, each as its raw text (of a key sent twice, the last).
#[derive(Debug, Default)]
struct Envelope<'a> {
    v: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    replica: Option<&'a RawValue>,
    author: Option<&'a RawValue>,
    time: Option<&'a RawValue>,
    kind: Option<&'a RawValue>,
    entity: Option<&'a RawValue>,
    body: Option<&'a RawValue>,
    /// The others, in the order received.
    unknown: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// A known member came twice. The `Value` route keeps the last but parses (and may refuse) the first, which
    /// this reader only skipped: it must decide.
    repeated: bool,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an op object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut env = Envelope::default();
        while let Some(Key(key)) = map.next_key()? {
            let slot = match &*key {
                "v" => &mut env.v,
                "id" => &mut env.id,
                "replica" => &mut env.replica,
                "author" => &mut env.author,
                "time" => &mut env.time,
                "kind" => &mut env.kind,
                "entity" => &mut env.entity,
                "body" => &mut env.body,
                _ => {
                    env.unknown.push((key, map.next_value()?));
                    continue;
                }
            };
            env.repeated |= slot.replace(map.next_value()?).is_some();
        }
        Ok(env)
    }
}

/// A member name, borrowed from the text unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The inside of a JSON string that has no escapes, as written; `None` for anything else.
fn plain_string(raw: &RawValue) -> Option<&str> {
    raw.get()
        .strip_prefix('"')?
        .strip_suffix('"')
        .filter(|s| !s.contains('\\'))
}

fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    match plain_string(raw) {
        Some(s) => Some(Cow::Borrowed(s)),
        None => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

fn uuid(raw: &RawValue) -> Option<Uuid> {
    match plain_string(raw) {
        // What `Uuid`'s `Deserialize` does with a string.
        Some(s) => Uuid::parse_str(s).ok(),
        None => serde_json::from_str(raw.get()).ok(),
    }
}

/// The time. Reading an `Hlc` from text skips members it does not know without the checks a `Value` parse makes,
/// so only the shape `Op::to_json` writes is read directly; anything else goes through a `Value`.
fn hlc(raw: &RawValue) -> Option<Hlc> {
    let text = raw.get();
    let canonical = text
        .strip_prefix(r#"{"logical":"#)
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|rest| rest.split_once(','))
        .and_then(|(logical, rest)| {
            let wall_ms = rest.strip_prefix(r#""wall_ms":"#)?;
            Some(Hlc {
                wall_ms: json_uint(wall_ms)?,
                logical: json_uint(logical)?,
            })
        });
    match canonical {
        Some(time) => Some(time),
        None => Hlc::deserialize(nested_value(text)?).ok(),
    }
}

/// An unsigned integer written as JSON writes it (digits, no leading zero), when it fits `T`.
fn json_uint<T: FromStr>(digits: &str) -> Option<T> {
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    plain.then(|| digits.parse().ok()).flatten()
}

/// Parses a member of the top-level object as a `Value`, with the nesting limit a parse of the whole op applies
/// to it (the raw slice was read without one): hence the one enclosing array standing in for the op object.
fn nested_value(text: &str) -> Option<Value> {
    let mut wrapped = String::with_capacity(text.len() + 2);
    wrapped.push('[');
    wrapped.push_str(text);
    wrapped.push(']');
    let [value]: [Value; 1] = serde_json::from_str(&wrapped).ok()?;
    Some(value)
}

fn typed_body(kind: OpKind, entity: Uuid, body: &str) -> Result<OpBody, serde_json::Error> {
    let variant = kind
        .as_str()
        .split_once('.')
        .map_or(kind.as_str(), |(_, v)| v);
    let tagged = Tagged { variant, body };
    Ok(match kind.entity() {
        super::EntityKind::Ticket => {
            OpBody::Ticket(TicketId(entity), Deserialize::deserialize(tagged)?)
        }
        super::EntityKind::Grid => OpBody::Grid(GridId(entity), Deserialize::deserialize(tagged)?),
        super::EntityKind::Entry => {
            OpBody::Entry(EntryId(entity), Deserialize::deserialize(tagged)?)
        }
        super::EntityKind::Card => OpBody::Card(UserId(entity), Deserialize::deserialize(tagged)?),
        super::EntityKind::Agency => {
            OpBody::Agency(AgencyId(entity), Deserialize::deserialize(tagged)?)
        }
        super::EntityKind::Decision => {
            OpBody::Decision(DecisionId(entity), Deserialize::deserialize(tagged)?)
        }
        super::EntityKind::Route => {
            OpBody::Route(RouteId(entity), Deserialize::deserialize(tagged)?)
        }
    })
}

/// Presents `{"k": variant, "b": body}` to the adjacently tagged op enums (`#[serde(tag = "k", content = "b")]`)
/// without writing that text: the tag comes first, so the content is read straight from the body's text.
#[derive(Clone, Copy, Debug)]
struct Tagged<'a> {
    variant: &'static str,
    body: &'a str,
}

impl<'de> Deserializer<'de> for Tagged<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(TaggedMembers {
            tagged: self,
            next: 0,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct TaggedMembers<'a> {
    tagged: Tagged<'a>,
    /// 0: `k` next, 1: `b` next, 2: done.
    next: u8,
}

impl<'de> MapAccess<'de> for TaggedMembers<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let key = match self.next {
            0 => "k",
            1 => "b",
            _ => return Ok(None),
        };
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.next += 1;
        if self.next == 1 {
            return seed.deserialize(BorrowedStrDeserializer::new(self.tagged.variant));
        }
        let mut de = serde_json::Deserializer::from_str(self.tagged.body);
        let value = seed.deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
}
