//! Decoding JSON that never fails on a shape: a value of the wrong type marks the whole object unfit
//! instead of failing the decode (which, inside a list, would fail the whole list and stall the watch).
//!
//! Each piece is a [`Shape`] driven through [`Lenient`], a `DeserializeSeed` that accepts any JSON
//! value: null is "absent", the expected kind is decoded, anything else is skipped (never allocated)
//! and recorded in [`Fit`]. Only a syntax error, which no apiserver writes and which would break the
//! stream whatever the type, still fails.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The first shape problem found in an object, if any.
#[derive(Debug, Default)]
pub(crate) struct Fit(pub Option<&'static str>);

impl Fit {
    pub(crate) fn wrong(&mut self, what: &'static str) {
        self.0.get_or_insert(what);
    }

    fn check<T>(&mut self, what: &'static str, out: Option<T>) -> Option<T> {
        if out.is_none() {
            self.wrong(what);
        }
        out
    }
}

/// What one JSON value is expected to be. Each method returns `None` when the value is of another
/// kind; the defaults say every kind is wrong (and skip a map or list unread).
pub(crate) trait Shape: Sized {
    type Out;
    /// Names the value in the unfit reason: `"an annotation value"`.
    const WHAT: &'static str;

    fn str(self, _v: &str) -> Option<Self::Out> {
        None
    }

    fn bool(self, _v: bool) -> Option<Self::Out> {
        None
    }

    fn map<'de, A: MapAccess<'de>>(
        self,
        mut map: A,
        _fit: &mut Fit,
    ) -> Result<Option<Self::Out>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn seq<'de, A: SeqAccess<'de>>(
        self,
        mut seq: A,
        _fit: &mut Fit,
    ) -> Result<Option<Self::Out>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Decodes any JSON value as `S`: `None` for null and for a value of the wrong kind (recorded in `fit`).
pub(crate) struct Lenient<'f, S> {
    pub shape: S,
    pub fit: &'f mut Fit,
}

impl<'de, S: Shape> DeserializeSeed<'de> for Lenient<'_, S> {
    type Value = Option<S::Out>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: Shape> Visitor<'de> for Lenient<'_, S> {
    type Value = Option<S::Out>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.fit.check(S::WHAT, self.shape.bool(v)))
    }

    fn visit_i64<E: Error>(self, _v: i64) -> Result<Self::Value, E> {
        Ok(self.fit.check(S::WHAT, None))
    }

    fn visit_u64<E: Error>(self, _v: u64) -> Result<Self::Value, E> {
        Ok(self.fit.check(S::WHAT, None))
    }

    fn visit_f64<E: Error>(self, _v: f64) -> Result<Self::Value, E> {
        Ok(self.fit.check(S::WHAT, None))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.fit.check(S::WHAT, self.shape.str(v)))
    }

    fn visit_bytes<E: Error>(self, _v: &[u8]) -> Result<Self::Value, E> {
        Ok(self.fit.check(S::WHAT, None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let out = self.shape.seq(seq, &mut *self.fit)?;
        Ok(self.fit.check(S::WHAT, out))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let out = self.shape.map(map, &mut *self.fit)?;
        Ok(self.fit.check(S::WHAT, out))
    }
}

/// A string.
pub(crate) struct Text;

impl Shape for Text {
    type Out = String;
    const WHAT: &'static str = "a field that should be a string is not";

    fn str(self, v: &str) -> Option<String> {
        Some(v.to_owned())
    }
}

/// A boolean.
pub(crate) struct Flag;

impl Shape for Flag {
    type Out = bool;
    const WHAT: &'static str = "a field that should be a boolean is not";

    fn bool(self, v: bool) -> Option<bool> {
        Some(v)
    }
}

/// A JSON object decoded field by field into `Self`: fields it does not keep are skipped unread.
pub(crate) trait Object: Default {
    const WHAT: &'static str;

    /// Decodes the value of `key` (with `map.next_value_seed`) or skips it (`IgnoredAny`).
    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        fit: &mut Fit,
    ) -> Result<(), A::Error>;
}

/// An [`Object`] of type `T`.
pub(crate) struct Obj<T>(PhantomData<T>);

impl<T> Obj<T> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: Object> Shape for Obj<T> {
    type Out = T;
    const WHAT: &'static str = T::WHAT;

    fn map<'de, A: MapAccess<'de>>(self, mut map: A, fit: &mut Fit) -> Result<Option<T>, A::Error> {
        let mut out = T::default();
        while let Some(key) = map.next_key_seed(Key)? {
            out.field(&key, &mut map, fit)?;
        }
        Ok(Some(out))
    }
}

/// A list of objects; a null element is a wrong shape too.
pub(crate) struct List<T>(PhantomData<T>);

impl<T> List<T> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: Object> Shape for List<T> {
    type Out = Vec<T>;
    const WHAT: &'static str = T::WHAT;

    fn seq<'de, A: SeqAccess<'de>>(
        self,
        mut seq: A,
        fit: &mut Fit,
    ) -> Result<Option<Vec<T>>, A::Error> {
        let mut out = Vec::new();
        loop {
            let seed = Lenient {
                shape: Obj::<T>::new(),
                fit: &mut *fit,
            };
            match seq.next_element_seed(seed)? {
                Some(Some(item)) => out.push(item),
                Some(None) => fit.wrong(T::WHAT),
                None => return Ok(Some(out)),
            }
        }
    }
}

/// A value decoded with `shape`, `None` when null or of the wrong kind.
pub(crate) fn value<'de, A: MapAccess<'de>, S: Shape>(
    map: &mut A,
    shape: S,
    fit: &mut Fit,
) -> Result<Option<S::Out>, A::Error> {
    map.next_value_seed(Lenient { shape, fit })
}

/// Skips a value unread.
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// An object key, borrowed from the input when it has no escapes (most keys).
pub(crate) struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}
