//! Condition trees as written in a datafile: nested lists whose first element may be an
//! operator, audience ids, and leaf condition objects. Read straight from the JSON without
//! building a generic JSON value, because a datafile holds hundreds of them.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// One node of a condition tree as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawCondition {
    /// A list: an operator string first, or an implicit `or`.
    List(Vec<RawCondition>),
    /// A string: an operator inside a list, or an audience id leaf.
    Str(String),
    /// A leaf condition object.
    Leaf(RawLeaf),
    /// Any other JSON value (a number, a boolean, null).
    Other(Value),
}

/// A leaf condition object: `{"name", "type", "match", "value"}`; other keys are ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RawLeaf {
    /// `name`, when a string.
    pub name: Option<String>,
    /// `type`, when a string.
    pub kind: Option<String>,
    /// `match`: absent or null is `None`; a string is `Some(Ok)`; anything else `Some(Err)`.
    pub match_type: Option<Result<String, ()>>,
    /// `value` (null when absent).
    pub value: Value,
}

impl<'de> Deserialize<'de> for RawCondition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ConditionVisitor)
    }
}

struct ConditionVisitor;

impl<'de> Visitor<'de> for ConditionVisitor {
    type Value = RawCondition;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a condition list, an audience id or a condition object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawCondition, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element::<RawCondition>()? {
            items.push(item);
        }
        Ok(RawCondition::List(items))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCondition, E> {
        Ok(RawCondition::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawCondition, E> {
        Ok(RawCondition::Str(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCondition, A::Error> {
        let mut leaf = RawLeaf::default();
        while let Some(key) = map.next_key::<LeafKey>()? {
            let value: Value = map.next_value()?;
            match key {
                LeafKey::Name => leaf.name = string(value),
                LeafKey::Type => leaf.kind = string(value),
                LeafKey::Match => {
                    leaf.match_type = match value {
                        Value::Null => None,
                        Value::String(s) => Some(Ok(s)),
                        _ => Some(Err(())),
                    }
                }
                LeafKey::Value => leaf.value = value,
                LeafKey::Other => {}
            }
        }
        Ok(RawCondition::Leaf(leaf))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawCondition, E> {
        Ok(RawCondition::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawCondition, E> {
        Ok(RawCondition::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawCondition, E> {
        Ok(RawCondition::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawCondition, E> {
        Ok(RawCondition::Other(Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawCondition, E> {
        Ok(RawCondition::Other(Value::Null))
    }
}

/// A key of a leaf condition object, read without copying it.
enum LeafKey {
    Name,
    Type,
    Match,
    Value,
    Other,
}

impl<'de> Deserialize<'de> for LeafKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(LeafKeyVisitor)
    }
}

struct LeafKeyVisitor;

impl Visitor<'_> for LeafKeyVisitor {
    type Value = LeafKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a condition key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LeafKey, E> {
        Ok(match v {
            "name" => LeafKey::Name,
            "type" => LeafKey::Type,
            "match" => LeafKey::Match,
            "value" => LeafKey::Value,
            _ => LeafKey::Other,
        })
    }
}

fn string(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A legacy audience's `conditions`: a string holding a condition tree, or (tolerated) the tree
/// itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LegacyConditions {
    /// A JSON-encoded tree, not yet parsed.
    Encoded(String),
    /// A tree given directly.
    Tree(RawCondition),
}

impl<'de> Deserialize<'de> for LegacyConditions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match RawCondition::deserialize(deserializer)? {
            RawCondition::Str(s) => Ok(LegacyConditions::Encoded(s)),
            other => Ok(LegacyConditions::Tree(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_lists_and_ids_are_read_without_generic_values() {
        let raw: RawCondition = serde_json::from_str(
            r#"["and", "12", {"name": "age", "type": "custom_attribute", "match": "gt", "value": 3, "extra": [1]}]"#,
        )
        .unwrap();
        assert_eq!(
            raw,
            RawCondition::List(vec![
                RawCondition::Str("and".into()),
                RawCondition::Str("12".into()),
                RawCondition::Leaf(RawLeaf {
                    name: Some("age".into()),
                    kind: Some("custom_attribute".into()),
                    match_type: Some(Ok("gt".into())),
                    value: serde_json::json!(3),
                }),
            ])
        );
    }

    #[test]
    fn a_match_that_is_not_a_string_is_kept_as_invalid() {
        let raw: RawCondition = serde_json::from_str(r#"{"name": "a", "match": 5}"#).unwrap();
        let RawCondition::Leaf(leaf) = raw else {
            panic!("expected a leaf")
        };
        assert_eq!(leaf.match_type, Some(Err(())));
        assert_eq!(leaf.kind, None);
    }
}
