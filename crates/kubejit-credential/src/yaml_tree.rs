//! An order-preserving YAML tree, so that editing a kubeconfig keeps its key order and every field we
//! do not touch.
//!
//! client-go reads a kubeconfig by converting YAML to JSON, so the tree holds exactly JSON's values:
//! string keys, and null, bool, number, string, sequence or mapping. A duplicate key is an error (the
//! YAML parser's default), never a silent choice of one of the two.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// One YAML node; mappings keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Yaml {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Sequence(Vec<Yaml>),
    Mapping(Vec<(String, Yaml)>),
}

impl Yaml {
    /// The value of `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Mapping(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_sequence(&self) -> Option<&Vec<Yaml>> {
        match self {
            Yaml::Sequence(items) => Some(items),
            _ => None,
        }
    }

    /// The value of `key` in a mapping, inserted (at the end) from `default` when absent; `None` when
    /// `self` is not a mapping.
    pub(crate) fn entry_or_insert(
        &mut self,
        key: &str,
        default: impl FnOnce() -> Yaml,
    ) -> Option<&mut Yaml> {
        let Yaml::Mapping(entries) = self else {
            return None;
        };
        let index = match entries.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                entries.push((key.to_owned(), default()));
                entries.len() - 1
            }
        };
        entries.get_mut(index).map(|(_, v)| v)
    }
}

impl From<&str> for Yaml {
    fn from(s: &str) -> Self {
        Yaml::String(s.to_owned())
    }
}

impl From<String> for Yaml {
    fn from(s: String) -> Self {
        Yaml::String(s)
    }
}

/// JSON objects become mappings in the JSON value's key order.
impl From<serde_json::Value> for Yaml {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Yaml::Null,
            serde_json::Value::Bool(b) => Yaml::Bool(b),
            serde_json::Value::Number(n) => Yaml::Number(n),
            serde_json::Value::String(s) => Yaml::String(s),
            serde_json::Value::Array(items) => {
                Yaml::Sequence(items.into_iter().map(Yaml::from).collect())
            }
            serde_json::Value::Object(map) => {
                Yaml::Mapping(map.into_iter().map(|(k, v)| (k, Yaml::from(v))).collect())
            }
        }
    }
}

impl Serialize for Yaml {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Yaml::Null => serializer.serialize_unit(),
            Yaml::Bool(b) => serializer.serialize_bool(*b),
            Yaml::Number(n) => n.serialize(serializer),
            Yaml::String(s) => serializer.serialize_str(s),
            Yaml::Sequence(items) => serializer.collect_seq(items),
            Yaml::Mapping(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value with string keys")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
        Yaml::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Yaml, E> {
        Ok(Yaml::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Yaml, E> {
        Ok(Yaml::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Yaml, E> {
        Ok(Yaml::Number(n.into()))
    }

    /// JSON has no NaN or infinity, so neither does a kubeconfig.
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Yaml, E> {
        serde_json::Number::from_f64(n)
            .map(Yaml::Number)
            .ok_or_else(|| E::custom("a kubeconfig number must be finite"))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Yaml, E> {
        Ok(Yaml::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Yaml, E> {
        Ok(Yaml::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Yaml::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Yaml>()? {
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            entries.push((key, value));
        }
        Ok(Yaml::Mapping(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key order, nesting and scalar kinds survive a read and a write unchanged.
    #[test]
    fn round_trips_in_file_order() {
        let text = "zeta: 1\nalpha:\n  b: true\n  a: null\nlist:\n- x\n- '007'\n- 1.5\n";
        let tree: Yaml = serde_saphyr::from_str(text).unwrap();
        let keys: Vec<&str> = match &tree {
            Yaml::Mapping(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(keys, ["zeta", "alpha", "list"]);
        let again: Yaml = serde_saphyr::from_str(&serde_saphyr::to_string(&tree).unwrap()).unwrap();
        assert_eq!(again, tree);
        let list = tree.get("list").and_then(Yaml::as_sequence).unwrap();
        assert_eq!(
            list[1].as_str(),
            Some("007"),
            "a quoted number stays a string"
        );
    }

    #[test]
    fn rejects_duplicate_keys() {
        assert!(serde_saphyr::from_str::<Yaml>("a: 1\na: 2\n").is_err());
        assert!(serde_saphyr::from_str::<Yaml>("m:\n  a: 1\n  a: 2\n").is_err());
    }

    /// Strings that would read back as another type unless quoted stay strings through a write and a
    /// read: an edit must never turn a user's `"true"` token or `"0x1F"` path into a bool or a number.
    #[test]
    fn strings_that_look_like_other_types_stay_strings() {
        let tricky = [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "true",
            "False",
            "null",
            "~",
            "",
            "123",
            "017",
            "0x1F",
            "0o17",
            "1e3",
            "1_000",
            ".inf",
            "-.nan",
            "2026-11-30",
            "=",
            "<<",
            "a: b",
            "- x",
            "#c",
            "line\nbreak",
            " padded ",
            "'q'",
            "\"dq\"",
        ];
        let tree = Yaml::Sequence(tricky.iter().map(|s| Yaml::from(*s)).collect());
        let text = serde_saphyr::to_string(&tree).unwrap();
        let again: Yaml = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(again, tree, "{text}");
        // kubectl's parser follows YAML 1.1, where these are booleans: they must be written quoted.
        for word in ["yes", "no", "on", "off", "y", "n"] {
            assert!(
                text.contains(&format!("- \"{word}\"\n")),
                "{word} unquoted in {text}"
            );
        }
    }
}
