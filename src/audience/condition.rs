//! One leaf condition of an audience (`{"name", "type", "match", "value"}`), compiled once at
//! load and evaluated with three-valued logic: `Some(true)`, `Some(false)` or `None` (unknown).

use super::semver::Version;
use super::view::Value as UserValue;
use super::AttributeView;
use super::Slots;
use super::NO_STRING;
use crate::datafile::conditions::{LeafNode, LeafValue, RawLeaf};
#[cfg(test)]
use crate::datafile::conditions::{RawCondition, Shape};
#[cfg(test)]
use crate::value::Attributes;
use crate::value::{MAX_SAFE_NUMBER, NO_SLOT};
use serde_json::Value;
use std::cmp::Ordering;
use std::sync::Arc;

/// A compiled leaf condition. Cloning it (as every rule that names its audience does) shares
/// the compiled test.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    /// The config's slot for the attribute (`NO_SLOT` without a name).
    slot: u16,
    /// The condition's index in the config's table of leaves whose outcome a resolved user
    /// carries ([`NO_LEAF`] for one that is evaluated at decide time).
    leaf: u32,
    data: Arc<Data>,
}

/// The leaf index of a condition whose outcome is not resolved in advance.
pub(crate) const NO_LEAF: u32 = u32::MAX;

/// What makes two conditions the same test of the same attribute, for the conditions whose
/// outcome depends on the user's attributes alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum LeafKey {
    Exists(u16),
    ExactString(u16, u32),
    ExactBool(u16, bool),
    /// A numeric test against the bits of its number.
    Number(u16, NumTest, u64),
    /// A version test against the target as written.
    Semver(u16, SemverOp, Box<str>),
}

#[derive(Debug)]
struct Data {
    /// The attribute the condition reads; `None` when the datafile gave no string name.
    name: Option<Arc<str>>,
    test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumOp {
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum SemverOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl SemverOp {
    /// Whether a user version that compares `ordering` to the target passes.
    #[inline]
    pub(super) fn holds(self, ordering: Ordering) -> bool {
        match self {
            SemverOp::Eq => ordering == Ordering::Equal,
            SemverOp::Gt => ordering == Ordering::Greater,
            SemverOp::Ge => ordering != Ordering::Less,
            SemverOp::Lt => ordering == Ordering::Less,
            SemverOp::Le => ordering != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone)]
enum Exact {
    /// The string (shared with the config's table of them) and its id there.
    String(Arc<str>, u32),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Clone)]
enum Test {
    /// Unknown condition type or match type, or a condition value of the wrong kind: always
    /// unknown once the attribute checks pass.
    Unknown,
    Exact(Exact),
    Exists,
    Number(NumOp, f64),
    Substring(Box<str>),
    Semver(SemverOp, Version),
    Qualified(Box<str>),
}

/// A leaf condition as the flat program evaluates it in place (see
/// [`Condition::specialised`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Leaf {
    /// Always unknown.
    Unknown,
    /// The attribute is set and not null.
    Exists,
    /// The attribute is the string with this id.
    ExactString(u32),
    /// The attribute is this boolean.
    ExactBool(bool),
    /// The attribute is a valid number that compares so with this one.
    Number(NumTest, f64),
    /// The attribute is a version that compares so with the condition's.
    Semver(SemverOp),
}

/// A numeric comparison of the user's value with the condition's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum NumTest {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A condition number must be finite and at most 2^53 in magnitude; booleans are not numbers.
fn condition_number(value: &Value) -> Option<f64> {
    let n = value.as_number()?;
    if let Some(i) = n.as_i64() {
        return (i.unsigned_abs() <= 1 << 53).then_some(i as f64);
    }
    if let Some(u) = n.as_u64() {
        return (u <= 1 << 53).then_some(u as f64);
    }
    let f = n.as_f64()?;
    (f.is_finite() && f.abs() <= MAX_SAFE_NUMBER).then_some(f)
}

/// The key under which a condition's outcome is resolved for each user: for the conditions
/// that read one attribute and nothing else (`semver_target`: the target version as written).
fn leaf_key(slot: u16, test: &Test, semver_target: Option<&str>) -> Option<LeafKey> {
    Some(match specialised(test)? {
        Leaf::Unknown => return None,
        Leaf::Exists => LeafKey::Exists(slot),
        Leaf::ExactString(id) => LeafKey::ExactString(slot, id),
        Leaf::ExactBool(b) => LeafKey::ExactBool(slot, b),
        Leaf::Number(test, n) => LeafKey::Number(slot, test, n.to_bits()),
        Leaf::Semver(op) => LeafKey::Semver(slot, op, semver_target?.into()),
    })
}

/// A test in the form the flat program evaluates in place, when it has one.
fn specialised(test: &Test) -> Option<Leaf> {
    Some(match test {
        Test::Unknown => Leaf::Unknown,
        Test::Exists => Leaf::Exists,
        Test::Exact(Exact::String(_, id)) if *id != NO_STRING => Leaf::ExactString(*id),
        Test::Exact(Exact::String(..)) => return None,
        Test::Exact(Exact::Bool(b)) => Leaf::ExactBool(*b),
        Test::Exact(Exact::Number(n)) => Leaf::Number(NumTest::Eq, *n),
        Test::Number(op, n) => Leaf::Number(
            match op {
                NumOp::Gt => NumTest::Gt,
                NumOp::Ge => NumTest::Ge,
                NumOp::Lt => NumTest::Lt,
                NumOp::Le => NumTest::Le,
            },
            *n,
        ),
        Test::Semver(op, _) => Leaf::Semver(*op),
        Test::Substring(_) | Test::Qualified(_) => return None,
    })
}

impl Condition {
    /// Compiles a leaf object. Never fails: what the SDKs evaluate as unknown compiles to a
    /// condition that is always unknown.
    #[cfg(test)]
    pub(crate) fn compile(object: &serde_json::Map<String, Value>) -> Condition {
        let value = Value::Object(object.clone());
        let raw = <RawCondition as serde::Deserialize>::deserialize(&value);
        match raw.as_ref().map(|raw| raw.root().shape()) {
            Ok(Shape::Leaf(leaf)) => Condition::compile_with(leaf, &mut Slots::default()),
            _ => Condition::compile_fresh(&RawLeaf::default(), &mut Slots::default()),
        }
    }

    /// Compiles a leaf object, giving its attribute name a slot in `slots`. A leaf written
    /// exactly as one compiled before (a datafile repeats a few conditions across many
    /// audiences) is that condition again, shared.
    pub(crate) fn compile_with(leaf: LeafNode, slots: &mut Slots) -> Condition {
        let Some(identity) = leaf.identity() else {
            return Condition::compile_fresh(leaf.read(), slots);
        };
        if let Some(same) = slots.compiled(identity) {
            return same;
        }
        let condition = Condition::compile_fresh(leaf.read(), slots);
        slots.remember(identity, &condition);
        condition
    }

    /// [`Condition::compile_with`] without looking for the same leaf compiled before.
    fn compile_fresh(leaf: &RawLeaf, slots: &mut Slots) -> Condition {
        let (slot, name) = match leaf.name.as_deref().map(|n| slots.slot_and_name(n)) {
            Some((slot, name)) => (slot, Some(name)),
            None => (NO_SLOT, None),
        };
        let kind_ok = matches!(
            leaf.kind.as_deref(),
            Some("custom_attribute") | Some("third_party_dimension")
        );
        let value = &leaf.value;
        let number = || match value {
            LeafValue::Other(number) => condition_number(number),
            LeafValue::Str(_) => None,
        };
        let test = if !kind_ok {
            Test::Unknown
        } else {
            let match_type = match &leaf.match_type {
                None => Some("exact"),
                Some(Ok(s)) => Some(s.as_ref()),
                Some(Err(())) => None,
            };
            match match_type {
                Some("exact") => match value {
                    LeafValue::Str(s) => {
                        let (id, s) = slots.intern(s);
                        Test::Exact(Exact::String(s, id))
                    }
                    LeafValue::Other(Value::Bool(b)) => Test::Exact(Exact::Bool(*b)),
                    LeafValue::Other(Value::Number(_)) => match number() {
                        Some(n) => Test::Exact(Exact::Number(n)),
                        None => Test::Unknown,
                    },
                    _ => Test::Unknown,
                },
                Some("exists") => Test::Exists,
                Some(op @ ("gt" | "ge" | "lt" | "le")) => match number() {
                    Some(n) => Test::Number(
                        match op {
                            "gt" => NumOp::Gt,
                            "ge" => NumOp::Ge,
                            "lt" => NumOp::Lt,
                            _ => NumOp::Le,
                        },
                        n,
                    ),
                    None => Test::Unknown,
                },
                Some("substring") => match value {
                    LeafValue::Str(s) => Test::Substring(s.as_ref().into()),
                    LeafValue::Other(_) => Test::Unknown,
                },
                Some(
                    op @ ("semver_eq" | "semver_gt" | "semver_ge" | "semver_lt" | "semver_le"),
                ) => {
                    let op = match op {
                        "semver_eq" => SemverOp::Eq,
                        "semver_gt" => SemverOp::Gt,
                        "semver_ge" => SemverOp::Ge,
                        "semver_lt" => SemverOp::Lt,
                        _ => SemverOp::Le,
                    };
                    match value.as_str().and_then(Version::parse) {
                        Some(v) => {
                            slots.mark_semver(slot);
                            Test::Semver(op, v)
                        }
                        None => Test::Unknown,
                    }
                }
                Some("qualified") => match value {
                    LeafValue::Str(s) => {
                        slots.mark_segments();
                        Test::Qualified(s.as_ref().into())
                    }
                    LeafValue::Other(_) => Test::Unknown,
                },
                _ => Test::Unknown,
            }
        };
        let key = leaf_key(slot, &test, value.as_str());
        // The same test of the same attribute, already in the table of resolved leaves: that
        // condition, shared (an attribute without a slot of its own is told apart by name).
        if slot != NO_SLOT {
            if let Some((at, mut same)) = key.as_ref().and_then(|key| slots.resolved_leaf(key)) {
                same.leaf = at;
                return same;
            }
        }
        let mut condition = Condition {
            slot,
            leaf: NO_LEAF,
            data: Arc::new(Data { name, test }),
        };
        if let Some(key) = key {
            condition.leaf = slots.leaf(key, &condition);
        }
        condition
    }

    /// Whether `other` is this condition's compiled test, shared.
    #[cfg(test)]
    pub(crate) fn shares_test_with(&self, other: &Condition) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    /// The condition's index in the config's table of resolved leaves, or [`NO_LEAF`].
    #[inline]
    pub(super) fn leaf(&self) -> u32 {
        self.leaf
    }

    /// The condition in the form the flat program evaluates in place, when it has one.
    pub(super) fn specialised(&self) -> Option<Leaf> {
        specialised(&self.data.test)
    }

    /// The target version of a semver condition.
    #[inline]
    pub(super) fn version(&self) -> Option<&Version> {
        match &self.data.test {
            Test::Semver(_, v) => Some(v),
            _ => None,
        }
    }

    /// The config's slot of the attribute the condition reads.
    pub(super) fn slot(&self) -> u16 {
        self.slot
    }

    /// The segment a `qualified` condition asks for.
    pub(crate) fn segment(&self) -> Option<&str> {
        match &self.data.test {
            Test::Qualified(s) => Some(s),
            _ => None,
        }
    }

    /// Evaluates the condition for a user, looking attributes up by name.
    #[cfg(test)]
    pub(crate) fn evaluate(&self, attributes: &Attributes, segments: &[String]) -> Option<bool> {
        self.evaluate_view(&AttributeView::by_name(attributes), segments)
    }

    /// Evaluates the condition for a user.
    #[inline]
    pub(crate) fn evaluate_view(
        &self,
        attributes: &AttributeView<'_>,
        segments: &[String],
    ) -> Option<bool> {
        let user_value = match &self.data.name {
            Some(name) => attributes.get(self.slot, name),
            None => None,
        };
        match &self.data.test {
            Test::Exists => return Some(!matches!(user_value, None | Some(UserValue::Null))),
            Test::Qualified(segment) => {
                return Some(segments.iter().any(|s| s.as_str() == segment.as_ref()))
            }
            _ => {}
        }
        let user_value = match user_value {
            None | Some(UserValue::Null) => return None,
            Some(v) => v,
        };
        match &self.data.test {
            Test::Unknown | Test::Exists | Test::Qualified(_) => None,
            Test::Exact(Exact::String(s, _)) => match user_value {
                UserValue::Str(u) => Some(u == s.as_ref()),
                _ => None,
            },
            Test::Exact(Exact::Bool(b)) => match user_value {
                UserValue::Bool(u) => Some(u == *b),
                _ => None,
            },
            Test::Exact(Exact::Number(n)) => {
                if !user_value.is_valid_number() {
                    return None;
                }
                user_value.as_number().map(|u| u == *n)
            }
            Test::Number(op, n) => {
                if !user_value.is_valid_number() {
                    return None;
                }
                let u = user_value.as_number()?;
                Some(match op {
                    NumOp::Gt => u > *n,
                    NumOp::Ge => u >= *n,
                    NumOp::Lt => u < *n,
                    NumOp::Le => u <= *n,
                })
            }
            Test::Substring(s) => match user_value {
                UserValue::Str(u) => Some(u.contains(s.as_ref())),
                _ => None,
            },
            Test::Semver(op, target) => {
                let UserValue::Str(u) = user_value else {
                    return None;
                };
                let ordering = attributes.compare_version(self.slot, u, target)?;
                Some(op.holds(ordering))
            }
        }
    }
}
