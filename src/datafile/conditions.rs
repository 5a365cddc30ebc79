//! Condition trees as written in a datafile: nested lists whose first element may be an
//! operator, audience ids, and leaf condition objects. Read straight from the JSON without
//! building a generic JSON value, because a datafile holds hundreds of them.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// One node of a condition tree as written; its strings are borrowed from the document unless
/// they hold escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawCondition<'a> {
    /// A list: an operator string first, or an implicit `or`.
    List(Vec<RawCondition<'a>>),
    /// A string: an operator inside a list, or an audience id leaf.
    Str(Cow<'a, str>),
    /// A leaf condition object.
    Leaf(RawLeaf<'a>),
    /// Any other JSON value (a number, a boolean, null).
    Other(Value),
}

/// A leaf condition object: `{"name", "type", "match", "value"}`; other keys are ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RawLeaf<'a> {
    /// `name`, when a string.
    pub name: Option<Cow<'a, str>>,
    /// `type`, when a string.
    pub kind: Option<Cow<'a, str>>,
    /// `match`: absent or null is `None`; a string is `Some(Ok)`; anything else `Some(Err)`.
    pub match_type: Option<Result<Cow<'a, str>, ()>>,
    /// `value` (null when absent).
    pub value: LeafValue<'a>,
}

/// A leaf's `value`: a string (borrowed from the document unless it holds escapes), or any
/// other JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LeafValue<'a> {
    Str(Cow<'a, str>),
    Other(Value),
}

impl Default for LeafValue<'_> {
    fn default() -> Self {
        LeafValue::Other(Value::Null)
    }
}

impl<'a> From<Value> for LeafValue<'a> {
    fn from(value: Value) -> Self {
        match value {
            Value::String(s) => LeafValue::Str(Cow::Owned(s)),
            other => LeafValue::Other(other),
        }
    }
}

impl RawLeaf<'_> {
    /// The leaf with its strings owned.
    pub(crate) fn to_owned_leaf(&self) -> RawLeaf<'static> {
        let owned = |s: &Option<Cow<'_, str>>| s.as_deref().map(|s| Cow::Owned(s.to_owned()));
        RawLeaf {
            name: owned(&self.name),
            kind: owned(&self.kind),
            match_type: self.match_type.as_ref().map(|m| {
                m.as_deref()
                    .map(|s| Cow::Owned(s.to_owned()))
                    .map_err(|_| ())
            }),
            value: match &self.value {
                LeafValue::Str(s) => LeafValue::Str(Cow::Owned(s.to_string())),
                LeafValue::Other(v) => LeafValue::Other(v.clone()),
            },
        }
    }
}

impl LeafValue<'_> {
    /// The string, when the value is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            LeafValue::Str(s) => Some(s),
            LeafValue::Other(_) => None,
        }
    }

    /// The value as JSON.
    #[cfg(test)]
    pub(crate) fn to_json(&self) -> Value {
        match self {
            LeafValue::Str(s) => Value::String(s.to_string()),
            LeafValue::Other(v) => v.clone(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawCondition<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ConditionVisitor(PhantomData))
    }
}

struct ConditionVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ConditionVisitor<'a> {
    type Value = RawCondition<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a condition list, an audience id or a condition object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawCondition<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element::<RawCondition<'a>>()? {
            items.push(item);
        }
        Ok(RawCondition::List(items))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<RawCondition<'a>, E> {
        Ok(RawCondition::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCondition<'a>, E> {
        Ok(RawCondition::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawCondition<'a>, E> {
        Ok(RawCondition::Str(Cow::Owned(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCondition<'a>, A::Error> {
        let mut leaf = RawLeaf::default();
        while let Some(key) = map.next_key::<LeafKey>()? {
            match key {
                LeafKey::Name => leaf.name = map.next_value::<Scalar<'a>>()?.string(),
                LeafKey::Type => leaf.kind = map.next_value::<Scalar<'a>>()?.string(),
                LeafKey::Match => {
                    leaf.match_type = match map.next_value::<Scalar<'a>>()? {
                        Scalar::Null => None,
                        Scalar::Str(s) => Some(Ok(s)),
                        Scalar::Other => Some(Err(())),
                    }
                }
                LeafKey::Value => leaf.value = LeafValue::from(map.next_value::<Value>()?),
                LeafKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RawCondition::Leaf(leaf))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawCondition<'a>, E> {
        Ok(RawCondition::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawCondition<'a>, E> {
        Ok(RawCondition::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawCondition<'a>, E> {
        Ok(RawCondition::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawCondition<'a>, E> {
        Ok(RawCondition::Other(Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawCondition<'a>, E> {
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

/// A leaf's `name`, `type` or `match`: a string (borrowed when it can be), null, or any other
/// JSON value (read and dropped).
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Null,
    Other,
}

impl<'a> Scalar<'a> {
    fn string(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            Scalar::Null | Scalar::Other => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

struct ScalarVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// A legacy audience's `conditions`: a string holding a condition tree, or (tolerated) the tree
/// itself.
#[derive(Debug, Clone)]
pub(crate) enum LegacyConditions<'a> {
    /// A JSON-encoded tree, not yet parsed.
    Encoded(Cow<'a, str>),
    /// A JSON-encoded tree as the document writes it, between the quotes, with short escapes
    /// only (`\"`, `\n`, ...): decoded when read, since a typed audience usually replaces it.
    Escaped(&'a str),
    /// A tree given directly.
    Tree(RawCondition<'a>),
}

impl LegacyConditions<'_> {
    /// The encoded tree's text, for the string forms.
    pub(crate) fn encoded(&self) -> Option<Cow<'_, str>> {
        match self {
            LegacyConditions::Encoded(text) => Some(Cow::Borrowed(text)),
            LegacyConditions::Escaped(body) => Some(Cow::Owned(super::fast::unescape(body))),
            LegacyConditions::Tree(_) => None,
        }
    }
}

impl PartialEq for LegacyConditions<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LegacyConditions::Tree(a), LegacyConditions::Tree(b)) => a == b,
            _ => self.encoded().is_some() && self.encoded() == other.encoded(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LegacyConditions<'a> {
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
                    value: LeafValue::Other(serde_json::json!(3)),
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
