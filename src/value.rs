//! User attribute values and the ordered attribute set of a user.
//!
//! Invariant: attributes keep the order in which they were first set (a later set of the same
//! key replaces the value in place), because event payloads list them in that order.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;

/// The attribute whose string value replaces the user id as the bucketing id.
pub const BUCKETING_ID_ATTRIBUTE: &str = "$opt_bucketing_id";

/// The slot every config gives [`BUCKETING_ID_ATTRIBUTE`].
pub(crate) const BUCKETING_ID_SLOT: u16 = 0;

/// Largest magnitude a number may have to take part in numeric audience conditions and events
/// (2^53, the largest integer every SDK represents exactly).
pub(crate) const MAX_SAFE_NUMBER: f64 = 9_007_199_254_740_992.0;

/// The value of one user attribute.
///
/// Integers and floats are kept apart so that integers beyond 2^53 are recognised as such;
/// audience conditions compare them as numbers either way.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// A string.
    String(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// JSON `null`: the attribute is set but has no value.
    Null,
    /// A list or an object: kept in the context, never matched by typed conditions and never
    /// sent in events.
    Json(serde_json::Value),
}

impl AttributeValue {
    /// The value as a number, when it is one (booleans are not numbers).
    #[allow(dead_code, reason = "read by the event payload's attribute filter")]
    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            AttributeValue::Int(i) => Some(*i as f64),
            AttributeValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// True for a number that is finite and at most 2^53 in magnitude.
    #[allow(dead_code, reason = "read by the event payload's attribute filter")]
    pub(crate) fn is_valid_number(&self) -> bool {
        match self {
            AttributeValue::Int(i) => i.unsigned_abs() <= 1 << 53,
            AttributeValue::Float(f) => f.is_finite() && f.abs() <= MAX_SAFE_NUMBER,
            _ => false,
        }
    }

    /// Converts a JSON value.
    pub fn from_json(value: serde_json::Value) -> AttributeValue {
        match value {
            serde_json::Value::String(s) => AttributeValue::String(s),
            serde_json::Value::Bool(b) => AttributeValue::Bool(b),
            serde_json::Value::Null => AttributeValue::Null,
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    AttributeValue::Int(i)
                } else {
                    AttributeValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            other => AttributeValue::Json(other),
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AttributeValue::String(s) => serde_json::Value::String(s.clone()),
            AttributeValue::Int(i) => serde_json::Value::from(*i),
            AttributeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            AttributeValue::Bool(b) => serde_json::Value::Bool(*b),
            AttributeValue::Null => serde_json::Value::Null,
            AttributeValue::Json(v) => v.clone(),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for AttributeValue {
            fn from(v: $t) -> Self {
                AttributeValue::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for AttributeValue {
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(i) => AttributeValue::Int(i),
            Err(_) => AttributeValue::Float(v as f64),
        }
    }
}

impl From<f64> for AttributeValue {
    fn from(v: f64) -> Self {
        AttributeValue::Float(v)
    }
}

impl From<f32> for AttributeValue {
    fn from(v: f32) -> Self {
        AttributeValue::Float(f64::from(v))
    }
}

impl From<bool> for AttributeValue {
    fn from(v: bool) -> Self {
        AttributeValue::Bool(v)
    }
}

impl From<&str> for AttributeValue {
    fn from(v: &str) -> Self {
        AttributeValue::String(v.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(v: String) -> Self {
        AttributeValue::String(v)
    }
}

impl From<serde_json::Value> for AttributeValue {
    fn from(v: serde_json::Value) -> Self {
        AttributeValue::from_json(v)
    }
}

impl<T: Into<AttributeValue>> From<Option<T>> for AttributeValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(AttributeValue::Null, Into::into)
    }
}

impl Serialize for AttributeValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AttributeValue::String(s) => serializer.serialize_str(s),
            AttributeValue::Int(i) => serializer.serialize_i64(*i),
            AttributeValue::Float(f) if f.is_finite() => serializer.serialize_f64(*f),
            AttributeValue::Float(_) | AttributeValue::Null => serializer.serialize_unit(),
            AttributeValue::Bool(b) => serializer.serialize_bool(*b),
            AttributeValue::Json(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for AttributeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(AttributeValue::from_json)
    }
}

/// A user's attributes: an insertion-ordered map from key to [`AttributeValue`].
///
/// Lookups scan the entries, which for the handful of attributes a user carries is faster than
/// hashing the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    entries: Vec<(String, AttributeValue)>,
}

impl Attributes {
    /// An empty set.
    pub fn new() -> Attributes {
        Attributes::default()
    }

    /// Sets `key` to `value`, replacing an earlier value in place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<AttributeValue>) {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&AttributeValue> {
        self.entries
            .iter()
            .find(|(k, _)| k.len() == key.len() && k == key)
            .map(|(_, v)| v)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<AttributeValue> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no attribute is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The attributes in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AttributeValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Marks a slot the user has no attribute for.
pub(crate) const NO_SLOT: u16 = u16::MAX;

impl Attributes {
    /// The value at position `index` (insertion order).
    #[inline]
    pub(crate) fn value_at(&self, index: u16) -> Option<&AttributeValue> {
        self.entries.get(usize::from(index)).map(|(_, v)| v)
    }

    /// For each slot of `slot_of` (attribute name → slot, `count` slots), the index of the
    /// user's attribute of that name.
    pub(crate) fn resolve(
        &self,
        count: usize,
        slot_of: impl Fn(&str) -> Option<u16>,
    ) -> Box<[u16]> {
        let mut slots = vec![NO_SLOT; count].into_boxed_slice();
        for (i, (key, _)) in self.entries.iter().enumerate() {
            if let (Some(slot), Ok(i)) = (slot_of(key), u16::try_from(i)) {
                if let Some(s) = slots.get_mut(usize::from(slot)) {
                    *s = i;
                }
            }
        }
        slots
    }
}

impl<K: Into<String>, V: Into<AttributeValue>> FromIterator<(K, V)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut attributes = Attributes::new();
        for (k, v) in iter {
            attributes.insert(k, v);
        }
        attributes
    }
}

impl<K: Into<String>, V: Into<AttributeValue>> Extend<(K, V)> for Attributes {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;
        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_unit<E>(self) -> Result<Attributes, E> {
                Ok(Attributes::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Attributes, A::Error> {
                let mut attributes = Attributes::new();
                while let Some((k, v)) = access.next_entry::<String, AttributeValue>()? {
                    attributes.insert(k, v);
                }
                Ok(attributes)
            }
        }
        deserializer.deserialize_any(OrderedVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_first_insertion_order_when_a_key_is_replaced() {
        let mut attributes = Attributes::new();
        attributes.insert("b", 1);
        attributes.insert("a", "x");
        attributes.insert("b", 2.5);
        let keys: Vec<&str> = attributes.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(attributes.get("b"), Some(&AttributeValue::Float(2.5)));
    }

    #[test]
    fn attributes_deserialize_in_document_order() {
        let attributes: Attributes =
            serde_json::from_str(r#"{"z": 1, "a": null, "m": [1], "big": 18446744073709551615}"#)
                .unwrap();
        let keys: Vec<&str> = attributes.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "m", "big"]);
        assert_eq!(attributes.get("a"), Some(&AttributeValue::Null));
        assert_eq!(
            attributes.get("m"),
            Some(&AttributeValue::Json(serde_json::json!([1])))
        );
        assert!(!attributes.get("big").unwrap().is_valid_number());
    }

    #[test]
    fn numbers_beyond_two_to_the_53_are_not_valid() {
        assert!(AttributeValue::Int(1 << 53).is_valid_number());
        assert!(!AttributeValue::Int((1 << 53) + 1).is_valid_number());
        assert!(AttributeValue::Int(-(1 << 53)).is_valid_number());
        assert!(!AttributeValue::Float(f64::INFINITY).is_valid_number());
        assert!(!AttributeValue::Float(f64::NAN).is_valid_number());
        assert!(!AttributeValue::Bool(true).is_valid_number());
    }
}
