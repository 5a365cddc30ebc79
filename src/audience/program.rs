//! A rule's audience conditions flattened into one array of small nodes, evaluated in place.
//!
//! The nodes are in prefix order: an `and`/`or`/`not` node is followed by its operands and
//! records where its subtree ends, so a short-circuit skips the rest of it. The operands of an
//! `and` or `or` are placed cheapest first (their result does not depend on the order). Common leaves
//! (exact string by interned id, exact boolean, numeric comparisons, exists) carry what they
//! compare against in the node and, for a user resolved against the config, read the user's
//! slot directly; other leaves (substring, semver, qualified) and users looked up by name go
//! through the compiled [`Condition`]. A leaf whose outcome the user's resolution holds reads
//! its bit, and an audience that is an `and`/`or` of such leaves, or of `and`/`or`s of them,
//! is also kept as a short list of terms (one mask per `and`/`or`), decided without walking
//! the nodes.

use super::condition::{Leaf, NumTest, SemverOp, NO_LEAF};
use super::semver::Version;
use super::view::Slot;
use super::{AttributeView, Condition, Resolution, Tree};
use crate::datafile::conditions::{Cond, Shape};
use crate::value::MAX_SAFE_NUMBER;
use std::sync::Arc;

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
    /// A leaf whose outcome a resolved user holds (`arg`: its leaf index).
    Resolved,
    /// Evaluated through the compiled condition.
    Other,
}

/// One node: 16 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Node {
    kind: Kind,
    /// The attribute slot a leaf reads. For an `and` or `or` whose operands are all resolved
    /// leaves of one outcome word: that word.
    slot: u16,
    /// For `and`, `or` and `not`: where the subtree ends. For a leaf: its condition's index.
    at: u32,
    /// A leaf's operand: a string id, a boolean (0 or 1), the bits of a number or a resolved
    /// leaf's index. For an `and` or `or` whose operands are all resolved leaves of one
    /// outcome word: the mask of their bits in it (0 otherwise).
    arg: u64,
}

/// A rule's compiled audience conditions.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Program {
    /// The conditions as an `and` (`terms_all` true) or `or` of terms, each an `and` or `or`
    /// of resolved leaves of one outcome word, when they have that shape (most audiences do):
    /// a resolved user's outcome is then a few mask tests.
    terms: Terms,
    terms_all: bool,
    nodes: Part<Node>,
    conditions: Part<Condition>,
}

/// A program's part of a list shared by the programs of a config (see [`ProgramStore`]):
/// empty until the program is given the finished list.
#[derive(Debug, Clone)]
struct Part<T> {
    all: Option<Arc<[T]>>,
    start: u32,
    end: u32,
}

impl<T> Part<T> {
    /// The program's items.
    #[inline(always)]
    fn items(&self) -> &[T] {
        self.all
            .as_deref()
            .and_then(|all| all.get(self.start as usize..self.end as usize))
            .unwrap_or(&[])
    }

    /// Items `start..end` of the list the program will be given.
    fn new(start: usize, end: usize) -> Part<T> {
        Part {
            all: None,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }
}

/// The nodes and conditions of the programs of one config, in two lists rather than two
/// allocations per program: programs are built into it ([`Program::new_in`]), then given
/// the finished lists ([`ProgramStore::finish`], [`Program::attach`]).
#[derive(Debug, Default)]
pub(crate) struct ProgramStore {
    nodes: Vec<Node>,
    conditions: Vec<Condition>,
    /// Where each program is flattened before it joins the lists.
    scratch_nodes: Vec<Node>,
    scratch_conditions: Vec<Condition>,
}

/// The finished lists of a [`ProgramStore`].
#[derive(Debug, Clone)]
pub(crate) struct ProgramLists {
    nodes: Arc<[Node]>,
    conditions: Arc<[Condition]>,
}

impl ProgramStore {
    /// A store with room for `programs` programs of the usual size.
    pub(crate) fn with_capacity(programs: usize) -> ProgramStore {
        ProgramStore {
            nodes: Vec::with_capacity(programs * 8),
            conditions: Vec::with_capacity(programs * 4),
            ..ProgramStore::default()
        }
    }

    /// The lists, shared, for each program built into the store to be given.
    pub(crate) fn finish(self) -> ProgramLists {
        ProgramLists {
            nodes: self.nodes.into(),
            conditions: self.conditions.into(),
        }
    }
}

/// How many terms a program keeps in place, next to the rest of its rule.
const INLINE_TERMS: usize = 3;

/// A program's terms: a few in place (no pointer to follow), more on the heap.
#[derive(Debug, Clone)]
enum Terms {
    None,
    Inline(u8, [Term; INLINE_TERMS]),
    Heap(Box<[Term]>),
}

impl Terms {
    /// The terms `items` gives, in place when they are few; `None` when one of them is `None`.
    fn collect(items: impl ExactSizeIterator<Item = Option<Term>>) -> Option<Terms> {
        let mut inline = [Term {
            mask: 0,
            word: 0,
            all: false,
        }; INLINE_TERMS];
        match (u8::try_from(items.len()), inline.get_mut(..items.len())) {
            (Ok(len), Some(slots)) => {
                for (slot, term) in slots.iter_mut().zip(items) {
                    *slot = term?;
                }
                Some(Terms::Inline(len, inline))
            }
            _ => Some(Terms::Heap(
                items.collect::<Option<Vec<_>>>()?.into_boxed_slice(),
            )),
        }
    }

    #[inline(always)]
    fn as_slice(&self) -> Option<&[Term]> {
        match self {
            Terms::None => None,
            Terms::Inline(len, terms) => terms.get(..usize::from(*len)),
            Terms::Heap(terms) => Some(terms),
        }
    }
}

/// A program's terms (up to three) packed into 32 bytes, for a rule's compact record: the same
/// outcome as the program's own terms, without a pointer to follow.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TermSet {
    masks: [u64; INLINE_TERMS],
    words: [u16; INLINE_TERMS],
    /// Bit `i`: term `i` is an `and`; bit 7 ([`TermSet::ALL`]): the terms are and-ed.
    alls: u8,
    len: u8,
}

impl TermSet {
    const ALL: u8 = 0x80;

    /// The outcome from the terms, for a resolved user (as [`Program::matches_by_terms`]).
    #[inline(always)]
    pub(crate) fn matches(&self, attributes: &AttributeView<'_>) -> Option<Option<bool>> {
        let resolution = attributes.resolution()?;
        let all = self.alls & TermSet::ALL != 0;
        let (mut word, (mut known, mut truth)) = (0, resolution.leaf_word(0)?);
        let mut unknown = false;
        for i in 0..usize::from(self.len) {
            let (Some(&mask), Some(&w)) = (self.masks.get(i), self.words.get(i)) else {
                break;
            };
            if w != word {
                word = w;
                (known, truth) = resolution.leaf_word(word)?;
            }
            let term = Term {
                mask,
                word,
                all: (self.alls >> i) & 1 != 0,
            };
            match term.outcome(known, truth) {
                Some(b) if b != all => return Some(Some(b)),
                None => unknown = true,
                Some(_) => {}
            }
        }
        Some(if unknown { None } else { Some(all) })
    }
}

/// An `and` (`all` true) or `or` of the resolved leaves whose bits `mask` sets in outcome
/// word `word`.
#[derive(Debug, Clone, Copy)]
struct Term {
    mask: u64,
    word: u16,
    all: bool,
}

impl Term {
    /// The term's outcome from its word's `known` and `truth` bits.
    #[inline(always)]
    fn outcome(&self, known: u64, truth: u64) -> Option<bool> {
        // The operand outcome that decides (false for `and`, true for `or`), then whether
        // every operand is known.
        let deciding = if self.all { !truth } else { truth };
        if known & deciding & self.mask != 0 {
            Some(!self.all)
        } else if known & self.mask == self.mask {
            Some(self.all)
        } else {
            None
        }
    }
}

impl Program {
    /// Flattens `tree` into a program of its own.
    #[cfg(test)]
    pub(crate) fn new(tree: &Tree<Condition>) -> Program {
        let mut store = ProgramStore::default();
        let mut program = Program::new_in(tree, &mut store);
        program.attach(&store.finish());
        program
    }

    /// Flattens `tree` onto the lists of `store`: the program reads them once it is given
    /// the finished lists ([`Program::attach`]).
    pub(crate) fn new_in<'t>(tree: impl TreeNode<'t>, store: &mut ProgramStore) -> Program {
        // Flattened first on their own: positions in a program count from its own first node
        // and condition.
        let mut nodes = std::mem::take(&mut store.scratch_nodes);
        let mut conditions = std::mem::take(&mut store.scratch_conditions);
        nodes.clear();
        flatten(tree, &mut nodes, &mut conditions);
        let (first_node, first_condition) = (store.nodes.len(), store.conditions.len());
        store.nodes.extend_from_slice(&nodes);
        store.conditions.append(&mut conditions);
        store.scratch_nodes = nodes;
        store.scratch_conditions = conditions;
        let (terms_all, terms) = terms(tree).unwrap_or((false, Terms::None));
        Program {
            nodes: Part::new(first_node, store.nodes.len()),
            conditions: Part::new(first_condition, store.conditions.len()),
            terms,
            terms_all,
        }
    }

    /// Whether the two programs read the same nodes of the same lists (one shares the
    /// other's).
    #[cfg(test)]
    pub(crate) fn shares_nodes_with(&self, other: &Program) -> bool {
        let same_list = match (&self.nodes.all, &other.nodes.all) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_list && (self.nodes.start, self.nodes.end) == (other.nodes.start, other.nodes.end)
    }

    /// Gives the program the finished lists of the store it was built into.
    pub(crate) fn attach(&mut self, lists: &ProgramLists) {
        self.nodes.all = Some(Arc::clone(&lists.nodes));
        self.conditions.all = Some(Arc::clone(&lists.conditions));
    }

    /// The outcome for a resolved user from the program's terms, when it has them.
    #[inline(always)]
    fn by_terms(&self, resolution: &Resolution) -> Option<Option<bool>> {
        let terms = self.terms.as_slice()?;
        let all = self.terms_all;
        let (mut word, (mut known, mut truth)) = (0, resolution.leaf_word(0)?);
        let mut unknown = false;
        for term in terms {
            if term.word != word {
                word = term.word;
                (known, truth) = resolution.leaf_word(word)?;
            }
            match term.outcome(known, truth) {
                Some(b) if b != all => return Some(Some(b)),
                None => unknown = true,
                Some(_) => {}
            }
        }
        Some(if unknown { None } else { Some(all) })
    }

    /// The program's terms in a [`TermSet`], when it has terms and few enough of them.
    pub(crate) fn term_set(&self) -> Option<TermSet> {
        let terms = self.terms.as_slice()?;
        let mut set = TermSet {
            masks: [0; INLINE_TERMS],
            words: [0; INLINE_TERMS],
            alls: if self.terms_all { TermSet::ALL } else { 0 },
            len: u8::try_from(terms.len()).ok()?,
        };
        if terms.len() > INLINE_TERMS {
            return None;
        }
        for (i, term) in terms.iter().enumerate() {
            *set.masks.get_mut(i)? = term.mask;
            *set.words.get_mut(i)? = term.word;
            if term.all {
                set.alls |= 1 << i;
            }
        }
        Some(set)
    }

    /// Evaluates the conditions for a user (as [`Tree::matches`] does).
    #[inline(always)]
    pub(crate) fn matches(
        &self,
        attributes: &AttributeView<'_>,
        segments: &[String],
    ) -> Option<bool> {
        if let Some(outcome) = self.matches_by_terms(attributes) {
            return outcome;
        }
        self.matches_by_nodes(attributes, segments)
    }

    /// The outcome from the program's terms, for a resolved user when the program has them.
    #[inline(always)]
    pub(crate) fn matches_by_terms(&self, attributes: &AttributeView<'_>) -> Option<Option<bool>> {
        attributes.resolution().and_then(|r| self.by_terms(r))
    }

    /// [`Program::matches`] node by node, kept out of line: most audiences are decided by
    /// their terms.
    #[inline(never)]
    pub(crate) fn matches_by_nodes(
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
        let node = self.nodes.items().first()?;
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
        let node = self.nodes.items().get(i)?;
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
        if let Some(outcome) = leaf.group(node, all) {
            return outcome;
        }
        let end = node.at as usize;
        let mut unknown = false;
        let mut j = i + 1;
        while j < end {
            let Some(child) = self.nodes.items().get(j) else {
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
                .items()
                .get(node.at as usize)?
                .evaluate_view(attributes, segments),
        }
    }
}

/// How the leaves of a program are evaluated for one user.
trait LeafEval {
    fn eval(&self, node: &Node) -> Option<bool>;

    /// The outcome of the `and` (`all` true) or `or` (`all` false) `node` at once, when the
    /// user's resolution holds the outcome of each of its operands.
    #[inline(always)]
    fn group(&self, _node: &Node, _all: bool) -> Option<Option<bool>> {
        None
    }
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
    fn group(&self, node: &Node, all: bool) -> Option<Option<bool>> {
        let mask = node.arg;
        if mask == 0 {
            return None;
        }
        let (known, truth) = self.resolution.leaf_word(node.slot)?;
        let term = Term {
            mask,
            word: node.slot,
            all,
        };
        Some(term.outcome(known, truth))
    }

    #[inline(always)]
    fn eval(&self, node: &Node) -> Option<bool> {
        if node.kind == Kind::Resolved {
            return u32::try_from(node.arg)
                .ok()
                .and_then(|leaf| self.resolution.leaf(leaf));
        }
        let target = || {
            self.program
                .conditions
                .items()
                .get(node.at as usize)?
                .version()
        };
        match in_place(node, self.resolution, target) {
            Some(outcome) => outcome,
            None => self
                .program
                .leaf_by_name(node, self.attributes, self.segments),
        }
    }
}

/// The outcome of leaf `node` for a resolved user, evaluated in place (`semver_target`: the
/// target version of a semver leaf); `None` when it must go through its condition.
#[inline(always)]
fn in_place<'t>(
    node: &Node,
    resolution: &Resolution,
    semver_target: impl FnOnce() -> Option<&'t Version>,
) -> Option<Option<bool>> {
    let value = resolution.slot(node.slot);
    Some(match node.kind {
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
                _ => return Some(None),
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
                return Some(None);
            }
            // A parsed user version against a target of small numbers compares in place;
            // anything else goes through the condition.
            let Some(target) = semver_target() else {
                return Some(None);
            };
            let ordering = resolution
                .version(node.slot)
                .and_then(|user| target.compare_numbers(user))?;
            Some(op.holds(ordering))
        }
        Kind::Other | Kind::Resolved => return None,
        Kind::Unknown | Kind::And | Kind::Or | Kind::Not => None,
    })
}

/// The node that evaluates `condition` in place where it can (see [`leaf_outcome`]).
pub(super) fn in_place_node(condition: &Condition) -> Node {
    leaf_node(condition, 0, false)
}

/// The outcome of `condition`, whose [`in_place_node`] is `node`, for a user resolved as far
/// as `resolution` (whose leaf outcomes are not read), through `attributes`, a view of it:
/// what a program's leaf of the condition evaluates to.
#[inline]
pub(super) fn leaf_outcome(
    node: &Node,
    condition: &Condition,
    resolution: &Resolution,
    attributes: &AttributeView<'_>,
    segments: &[String],
) -> Option<bool> {
    match in_place(node, resolution, || condition.version()) {
        Some(outcome) => outcome,
        None => match node.kind {
            Kind::Unknown | Kind::And | Kind::Or | Kind::Not => None,
            _ => condition.evaluate_view(attributes, segments),
        },
    }
}

/// The node of leaf `condition`, whose index among the program's conditions is `at`; with
/// `resolved`, a resolved leaf when the condition is one.
fn leaf_node(condition: &Condition, at: u32, resolved: bool) -> Node {
    let (kind, arg) = match condition.specialised() {
        _ if resolved && condition.leaf() != NO_LEAF => {
            (Kind::Resolved, u64::from(condition.leaf()))
        }
        Some(Leaf::Unknown) => (Kind::Unknown, 0),
        Some(Leaf::Exists) => (Kind::Exists, 0),
        Some(Leaf::ExactString(id)) => (Kind::ExactString, u64::from(id)),
        Some(Leaf::ExactBool(b)) => (Kind::ExactBool, u64::from(b)),
        Some(Leaf::Number(test, n)) => (Kind::Number(test), n.to_bits()),
        Some(Leaf::Semver(op)) => (Kind::Semver(op), 0),
        None => (Kind::Other, 0),
    };
    Node {
        kind,
        slot: condition.slot(),
        at,
        arg,
    }
}

/// The highest [`cost`].
const MAX_COST: u8 = 5;

/// What flattening reads of a condition tree, node by node: a [`Tree`] (its shared subtrees
/// looked through), or conditions as read into a [`ReadTree`].
pub(crate) trait TreeNode<'t>: Copy {
    /// The operands of an `and` or `or`.
    type Operands: ExactSizeIterator<Item = Self> + Clone;

    /// What the node is.
    fn view(self) -> View<'t, Self>;

    /// How much evaluating the node costs (see [`cost`]).
    fn cost(self) -> u8 {
        cost(self.view())
    }

    /// For an `and` or `or` whose operands are all resolved leaves of one outcome word: that
    /// word and the mask of their bits (see [`leaf_mask`]).
    fn mask(self) -> Option<(u16, u64)> {
        match self.view() {
            View::Group { operands, .. } => leaf_mask(operands),
            _ => None,
        }
    }
}

/// A node of a [`TreeNode`] tree.
pub(crate) enum View<'t, T: TreeNode<'t>> {
    /// An `and` (`all` true) or an `or`.
    Group {
        all: bool,
        operands: T::Operands,
    },
    /// A `not` with an operand.
    Not(T),
    Leaf(&'t Condition),
    /// Always unknown (a `not` without operand, a leaf that cannot be evaluated).
    Unknown,
}

impl<'t> TreeNode<'t> for &'t Tree<Condition> {
    type Operands = std::slice::Iter<'t, Tree<Condition>>;

    fn view(self) -> View<'t, Self> {
        match unshared(self) {
            Tree::And(operands) => View::Group {
                all: true,
                operands: operands.iter(),
            },
            Tree::Or(operands) => View::Group {
                all: false,
                operands: operands.iter(),
            },
            Tree::Not(Some(operand)) => View::Not(operand),
            Tree::Leaf(c) => View::Leaf(c),
            Tree::Not(None) | Tree::Unknown | Tree::Shared(_) => View::Unknown,
        }
    }
}

/// How much evaluating `tree` costs, roughly (1 to [`MAX_COST`]): leaves compared in place first, then versions,
/// then leaves that go through their condition, then subtrees, and last what is always
/// unknown (which cannot decide an `and` or an `or`).
fn cost<'t, T: TreeNode<'t>>(node: View<'t, T>) -> u8 {
    match node {
        View::Leaf(c) => leaf_cost(c),
        View::Group { .. } | View::Not(_) => 4,
        View::Unknown => MAX_COST,
    }
}

/// The [`cost`] of leaf `c`.
fn leaf_cost(c: &Condition) -> u8 {
    if c.leaf() != NO_LEAF {
        return 1;
    }
    match c.specialised() {
        Some(Leaf::Unknown) => MAX_COST,
        Some(Leaf::Semver(_)) => 2,
        Some(_) => 1,
        None => 3,
    }
}

fn flatten<'t>(tree: impl TreeNode<'t>, nodes: &mut Vec<Node>, conditions: &mut Vec<Condition>) {
    let compound = |kind| Node {
        kind,
        slot: 0,
        at: 0,
        arg: 0,
    };
    match tree.view() {
        View::Group { all, operands } => {
            let at = nodes.len();
            nodes.push(compound(if all { Kind::And } else { Kind::Or }));
            // Three-valued `and` and `or` of pure operands do not depend on their order, so
            // the operands that are cheapest to evaluate go first and may spare the rest.
            // Up to 16 operands are ranked once, in place (cost order, document order among
            // equals); more are flattened one cost after another.
            let mut ranked = [(0u8, None); 16];
            match ranked.get_mut(..operands.len()) {
                Some(ranked) => {
                    for (i, operand) in operands.enumerate() {
                        let entry = (operand.cost(), Some(operand));
                        // Insertion: after every operand that costs no more.
                        let mut at = i;
                        while at > 0 && ranked.get(at - 1).is_some_and(|(c, _)| *c > entry.0) {
                            ranked.swap(at - 1, at);
                            at -= 1;
                        }
                        if let Some(slot) = ranked.get_mut(at) {
                            *slot = entry;
                        }
                    }
                    for (_, operand) in ranked.iter() {
                        if let Some(operand) = *operand {
                            flatten(operand, nodes, conditions);
                        }
                    }
                }
                None => {
                    for rank in 1..=MAX_COST {
                        for operand in operands.clone().filter(|&o| o.cost() == rank) {
                            flatten(operand, nodes, conditions);
                        }
                    }
                }
            }
            close(nodes, at);
            if let (Some((word, mask)), Some(node)) = (tree.mask(), nodes.get_mut(at)) {
                node.slot = word;
                node.arg = mask;
            }
        }
        View::Not(operand) => {
            let at = nodes.len();
            nodes.push(compound(Kind::Not));
            flatten(operand, nodes, conditions);
            close(nodes, at);
        }
        View::Unknown => nodes.push(compound(Kind::Unknown)),
        View::Leaf(c) => {
            let at = u32::try_from(conditions.len()).unwrap_or(u32::MAX);
            nodes.push(leaf_node(c, at, true));
            conditions.push(c.clone());
        }
    }
}

/// `tree` as an `and` (true) or `or` (false) of [`Term`]s, when it has that shape: a resolved
/// leaf, or an `and` or `or` whose operands are resolved leaves or an `and` or `or` of resolved
/// leaves of one outcome word.
fn terms<'t, T: TreeNode<'t>>(tree: T) -> Option<(bool, Terms)> {
    let term = |tree: T| -> Option<Term> {
        match tree.view() {
            View::Leaf(c) if c.leaf() != NO_LEAF => Some(Term {
                mask: 1 << (c.leaf() % 64),
                word: u16::try_from(c.leaf() / 64).ok()?,
                all: true,
            }),
            View::Group { all, .. } => {
                let (word, mask) = tree.mask()?;
                Some(Term { mask, word, all })
            }
            _ => None,
        }
    };
    match tree.view() {
        View::Leaf(_) => Some((true, Terms::collect(std::iter::once(term(tree)))?)),
        View::Group { all, operands } if operands.len() != 0 => {
            Some((all, Terms::collect(operands.map(term))?))
        }
        _ => None,
    }
}

/// `tree` without the [`Tree::Shared`] wrappers around it.
fn unshared(tree: &Tree<Condition>) -> &Tree<Condition> {
    match tree {
        Tree::Shared(t) => unshared(t),
        other => other,
    }
}

/// When every operand in `operands` is a resolved leaf and all of them are in one outcome
/// word: that word and the mask of their bits.
fn leaf_mask<'t>(operands: impl Iterator<Item = impl TreeNode<'t>>) -> Option<(u16, u64)> {
    let mut word = None;
    let mut mask = 0u64;
    for operand in operands {
        let leaf = match operand.view() {
            View::Leaf(c) => c.leaf(),
            _ => return None,
        };
        if leaf == NO_LEAF {
            return None;
        }
        let w = u16::try_from(leaf / 64).ok()?;
        if *word.get_or_insert(w) != w {
            return None;
        }
        mask |= 1 << (leaf % 64);
    }
    Some((word?, mask))
}

/// Conditions as read from a datafile, in the shape [`Tree::from_raw`] and
/// [`Tree::simplified`] give them (an `and` or `or` of one operand is that operand), in a few
/// lists reused from one tree to the next rather than a node on the heap each: an audience's
/// conditions are flattened from it without building a [`Tree`].
#[derive(Debug, Default)]
pub(crate) struct ReadTree {
    nodes: Vec<ReadNode>,
    /// The operands of every `and` and `or`, each one's together.
    operands: Vec<u32>,
    conditions: Vec<Condition>,
    /// The operands read so far of the `and`s and `or`s being read.
    pending: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
enum ReadNode {
    /// An `and` (`all` true) or `or` whose operands are `operands[start..end]`, with the
    /// [`leaf_mask`] of its operands (a mask of 0 for none).
    Group {
        all: bool,
        start: u32,
        end: u32,
        word: u16,
        mask: u64,
    },
    Not(u32),
    /// A leaf: `conditions[condition]`, with its [`cost`].
    Leaf {
        condition: u32,
        cost: u8,
    },
    Unknown,
}

/// A node of a [`ReadTree`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadRef<'t> {
    tree: &'t ReadTree,
    at: u32,
}

/// The operands of an `and` or `or` of a [`ReadTree`].
#[derive(Debug, Clone)]
pub(crate) struct ReadOperands<'t> {
    tree: &'t ReadTree,
    at: std::slice::Iter<'t, u32>,
}

impl<'t> Iterator for ReadOperands<'t> {
    type Item = ReadRef<'t>;

    fn next(&mut self) -> Option<ReadRef<'t>> {
        let &at = self.at.next()?;
        Some(ReadRef {
            tree: self.tree,
            at,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.at.size_hint()
    }
}

impl ExactSizeIterator for ReadOperands<'_> {}

impl<'t> TreeNode<'t> for ReadRef<'t> {
    type Operands = ReadOperands<'t>;

    fn view(self) -> View<'t, Self> {
        let tree = self.tree;
        match tree.nodes.get(self.at as usize) {
            Some(&ReadNode::Group {
                all, start, end, ..
            }) => View::Group {
                all,
                operands: ReadOperands {
                    tree,
                    at: tree
                        .operands
                        .get(start as usize..end as usize)
                        .unwrap_or(&[])
                        .iter(),
                },
            },
            Some(&ReadNode::Not(at)) => View::Not(ReadRef { tree, at }),
            Some(&ReadNode::Leaf { condition, .. }) => {
                match tree.conditions.get(condition as usize) {
                    Some(c) => View::Leaf(c),
                    None => View::Unknown,
                }
            }
            Some(ReadNode::Unknown) | None => View::Unknown,
        }
    }

    fn cost(self) -> u8 {
        match self.tree.nodes.get(self.at as usize) {
            Some(&ReadNode::Leaf { cost, .. }) => cost,
            Some(ReadNode::Group { .. } | ReadNode::Not(_)) => 4,
            Some(ReadNode::Unknown) | None => MAX_COST,
        }
    }

    fn mask(self) -> Option<(u16, u64)> {
        match self.tree.nodes.get(self.at as usize) {
            Some(&ReadNode::Group { word, mask, .. }) if mask != 0 => Some((word, mask)),
            _ => None,
        }
    }
}

impl ReadTree {
    /// Reads `raw` (as [`Tree::from_raw`] would, `leaf` compiling each element that is not a
    /// list, in document order), replacing what was read before; its root.
    pub(crate) fn read<'t>(
        &'t mut self,
        raw: Cond,
        leaf: &mut impl FnMut(Cond) -> Option<Condition>,
    ) -> ReadRef<'t> {
        self.nodes.clear();
        self.operands.clear();
        self.conditions.clear();
        self.pending.clear();
        let at = self.node(raw, leaf);
        ReadRef { tree: self, at }
    }

    fn push(&mut self, node: ReadNode) -> u32 {
        self.nodes.push(node);
        u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
    }

    fn node(&mut self, raw: Cond, leaf: &mut impl FnMut(Cond) -> Option<Condition>) -> u32 {
        let Shape::List(items) = raw.shape() else {
            let node = match leaf(raw) {
                Some(c) => {
                    let cost = leaf_cost(&c);
                    self.conditions.push(c);
                    ReadNode::Leaf {
                        condition: u32::try_from(self.conditions.len() - 1).unwrap_or(u32::MAX),
                        cost,
                    }
                }
                None => ReadNode::Unknown,
            };
            return self.push(node);
        };
        let mut operands = items.clone();
        // An operator first, or an implicit `or` of every element.
        let (all, operator) = match items.first().map(Cond::shape) {
            None => return self.push(ReadNode::Unknown),
            Some(Shape::Str(s)) => match s.as_bytes() {
                b"not" => {
                    operands.next();
                    let node = match operands.next() {
                        Some(operand) => ReadNode::Not(self.node(operand, leaf)),
                        None => ReadNode::Unknown,
                    };
                    return self.push(node);
                }
                b"and" => (true, true),
                b"or" => (false, true),
                _ => (false, false),
            },
            Some(_) => (false, false),
        };
        if operator {
            operands.next();
        }
        let mark = self.pending.len();
        for operand in operands {
            let at = self.node(operand, leaf);
            self.pending.push(at);
        }
        // An `and` or `or` of one operand is that operand.
        if self.pending.len() == mark + 1 {
            return self.pending.pop().unwrap_or(u32::MAX);
        }
        let start = u32::try_from(self.operands.len()).unwrap_or(u32::MAX);
        let ReadTree {
            operands, pending, ..
        } = self;
        operands.extend(pending.drain(mark..));
        let end = u32::try_from(self.operands.len()).unwrap_or(u32::MAX);
        let (word, mask) = leaf_mask(ReadOperands {
            tree: self,
            at: self
                .operands
                .get(start as usize..end as usize)
                .unwrap_or(&[])
                .iter(),
        })
        .unwrap_or((0, 0));
        self.push(ReadNode::Group {
            all,
            start,
            end,
            word,
            mask,
        })
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
    use crate::datafile::conditions::{RawCondition, Shape};
    use crate::value::Attributes;

    fn compile(conditions: &str, slots: &mut Slots) -> (Tree<Condition>, Program) {
        let raw: RawCondition = serde_json::from_str(conditions).unwrap();
        let tree = Tree::from_raw(raw.root(), &mut |leaf| match leaf.shape() {
            Shape::Leaf(leaf) => Some(Condition::compile_with(leaf, slots)),
            _ => None,
        })
        .simplified();
        let program = Program::new(&tree);
        (tree, program)
    }

    /// A program's nodes, conditions and terms, to compare programs by.
    fn layout(program: &Program) -> String {
        format!(
            "{:?} {:?} {:?} {}",
            program.nodes.items(),
            program.conditions.items(),
            program.terms,
            program.terms_all
        )
    }

    /// The program of `raw` flattened from its [`ReadTree`], and from its simplified
    /// [`Tree`], each path compiling onto its own slots.
    fn both_ways(
        raw: crate::datafile::conditions::Cond,
        (read_slots, tree_slots): (&mut Slots, &mut Slots),
        read: &mut ReadTree,
    ) -> (String, String) {
        let mut store = ProgramStore::default();
        let root = read.read(raw, &mut |leaf| {
            crate::audience::compile_leaf(leaf, read_slots)
        });
        let mut from_read = Program::new_in(root, &mut store);
        let tree = crate::audience::audience_tree(raw, tree_slots);
        let mut from_tree = Program::new_in(&tree, &mut store);
        let lists = store.finish();
        from_read.attach(&lists);
        from_tree.attach(&lists);
        (layout(&from_read), layout(&from_tree))
    }

    #[test]
    fn operands_are_flattened_cheapest_first_in_document_order_among_equals() {
        let leaf = |name: &str, m: &str, v: &str| {
            format!(
                r#"{{"name": "{name}", "type": "custom_attribute", "match": "{m}", "value": {v}}}"#
            )
        };
        let conditions = format!(
            r#"["and", {}, ["or", {}, {}], {}, {}, {}, {}]"#,
            leaf("x", "nonsense", "1"),
            leaf("a", "exact", r#""A""#),
            leaf("b", "gt", "3"),
            leaf("v", "semver_ge", r#""2.3.0""#),
            leaf("plan", "substring", r#""pro""#),
            leaf("country", "exact", r#""US""#),
            leaf("k", "exists", "null"),
        );
        let mut slots = Slots::default();
        let (_, program) = compile(&conditions, &mut slots);
        let kinds: Vec<String> = program
            .nodes
            .items()
            .iter()
            .map(|n| format!("{:?}", n.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                "And", "Resolved", "Resolved", "Resolved", "Other", "Or", "Resolved", "Resolved",
                "Unknown"
            ]
        );
        // The cheapest leaves (resolved ones) keep their document order: `v`, `country`, `k`.
        let slot = |name: &str| slots.get(name).unwrap();
        let first_slots: Vec<u16> = program.nodes.items()[1..4].iter().map(|n| n.slot).collect();
        assert_eq!(first_slots, [slot("v"), slot("country"), slot("k")]);
    }

    #[test]
    fn conditions_flattened_as_read_give_the_program_of_their_simplified_tree() {
        let leaf = |name: &str, m: &str, v: &str| {
            format!(
                r#"{{"name": "{name}", "type": "custom_attribute", "match": "{m}", "value": {v}}}"#
            )
        };
        let (a, b, c) = (
            leaf("country", "exact", r#""US""#),
            leaf("age", "gt", "30"),
            leaf("v", "semver_ge", r#""2.3.0""#),
        );
        let (d, e) = (
            leaf("plan", "substring", r#""pro""#),
            leaf("x", "nonsense", "1"),
        );
        let many = (0..20)
            .map(|i| {
                leaf(
                    &format!("k{i}"),
                    if i % 3 == 0 { "exists" } else { "exact" },
                    "true",
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let cases = [
            "[]".to_owned(),
            r#"["and"]"#.to_owned(),
            r#"["or"]"#.to_owned(),
            r#"["not"]"#.to_owned(),
            format!(r#"["not", {a}, {b}]"#),
            format!(r#"["and", {a}]"#),
            format!(r#"["or", ["and", ["or", {a}]]]"#),
            format!("[{a}]"),
            format!("[{a}, {b}]"),
            format!(r#"["foo", {a}]"#),
            a.clone(),
            r#""1000""#.to_owned(),
            "42".to_owned(),
            format!(r#"[["and", {a}, {b}], ["or", {c}], {d}]"#),
            format!(r#"["and", ["not", ["and", {c}]], ["or", {e}, {d}, {a}], "id", 7, null]"#),
            format!(r#"["or", {e}, ["not", ["or", {a}, {b}]], ["and", {b}, {c}, {d}]]"#),
            format!(r#"["and", {many}]"#),
            format!(r#"["or", ["and", {many}], ["not"], [], {a}]"#),
        ];
        let (mut read_slots, mut tree_slots) = (Slots::default(), Slots::default());
        let mut read = ReadTree::default();
        for case in &cases {
            let raw: RawCondition = serde_json::from_str(case).unwrap();
            let (from_read, from_tree) =
                both_ways(raw.root(), (&mut read_slots, &mut tree_slots), &mut read);
            assert_eq!(from_read, from_tree, "{case}");
        }
    }

    #[test]
    fn every_fixture_audience_read_and_flattened_gives_the_program_of_its_tree() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/compat");
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path().join("datafile.json")))
            .filter(|p| p.exists())
            .collect();
        files.push(concat!(env!("CARGO_MANIFEST_DIR"), "/datafiles/bench_datafile.json").into());
        let mut audiences = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let datafile = crate::datafile::parse_text(&text).unwrap();
            let (mut read_slots, mut tree_slots) = (Slots::default(), Slots::default());
            let mut read = ReadTree::default();
            for a in &datafile.typed_audiences {
                let (from_read, from_tree) = both_ways(
                    a.conditions.root_in(&datafile.lists.conditions),
                    (&mut read_slots, &mut tree_slots),
                    &mut read,
                );
                assert_eq!(from_read, from_tree, "{} in {}", a.id, file.display());
                audiences += 1;
            }
            for a in &datafile.audiences {
                let arena = &datafile.lists.conditions;
                let _ = crate::audience::with_legacy_conditions(&a.conditions, arena, |raw| {
                    let (from_read, from_tree) =
                        both_ways(raw, (&mut read_slots, &mut tree_slots), &mut read);
                    assert_eq!(from_read, from_tree, "{} in {}", a.id, file.display());
                    audiences += 1;
                });
            }
        }
        assert!(audiences > 300, "{audiences} audiences compared");
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
                if let Some(set) = program.term_set() {
                    assert_eq!(set.matches(&by_name), None, "{tree} {user:?}");
                    assert_eq!(
                        set.matches(&resolved),
                        program.matches_by_terms(&resolved),
                        "{tree} {user:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_program_agrees_with_the_tree_past_the_first_outcome_word_and_the_table() {
        // More distinct conditions than one outcome word holds and than the table takes.
        let c = |m: &str, v: usize| {
            format!(
                r#"{{"name": "age", "type": "custom_attribute", "match": "{m}", "value": {v}}}"#
            )
        };
        let many = |m: &str, from: usize, to: usize| {
            (from..to).map(|v| c(m, v)).collect::<Vec<_>>().join(", ")
        };
        let trees = [
            format!(r#"["or", {}]"#, many("exact", 0, 300)),
            format!(r#"["and", {}]"#, many("ge", 0, 100)),
            format!(
                r#"["or", ["and", {}], ["and", {}], ["not", ["or", {}]]]"#,
                many("gt", 60, 70),
                many("lt", 120, 140),
                many("exact", 250, 270)
            ),
            // Terms in three outcome words: kept in a term set.
            format!(
                r#"["or", ["and", {}], {}, ["or", {}]]"#,
                many("exact", 1, 3),
                c("exact", 70),
                many("exact", 130, 132)
            ),
        ];
        let users: Vec<Attributes> = [
            r#"{}"#,
            r#"{"age": 0}"#,
            r#"{"age": 63}"#,
            r#"{"age": 64}"#,
            r#"{"age": 99.5}"#,
            r#"{"age": 130}"#,
            r#"{"age": 255}"#,
            r#"{"age": 299}"#,
            r#"{"age": "x"}"#,
        ]
        .iter()
        .map(|u| serde_json::from_str(u).unwrap())
        .collect();
        let mut slots = Slots::default();
        slots.slot(crate::value::BUCKETING_ID_ATTRIBUTE);
        let compiled: Vec<_> = trees.iter().map(|t| compile(t, &mut slots)).collect();
        assert!(slots.leaves().len() >= super::super::MAX_LEAVES);
        for ((tree_form, program), tree) in compiled.iter().zip(&trees) {
            for user in &users {
                let expected = tree_form.matches(&AttributeView::by_name(user), &[]);
                let resolution = Resolution::new(user, &slots);
                let resolved = AttributeView::resolved(user, &resolution);
                assert_eq!(program.matches(&resolved, &[]), expected, "{tree} {user:?}");
                if let Some(set) = program.term_set() {
                    assert_eq!(
                        set.matches(&resolved),
                        program.matches_by_terms(&resolved),
                        "{tree} {user:?}"
                    );
                    assert_eq!(set.matches(&resolved), Some(expected), "{tree} {user:?}");
                }
            }
        }
        assert!(compiled.iter().any(|(_, p)| p.term_set().is_some()));
    }
}
