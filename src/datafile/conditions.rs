//! Condition trees as written in a datafile: nested lists whose first element may be an
//! operator, audience ids, and leaf condition objects. Read straight from the JSON without
//! building a generic JSON value, because a datafile holds hundreds of them.

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use crate::small_list::{List, Span};

/// A condition tree as written: its nodes in document order, each list before its elements,
/// in one list. A tree read on its own keeps them (in one allocation at most, not one per
/// list; a rule's usual `["or", id]`, three nodes, in none); the one-pass reader puts every
/// tree of a document in the document's [`ConditionArena`], where the tree is a range.
/// Strings are borrowed from the document unless they hold escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawCondition<'a> {
    nodes: Nodes<'a>,
}

/// Where a [`RawCondition`]'s nodes are (never none: the root first).
#[derive(Debug, Clone, PartialEq)]
enum Nodes<'a> {
    /// Kept by the tree.
    Own(List<RawNode<'a>, 3>),
    /// A part of the document's arena.
    InArena(Span),
}

/// The condition trees of a document read in one pass: every tree's nodes, one tree after
/// another, and each leaf condition object read once however often the document writes it
/// (no allocation per tree or per leaf).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ConditionArena<'a> {
    pub(crate) nodes: Vec<RawNode<'a>>,
    pub(crate) leaves: Vec<RawLeaf<'a>>,
}

/// The arena of trees read on their own (by serde), which name none of its nodes or leaves.
static NO_ARENA: ConditionArena<'static> = ConditionArena {
    nodes: Vec::new(),
    leaves: Vec::new(),
};

/// One node of a [`RawCondition`]: small (a tree's nodes are many), its rare or large
/// contents boxed or left in the document.
#[derive(Debug, Clone)]
pub(crate) enum RawNode<'a> {
    /// A list (an operator string first, or an implicit `or`), followed by the `span` nodes of
    /// its elements and theirs.
    List { span: u32 },
    /// A string: an operator inside a list, or an audience id leaf.
    Str(Cow<'a, str>),
    /// A leaf condition object, read (by the serde reading).
    Leaf(Box<RawLeaf<'a>>),
    /// A leaf condition object read by the one-pass reader, by its place in the document's
    /// [`ConditionArena`]: leaves written alike (the same text) share what was read.
    Shared(u32),
    /// Any other JSON value (a number, a boolean, null).
    Other(Box<Value>),
}

impl Default for RawNode<'_> {
    /// An empty list's node (what a list's unused places hold).
    fn default() -> Self {
        RawNode::List { span: 0 }
    }
}

impl PartialEq for RawNode<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RawNode::List { span: a }, RawNode::List { span: b }) => a == b,
            (RawNode::Str(a), RawNode::Str(b)) => a == b,
            (RawNode::Other(a), RawNode::Other(b)) => a == b,
            (RawNode::Leaf(a), RawNode::Leaf(b)) => a == b,
            // Places in an arena: the same leaf where the arena is the same.
            (RawNode::Shared(a), RawNode::Shared(b)) => a == b,
            _ => false,
        }
    }
}

/// A leaf condition object of a tree: read on its own, or shared by the leaves written alike.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LeafNode<'r, 'a> {
    /// Read by the serde reading.
    Read(&'r RawLeaf<'a>),
    /// Read by the one-pass reader, shared by every leaf of the document written alike: the
    /// leaf and its place in the document's arena.
    Shared(&'r RawLeaf<'a>, u32),
}

impl<'r, 'a> LeafNode<'r, 'a> {
    /// For a shared leaf, what tells it apart from the leaves of the same document written
    /// otherwise (its place in the document's arena): leaves written alike compile alike, so
    /// the build compiles each shared leaf once.
    pub(crate) fn identity(self) -> Option<usize> {
        match self {
            LeafNode::Read(_) => None,
            LeafNode::Shared(_, at) => Some(at as usize),
        }
    }

    /// The leaf's fields.
    pub(crate) fn read(self) -> &'r RawLeaf<'a> {
        match self {
            LeafNode::Read(leaf) | LeafNode::Shared(leaf, _) => leaf,
        }
    }
}

/// What a node of a tree is, with a list's elements.
pub(crate) enum Shape<'r, 'a> {
    List(Items<'r, 'a>),
    Str(&'r Cow<'a, str>),
    Leaf(LeafNode<'r, 'a>),
    #[allow(
        dead_code,
        reason = "read where a tree is turned back into JSON, in tests"
    )]
    Other(&'r Value),
}

/// A node of a tree, with the nodes under it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cond<'r, 'a> {
    /// The node first, then its subtree's nodes.
    nodes: &'r [RawNode<'a>],
    /// The leaves its shared leaf nodes name.
    leaves: &'r [RawLeaf<'a>],
}

/// The elements of a list, in order.
#[derive(Debug, Clone)]
pub(crate) struct Items<'r, 'a> {
    rest: &'r [RawNode<'a>],
    leaves: &'r [RawLeaf<'a>],
}

static NULL: Value = Value::Null;

impl<'a> RawCondition<'a> {
    /// A tree from its nodes in document order (as [`RawCondition`] keeps them), taken from
    /// `nodes`: a few kept in place, more moved into a vector of their exact count; `None`
    /// for none.
    pub(crate) fn from_nodes(nodes: &mut Vec<RawNode<'a>>) -> Option<RawCondition<'a>> {
        if nodes.is_empty() {
            return None;
        }
        let nodes = if let Ok(len @ 1..=3) = u8::try_from(nodes.len()) {
            let mut taken = nodes.drain(..);
            let mut next = || taken.next().unwrap_or_default();
            List::Inline(len, [next(), next(), next()])
        } else {
            let mut exact = Vec::with_capacity(nodes.len());
            exact.append(nodes);
            List::Heap(exact)
        };
        Some(RawCondition {
            nodes: Nodes::Own(nodes),
        })
    }

    /// The tree of the `len` nodes of a document's arena from `start` (`None` for none).
    pub(crate) fn in_arena(start: usize, len: usize) -> Option<RawCondition<'a>> {
        let span = Span::new(start, len).filter(|span| span.len > 0)?;
        Some(RawCondition {
            nodes: Nodes::InArena(span),
        })
    }

    /// The tree of a list of two strings (`["or", "<audience id>"]`), as read.
    pub(crate) fn string_pair(first: &'a str, second: &'a str) -> RawCondition<'a> {
        RawCondition {
            nodes: Nodes::Own(List::Inline(
                3,
                [
                    RawNode::List { span: 2 },
                    RawNode::Str(Cow::Borrowed(first)),
                    RawNode::Str(Cow::Borrowed(second)),
                ],
            )),
        }
    }

    /// The root of a tree read from `arena`'s document (a tree read on its own names
    /// nothing of it).
    pub(crate) fn root_in<'r>(&'r self, arena: &'r ConditionArena<'a>) -> Cond<'r, 'a> {
        let nodes = match &self.nodes {
            Nodes::Own(nodes) => &**nodes,
            Nodes::InArena(span) => span.of(&arena.nodes),
        };
        Cond {
            nodes,
            leaves: &arena.leaves,
        }
    }

    /// The root of a tree read on its own (by serde).
    pub(crate) fn root(&self) -> Cond<'_, 'a> {
        self.root_in(&NO_ARENA)
    }

    /// The string, when the whole tree is one.
    fn into_str(self) -> Result<Cow<'a, str>, RawCondition<'a>> {
        match self.nodes {
            Nodes::Own(List::Inline(1, [RawNode::Str(s), ..])) => Ok(s),
            nodes => Err(RawCondition { nodes }),
        }
    }

    /// The tree as read on its own, its nodes and leaves copied out of `arena`: what serde
    /// reads from the same text.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn detached(&self, arena: &ConditionArena<'a>) -> RawCondition<'a> {
        if let Nodes::Own(nodes) = &self.nodes {
            if !nodes.iter().any(|n| matches!(n, RawNode::Shared(_))) {
                return self.clone();
            }
        }
        let root = self.root_in(arena);
        let mut nodes: Vec<RawNode<'a>> = root
            .nodes
            .iter()
            .map(|node| match node {
                RawNode::Shared(at) => RawNode::Leaf(Box::new(
                    arena.leaves.get(*at as usize).cloned().unwrap_or_default(),
                )),
                other => other.clone(),
            })
            .collect();
        RawCondition::from_nodes(&mut nodes).unwrap_or_else(|| self.clone())
    }
}

impl<'r, 'a> Cond<'r, 'a> {
    /// What the node is.
    pub(crate) fn shape(self) -> Shape<'r, 'a> {
        match self.nodes.split_first() {
            Some((RawNode::List { .. }, rest)) => Shape::List(Items {
                rest,
                leaves: self.leaves,
            }),
            Some((RawNode::Str(s), _)) => Shape::Str(s),
            Some((RawNode::Leaf(leaf), _)) => Shape::Leaf(LeafNode::Read(leaf)),
            Some((RawNode::Shared(at), _)) => match self.leaves.get(*at as usize) {
                Some(leaf) => Shape::Leaf(LeafNode::Shared(leaf, *at)),
                None => Shape::Other(&NULL),
            },
            Some((RawNode::Other(value), _)) => Shape::Other(value),
            None => Shape::Other(&NULL),
        }
    }
}

impl<'r, 'a> Items<'r, 'a> {
    /// Whether the list has no elements.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The first element.
    pub(crate) fn first(&self) -> Option<Cond<'r, 'a>> {
        self.clone().next()
    }
}

impl<'r, 'a> Iterator for Items<'r, 'a> {
    type Item = Cond<'r, 'a>;

    fn next(&mut self) -> Option<Cond<'r, 'a>> {
        let len = match self.rest.first()? {
            RawNode::List { span } => 1 + *span as usize,
            _ => 1,
        };
        let (nodes, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        Some(Cond {
            nodes,
            leaves: self.leaves,
        })
    }
}

/// Appends a list's node and, after `read` has appended its elements' nodes, gives it their
/// count; `None` when `read` fails or the count does not fit.
pub(crate) fn push_list<'a, E>(
    nodes: &mut Vec<RawNode<'a>>,
    read: impl FnOnce(&mut Vec<RawNode<'a>>) -> Result<(), E>,
    too_long: impl FnOnce() -> E,
) -> Result<(), E> {
    let at = nodes.len();
    nodes.push(RawNode::List { span: 0 });
    read(nodes)?;
    let span = u32::try_from(nodes.len() - at - 1).map_err(|_| too_long())?;
    if let Some(RawNode::List { span: slot }) = nodes.get_mut(at) {
        *slot = span;
    }
    Ok(())
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
        let mut nodes = Vec::new();
        NodeSeed(&mut nodes).deserialize(deserializer)?;
        RawCondition::from_nodes(&mut nodes).ok_or_else(|| de::Error::custom("no condition"))
    }
}

/// Reads one node and the nodes under it onto the end of a tree's nodes.
struct NodeSeed<'v, 'a>(&'v mut Vec<RawNode<'a>>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for NodeSeed<'_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'a> NodeSeed<'_, 'a> {
    /// Appends `node`: what each visit of a value that is not a list does.
    fn push<E>(self, node: RawNode<'a>) -> Result<(), E> {
        self.0.push(node);
        Ok(())
    }
}

impl<'de: 'a, 'a> Visitor<'de> for NodeSeed<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a condition list, an audience id or a condition object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        push_list(
            self.0,
            |nodes| {
                while seq.next_element_seed(NodeSeed(&mut *nodes))?.is_some() {}
                Ok(())
            },
            || de::Error::custom("condition list too long"),
        )
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.push(RawNode::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.push(RawNode::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.push(RawNode::Str(Cow::Owned(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
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
        self.push(RawNode::Leaf(Box::new(leaf)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.push(RawNode::Other(Box::new(Value::Bool(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.push(RawNode::Other(Box::new(Value::from(v))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.push(RawNode::Other(Box::new(Value::from(v))))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.push(RawNode::Other(Box::new(Value::from(v))))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.push(RawNode::Other(Box::new(Value::Null)))
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
        match RawCondition::deserialize(deserializer)?.into_str() {
            Ok(s) => Ok(LegacyConditions::Encoded(s)),
            Err(tree) => Ok(LegacyConditions::Tree(tree)),
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
            raw.root().nodes,
            [
                RawNode::List { span: 3 },
                RawNode::Str("and".into()),
                RawNode::Str("12".into()),
                RawNode::Leaf(Box::new(RawLeaf {
                    name: Some("age".into()),
                    kind: Some("custom_attribute".into()),
                    match_type: Some(Ok("gt".into())),
                    value: LeafValue::Other(serde_json::json!(3)),
                })),
            ]
        );
    }

    /// The tree as JSON again, walked through its shapes.
    fn to_json(node: Cond) -> Value {
        match node.shape() {
            Shape::List(items) => Value::Array(items.map(to_json).collect()),
            Shape::Str(s) => Value::String(s.to_string()),
            Shape::Leaf(l) => {
                let l = l.read();
                serde_json::json!({"name": l.name, "value": l.value.to_json()})
            }
            Shape::Other(v) => v.clone(),
        }
    }

    #[test]
    fn a_tree_kept_in_one_vector_gives_back_its_nesting() {
        let trees = [
            serde_json::json!(["and", ["or", "1", ["not", "2"]], "3"]),
            serde_json::json!([[], [[]], ["or"], [[["x"]]], 4, null, true]),
            serde_json::json!([]),
            serde_json::json!("12"),
            serde_json::json!({"name": "a", "value": [1, 2]}),
            serde_json::json!(["or", {"name": "a", "value": 1}, [{"name": "b", "value": "c"}], "9"]),
        ];
        for tree in trees {
            let raw = RawCondition::deserialize(&tree).unwrap();
            assert_eq!(to_json(raw.root()), tree);
            // The reader of the datafile builds the same nodes.
            let text = serde_json::json!({"version": "4", "revision": "1", "accountId": "1",
                "projectId": "2", "attributes": [], "audiences": [], "experiments": [],
                "groups": [], "events": [],
                "typedAudiences": [{"id": "7", "name": "n", "conditions": tree}]})
            .to_string();
            let read = super::super::fast::parse(&text).expect("read in one pass");
            assert_eq!(
                read.typed_audiences[0]
                    .conditions
                    .detached(&read.lists.conditions),
                raw
            );
        }
        let value = serde_json::json!(["and", ["or", "1"], "3"]);
        let first = RawCondition::deserialize(&value).unwrap();
        let Shape::List(items) = first.root().shape() else {
            panic!("a list")
        };
        assert!(!items.is_empty());
        assert_eq!(items.clone().count(), 3);
        assert!(matches!(items.first().map(Cond::shape), Some(Shape::Str(s)) if s == "and"));
        let value = serde_json::json!([]);
        let empty = RawCondition::deserialize(&value).unwrap();
        assert!(matches!(empty.root().shape(), Shape::List(items) if items.is_empty()));
    }

    #[test]
    fn a_node_is_small_and_the_reader_shares_the_leaves_written_alike() {
        assert!(std::mem::size_of::<RawNode>() <= 24);
        let text = r#"{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
            "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": [],
            "typedAudiences": [
              {"id": "7", "conditions": ["or", {"name": "a", "type": "custom_attribute", "value": 1}]},
              {"id": "8", "conditions": {"name": "a", "type": "custom_attribute", "value": 1}}]}"#;
        let read = super::super::fast::parse(text).expect("read in one pass");
        let leaf = |audience: usize, at: usize| {
            let root = read.typed_audiences[audience]
                .conditions
                .root_in(&read.lists.conditions);
            match root.nodes.get(at) {
                Some(RawNode::Shared(leaf)) => *leaf,
                other => panic!("not a shared leaf: {other:?}"),
            }
        };
        assert_eq!((leaf(0, 2), leaf(1, 0)), (0, 0), "read once, shared");
        assert_eq!(read.lists.conditions.leaves.len(), 1);
        let first = &read.lists.conditions.leaves[0];
        assert_eq!(first.name.as_deref(), Some("a"));
        assert_eq!(first.value, LeafValue::Other(serde_json::json!(1)));
    }

    #[test]
    fn a_leaf_that_starts_like_one_read_before_is_read_in_full() {
        // The second leaf's text up to its first closing brace is not a leaf read before (a
        // brace inside a string), nor is the third's (another value): each is read.
        let text = r#"{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
            "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": [],
            "typedAudiences": [{"id": "7", "conditions": ["or",
              {"name": "a", "type": "custom_attribute", "value": "x"},
              {"name": "a", "type": "custom_attribute", "value": "x}"},
              {"name": "a", "type": "custom_attribute", "value": "x"} ,
              {"name": "a", "type": "custom_attribute", "value": "y"}]}]}"#;
        let read = super::super::fast::parse(text).expect("read in one pass");
        let serde: super::super::model::Datafile = serde_json::from_str(text).unwrap();
        let root = read.typed_audiences[0]
            .conditions
            .root_in(&read.lists.conditions);
        let values: Vec<_> = root.nodes[2..]
            .iter()
            .map(|node| match node {
                RawNode::Shared(at) => read.lists.conditions.leaves[*at as usize]
                    .value
                    .as_str()
                    .map(str::to_owned),
                other => panic!("not a shared leaf: {other:?}"),
            })
            .collect();
        assert_eq!(
            values,
            [
                Some("x".into()),
                Some("x}".into()),
                Some("x".into()),
                Some("y".into())
            ]
        );
        assert_eq!(read.detached(), serde);
    }

    #[test]
    fn a_repeated_leaf_the_reader_cannot_read_as_serde_does_is_left_to_serde() {
        // A number out of serde's range inside a leaf: the first leaf of that text is read
        // in full, and the reader gives up, whichever audience repeats it.
        let leaf = r#"{"name": "a", "type": "custom_attribute", "match": "gt", "value": 1e999}"#;
        let text = format!(
            r#"{{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
            "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": [],
            "typedAudiences": [{{"id": "7", "conditions": ["or", {leaf}, {leaf}]}}]}}"#
        );
        assert!(super::super::fast::parse(&text).is_none());
    }

    #[test]
    fn a_match_that_is_not_a_string_is_kept_as_invalid() {
        let raw: RawCondition = serde_json::from_str(r#"{"name": "a", "match": 5}"#).unwrap();
        let Shape::Leaf(leaf) = raw.root().shape() else {
            panic!("expected a leaf")
        };
        let leaf = leaf.read();
        assert_eq!(leaf.match_type, Some(Err(())));
        assert_eq!(leaf.kind, None);
    }
}
