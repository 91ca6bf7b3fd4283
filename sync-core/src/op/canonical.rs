//! Canonical JSON written straight from `Serialize`: the bytes `serde_json::to_value(x)?.to_string()` gives (object
//! members sorted by key at every level, as a `serde_json::Map` without `preserve_order` keeps them; of a key written
//! twice, the last value), without building the `Value` tree.
//!
//! Whatever this writer could not reproduce exactly is an error, never an approximation: callers then take the
//! `Value` route, so the output is either identical to it or not produced at all.

use serde::Serialize;
use serde::ser::{self, Error as _};
use serde_json::{Error, Map, Value};
use std::borrow::Cow;

/// Reusable buffers: the output, and the bookkeeping for putting object members in key order.
#[derive(Debug, Default)]
pub(super) struct Canonical {
    /// What has been written.
    pub(super) out: Vec<u8>,
    /// The members of every object still open, innermost last.
    members: Vec<Member>,
    /// A copy of an object's members while they are written back in key order.
    scratch: Vec<u8>,
}

impl Canonical {
    /// Buffers for about `bytes` of output.
    pub(super) fn with_capacity(bytes: usize) -> Canonical {
        Canonical {
            out: Vec::with_capacity(bytes),
            // Deep enough for every op body without growing.
            members: Vec::with_capacity(16),
            scratch: Vec::with_capacity(bytes),
        }
    }

    /// Writes the content (`b`) of an adjacently tagged op enum, which must be an object, with `overrides` replacing
    /// members of the same key and adding the others: `Op::to_value`'s body.
    pub(super) fn write_content<T: Serialize + ?Sized>(
        &mut self,
        tagged: &T,
        overrides: &Map<String, Value>,
    ) -> Result<(), Error> {
        tagged.serialize(Writer {
            c: self,
            mode: Mode::Tagged(overrides),
        })
    }
}

/// One member of an open object: `"key":value` is `out[start..end]`.
#[derive(Debug)]
struct Member {
    key: Cow<'static, str>,
    start: usize,
    end: usize,
}

/// What the value being written is.
#[derive(Clone, Copy, Debug)]
enum Mode<'a> {
    /// Any value.
    Value,
    /// A map key: only a string, as `to_value` takes it.
    Key,
    /// The body object, into which these members are merged.
    Root(&'a Map<String, Value>),
    /// The adjacently tagged enum whose `b` is the body.
    Tagged(&'a Map<String, Value>),
}

fn unsupported() -> Error {
    Error::custom("not written canonically")
}

/// `serde_json` marks its raw values and arbitrary-precision numbers with structs of these names; `to_value`
/// treats them specially, so this writer leaves them to it.
const SERDE_JSON_PRIVATE: &str = "$serde_json::private::";

#[derive(Debug)]
struct Writer<'a> {
    c: &'a mut Canonical,
    mode: Mode<'a>,
}

impl<'a> Writer<'a> {
    /// A scalar, array or single-member object: only where any value is allowed.
    fn plain(&mut self) -> Result<&mut Vec<u8>, Error> {
        match self.mode {
            Mode::Value => Ok(&mut self.c.out),
            Mode::Key | Mode::Root(_) | Mode::Tagged(_) => Err(unsupported()),
        }
    }

    /// A string, allowed also as a map key.
    fn string(self, v: &str) -> Result<(), Error> {
        match self.mode {
            Mode::Value | Mode::Key => serde_json::to_writer(&mut self.c.out, v),
            Mode::Root(_) | Mode::Tagged(_) => Err(unsupported()),
        }
    }

    fn scalar<T: Serialize>(mut self, v: T) -> Result<(), Error> {
        // `serde_json`'s own writer formats numbers and escapes strings exactly as `Value`'s `Display` does (both
        // write through its compact formatter); non-finite floats become `null` both ways.
        serde_json::to_writer(self.plain()?, &v)
    }

    fn object(self, frame: Frame<'a>) -> Object<'a> {
        let (c, overrides) = match self.mode {
            Mode::Value | Mode::Key => (self.c, None),
            Mode::Root(o) => (self.c, Some(o)),
            Mode::Tagged(o) => {
                let base = self.c.members.len();
                return Object {
                    c: self.c,
                    base,
                    start: 0,
                    pending: None,
                    frame: Frame::Tagged {
                        overrides: o,
                        found: false,
                    },
                };
            }
        };
        c.out.push(b'{');
        Object {
            base: c.members.len(),
            start: c.out.len(),
            c,
            pending: None,
            frame: match (frame, overrides) {
                (Frame::Plain, Some(o)) => Frame::Root(o),
                (frame, _) => frame,
            },
        }
    }

    /// `{"variant":` before a variant's content, as `to_value` writes externally tagged variants.
    fn open_variant(mut self, variant: &'static str) -> Result<Writer<'a>, Error> {
        let out = self.plain()?;
        out.push(b'{');
        serde_json::to_writer(&mut *out, variant)?;
        out.push(b':');
        Ok(Writer {
            c: self.c,
            mode: Mode::Value,
        })
    }
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        // `to_value` keeps only what fits a u64 or an i64.
        match (u64::try_from(v), i64::try_from(v)) {
            (Ok(v), _) => self.scalar(v),
            (_, Ok(v)) => self.scalar(v),
            _ => Err(unsupported()),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        match u64::try_from(v) {
            Ok(v) => self.scalar(v),
            Err(_) => Err(unsupported()),
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        // `to_value` widens an f32 to an f64 (and writes that f64's digits).
        self.scalar(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // An array of numbers, both ways.
        self.scalar(v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.scalar(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        if let Mode::Key = self.mode {
            return Err(unsupported());
        }
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.scalar(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.scalar(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.string(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let inner = self.open_variant(variant)?;
        let c = &mut *inner.c;
        value.serialize(Writer {
            c,
            mode: Mode::Value,
        })?;
        c.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(mut self, _len: Option<usize>) -> Result<Array<'a>, Error> {
        self.plain()?.push(b'[');
        Ok(Array {
            c: self.c,
            first: true,
            close_variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, Error> {
        let inner = self.open_variant(variant)?;
        inner.c.out.push(b'[');
        Ok(Array {
            c: inner.c,
            first: true,
            close_variant: true,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, Error> {
        if let Mode::Key = self.mode {
            return Err(unsupported());
        }
        Ok(self.object(Frame::Plain))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Object<'a>, Error> {
        if name.starts_with(SERDE_JSON_PRIVATE) || matches!(self.mode, Mode::Key) {
            return Err(unsupported());
        }
        Ok(self.object(Frame::Plain))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>, Error> {
        Ok(self.open_variant(variant)?.object(Frame::Variant))
    }
}

/// An array being written.
#[derive(Debug)]
struct Array<'a> {
    c: &'a mut Canonical,
    first: bool,
    /// Also close the `{"variant":` around it.
    close_variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.c.out.push(b',');
        }
        self.first = false;
        value.serialize(Writer {
            c: self.c,
            mode: Mode::Value,
        })
    }

    fn close(self) -> Result<(), Error> {
        self.c.out.push(b']');
        if self.close_variant {
            self.c.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// What kind of object is being written.
#[derive(Clone, Copy, Debug)]
enum Frame<'a> {
    /// A plain object.
    Plain,
    /// A struct variant's content: also close the `{"variant":` around it.
    Variant,
    /// The body: merge these members in.
    Root(&'a Map<String, Value>),
    /// The adjacently tagged enum: write only the content of `b` (as the body), nothing of the enum itself.
    Tagged {
        overrides: &'a Map<String, Value>,
        found: bool,
    },
}

/// An object being written: members go out in the order they come, each recorded, and are put in key order at
/// the end (most structs declare their fields unsorted).
#[derive(Debug)]
struct Object<'a> {
    c: &'a mut Canonical,
    /// This object's members are `c.members[base..]`.
    base: usize,
    /// Its members start at `c.out[start]`, just after the `{`.
    start: usize,
    /// A map key written, its value not yet.
    pending: Option<(Cow<'static, str>, usize)>,
    frame: Frame<'a>,
}

impl Object<'_> {
    /// Writes `"key":` and returns where the member starts.
    fn begin(&mut self, key: &str) -> Result<usize, Error> {
        if self.c.members.len() > self.base {
            self.c.out.push(b',');
        }
        let start = self.c.out.len();
        serde_json::to_writer(&mut self.c.out, key)?;
        self.c.out.push(b':');
        Ok(start)
    }

    fn member<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        start: usize,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(Writer {
            c: self.c,
            mode: Mode::Value,
        })?;
        let end = self.c.out.len();
        self.c.members.push(Member { key, start, end });
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        if let Frame::Tagged { overrides, found } = &mut self.frame {
            return match key {
                "k" => Ok(()),
                "b" if !*found => {
                    *found = true;
                    value.serialize(Writer {
                        c: self.c,
                        mode: Mode::Root(overrides),
                    })
                }
                _ => Err(unsupported()),
            };
        }
        let start = self.begin(key)?;
        self.member(Cow::Borrowed(key), start, value)
    }

    fn close(self) -> Result<(), Error> {
        let overrides = match self.frame {
            Frame::Tagged { found, .. } => return if found { Ok(()) } else { Err(unsupported()) },
            Frame::Root(o) if !o.is_empty() => Some(o),
            _ => None,
        };
        let Canonical {
            out,
            members,
            scratch,
        } = self.c;
        let mine = &mut members[self.base..];
        let in_order = mine.windows(2).all(|w| w[0].key < w[1].key);
        if !in_order || overrides.is_some() {
            scratch.clear();
            scratch.extend_from_slice(&out[self.start..]);
            out.truncate(self.start);
            // Stable, so of equal keys the last written stays last, and that one is kept, as `Map::insert` does.
            mine.sort_by(|a, b| a.key.cmp(&b.key));
            let mut extra = overrides.into_iter().flatten().peekable();
            let mut first = true;
            let mut comma = |out: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
            };
            for (i, m) in mine.iter().enumerate() {
                if mine.get(i + 1).is_some_and(|next| next.key == m.key) {
                    continue;
                }
                while let Some((k, v)) = extra.next_if(|(k, _)| k.as_str() < &*m.key) {
                    comma(out);
                    write_entry(out, k, v)?;
                }
                if overrides.is_some_and(|o| o.contains_key(&*m.key)) {
                    continue;
                }
                comma(out);
                out.extend_from_slice(&scratch[m.start - self.start..m.end - self.start]);
            }
            for (k, v) in extra {
                comma(out);
                write_entry(out, k, v)?;
            }
        }
        members.truncate(self.base);
        out.push(b'}');
        if let Frame::Variant = self.frame {
            out.push(b'}');
        }
        Ok(())
    }
}

fn write_entry(out: &mut Vec<u8>, key: &str, value: &Value) -> Result<(), Error> {
    serde_json::to_writer(&mut *out, key)?;
    out.push(b':');
    serde_json::to_writer(out, value)
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        if matches!(self.frame, Frame::Tagged { .. }) || self.pending.is_some() {
            return Err(unsupported());
        }
        // Only a string is taken as a key (`to_value` would also turn numbers and bools into keys: those take the
        // `Value` route).
        if self.c.members.len() > self.base {
            self.c.out.push(b',');
        }
        let start = self.c.out.len();
        key.serialize(Writer {
            c: self.c,
            mode: Mode::Key,
        })?;
        let written = &self.c.out[start..];
        let name = match written
            .strip_prefix(b"\"")
            .and_then(|w| w.strip_suffix(b"\""))
        {
            Some(inner) if !inner.contains(&b'\\') => {
                String::from_utf8(inner.to_vec()).map_err(Error::custom)?
            }
            _ => serde_json::from_slice::<String>(written)?,
        };
        self.c.out.push(b':');
        self.pending = Some((Cow::Owned(name), start));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let (key, start) = self.pending.take().ok_or_else(unsupported)?;
        self.member(key, start, value)
    }
    fn end(self) -> Result<(), Error> {
        if self.pending.is_some() {
            return Err(unsupported());
        }
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// Writes any value (the crate itself only writes op bodies).
    fn write<T: Serialize>(value: &T) -> Result<String, Error> {
        let mut c = Canonical::with_capacity(64);
        value.serialize(Writer {
            c: &mut c,
            mode: Mode::Value,
        })?;
        assert!(c.members.is_empty(), "every object closed");
        Ok(String::from_utf8(c.out).expect("UTF-8"))
    }

    fn same_as_to_value<T: Serialize>(value: &T) {
        let want = serde_json::to_value(value).expect("to_value").to_string();
        assert_eq!(write(value).expect("written"), want);
    }

    #[derive(Serialize)]
    enum External {
        Unit,
        New(u8),
        Tuple(u8, String),
        Struct { z: u8, a: String },
    }

    #[derive(Serialize)]
    struct Unsorted {
        zeta: Option<f32>,
        alpha: Vec<External>,
        mid: (i128, char, ()),
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        nested: Inner,
    }

    #[derive(Serialize)]
    struct Inner {
        y: f64,
        x: f64,
        unit: Unit,
        newtype: Newtype,
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Newtype(BTreeMap<char, u8>);

    #[derive(Serialize)]
    struct Flattened {
        x: u8,
        #[serde(flatten)]
        more: BTreeMap<String, u8>,
    }

    /// The shapes today's op bodies do not use, pinned so that a body that starts using one writes the same bytes.
    #[test]
    fn every_serde_shape_writes_as_to_value_writes_it() {
        same_as_to_value(&Unsorted {
            zeta: Some(0.1),
            alpha: vec![
                External::Unit,
                External::New(7),
                External::Tuple(1, "t".into()),
                External::Struct {
                    z: 1,
                    a: "\"quoted\"\n".into(),
                },
            ],
            mid: (-5, '"', ()),
            skipped: None,
            nested: Inner {
                y: f64::NAN,
                x: -0.0,
                unit: Unit,
                newtype: Newtype(BTreeMap::from([('é', 1), ('\u{1}', 2), ('a', 3)])),
            },
        });
        // Keys are ordered as strings (not as their escaped text), and of a key written twice the last wins.
        same_as_to_value(&BTreeMap::from([
            ("é".to_owned(), 1),
            ("\"".to_owned(), 2),
            ("\u{0}".to_owned(), 3),
            ("Z".to_owned(), 4),
        ]));
        same_as_to_value(&Flattened {
            x: 1,
            more: BTreeMap::from([("x".to_owned(), 2), ("a".to_owned(), 3)]),
        });
        same_as_to_value(&[1.5f64, 1e300, f64::INFINITY, 1.0]);
    }

    /// What this writer does not reproduce is refused, for the caller to take the `Value` route.
    #[test]
    fn what_is_not_written_exactly_is_refused() {
        assert!(
            write(&BTreeMap::from([(1u8, 1u8)])).is_err(),
            "integer keys"
        );
        assert!(
            write(&BTreeMap::from([(Some("k"), 1u8)])).is_err(),
            "optional keys"
        );
        assert!(write(&u128::MAX).is_err(), "beyond u64");
        let raw = serde_json::value::RawValue::from_string("[1, 2]".into()).expect("raw");
        assert!(write(&raw).is_err(), "serde_json's raw values");
    }
}
