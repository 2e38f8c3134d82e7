//! A YAML node read as the JSON kubectl would send, keeping the lines of `rules` entries and of
//! `List` items, in the same single parse (so SARIF can point at the rule a finding is about).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// The lines of a document's `rules` entries and of a List's items (with each item's rule lines).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Lines {
    pub(crate) rules: Vec<u64>,
    pub(crate) items: Vec<(u64, Vec<u64>)>,
}

/// A YAML node read as JSON (what kubectl sends) plus, for mappings, the [`Lines`] of their `rules`
/// and `items`. Every other shape is read as it is; whether it is valid is judged from the value.
#[derive(Debug, PartialEq)]
pub(crate) struct Doc {
    pub(crate) value: Value,
    pub(crate) lines: Lines,
}

impl Doc {
    fn plain(value: Value) -> Self {
        Self {
            value,
            lines: Lines::default(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

/// A sequence whose elements' lines are kept; any other shape is kept as its value.
struct Seq {
    value: Value,
    lines: Vec<(u64, Vec<u64>)>,
}

impl Seq {
    fn plain(doc: Doc) -> Self {
        Self {
            value: doc.value,
            lines: Vec::new(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Seq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SeqVisitor)
    }
}

struct SeqVisitor;

impl<'de> Visitor<'de> for SeqVisitor {
    type Value = Seq;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seq, A::Error> {
        let (mut values, mut lines) = (Vec::new(), Vec::new());
        while let Some(item) = seq.next_element::<Spanned<Doc>>()? {
            lines.push((item.referenced.line(), item.value.lines.rules));
            values.push(item.value.value);
        }
        Ok(Seq {
            value: Value::Array(values),
            lines,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Seq, A::Error> {
        DocVisitor.visit_map(map).map(Seq::plain)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Seq, E> {
        DocVisitor.visit_str(v).map(Seq::plain)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Seq, E> {
        DocVisitor.visit_string(v).map(Seq::plain)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Seq, E> {
        DocVisitor.visit_bool(v).map(Seq::plain)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seq, E> {
        DocVisitor.visit_i64(v).map(Seq::plain)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seq, E> {
        DocVisitor.visit_u64(v).map(Seq::plain)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seq, E> {
        DocVisitor.visit_f64(v).map(Seq::plain)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Seq, E> {
        DocVisitor.visit_unit().map(Seq::plain)
    }
    fn visit_none<E: de::Error>(self) -> Result<Seq, E> {
        DocVisitor.visit_none().map(Seq::plain)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Seq, D::Error> {
        <Seq as serde::Deserialize>::deserialize(d)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let mut object = serde_json::Map::new();
        let mut lines = Lines::default();
        while let Some(key) = map.next_key::<String>()? {
            let value = match key.as_str() {
                "rules" => {
                    let seq = map.next_value::<Seq>()?;
                    lines.rules = seq.lines.into_iter().map(|(line, _)| line).collect();
                    seq.value
                }
                "items" => {
                    let seq = map.next_value::<Seq>()?;
                    lines.items = seq.lines;
                    seq.value
                }
                _ => map.next_value::<Value>()?,
            };
            object.insert(key, value);
        }
        Ok(Doc {
            value: Value::Object(object),
            lines,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
        let mut values = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            values.push(v);
        }
        Ok(Doc::plain(Value::Array(values)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Doc, E> {
        Ok(Doc::plain(Value::String(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Doc, E> {
        Ok(Doc::plain(Value::String(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Doc, E> {
        Ok(Doc::plain(Value::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Doc, E> {
        Ok(Doc::plain(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Doc, E> {
        Ok(Doc::plain(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Doc, E> {
        Ok(Doc::plain(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Doc, E> {
        Ok(Doc::plain(Value::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Doc, E> {
        Ok(Doc::plain(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
        <Doc as serde::Deserialize>::deserialize(d)
    }
}
