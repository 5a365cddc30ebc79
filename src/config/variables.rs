//! Flag variable values, typed once (on first read) the way the official SDKs type them at decide time.

use crate::small_list::Span;
use crate::small_str::SmallStr;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

/// The type a flag variable declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableType {
    /// `string`
    String,
    /// `integer`
    Integer,
    /// `double`
    Double,
    /// `boolean`
    Boolean,
    /// `json`, or `string` with sub-type `json`
    Json,
    /// Any other declared type; its values are kept as strings.
    Other,
}

impl VariableType {
    pub(crate) fn from_datafile(kind: &str, sub_type: Option<&str>) -> VariableType {
        match (kind, sub_type) {
            ("string", Some("json")) | ("json", _) => VariableType::Json,
            ("string", _) => VariableType::String,
            ("integer", _) => VariableType::Integer,
            ("double", _) => VariableType::Double,
            ("boolean", _) => VariableType::Boolean,
            _ => VariableType::Other,
        }
    }

    /// The name used in datafiles and the config view.
    pub fn as_str(self) -> &'static str {
        match self {
            VariableType::String | VariableType::Other => "string",
            VariableType::Integer => "integer",
            VariableType::Double => "double",
            VariableType::Boolean => "boolean",
            VariableType::Json => "json",
        }
    }
}

/// A typed variable value.
#[derive(Debug, Clone, PartialEq)]
pub enum VariableValue {
    /// A string variable.
    String(String),
    /// An integer variable.
    Integer(i64),
    /// A double variable.
    Double(f64),
    /// A boolean variable.
    Boolean(bool),
    /// A JSON variable.
    Json(serde_json::Value),
    /// A value that does not parse as its declared type (the official SDKs return null).
    Null,
}

impl VariableValue {
    /// Types `raw` as `kind`. `None` raw (a variation the config cannot resolve) gives what the
    /// official SDKs give: `false` for booleans, null otherwise.
    pub(crate) fn typed(raw: Option<&str>, kind: VariableType) -> VariableValue {
        let Some(raw) = raw else {
            return match kind {
                VariableType::Boolean => VariableValue::Boolean(false),
                _ => VariableValue::Null,
            };
        };
        match kind {
            VariableType::String | VariableType::Other => VariableValue::String(raw.to_owned()),
            VariableType::Boolean => VariableValue::Boolean(raw == "true"),
            VariableType::Integer => {
                parse_integer(raw).map_or(VariableValue::Null, VariableValue::Integer)
            }
            VariableType::Double => {
                parse_double(raw).map_or(VariableValue::Null, VariableValue::Double)
            }
            VariableType::Json => {
                serde_json::from_str(raw).map_or(VariableValue::Null, VariableValue::Json)
            }
        }
    }

    /// The value as JSON (non-finite doubles become null).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            VariableValue::String(s) => serde_json::Value::String(s.clone()),
            VariableValue::Integer(i) => serde_json::Value::from(*i),
            VariableValue::Double(d) => serde_json::Number::from_f64(*d)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            VariableValue::Boolean(b) => serde_json::Value::Bool(*b),
            VariableValue::Json(v) => v.clone(),
            VariableValue::Null => serde_json::Value::Null,
        }
    }

    /// The string, for a string variable.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            VariableValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, for an integer variable.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            VariableValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, for a double (or integer) variable.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            VariableValue::Double(d) => Some(*d),
            VariableValue::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean, for a boolean variable.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            VariableValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The JSON value, for a JSON variable.
    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            VariableValue::Json(v) => Some(v),
            _ => None,
        }
    }
}

impl Serialize for VariableValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VariableValue::String(s) => serializer.serialize_str(s),
            VariableValue::Integer(i) => serializer.serialize_i64(*i),
            VariableValue::Double(d) if d.is_finite() => serializer.serialize_f64(*d),
            VariableValue::Double(_) | VariableValue::Null => serializer.serialize_unit(),
            VariableValue::Boolean(b) => serializer.serialize_bool(*b),
            VariableValue::Json(v) => v.serialize(serializer),
        }
    }
}

/// Removes the single underscores Python allows between digits; `None` if an underscore stands
/// anywhere else.
fn without_digit_underscores(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('_') {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c == '_' {
            let before = i.checked_sub(1).and_then(|j| bytes.get(j));
            let after = bytes.get(i + 1);
            if !matches!(before, Some(b) if b.is_ascii_digit())
                || !matches!(after, Some(b) if b.is_ascii_digit())
            {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

/// Integer parsing with the leniency of Python's `int()`: surrounding white space, a sign, and
/// underscores between digits.
fn parse_integer(raw: &str) -> Option<i64> {
    let s = without_digit_underscores(raw.trim())?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(&s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Float parsing with the leniency of Python's `float()`.
fn parse_double(raw: &str) -> Option<f64> {
    let s = without_digit_underscores(raw.trim())?;
    s.parse().ok()
}

/// A flag's variables with their typed values, in the datafile's order.
///
/// A set's values are typed the first time one of them is read (then kept), so loading a
/// datafile does not parse JSON variables no decision ever returns. Every set of a config is
/// a set of one table the config shares among them.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    /// The config's table; `None` for no variables.
    table: Option<Arc<VariableTable>>,
    /// The set's index in the table.
    set: u32,
    /// How many variables the set has.
    len: u32,
}

/// Every variable set of a config, one after another, with the keys and the raw text the
/// entries point into.
#[derive(Debug, Default)]
pub(crate) struct VariableTable {
    /// The datafile's text, where most raw values are read as written.
    document: Arc<String>,
    /// The raw values that are not in the document as they are read (those a reading decoded),
    /// one after another.
    pool: String,
    /// Each flag variable's key, once.
    keys: Vec<SmallStr>,
    /// Every set's raw values, one set after another.
    entries: Vec<Entry>,
    sets: Vec<Set>,
}

/// A set of a [`VariableTable`]: its entries, and their values once typed.
#[derive(Debug)]
struct Set {
    /// The set's part of the table's entries.
    entries: Span,
    /// The typed values, in entry order: made when the first of them is read.
    typed: OnceLock<Box<[VariableValue]>>,
}

/// Where a raw value is in a table's text: its byte range in the document (or, `pooled`, in
/// the table's pool), and whether it is written there with the short JSON escapes (`\"`,
/// `\n`, ...) still in it, to be decoded when the value is typed (on first use) rather than
/// when the config is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawValue {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) escaped: bool,
    pub(crate) pooled: bool,
}

/// A variable of a set, untyped: 20 bytes, the typed values being kept by set.
#[derive(Debug)]
struct Entry {
    /// The key's index in the table's keys.
    key: u32,
    /// The raw value's place in the pool.
    raw: Option<RawValue>,
    kind: VariableType,
}

/// The variables of a decision made with `EXCLUDE_VARIABLES`, or of a decision without a flag.
pub(crate) static NO_VARIABLES: Variables = Variables {
    table: None,
    set: 0,
    len: 0,
};

impl PartialEq for Variables {
    fn eq(&self, other: &Variables) -> bool {
        self.len == other.len && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl VariableTable {
    /// A table whose raw values are ranges of `document` (or of `pool`, those marked so),
    /// with room for `keys` keys, `entries` entries and `sets` sets.
    pub(crate) fn new(
        document: Arc<String>,
        pool: String,
        keys: usize,
        entries: usize,
        sets: usize,
    ) -> VariableTable {
        VariableTable {
            document,
            pool,
            keys: Vec::with_capacity(keys),
            entries: Vec::with_capacity(entries),
            sets: Vec::with_capacity(sets),
        }
    }

    /// The text of `raw`.
    fn raw_text(&self, raw: RawValue) -> Option<&str> {
        let text = if raw.pooled {
            &self.pool
        } else {
            &self.document
        };
        text.get(raw.start as usize..raw.end as usize)
    }

    /// How many keys the table holds: the index the next key gets.
    pub(crate) fn keys_len(&self) -> u32 {
        self.keys.len() as u32
    }

    /// Adds a variable key; its index names it in [`VariableTable::push_set`].
    pub(crate) fn push_key(&mut self, key: SmallStr) -> u32 {
        self.keys.push(key);
        (self.keys.len() - 1) as u32
    }

    /// Adds a set from `(key index, raw value's range in the pool, type)`; `None` raw values
    /// type as the official SDKs type a missing value. Returns the set's index and length,
    /// for [`Variables::new`] once the table is complete.
    pub(crate) fn push_set(
        &mut self,
        entries: impl Iterator<Item = (u32, Option<RawValue>, VariableType)>,
    ) -> (u32, u32) {
        let start = self.entries.len();
        self.entries
            .extend(entries.map(|(key, raw, kind)| Entry { key, raw, kind }));
        let span = Span::since(&self.entries, start);
        self.sets.push(Set {
            entries: span,
            typed: OnceLock::new(),
        });
        (self.sets.len() as u32 - 1, span.len)
    }

    /// The value of `entry` typed as its variable's type.
    fn typed(&self, entry: &Entry) -> VariableValue {
        let raw = entry.raw.map(|raw| {
            let text = self.raw_text(raw).unwrap_or_default();
            if raw.escaped {
                Cow::Owned(crate::datafile::fast::unescape(text))
            } else {
                Cow::Borrowed(text)
            }
        });
        VariableValue::typed(raw.as_deref(), entry.kind)
    }
}

impl Variables {
    /// The set `(index, length)` (from [`VariableTable::push_set`]) of `table`.
    pub(crate) fn new(table: &Arc<VariableTable>, (set, len): (u32, u32)) -> Variables {
        Variables {
            table: Some(Arc::clone(table)),
            set,
            len,
        }
    }

    /// The set's entries, and their typed values (typed on the first call for the set).
    fn entries(&self) -> (&[Entry], &[VariableValue]) {
        let found = self.table.as_deref().and_then(|t| {
            let set = t.sets.get(self.set as usize)?;
            let entries = set.entries.of(&t.entries);
            let typed = set
                .typed
                .get_or_init(|| entries.iter().map(|e| t.typed(e)).collect());
            Some((entries, &typed[..]))
        });
        found.unwrap_or((&[], &[]))
    }

    fn key(&self, entry: &Entry) -> &str {
        self.table
            .as_deref()
            .and_then(|t| t.keys.get(entry.key as usize))
            .map_or("", SmallStr::as_str)
    }

    /// The value of the variable `key`.
    pub fn get(&self, key: &str) -> Option<&VariableValue> {
        let (entries, values) = self.entries();
        entries
            .iter()
            .zip(values)
            .find(|(e, _)| self.key(e) == key)
            .map(|(_, v)| v)
    }

    /// The variables in datafile order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &VariableValue)> {
        let (entries, values) = self.entries();
        entries.iter().zip(values).map(|(e, v)| (self.key(e), v))
    }

    /// Each variable's key and declared type, in datafile order.
    #[cfg(test)]
    pub(crate) fn kinds(&self) -> Vec<(&str, VariableType)> {
        let (entries, _) = self.entries();
        entries.iter().map(|e| (self.key(e), e.kind)).collect()
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The variables as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.iter()
                .map(|(k, v)| (k.to_owned(), v.to_json()))
                .collect(),
        )
    }
}

impl Serialize for Variables {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 20);
    }

    #[test]
    fn booleans_are_true_only_for_the_exact_string_true() {
        assert_eq!(
            VariableValue::typed(Some("true"), VariableType::Boolean),
            VariableValue::Boolean(true)
        );
        assert_eq!(
            VariableValue::typed(Some("True"), VariableType::Boolean),
            VariableValue::Boolean(false)
        );
        assert_eq!(
            VariableValue::typed(Some("{\"test\": 122}"), VariableType::Boolean),
            VariableValue::Boolean(false)
        );
    }

    #[test]
    fn integers_parse_like_python_int() {
        assert_eq!(parse_integer(" 42 "), Some(42));
        assert_eq!(parse_integer("-1_000"), Some(-1000));
        assert_eq!(parse_integer("+7"), Some(7));
        assert_eq!(parse_integer("1.5"), None);
        assert_eq!(parse_integer("1e3"), None);
        assert_eq!(parse_integer("_1"), None);
        assert_eq!(parse_integer(""), None);
    }

    #[test]
    fn doubles_parse_like_python_float() {
        assert_eq!(parse_double("2.75"), Some(2.75));
        assert_eq!(parse_double(" 1e3 "), Some(1000.0));
        assert_eq!(parse_double("5"), Some(5.0));
        assert_eq!(parse_double("1_0.5"), Some(10.5));
        assert_eq!(parse_double("abc"), None);
    }

    #[test]
    fn unparsable_values_are_null_and_missing_booleans_false() {
        assert_eq!(
            VariableValue::typed(Some("x"), VariableType::Integer),
            VariableValue::Null
        );
        assert_eq!(
            VariableValue::typed(Some("{"), VariableType::Json),
            VariableValue::Null
        );
        assert_eq!(
            VariableValue::typed(None, VariableType::Boolean),
            VariableValue::Boolean(false)
        );
        assert_eq!(
            VariableValue::typed(None, VariableType::String),
            VariableValue::Null
        );
    }

    #[test]
    fn string_with_json_sub_type_is_json() {
        assert_eq!(
            VariableType::from_datafile("string", Some("json")),
            VariableType::Json
        );
        assert_eq!(
            VariableValue::typed(Some("{\"a\": [1]}"), VariableType::Json),
            VariableValue::Json(serde_json::json!({"a": [1]}))
        );
    }
}
