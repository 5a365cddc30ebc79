//! A user's attributes as conditions read them.
//!
//! When a user context is created, its attributes are resolved against the config's condition
//! slots into one compact table (numbers and booleans inline, strings copied into one buffer,
//! semantic versions parsed once), so that a decision reads a user's values from two small
//! allocations instead of chasing each attribute's own. The outcome of every distinct
//! condition that reads one attribute and nothing else is computed then too and kept as two
//! bits (known, true), so that most audiences are decided with a few mask tests.

use super::program::{leaf_outcome, Node};
use super::semver::{Version, VersionRef, VersionSpans};
use super::{Condition, Slots};
use crate::value::{AttributeValue, Attributes, MAX_SAFE_NUMBER, NO_SLOT};

/// An attribute value as conditions see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// A list or an object.
    Other,
}

impl Value<'_> {
    /// The value as a number, when it is one (booleans are not numbers).
    #[inline]
    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// True for a number that is finite and at most 2^53 in magnitude.
    #[inline]
    pub(crate) fn is_valid_number(&self) -> bool {
        match self {
            Value::Int(i) => i.unsigned_abs() <= 1 << 53,
            Value::Float(f) => f.is_finite() && f.abs() <= MAX_SAFE_NUMBER,
            _ => false,
        }
    }
}

impl<'a> From<&'a AttributeValue> for Value<'a> {
    fn from(v: &'a AttributeValue) -> Value<'a> {
        match v {
            AttributeValue::String(s) => Value::Str(s),
            AttributeValue::Int(i) => Value::Int(*i),
            AttributeValue::Float(f) => Value::Float(*f),
            AttributeValue::Bool(b) => Value::Bool(*b),
            AttributeValue::Null => Value::Null,
            AttributeValue::Json(_) => Value::Other,
        }
    }
}

/// One slot of a resolved user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Slot {
    Missing,
    /// A string at `start..start + len` of the resolution's text, and its id among the
    /// config's exact-condition strings ([`super::NO_STRING`] when no condition compares
    /// against it).
    Str {
        id: u32,
        start: u32,
        len: u32,
    },
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Other,
}

/// What is known of the version in a slot.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CachedVersion {
    /// The string is not a valid version.
    Invalid,
    /// The string parses to these parts.
    Valid(VersionSpans),
}

/// A user's attributes resolved against one config's slots.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolution {
    slots: Box<[Slot]>,
    /// The string values of the resolved slots, one after another.
    text: Box<str>,
    /// The parsed version of each slot a semver condition reads and the user gave a string
    /// (usually none or one, so a user's resolution stays small).
    versions: Box<[(u16, CachedVersion)]>,
    /// The outcome of the config's first 64 resolved leaves (see [`Slots::leaves`]): bit `i`
    /// of `known` is set when leaf `i` is true or false, and bit `i` of `truth` when it is
    /// true.
    known: u64,
    truth: u64,
    /// The same for the leaves past the first 64, 64 to a pair of words.
    more: Box<[(u64, u64)]>,
}

impl Resolution {
    /// Resolves `attributes` against `slots`.
    pub(crate) fn new(attributes: &Attributes, slots: &Slots) -> Resolution {
        let index = attributes.resolve(slots.len(), |name| slots.get(name));
        let mut text = String::new();
        let table: Box<[Slot]> = index
            .iter()
            .map(|&at| {
                if at == NO_SLOT {
                    return Slot::Missing;
                }
                match attributes.value_at(at) {
                    None => Slot::Missing,
                    Some(AttributeValue::String(s)) => {
                        match (u32::try_from(text.len()), u32::try_from(s.len())) {
                            (Ok(start), Ok(len)) => {
                                text.push_str(s);
                                Slot::Str {
                                    id: slots.string_id(s),
                                    start,
                                    len,
                                }
                            }
                            // Beyond 4 GiB of text: the attribute reads as absent.
                            _ => Slot::Missing,
                        }
                    }
                    Some(AttributeValue::Int(i)) => Slot::Int(*i),
                    Some(AttributeValue::Float(f)) => Slot::Float(*f),
                    Some(AttributeValue::Bool(b)) => Slot::Bool(*b),
                    Some(AttributeValue::Null) => Slot::Null,
                    Some(AttributeValue::Json(_)) => Slot::Other,
                }
            })
            .collect();
        let text: Box<str> = text.into();
        let versions: Box<[(u16, CachedVersion)]> = if slots.has_semver() {
            table
                .iter()
                .enumerate()
                .filter_map(|(slot, value)| match value {
                    Slot::Str { start, len, .. } if slots.is_semver(slot) => {
                        let s = text
                            .get(*start as usize..(*start as usize + *len as usize))
                            .unwrap_or("");
                        let version = VersionSpans::of(s)
                            .map_or(CachedVersion::Invalid, CachedVersion::Valid);
                        Some((u16::try_from(slot).ok()?, version))
                    }
                    _ => None,
                })
                .collect()
        } else {
            Box::default()
        };
        let mut resolution = Resolution {
            slots: table,
            text,
            versions,
            known: 0,
            truth: 0,
            more: Box::default(),
        };
        let leaves = slots.leaves();
        if !leaves.is_empty() {
            // These conditions read one attribute and no segment.
            let outcomes = |chunk: &[(Node, Condition)], resolution: &Resolution| {
                let view = AttributeView::resolved(attributes, resolution);
                let (mut known, mut truth) = (0u64, 0u64);
                for (bit, (node, condition)) in chunk.iter().enumerate() {
                    if let Some(outcome) = leaf_outcome(node, condition, resolution, &view, &[]) {
                        known |= 1 << bit;
                        truth |= u64::from(outcome) << bit;
                    }
                }
                (known, truth)
            };
            let mut chunks = leaves.chunks(64);
            if let Some(first) = chunks.next() {
                (resolution.known, resolution.truth) = outcomes(first, &resolution);
            }
            if chunks.len() > 0 {
                resolution.more = chunks.map(|c| outcomes(c, &resolution)).collect();
            }
        }
        resolution
    }

    /// The outcome words (`known`, `truth`) of the resolved leaves `64 * word..64 * word + 64`.
    #[inline(always)]
    pub(super) fn leaf_word(&self, word: u16) -> Option<(u64, u64)> {
        if word == 0 {
            Some((self.known, self.truth))
        } else {
            self.more.get(usize::from(word) - 1).copied()
        }
    }

    /// The outcome of resolved leaf `leaf`.
    #[inline(always)]
    pub(super) fn leaf(&self, leaf: u32) -> Option<bool> {
        let (known, truth) = self.leaf_word(u16::try_from(leaf / 64).ok()?)?;
        let bit = leaf % 64;
        if (known >> bit) & 1 == 0 {
            None
        } else {
            Some((truth >> bit) & 1 != 0)
        }
    }

    /// What the user has in `slot` (`None` past the table: no such slot).
    #[inline(always)]
    pub(super) fn slot(&self, slot: u16) -> Option<Slot> {
        self.slots.get(usize::from(slot)).copied()
    }

    /// The version parsed from the string in `slot`, when it was parsed and is valid.
    #[inline(always)]
    pub(super) fn version(&self, slot: u16) -> Option<&VersionSpans> {
        match self.cached_version(slot)? {
            CachedVersion::Valid(spans) => Some(spans),
            CachedVersion::Invalid => None,
        }
    }

    /// What is known of the version in `slot`: `None` when it was not parsed.
    #[inline(always)]
    fn cached_version(&self, slot: u16) -> Option<&CachedVersion> {
        self.versions
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, version)| version)
    }

    #[inline]
    fn value(&self, slot: u16) -> Option<Value<'_>> {
        Some(match *self.slots.get(usize::from(slot))? {
            Slot::Missing => return None,
            Slot::Str { start, len, .. } => Value::Str(
                self.text
                    .get(start as usize..start as usize + len as usize)
                    .unwrap_or(""),
            ),
            Slot::Int(i) => Value::Int(i),
            Slot::Float(f) => Value::Float(f),
            Slot::Bool(b) => Value::Bool(b),
            Slot::Null => Value::Null,
            Slot::Other => Value::Other,
        })
    }
}

/// A user's attributes as conditions read them.
#[derive(Clone, Copy)]
pub(crate) struct AttributeView<'a> {
    attributes: &'a Attributes,
    resolution: Option<&'a Resolution>,
}

impl<'a> AttributeView<'a> {
    /// A view that looks attributes up by name.
    pub(crate) fn by_name(attributes: &'a Attributes) -> AttributeView<'a> {
        AttributeView {
            attributes,
            resolution: None,
        }
    }

    /// A view through a resolution made for the config in use.
    pub(crate) fn resolved(
        attributes: &'a Attributes,
        resolution: &'a Resolution,
    ) -> AttributeView<'a> {
        AttributeView {
            attributes,
            resolution: Some(resolution),
        }
    }

    /// The resolution the view reads through, if any.
    #[inline]
    pub(super) fn resolution(&self) -> Option<&'a Resolution> {
        self.resolution
    }

    /// The value of the attribute in `slot`, named `name`.
    #[inline]
    pub(crate) fn get(&self, slot: u16, name: &str) -> Option<Value<'a>> {
        match self.resolution {
            Some(r) => r.value(slot),
            None => self.attributes.get(name).map(Value::from),
        }
    }

    /// Compares the version in `slot`, whose value is `text`, against `target`: with the
    /// version the resolution parsed when it did, else parsed now. `None` for an invalid
    /// version.
    #[inline]
    pub(crate) fn compare_version(
        &self,
        slot: u16,
        text: &'a str,
        target: &Version,
    ) -> Option<std::cmp::Ordering> {
        match self.resolution.and_then(|r| r.cached_version(slot)) {
            Some(CachedVersion::Valid(spans)) => target.compare_cached(&spans.view(text)),
            Some(CachedVersion::Invalid) => None,
            None => target.compare_user(&VersionRef::parse(text)?),
        }
    }
}
