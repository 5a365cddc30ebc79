//! A rule's audience conditions flattened into one array of small nodes, evaluated in place.
//!
//! The nodes are in prefix order: an `and`/`or`/`not` node is followed by its operands and
//! records where its subtree ends, so a short-circuit skips the rest of it. The operands of an
//! `and` or `or` are placed cheapest first (their result does not depend on the order). Common leaves
//! (exact string by interned id, exact boolean, numeric comparisons, exists) carry what they
//! compare against in the node and, for a user resolved against the config, read the user's
//! slot directly; other leaves (substring, semver, qualified) and users looked up by name go
//! through the compiled [`Condition`].

use super::condition::{Leaf, NumTest, SemverOp};
use super::view::Slot;
use super::{AttributeView, Condition, Resolution, Tree};
use crate::value::MAX_SAFE_NUMBER;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    And,
    Or,
    Not,
    Unknown,
    Exists,
    ExactString,
    ExactBool,
    Number(NumTest),
    Semver(SemverOp),
    /// Evaluated through the compiled condition.
    Other,
}

/// One node: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Node {
    kind: Kind,
    /// The attribute slot a leaf reads.
    slot: u16,
    /// For `and`, `or` and `not`: where the subtree ends. For a leaf: its condition's index.
    at: u32,
    /// A leaf's operand: a string id, a boolean (0 or 1) or the bits of a number.
    arg: u64,
}

/// A rule's compiled audience conditions.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    nodes: Box<[Node]>,
    conditions: Box<[Condition]>,
}

impl Program {
    /// Flattens `tree`.
    pub(crate) fn new(tree: &Tree<Condition>) -> Program {
        let (node_count, leaf_count) = count(tree);
        let mut nodes = Vec::with_capacity(node_count);
        let mut conditions = Vec::with_capacity(leaf_count);
        flatten(tree, &mut nodes, &mut conditions);
        Program {
            nodes: nodes.into_boxed_slice(),
            conditions: conditions.into_boxed_slice(),
        }
    }

    /// Evaluates the conditions for a user (as [`Tree::matches`] does).
    #[inline]
    pub(crate) fn matches(
        &self,
        attributes: &AttributeView<'_>,
        segments: &[String],
    ) -> Option<bool> {
        match attributes.resolution() {
            Some(resolution) => self.root(&Resolved {
                program: self,
                resolution,
                attributes,
                segments,
            }),
            None => self.root(&ByName {
                program: self,
                attributes,
                segments,
            }),
        }
    }

    /// Evaluates the first node in the caller's frame: the tree's top two levels then take no
    /// call.
    #[inline(always)]
    fn root(&self, leaf: &impl LeafEval) -> Option<bool> {
        let node = self.nodes.first()?;
        match node.kind {
            Kind::And => self.combine::<true>(0, node, true, leaf),
            Kind::Or => self.combine::<true>(0, node, false, leaf),
            Kind::Not => self.not(0, node, leaf),
            _ => leaf.eval(node),
        }
    }

    /// Evaluates the node at `i`.
    #[inline]
    fn run(&self, i: usize, leaf: &impl LeafEval) -> Option<bool> {
        let node = self.nodes.get(i)?;
        match node.kind {
            Kind::And => self.combine::<true>(i, node, true, leaf),
            Kind::Or => self.combine::<true>(i, node, false, leaf),
            Kind::Not => self.not(i, node, leaf),
            _ => leaf.eval(node),
        }
    }

    /// `not`: its operand (if it has one) negated.
    #[inline]
    fn not(&self, i: usize, node: &Node, leaf: &impl LeafEval) -> Option<bool> {
        if node.at as usize > i + 1 {
            self.run(i + 1, leaf).map(|b| !b)
        } else {
            None
        }
    }

    /// `and` (`all` true) or `or` (`all` false) over the operands of the node at `i`, with
    /// three-valued logic: the first operand that is not `all` decides; otherwise unknown if
    /// any operand was unknown. Leaves are evaluated in place and, with `NEST`, so are the
    /// operands of an `and` or `or` operand: most audiences then take no call.
    #[inline(always)]
    fn combine<const NEST: bool>(
        &self,
        i: usize,
        node: &Node,
        all: bool,
        leaf: &impl LeafEval,
    ) -> Option<bool> {
        let end = node.at as usize;
        let mut unknown = false;
        let mut j = i + 1;
        while j < end {
            let Some(child) = self.nodes.get(j) else {
                break;
            };
            let (result, next) = match child.kind {
                Kind::And if NEST => (self.combine::<false>(j, child, true, leaf), child.at),
                Kind::Or if NEST => (self.combine::<false>(j, child, false, leaf), child.at),
                Kind::And | Kind::Or | Kind::Not => (self.run(j, leaf), child.at),
                _ => (leaf.eval(child), 0),
            };
            match result {
                Some(b) if b != all => return Some(b),
                None => unknown = true,
                Some(_) => {}
            }
            j = (next as usize).max(j + 1);
        }
        if unknown {
            None
        } else {
            Some(all)
        }
    }

    /// A leaf through its compiled condition.
    #[inline(never)]
    fn leaf_by_name(
        &self,
        node: &Node,
        attributes: &AttributeView<'_>,
        segments: &[String],
    ) -> Option<bool> {
        match node.kind {
            Kind::Unknown | Kind::And | Kind::Or | Kind::Not => None,
            _ => self
                .conditions
                .get(node.at as usize)?
                .evaluate_view(attributes, segments),
        }
    }
}

/// How the leaves of a program are evaluated for one user.
trait LeafEval {
    fn eval(&self, node: &Node) -> Option<bool>;
}

/// Leaves for a user resolved against the config: in place where the node says how.
struct Resolved<'p, 'a> {
    program: &'p Program,
    resolution: &'p Resolution,
    attributes: &'p AttributeView<'a>,
    segments: &'p [String],
}

/// Leaves for a user whose attributes are looked up by name.
struct ByName<'p, 'a> {
    program: &'p Program,
    attributes: &'p AttributeView<'a>,
    segments: &'p [String],
}

impl LeafEval for ByName<'_, '_> {
    #[inline(always)]
    fn eval(&self, node: &Node) -> Option<bool> {
        self.program
            .leaf_by_name(node, self.attributes, self.segments)
    }
}

impl LeafEval for Resolved<'_, '_> {
    #[inline(always)]
    fn eval(&self, node: &Node) -> Option<bool> {
        let value = self.resolution.slot(node.slot);
        match node.kind {
            Kind::ExactString => match value {
                Some(Slot::Str { id, .. }) => Some(u64::from(id) == node.arg),
                _ => None,
            },
            Kind::Exists => Some(!matches!(value, None | Some(Slot::Missing | Slot::Null))),
            Kind::ExactBool => match value {
                Some(Slot::Bool(b)) => Some(u64::from(b) == node.arg),
                _ => None,
            },
            Kind::Number(test) => {
                let u = match value {
                    Some(Slot::Int(i)) if i.unsigned_abs() <= 1 << 53 => i as f64,
                    Some(Slot::Float(f)) if f.is_finite() && f.abs() <= MAX_SAFE_NUMBER => f,
                    _ => return None,
                };
                let n = f64::from_bits(node.arg);
                Some(match test {
                    NumTest::Eq => u == n,
                    NumTest::Gt => u > n,
                    NumTest::Ge => u >= n,
                    NumTest::Lt => u < n,
                    NumTest::Le => u <= n,
                })
            }
            Kind::Semver(op) => {
                if !matches!(value, Some(Slot::Str { .. })) {
                    return None;
                }
                // A parsed user version against a target of small numbers compares in place;
                // anything else goes through the condition.
                let target = self.program.conditions.get(node.at as usize)?.version()?;
                match self
                    .resolution
                    .version(node.slot)
                    .and_then(|user| target.compare_numbers(user))
                {
                    Some(ordering) => Some(op.holds(ordering)),
                    None => self
                        .program
                        .leaf_by_name(node, self.attributes, self.segments),
                }
            }
            Kind::Other => self
                .program
                .leaf_by_name(node, self.attributes, self.segments),
            Kind::Unknown | Kind::And | Kind::Or | Kind::Not => None,
        }
    }
}

/// The highest [`cost`].
const MAX_COST: u8 = 5;

/// How much evaluating `tree` costs, roughly (1 to [`MAX_COST`]): leaves compared in place first, then versions,
/// then leaves that go through their condition, then subtrees, and last what is always
/// unknown (which cannot decide an `and` or an `or`).
fn cost(tree: &Tree<Condition>) -> u8 {
    match tree {
        Tree::Leaf(c) => match c.specialised() {
            Some(Leaf::Unknown) => MAX_COST,
            Some(Leaf::Semver(_)) => 2,
            Some(_) => 1,
            None => 3,
        },
        Tree::Shared(t) => cost(t),
        Tree::And(_) | Tree::Or(_) | Tree::Not(Some(_)) => 4,
        Tree::Not(None) | Tree::Unknown => MAX_COST,
    }
}

/// How many nodes and leaves `tree` flattens to.
fn count(tree: &Tree<Condition>) -> (usize, usize) {
    match tree {
        Tree::And(children) | Tree::Or(children) => children
            .iter()
            .map(count)
            .fold((1, 0), |(n, l), (cn, cl)| (n + cn, l + cl)),
        Tree::Not(Some(child)) => {
            let (n, l) = count(child);
            (n + 1, l)
        }
        Tree::Not(None) | Tree::Unknown => (1, 0),
        Tree::Shared(t) => count(t),
        Tree::Leaf(_) => (1, 1),
    }
}

/// Appends `tree` to `nodes` in prefix order.
fn flatten(tree: &Tree<Condition>, nodes: &mut Vec<Node>, conditions: &mut Vec<Condition>) {
    let compound = |kind| Node {
        kind,
        slot: 0,
        at: 0,
        arg: 0,
    };
    match tree {
        Tree::And(children) | Tree::Or(children) => {
            let at = nodes.len();
            let kind = if matches!(tree, Tree::And(_)) {
                Kind::And
            } else {
                Kind::Or
            };
            nodes.push(compound(kind));
            // Three-valued `and` and `or` of pure operands do not depend on their order, so
            // the operands that are cheapest to evaluate go first and may spare the rest.
            for rank in 1..=MAX_COST {
                for child in children.iter().filter(|c| cost(c) == rank) {
                    flatten(child, nodes, conditions);
                }
            }
            close(nodes, at);
        }
        Tree::Not(Some(child)) => {
            let at = nodes.len();
            nodes.push(compound(Kind::Not));
            flatten(child, nodes, conditions);
            close(nodes, at);
        }
        Tree::Not(None) | Tree::Unknown => nodes.push(compound(Kind::Unknown)),
        Tree::Shared(t) => flatten(t, nodes, conditions),
        Tree::Leaf(c) => {
            let (kind, arg) = match c.specialised() {
                Some(Leaf::Unknown) => (Kind::Unknown, 0),
                Some(Leaf::Exists) => (Kind::Exists, 0),
                Some(Leaf::ExactString(id)) => (Kind::ExactString, u64::from(id)),
                Some(Leaf::ExactBool(b)) => (Kind::ExactBool, u64::from(b)),
                Some(Leaf::Number(test, n)) => (Kind::Number(test), n.to_bits()),
                Some(Leaf::Semver(op)) => (Kind::Semver(op), 0),
                None => (Kind::Other, 0),
            };
            nodes.push(Node {
                kind,
                slot: c.slot(),
                at: u32::try_from(conditions.len()).unwrap_or(u32::MAX),
                arg,
            });
            conditions.push(c.clone());
        }
    }
}

/// Records that the subtree of the node at `at` ends at the current end of `nodes`.
fn close(nodes: &mut [Node], at: usize) {
    let end = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
    if let Some(node) = nodes.get_mut(at) {
        node.at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::Slots;
    use crate::datafile::conditions::RawCondition;
    use crate::value::Attributes;

    fn compile(conditions: &str, slots: &mut Slots) -> (Tree<Condition>, Program) {
        let raw: RawCondition = serde_json::from_str(conditions).unwrap();
        let tree = Tree::from_raw(&raw, &mut |leaf| match leaf {
            RawCondition::Leaf(leaf) => Some(Condition::compile_with(leaf, slots)),
            _ => None,
        })
        .simplified();
        let program = Program::new(&tree);
        (tree, program)
    }

    #[test]
    fn the_program_agrees_with_the_tree_for_every_user_and_view() {
        let c = |name: &str, m: &str, v: &str| {
            format!(
                r#"{{"name": "{name}", "type": "custom_attribute", "match": "{m}", "value": {v}}}"#
            )
        };
        let trees = [
            format!(
                r#"["and", ["or", {}, {}], {}]"#,
                c("country", "exact", r#""US""#),
                c("plan", "exists", "null"),
                c("age", "gt", "30")
            ),
            format!(
                r#"["or", ["not", {}], ["and", {}, {}]]"#,
                c("beta", "exact", "true"),
                c("v", "semver_ge", r#""2.3.0""#),
                c("age", "le", "40.5")
            ),
            r#"["not"]"#.to_string(),
            r#"["and"]"#.to_string(),
            r#"["or"]"#.to_string(),
            format!(
                r#"["and", {}, ["or"], ["not", ["and", {}, {}]]]"#,
                c("country", "substring", r#""U""#),
                c("age", "exact", "30"),
                c("x", "bogus", "1")
            ),
            format!(
                r#"[{}, {{"name": "country", "type": "custom_attribute", "value": "FR"}}]"#,
                c("country", "exact", r#""DE""#)
            ),
            format!(
                r#"["and", {{"type": "custom_attribute", "match": "exists"}}, {}]"#,
                c("age", "lt", "1e300")
            ),
            format!(
                r#"["or", ["and", {}, {}], ["and", {}, {}], {}]"#,
                c("v", "semver_lt", r#""2.3.0-beta""#),
                c("v", "semver_gt", r#""2.3""#),
                c("v", "semver_eq", r#""2""#),
                c("v", "semver_le", r#""10.0.1""#),
                c("s", "qualified", r#""seg""#)
            ),
        ];
        let users: Vec<Attributes> = [
            r#"{}"#,
            r#"{"country": "US", "age": 31}"#,
            r#"{"country": "FR", "age": 30, "plan": null, "beta": true, "v": "2.3.1"}"#,
            r#"{"country": 5, "age": "30", "plan": "pro", "beta": "true", "v": "2.2"}"#,
            r#"{"country": "DE", "age": 40.5, "beta": false, "v": "x"}"#,
            r#"{"age": 18014398509481984, "country": [1], "x": 1}"#,
            r#"{"age": 1.5e300, "v": "3.0.0-beta", "plan": {"a": 1}}"#,
            r#"{"v": "2.3.0-beta"}"#,
            r#"{"v": "2.3.0+build"}"#,
            r#"{"v": "2.3.1-5"}"#,
            r#"{"v": "2.3"}"#,
            r#"{"v": "2"}"#,
            r#"{"v": "10.0.1"}"#,
            r#"{"v": "2.99999999999999999999.0"}"#,
        ]
        .iter()
        .map(|u| serde_json::from_str(u).unwrap())
        .collect();
        for tree in &trees {
            let mut slots = Slots::default();
            slots.slot(crate::value::BUCKETING_ID_ATTRIBUTE);
            let (tree_form, program) = compile(tree, &mut slots);
            for (user, segments) in users
                .iter()
                .flat_map(|u| [(u, Vec::new()), (u, vec!["seg".to_string()])])
            {
                let by_name = AttributeView::by_name(user);
                let expected = tree_form.matches(&by_name, &segments);
                assert_eq!(
                    program.matches(&by_name, &segments),
                    expected,
                    "{tree} {user:?}"
                );
                let resolution = Resolution::new(user, &slots);
                let resolved = AttributeView::resolved(user, &resolution);
                assert_eq!(
                    tree_form.matches(&resolved, &segments),
                    expected,
                    "tree resolved: {tree} {user:?}"
                );
                assert_eq!(
                    program.matches(&resolved, &segments),
                    expected,
                    "{tree} {user:?}"
                );
            }
        }
    }
}
