//! The audience layer: condition trees parsed once at load, evaluated with the three-valued
//! logic of the official SDKs.
//!
//! Invariant: evaluation reads the compiled trees and the user's attributes only; it allocates
//! nothing and cannot fail. What the SDKs treat as unknown (a missing attribute, a type
//! mismatch, an unknown audience id) evaluates to `None`, and a rule whose audience tree ends
//! unknown does not admit the user.

mod condition;
mod program;
mod semver;
mod view;

pub(crate) use condition::Condition;
use condition::{LeafKey, NO_LEAF};
pub(crate) use program::{Program, ProgramStore, ReadTree, TermSet};
pub(crate) use view::{AttributeView, Resolution, Value as UserValue};

use crate::datafile::conditions::{Cond, ConditionArena, LegacyConditions, RawCondition, Shape};
use crate::hash::FastMap;
#[cfg(test)]
use crate::value::Attributes;
#[cfg(test)]
use serde_json::Value;
use std::sync::Arc;

/// An and/or/not tree over leaves of type `L`.
#[derive(Debug, Clone)]
pub(crate) enum Tree<L> {
    And(Vec<Tree<L>>),
    Or(Vec<Tree<L>>),
    /// `not` applies to its first operand only; with none it is unknown.
    Not(Option<Box<Tree<L>>>),
    Leaf(L),
    /// A subtree shared with other trees (an audience's conditions, inlined into every rule
    /// that names the audience).
    Shared(Arc<Tree<L>>),
    /// A leaf the SDKs cannot evaluate (an empty list, a value of the wrong kind).
    Unknown,
}

impl<L> Tree<L> {
    /// Builds a tree from its datafile form: a list whose first element may be `"and"`, `"or"`
    /// or `"not"` (otherwise the list is an implicit `or`), or a single leaf.
    pub(crate) fn from_raw(raw: Cond, leaf: &mut impl FnMut(Cond) -> Option<L>) -> Tree<L> {
        Tree::from_raw_with(raw, &mut |node| match leaf(node) {
            Some(l) => Tree::Leaf(l),
            None => Tree::Unknown,
        })
    }

    /// As [`Tree::from_raw`], `node` giving the whole subtree that stands for each element
    /// that is not a list.
    pub(crate) fn from_raw_with(raw: Cond, node: &mut impl FnMut(Cond) -> Tree<L>) -> Tree<L> {
        match raw.shape() {
            Shape::List(items) => {
                let mut operands = items.clone();
                let op = match items.first().map(Cond::shape) {
                    None => return Tree::Unknown,
                    Some(Shape::Str(s)) if s == "and" || s == "or" || s == "not" => {
                        operands.next();
                        s.as_ref()
                    }
                    Some(_) => "or",
                };
                let mut children = operands.map(|v| Tree::from_raw_with(v, node));
                match op {
                    "and" => Tree::And(children.collect()),
                    "not" => Tree::Not(children.next().map(Box::new)),
                    _ => Tree::Or(children.collect()),
                }
            }
            _ => node(raw),
        }
    }

    /// Builds a tree from a JSON value (the same grammar as [`Tree::from_raw`]), `leaf` seeing
    /// each leaf as JSON.
    #[cfg(test)]
    pub(crate) fn from_json(value: &Value, leaf: &mut impl FnMut(&Value) -> Option<L>) -> Tree<L> {
        let Ok(raw) = <RawCondition as serde::Deserialize>::deserialize(value) else {
            return Tree::Unknown;
        };
        Tree::from_raw(raw.root(), &mut |node| {
            let json = match node.shape() {
                Shape::Str(s) => Value::String(s.to_string()),
                Shape::Other(v) => v.clone(),
                Shape::Leaf(l) => {
                    let l = l.read();
                    serde_json::json!({
                    "name": l.name, "type": l.kind, "value": l.value.to_json(),
                    "match": l.match_type.clone().and_then(Result::ok),
                    })
                }
                Shape::List(_) => Value::Null,
            };
            leaf(&json)
        })
    }

    /// Evaluates the tree, `eval` giving each leaf's value.
    #[cfg(test)]
    pub(crate) fn evaluate(&self, eval: &mut impl FnMut(&L) -> Option<bool>) -> Option<bool> {
        match self {
            Tree::And(children) => combine(children, true, |c| c.evaluate(&mut *eval)),
            Tree::Or(children) => combine(children, false, |c| c.evaluate(&mut *eval)),
            Tree::Not(child) => child.as_ref().and_then(|c| c.evaluate(eval)).map(|b| !b),
            Tree::Leaf(l) => eval(l),
            Tree::Shared(t) => t.evaluate(eval),
            Tree::Unknown => None,
        }
    }

    /// Every leaf, depth first.
    pub(crate) fn for_each_leaf(&self, f: &mut impl FnMut(&L)) {
        match self {
            Tree::And(c) | Tree::Or(c) => c.iter().for_each(|t| t.for_each_leaf(f)),
            Tree::Not(Some(c)) => c.for_each_leaf(f),
            Tree::Leaf(l) => f(l),
            Tree::Shared(t) => t.for_each_leaf(f),
            Tree::Not(None) | Tree::Unknown => {}
        }
    }
}

/// `and` (`all` true) or `or` (`all` false) over `children` with three-valued logic: the first
/// child that is not `all` decides; otherwise unknown if any child was unknown.
#[cfg(test)]
fn combine<T>(children: &[T], all: bool, mut eval: impl FnMut(&T) -> Option<bool>) -> Option<bool> {
    let mut unknown = false;
    for child in children {
        match eval(child) {
            Some(b) if b != all => return Some(b),
            None => unknown = true,
            Some(_) => {}
        }
    }
    if unknown {
        None
    } else {
        Some(all)
    }
}

#[cfg(test)]
impl Tree<Condition> {
    /// Evaluates the conditions for a user, node by node (what [`Program`] flattens).
    pub(crate) fn matches(
        &self,
        attributes: &AttributeView<'_>,
        segments: &[String],
    ) -> Option<bool> {
        self.evaluate(&mut |c| c.evaluate_view(attributes, segments))
    }
}

impl<L> Tree<L> {
    /// The same tree with every `and` or `or` of one operand replaced by that operand.
    pub(crate) fn simplified(mut self) -> Tree<L> {
        self.simplify();
        self
    }

    /// [`Tree::simplified`] in place: no node that stays is moved.
    fn simplify(&mut self) {
        while let Tree::And(children) | Tree::Or(children) = self {
            if children.len() != 1 {
                break;
            }
            let only = children.pop().unwrap_or(Tree::Unknown);
            *self = only;
        }
        match self {
            Tree::And(children) | Tree::Or(children) => {
                children.iter_mut().for_each(Tree::simplify);
            }
            Tree::Not(Some(child)) => child.simplify(),
            _ => {}
        }
    }
}

/// Attribute name → slot: every attribute name a condition reads gets a small integer, so that
/// a user's attributes are matched to conditions once, not on every evaluation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slots {
    map: FastMap<Arc<str>, u16>,
    /// Slots some semver condition reads.
    semver: Vec<bool>,
    /// The values of exact-string conditions, each with a small id, so that a user's string is
    /// matched to them once and an exact condition compares ids.
    strings: FastMap<Arc<str>, u32>,
    /// The distinct conditions that read one attribute and nothing else (the first
    /// [`MAX_LEAVES`]): a user's resolution holds the outcome of each, so that a decision reads
    /// a bit instead of evaluating the condition.
    leaves: Vec<(program::Node, Condition)>,
    leaf_index: FastMap<LeafKey, u32>,
    /// While a config is built: each shared leaf object compiled so far, by its identity
    /// (`LeafNode::identity`). Emptied by [`Slots::built`].
    compiled: Vec<Option<Condition>>,
    /// Whether a `qualified` condition was compiled: without one, no audience names a
    /// segment.
    has_segments: bool,
}

/// How many distinct conditions a user's resolution evaluates in advance at most; conditions
/// past them are evaluated at decide time. It bounds the cost of making a user context.
pub(crate) const MAX_LEAVES: usize = 256;

/// The id of a string no exact-string condition compares against.
pub(crate) const NO_STRING: u32 = u32::MAX;

impl Slots {
    /// The slot of `name`, assigned on first sight. Past `u16::MAX - 1` names, further names
    /// share no slot and are looked up by name.
    pub(crate) fn slot(&mut self, name: &str) -> u16 {
        self.slot_and_name(name).0
    }

    /// The slot of `name` (as [`Slots::slot`]) and the name, shared with the table.
    pub(crate) fn slot_and_name(&mut self, name: &str) -> (u16, Arc<str>) {
        if let Some((key, &s)) = self.map.get_key_value(name) {
            return (s, Arc::clone(key));
        }
        let key: Arc<str> = Arc::from(name);
        match u16::try_from(self.map.len()) {
            Ok(s) if s < crate::value::NO_SLOT => {
                self.map.insert(Arc::clone(&key), s);
                (s, key)
            }
            _ => (crate::value::NO_SLOT, key),
        }
    }

    /// The condition compiled from the shared leaf object `identity`, if there was one.
    pub(crate) fn compiled(&self, identity: usize) -> Option<Condition> {
        self.compiled.get(identity).cloned().flatten()
    }

    /// Remembers that the shared leaf object `identity` compiled to `condition`.
    pub(crate) fn remember(&mut self, identity: usize, condition: &Condition) {
        if self.compiled.len() <= identity {
            self.compiled.resize(identity + 1, None);
        }
        if let Some(slot) = self.compiled.get_mut(identity) {
            *slot = Some(condition.clone());
        }
    }

    /// Forgets the leaves compiled while the config was built.
    pub(crate) fn built(&mut self) {
        self.compiled = Vec::new();
    }

    /// The slot of `name`, if it has one.
    pub(crate) fn get(&self, name: &str) -> Option<u16> {
        self.map.get(name).copied()
    }

    /// Notes that a `qualified` (segment) condition was compiled.
    pub(crate) fn mark_segments(&mut self) {
        self.has_segments = true;
    }

    /// Whether any `qualified` (segment) condition was compiled.
    pub(crate) fn has_segments(&self) -> bool {
        self.has_segments
    }

    /// Marks `slot` as read by a semver condition.
    pub(crate) fn mark_semver(&mut self, slot: u16) {
        let at = usize::from(slot);
        if slot == crate::value::NO_SLOT {
            return;
        }
        if self.semver.len() <= at {
            self.semver.resize(at + 1, false);
        }
        if let Some(s) = self.semver.get_mut(at) {
            *s = true;
        }
    }

    /// Whether any semver condition reads an attribute.
    pub(crate) fn has_semver(&self) -> bool {
        self.semver.iter().any(|&s| s)
    }

    /// Whether a semver condition reads `slot`.
    pub(crate) fn is_semver(&self, slot: usize) -> bool {
        self.semver.get(slot).copied().unwrap_or(false)
    }

    /// How many slots there are.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The id of `value`, a string an exact condition compares against, assigned on first
    /// sight; [`NO_STRING`] once ids run out.
    pub(crate) fn intern(&mut self, value: &str) -> (u32, Arc<str>) {
        if let Some((key, &id)) = self.strings.get_key_value(value) {
            return (id, Arc::clone(key));
        }
        let key: Arc<str> = Arc::from(value);
        match u32::try_from(self.strings.len()) {
            Ok(id) if id < NO_STRING => {
                self.strings.insert(Arc::clone(&key), id);
                (id, key)
            }
            _ => (NO_STRING, key),
        }
    }

    /// The index of the condition `key` describes in the table of resolved leaves (`condition`
    /// added on first sight), or [`NO_LEAF`] once the table is full.
    fn leaf(&mut self, key: LeafKey, condition: &Condition) -> u32 {
        if let Some(&at) = self.leaf_index.get(&key) {
            return at;
        }
        match u32::try_from(self.leaves.len()) {
            Ok(at) if self.leaves.len() < MAX_LEAVES => {
                self.leaves
                    .push((program::in_place_node(condition), condition.clone()));
                self.leaf_index.insert(key, at);
                at
            }
            _ => NO_LEAF,
        }
    }

    /// The condition `key` describes and its index, when the table of resolved leaves holds
    /// it.
    fn resolved_leaf(&self, key: &LeafKey) -> Option<(u32, Condition)> {
        let &at = self.leaf_index.get(key)?;
        self.leaves.get(at as usize).map(|(_, c)| (at, c.clone()))
    }

    /// The conditions whose outcome a user's resolution holds, by leaf index, each with the
    /// node that evaluates it in place.
    fn leaves(&self) -> &[(program::Node, Condition)] {
        &self.leaves
    }

    /// The id of `value` when some exact condition compares against it, else [`NO_STRING`].
    pub(crate) fn string_id(&self, value: &str) -> u32 {
        if self.strings.is_empty() {
            return NO_STRING;
        }
        self.strings.get(value).copied().unwrap_or(NO_STRING)
    }
}

/// An audience: its id, name and compiled conditions.
#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read by the event pipeline and the config view")]
pub(crate) struct Audience {
    /// The audience id (the config's audience index keys a copy).
    pub id: crate::small_str::SmallStr,
    pub name: crate::small_str::SmallStr,
    /// The conditions, flattened: the program of every rule whose conditions are this
    /// audience alone.
    pub program: Program,
}

impl Audience {
    /// Compiles an audience's conditions given as JSON (a tree, or a string holding one).
    #[cfg(test)]
    pub(crate) fn compile(id: &str, name: &str, conditions: &Value) -> Result<Audience, String> {
        let legacy = match conditions {
            Value::String(s) => LegacyConditions::Encoded(s.as_str().into()),
            other => LegacyConditions::Tree(
                <RawCondition as serde::Deserialize>::deserialize(other)
                    .map_err(|e| e.to_string())?,
            ),
        };
        let (mut slots, mut store) = (Slots::default(), ProgramStore::default());
        let arena = ConditionArena::default();
        let mut audience = with_legacy_conditions(&legacy, &arena, |raw| {
            Audience::compile_with(
                id,
                name,
                raw,
                &mut slots,
                &mut store,
                &mut ReadTree::default(),
            )
        })?;
        audience.program.attach(&store.finish());
        Ok(audience)
    }

    /// Compiles an audience, giving each attribute name a slot in `slots`, its program
    /// flattened onto `store` (`read`: room to read its conditions in).
    pub(crate) fn compile_with(
        id: &str,
        name: &str,
        conditions: Cond,
        slots: &mut Slots,
        store: &mut ProgramStore,
        read: &mut ReadTree,
    ) -> Audience {
        let root = read.read(conditions, &mut |leaf| compile_leaf(leaf, slots));
        Audience {
            id: id.into(),
            name: name.into(),
            program: Program::new_in(root, store),
        }
    }

    /// Evaluates the audience for a user, looking attributes up by name.
    #[cfg(test)]
    pub(crate) fn evaluate(&self, attributes: &Attributes, segments: &[String]) -> Option<bool> {
        self.program
            .matches(&AttributeView::by_name(attributes), segments)
    }
}

/// `f` of the root of a legacy audience's conditions, read from their JSON text when they are
/// text (a tree is read from `arena`, its document's).
pub(crate) fn with_legacy_conditions<'a, T>(
    conditions: &LegacyConditions<'a>,
    arena: &ConditionArena<'a>,
    f: impl FnOnce(Cond) -> T,
) -> Result<T, String> {
    match conditions.encoded() {
        Some(text) => {
            let raw: RawCondition = serde_json::from_str(&text)
                .map_err(|e| format!("conditions are not valid JSON: {e}"))?;
            Ok(f(raw.root()))
        }
        None => match conditions {
            LegacyConditions::Tree(raw) => Ok(f(raw.root_in(arena))),
            _ => Err("conditions are neither a string nor a list".to_owned()),
        },
    }
}

/// The compiled condition of a leaf of an audience's conditions; `None` for an element that
/// is not a condition object.
pub(crate) fn compile_leaf(leaf: Cond, slots: &mut Slots) -> Option<Condition> {
    match leaf.shape() {
        Shape::Leaf(leaf) => Some(Condition::compile_with(leaf, slots)),
        _ => None,
    }
}

/// The tree of an audience's conditions (as [`Audience::compile_with`] reads them).
pub(crate) fn audience_tree(conditions: Cond, slots: &mut Slots) -> Tree<Condition> {
    Tree::from_raw(conditions, &mut |leaf| compile_leaf(leaf, slots)).simplified()
}

#[cfg(test)]
mod match_tests;
#[cfg(test)]
mod tests;
