//! Serde shapes of the datafile JSON.
//!
//! These types mirror the document as written: they hold strings and lists exactly as the
//! datafile gives them and are only read while a [`crate::ProjectConfig`] is built. Fields the
//! JSON schema of the official SDKs requires have no default; everything else defaults to
//! empty or false, and unknown fields are ignored.

use super::conditions::{ConditionArena, LegacyConditions, RawCondition};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

pub(crate) use crate::small_list::{List, Span};

/// A string of the datafile, borrowed from the document unless it holds escapes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl<'a> Text<'a> {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

/// A string value the build copies as it is (a variable's value): kept as written when its
/// only escapes are the short ones (`\n`, `\"`, ...), so that the build copies it as written
/// and it is decoded only when the value is typed, on first use.
#[derive(Debug, Clone)]
pub(crate) enum RawText<'a> {
    /// The string itself.
    Text(Text<'a>),
    /// The text between the quotes, holding short escapes only (checked by the reader).
    Escaped(&'a str),
}

impl RawText<'_> {
    /// The string as the document writes it between its quotes, and whether that holds
    /// escapes (the short ones only) still to be decoded.
    pub(crate) fn as_written(&self) -> (&str, bool) {
        match self {
            RawText::Text(text) => (text.as_str(), false),
            RawText::Escaped(body) => (body, true),
        }
    }

    /// The string, decoded.
    pub(crate) fn decoded(&self) -> Cow<'_, str> {
        match self {
            RawText::Text(text) => Cow::Borrowed(text.as_str()),
            RawText::Escaped(body) => Cow::Owned(super::fast::unescape(body)),
        }
    }
}

impl Default for RawText<'_> {
    fn default() -> Self {
        RawText::Text(Text::default())
    }
}

impl PartialEq for RawText<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.decoded() == other.decoded()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Text::deserialize(deserializer).map(RawText::Text)
    }
}

/// A list of the model that the one-pass reader keeps in a list of the whole document (its
/// variations, their variable values): one allocation for all of them, not one each. A
/// model serde reads keeps its own.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Run<T> {
    /// The items, kept by the list.
    Own(Vec<T>),
    /// A part of the document's list.
    InArena(Span),
}

impl<T> Run<T> {
    /// The run of `len` items of a document's list from `start`; `None` when a place does not
    /// fit in 32 bits.
    pub(crate) fn in_arena(start: usize, len: usize) -> Option<Run<T>> {
        Span::new(start, len).map(Run::InArena)
    }

    /// How many items the list has.
    pub(crate) fn len(&self) -> usize {
        match self {
            Run::Own(items) => items.len(),
            Run::InArena(span) => span.len as usize,
        }
    }

    /// Whether the list has no items.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items, read from `arena` (the document's list) when they are kept there.
    pub(crate) fn of<'s>(&'s self, arena: &'s [T]) -> &'s [T] {
        match self {
            Run::Own(items) => items,
            Run::InArena(span) => span.of(arena),
        }
    }

    /// The items of a list that keeps them (none for a run of a document's list).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn own_mut(&mut self) -> &mut [T] {
        match self {
            Run::Own(items) => items,
            Run::InArena(_) => &mut [],
        }
    }

    /// The list keeping its items, copied out of `arena`.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn detached(&self, arena: &[T]) -> Run<T>
    where
        T: Clone,
    {
        Run::Own(self.of(arena).to_vec())
    }
}

impl<T> Default for Run<T> {
    fn default() -> Self {
        Run::Own(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Run<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(Run::Own)
    }
}

/// The whole datafile.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Datafile<'a> {
    #[serde(borrow)]
    pub version: Text<'a>,
    #[serde(borrow)]
    pub revision: Text<'a>,
    #[serde(borrow)]
    pub account_id: Text<'a>,
    #[serde(borrow)]
    pub project_id: Text<'a>,
    #[serde(default, rename = "anonymizeIP")]
    pub anonymize_ip: bool,
    #[serde(default)]
    pub bot_filtering: Option<bool>,
    #[serde(default)]
    pub send_flag_decisions: bool,
    #[serde(default)]
    #[serde(borrow)]
    pub sdk_key: Option<Text<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub environment_key: Option<Text<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub region: Option<Text<'a>>,
    #[serde(borrow)]
    pub attributes: Vec<Attribute<'a>>,
    #[serde(borrow)]
    pub audiences: Vec<Audience<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub typed_audiences: Vec<TypedAudience<'a>>,
    #[serde(borrow)]
    pub experiments: Vec<Experiment<'a>>,
    #[serde(borrow)]
    pub groups: Vec<Group<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub feature_flags: Vec<FeatureFlag<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub rollouts: Vec<Rollout<'a>>,
    #[serde(borrow)]
    pub events: Vec<Event<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub integrations: Vec<Integration<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub holdouts: Vec<Holdout<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub local_holdouts: Vec<Holdout<'a>>,
    /// The lists of the whole document the model's runs and condition trees name, for a
    /// document read in one pass (serde's model keeps its own lists; these are then empty).
    #[serde(skip)]
    pub lists: DocumentLists<'a>,
}

/// The lists of a whole document that the one-pass reader reads the model's many small lists
/// into (see [`Run`]): one allocation for each kind, not one for each list.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct DocumentLists<'a> {
    /// Every condition tree's nodes and every leaf condition object read once.
    pub conditions: ConditionArena<'a>,
    /// Every rule's variations.
    pub variations: Vec<Variation<'a>>,
    /// Every variation's variable values.
    pub usages: Vec<VariableUsage<'a>>,
    /// Every rollout's rules.
    pub rollout_rules: Vec<RolloutRule<'a>>,
    /// Every flag's variables.
    pub variables: Vec<Variable<'a>>,
}

#[cfg(any(test, fuzzing))]
impl<'a> Datafile<'a> {
    /// The model as serde reads the same text: every condition tree keeping its own nodes
    /// and leaves, and no arena.
    pub(crate) fn detached(mut self) -> Datafile<'a> {
        let DocumentLists {
            conditions: arena,
            variations,
            usages,
            rollout_rules: rules,
            variables,
        } = std::mem::take(&mut self.lists);
        // A rule's variations (each with its variable values) and its conditions.
        let detach_list = |list: &mut Run<Variation<'a>>| {
            let mut own = list.detached(&variations);
            if let Run::Own(items) = &mut own {
                for v in items {
                    v.variables = v.variables.detached(&usages);
                }
            }
            *list = own;
        };
        let detach = |tree: &mut RawCondition<'a>| *tree = tree.detached(&arena);
        let grouped = self.groups.iter_mut().flat_map(|g| &mut g.experiments);
        for e in self.experiments.iter_mut().chain(grouped) {
            detach_list(&mut e.variations);
            e.audience_conditions.as_mut().map(detach);
        }
        for r in &mut self.rollouts {
            r.experiments = r.experiments.detached(&rules);
            for e in r.experiments.own_mut() {
                detach_list(&mut e.variations);
                e.audience_conditions.as_mut().map(detach);
            }
        }
        for h in self.holdouts.iter_mut().chain(&mut self.local_holdouts) {
            detach_list(&mut h.variations);
            h.audience_conditions.as_mut().map(detach);
        }
        for f in &mut self.feature_flags {
            f.variables = f.variables.detached(&variables);
        }
        for a in &mut self.audiences {
            if let LegacyConditions::Tree(tree) = &mut a.conditions {
                detach(tree);
            }
        }
        for a in &mut self.typed_audiences {
            detach(&mut a.conditions);
        }
        self
    }
}

/// `attributes[]`: a user attribute the project knows, by key and id.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct Attribute<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
}

/// `audiences[]`: a legacy audience whose conditions are a JSON-encoded string.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct Audience<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub conditions: LegacyConditions<'a>,
}

/// `typedAudiences[]`: an audience whose conditions are a JSON tree.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct TypedAudience<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub conditions: RawCondition<'a>,
}

/// `trafficAllocation[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrafficRange<'a> {
    #[serde(borrow)]
    pub entity_id: Text<'a>,
    pub end_of_range: u32,
}

/// A variation of an experiment, rollout rule or holdout.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Variation<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(default)]
    pub feature_enabled: Option<bool>,
    #[serde(default)]
    #[serde(borrow)]
    pub variables: Run<VariableUsage<'a>>,
}

/// The value a variation gives a flag variable.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub(crate) struct VariableUsage<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub value: RawText<'a>,
}

/// A top-level or grouped experiment.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Experiment<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(borrow)]
    pub layer_id: Text<'a>,
    #[serde(borrow)]
    pub status: Text<'a>,
    #[serde(borrow)]
    pub variations: Run<Variation<'a>>,
    #[serde(borrow)]
    pub traffic_allocation: List<TrafficRange<'a>, 4>,
    #[serde(borrow)]
    pub audience_ids: List<Text<'a>, 2>,
    #[serde(default)]
    #[serde(borrow)]
    pub audience_conditions: Option<RawCondition<'a>>,
    #[serde(borrow)]
    pub forced_variations: HashMap<Text<'a>, Text<'a>>,
    #[serde(default, rename = "type")]
    #[serde(borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(default)]
    pub cmab: Option<Value>,
}

/// A delivery rule of a rollout: the experiment shape, leniently read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RolloutRule<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub layer_id: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub status: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub variations: Run<Variation<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub traffic_allocation: List<TrafficRange<'a>, 4>,
    #[serde(default)]
    #[serde(borrow)]
    pub audience_ids: List<Text<'a>, 2>,
    #[serde(default)]
    #[serde(borrow)]
    pub audience_conditions: Option<RawCondition<'a>>,
}

/// `groups[]`: a mutual-exclusion group.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub policy: Text<'a>,
    #[serde(borrow)]
    pub traffic_allocation: List<TrafficRange<'a>, 4>,
    #[serde(borrow)]
    pub experiments: Vec<Experiment<'a>>,
}

/// `featureFlags[]`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeatureFlag<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub rollout_id: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub experiment_ids: List<Text<'a>, 2>,
    #[serde(default)]
    #[serde(borrow)]
    pub variables: Run<Variable<'a>>,
}

/// A flag variable definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Variable<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(rename = "type")]
    #[serde(borrow)]
    pub kind: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub sub_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub default_value: RawText<'a>,
}

/// `rollouts[]`.
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct Rollout<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub experiments: Run<RolloutRule<'a>>,
}

/// `events[]`: a conversion event.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(borrow)]
    pub experiment_ids: List<Text<'a>, 2>,
}

/// `integrations[]`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Integration<'a> {
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub host: Option<Text<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub public_key: Option<Text<'a>>,
}

/// `holdouts[]` and `localHoldouts[]`.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Holdout<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub key: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub status: Text<'a>,
    #[serde(default)]
    #[serde(borrow)]
    pub variations: Run<Variation<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub traffic_allocation: List<TrafficRange<'a>, 4>,
    #[serde(default)]
    #[serde(borrow)]
    pub audience_ids: List<Text<'a>, 2>,
    #[serde(default)]
    #[serde(borrow)]
    pub audience_conditions: Option<RawCondition<'a>>,
    #[serde(default)]
    #[serde(borrow)]
    pub included_rules: Option<List<Text<'a>, 2>>,
    #[serde(default)]
    pub exclude_targeted_deliveries: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_are_borrowed_from_the_document() {
        let json = r#"{"id": "12", "key": "a\"b"}"#;
        let attribute: Attribute<'_> = serde_json::from_str(json).unwrap();
        assert!(matches!(attribute.id.0, Cow::Borrowed("12")));
        assert!(matches!(attribute.key.0, Cow::Owned(ref s) if s == "a\"b"));
    }
}
