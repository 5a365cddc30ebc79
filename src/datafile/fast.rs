//! A datafile reader written for the datafile's shape: it reads the document in one pass
//! straight into the [`model`](super::model) types, borrowing every string without escapes,
//! and gives up (`None`) on anything it is not certain to read exactly as the serde
//! definitions do — a syntax error, a wrong type, a duplicate field, an escaped field name,
//! deep nesting. The caller then reads the document again with serde, which either gives the
//! same model or names the problem. So this reader decides nothing on its own: it is only a
//! faster road to the same result.

use super::conditions::{
    push_list, ConditionArena, LeafValue, LegacyConditions, RawCondition, RawLeaf, RawNode,
};
use super::model::*;
use crate::hash::FastMap;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Nesting deeper than this is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 96;

/// Reads `text` as a datafile; `None` when the serde reading must decide.
pub(crate) fn parse(text: &str) -> Option<Datafile<'_>> {
    let mut p = Reader::new(text);
    let datafile = p.datafile()?;
    p.ws();
    (p.pos == p.bytes.len()).then_some(datafile)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
    /// The lists of the whole document read so far (condition trees, leaf condition objects,
    /// variations, variable values, rollout rules, flag variables).
    lists: DocumentLists<'a>,
    /// The place in the lists of each leaf condition object read so far, by its text.
    leaves: FastMap<&'a str, u32>,
    /// The separators last read in each kind of object ([`GAPS_PER_OBJECT`] per kind).
    gaps: Vec<Gap>,
    /// The body of the last legacy audience's conditions string that held escapes (empty
    /// for none).
    last_legacy: &'a str,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            // Room for as many as a document of this size usually has, so that the lists
            // are not copied over and over as they grow.
            lists: DocumentLists {
                conditions: ConditionArena {
                    nodes: Vec::with_capacity(text.len() / NODE_BYTES),
                    leaves: Vec::with_capacity(text.len() / LEAF_BYTES),
                },
                variations: Vec::with_capacity(text.len() / VARIATION_BYTES),
                usages: Vec::with_capacity(text.len() / USAGE_BYTES),
                rollout_rules: Vec::with_capacity(text.len() / RULE_BYTES),
                variables: Vec::with_capacity(text.len() / VARIABLE_BYTES),
            },
            leaves: FastMap::default(),
            gaps: vec![Gap::default(); Object::COUNT * GAPS_PER_OBJECT],
            last_legacy: "",
        }
    }
}

/// Fills a field's slot with what was read; `None` when reading failed or the field was read
/// before (serde rejects a duplicate field).
#[inline(always)]
fn set<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// Reads an object of kind `kind` (an [`Object`]) into `Option` slots by name, skipping
/// unknown fields: `fields!(self => p, Object::Attribute, { b"id" => id = p.text(), ... })`.
/// The names are listed in the order datafiles usually write them: the reader expects each key
/// to be the one after the last, and finds it by a word comparison or two (see [`Key`]).
macro_rules! fields {
    ($reader:ident => $p:ident, $kind:expr, { $($name:literal => $slot:tt = $read:expr),* $(,)? }) => {{
        const KEYS: &[Key] = &[$(Key::new($name)),*];
        $reader.object_keys($kind, KEYS, |$p, index| {
            $(
                if index == const { Key::position(KEYS, $name) } {
                    return field!($slot, $read);
                }
            )*
            $p.skip()
        })?
    }};
}

/// What [`fields!`] does with a field's value: fills its slot, or for `_` (a key the model
/// leaves out but datafiles usually write, named so that it is found as quickly as the
/// others) only reads it.
macro_rules! field {
    (_, $read:expr) => {
        $read
    };
    ($slot:ident, $read:expr) => {
        set(&mut $slot, $read)
    };
}

/// An object key a reader knows, with its closing quote, as up to four words and the masks of
/// their bytes: whether the document holds it at a position is a word comparison or two, and
/// the bytes matched are the key itself (it holds no quote nor backslash).
struct Key {
    name: &'static [u8],
    words: [u64; 4],
    masks: [u64; 4],
}

impl Key {
    /// The key `name` (at most 31 bytes, without quote or backslash: checked when compiled).
    const fn new(name: &'static [u8]) -> Key {
        assert!(name.len() < 32, "a key of at most 31 bytes");
        let (mut words, mut masks) = ([0u64; 4], [0u64; 4]);
        let mut rest = name;
        let mut at = 0;
        // The name's bytes, then the closing quote.
        while at <= name.len() {
            let byte = match rest.split_first() {
                Some((&b, tail)) => {
                    assert!(b != b'"' && b != b'\\', "a key without quote nor backslash");
                    rest = tail;
                    b
                }
                None => b'"',
            };
            let shift = 8 * (at % 8);
            let (word, mask) = match at / 8 {
                0 => (&mut words[0], &mut masks[0]),
                1 => (&mut words[1], &mut masks[1]),
                2 => (&mut words[2], &mut masks[2]),
                _ => (&mut words[3], &mut masks[3]),
            };
            *word |= (byte as u64) << shift;
            *mask |= 0xff << shift;
            at += 1;
        }
        Key { name, words, masks }
    }

    /// Where `name` is in `keys` (a name listed twice, or not at all, fails the build).
    const fn position(keys: &[Key], name: &[u8]) -> usize {
        let (mut rest, mut i, mut found) = (keys, 0, usize::MAX);
        while let Some((key, tail)) = rest.split_first() {
            if Key::same(key.name, name) {
                assert!(found == usize::MAX, "a key listed once");
                found = i;
            }
            rest = tail;
            i += 1;
        }
        assert!(found != usize::MAX, "a key of the list");
        found
    }

    const fn same(mut a: &[u8], mut b: &[u8]) -> bool {
        loop {
            match (a.split_first(), b.split_first()) {
                (Some((x, a_tail)), Some((y, b_tail))) if *x == *y => (a, b) = (a_tail, b_tail),
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    /// Whether `bytes` hold the key and its closing quote at `at`.
    #[inline(always)]
    fn is_at(&self, bytes: &[u8], at: usize) -> bool {
        let word = |k: usize| {
            let start = at + 8 * k;
            bytes.get(start..start + 8).map(|chunk| {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
        };
        let [w0, w1, w2, w3] = self.words;
        let [m0, m1, m2, m3] = self.masks;
        let len = self.name.len();
        word(0).is_some_and(|w| w & m0 == w0)
            && (len < 8 || word(1).is_some_and(|w| w & m1 == w1))
            && (len < 16 || word(2).is_some_and(|w| w & m2 == w2))
            && (len < 24 || word(3).is_some_and(|w| w & m3 == w3))
    }
}

/// The kinds of object the reader reads by [`fields!`], each learning its own separators.
#[derive(Clone, Copy)]
enum Object {
    Datafile,
    Attribute,
    Audience,
    TypedAudience,
    Traffic,
    Variation,
    VariableUsage,
    Experiment,
    RolloutRule,
    Group,
    FeatureFlag,
    Variable,
    Rollout,
    Event,
    Integration,
    Holdout,
}

impl Object {
    const COUNT: usize = Object::Holdout as usize + 1;
}

/// What a gap leads to when it ends the object (its closing brace).
const CLOSE: usize = u8::MAX as usize;

/// The room a top-level list of audiences starts with: one per 2 KB of the document, at most
/// 256 (an audience takes a few hundred bytes).
const AUDIENCES: (usize, usize) = (2048, 256);
/// The room a top-level list of experiments, flags or rollouts starts with: one per 4 KB of
/// the document, at most 64.
const RULES: (usize, usize) = (4096, 64);

/// The document bytes per variation a datafile usually has, at most (a variation is written
/// with its variable values, a rule around it): the room its list of variations starts with.
const VARIATION_BYTES: usize = 1024;
/// The document bytes per variable value a datafile usually has, at most.
const USAGE_BYTES: usize = 256;
/// The document bytes per condition tree node a datafile usually has, at most.
const NODE_BYTES: usize = 256;
/// The document bytes per rollout rule a datafile usually has, at most.
const RULE_BYTES: usize = 2048;
/// The document bytes per flag variable a datafile usually has, at most.
const VARIABLE_BYTES: usize = 1024;
/// The document bytes per distinct leaf condition object a datafile usually has, at most.
const LEAF_BYTES: usize = 4096;

/// The separators learned per object kind: before its first field, and after each of its
/// first fields (past them, nothing is learned).
const GAPS_PER_OBJECT: usize = 13;

/// The bytes between two values the last time an object of a kind was read, up to 32 bytes:
/// before its first value (the brace, white space, the key and its colon), or between a
/// field's value and the next one's (white space, the comma, the next key and its colon).
/// Where the text holds the same bytes again, they are the same tokens: the reader moves past
/// them and reads the value of the same next field.
#[derive(Clone, Copy, Default)]
struct Gap {
    /// The gap's bytes as four words, and the masks of the bytes that belong to it (all zero
    /// when nothing was learned).
    words: [u64; 4],
    masks: [u64; 4],
    /// The gap's length in bytes.
    len: u8,
    /// The field the gap leads to (its place in the object's keys), or [`CLOSE`].
    next: u8,
}

impl Gap {
    /// The gap `bytes`, leading to field `next`; `None` when too long to learn.
    fn new(bytes: &[u8], next: usize) -> Option<Gap> {
        let (len, next) = (u8::try_from(bytes.len()).ok()?, u8::try_from(next).ok()?);
        if !(1..=32).contains(&len) {
            return None;
        }
        let (mut words, mut masks) = ([0u64; 4], [0u64; 4]);
        for ((word, mask), chunk) in words.iter_mut().zip(&mut masks).zip(bytes.chunks(8)) {
            let mut buf = [0u8; 8];
            buf.get_mut(..chunk.len())?.copy_from_slice(chunk);
            *word = u64::from_le_bytes(buf);
            *mask = u64::MAX >> (8 * (8 - chunk.len()));
        }
        Some(Gap {
            words,
            masks,
            len,
            next,
        })
    }

    /// Whether `bytes` hold the gap at `at` (never for an empty gap): four masked word
    /// comparisons, without a branch between them.
    #[inline(always)]
    fn is_at(&self, bytes: &[u8], at: usize) -> bool {
        let Some(chunk) = bytes.get(at..at + 32) else {
            return false;
        };
        let mut differ = 0;
        for ((expected, mask), chunk) in self
            .words
            .iter()
            .zip(&self.masks)
            .zip(chunk.chunks_exact(8))
        {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            differ |= (u64::from_le_bytes(word) ^ expected) & mask;
        }
        differ == 0 && self.len != 0
    }
}

/// A string as written in the document.
enum Literal<'a> {
    /// No escapes: the text itself.
    Plain(&'a str),
    /// Only the short escapes (`\n`, `\"`, ...): the text between the quotes.
    Escaped(&'a str),
    /// With unicode escapes: the whole literal, quotes included, for serde_json to read.
    Unicode(&'a str),
}

/// The text of a string whose only escapes are the short ones (checked by the reader).
pub(crate) fn unescape(body: &str) -> String {
    let mut out = Vec::with_capacity(body.len());
    unescape_into(body, &mut out);
    // Only ASCII bytes were replaced, by ASCII bytes: the text stays UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the text of a string whose only escapes are the short ones (checked by the
/// reader) to `out`: UTF-8 when `out` was, as only ASCII bytes are replaced, by ASCII bytes.
pub(crate) fn unescape_into(body: &str, out: &mut Vec<u8>) {
    let mut bytes = body.bytes();
    while let Some(b) = bytes.next() {
        out.push(if b == b'\\' {
            match bytes.next() {
                Some(b'b') => 0x08,
                Some(b'f') => 0x0c,
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b't') => b'\t',
                Some(c) => c,
                None => break,
            }
        } else {
            b
        });
    }
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    fn ws(&mut self) {
        // Most tokens follow another directly, or one space after a colon.
        match self.bytes.get(self.pos) {
            Some(&b) if b > b' ' => {}
            Some(b' ') if self.bytes.get(self.pos + 1).is_some_and(|&b| b > b' ') => {
                self.pos += 1;
            }
            // An indented document's usual: a newline, up to seven spaces and a token.
            Some(b'\n') => {
                const SPACES: u64 = 0x2020_2020_2020_2020;
                let at = self.pos + 1;
                let word = self.bytes.get(at..at + 8).map(|chunk| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    u64::from_le_bytes(word)
                });
                match word {
                    Some(word) if word != SPACES => {
                        let spaces = (word ^ SPACES).trailing_zeros() / 8;
                        if (word >> (spaces * 8)) as u8 > b' ' {
                            self.pos = at + spaces as usize;
                        } else {
                            self.ws_run();
                        }
                    }
                    _ => self.ws_run(),
                }
            }
            _ => self.ws_run(),
        }
    }

    /// [`Reader::ws`] past its common cases, out of line so that the common cases stay small.
    #[inline(never)]
    fn ws_run(&mut self) {
        const SPACES: u64 = 0x2020_2020_2020_2020;
        let mut i = self.pos;
        // The usual in an indented document: a newline and a run of spaces, eight bytes at a
        // time (a newline leading a word reads as a space), then a token.
        while let Some(chunk) = self.bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let word = u64::from_le_bytes(word);
            let lead = if word as u8 == b'\n' {
                u64::from(b'\n' ^ b' ')
            } else {
                0
            };
            let others = word ^ lead ^ SPACES;
            if others == 0 {
                i += 8;
                continue;
            }
            let spaces = others.trailing_zeros() / 8;
            i += spaces as usize;
            if (word >> (spaces * 8)) as u8 > b' ' {
                self.pos = i;
                return;
            }
            break;
        }
        // Anything else (tabs, carriage returns, blank lines, the end of the text): byte by byte.
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => i += 1,
                _ => break,
            }
        }
        self.pos = i;
    }

    /// The next byte after white space, not consumed.
    #[inline(always)]
    fn next_token(&mut self) -> Option<u8> {
        self.ws();
        self.peek()
    }

    #[inline(always)]
    fn eat(&mut self, byte: u8) -> Option<()> {
        if self.next_token()? == byte {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// Reads an object, calling `field` with each key (as written) to read its value.
    fn object(&mut self, field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.object_with(Self::key_body, field)
    }

    /// Reads an object of kind `kind` whose keys of interest are `keys`, calling `field` with
    /// each key's place in `keys` (`usize::MAX` for another key) to read its value. Where the
    /// bytes before a value are those the last object of the kind had there (see [`Gap`]),
    /// they are passed over whole.
    #[inline(always)]
    fn object_keys(
        &mut self,
        kind: Object,
        keys: &[Key],
        mut field: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        let base = kind as usize * GAPS_PER_OBJECT;
        let mut index;
        match self.gaps.get(base).copied() {
            Some(gap) if gap.is_at(self.bytes, self.pos) => {
                self.pos += usize::from(gap.len);
                self.enter()?;
                index = usize::from(gap.next);
            }
            _ => {
                let open = self.pos;
                self.eat(b'{')?;
                self.enter()?;
                match self.next_token()? {
                    b'"' => {}
                    b'}' => {
                        self.pos += 1;
                        self.depth -= 1;
                        return Some(());
                    }
                    _ => return None,
                }
                self.pos += 1;
                index = self.key_and_colon(keys, 0)?;
                self.learn(base, open, index);
            }
        }
        loop {
            field(self, index)?;
            // The gap after this field, learned when it is one of the first.
            let slot = (index < GAPS_PER_OBJECT - 1).then(|| base + 1 + index);
            if let Some(gap) = slot.and_then(|s| self.gaps.get(s)) {
                if gap.is_at(self.bytes, self.pos) {
                    self.pos += usize::from(gap.len);
                    index = usize::from(gap.next);
                    if index == CLOSE {
                        break;
                    }
                    continue;
                }
            }
            let after = self.pos;
            match self.next_token()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    if let Some(slot) = slot {
                        self.learn(slot, after, CLOSE);
                    }
                    break;
                }
                _ => return None,
            }
            if self.next_token()? != b'"' {
                return None;
            }
            self.pos += 1;
            index = self.key_and_colon(keys, index.wrapping_add(1))?;
            if let Some(slot) = slot {
                self.learn(slot, after, index);
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// The place in `keys` of the key whose opening quote was just read (as
    /// [`Reader::key_index`]), its colon and the white space after it read.
    #[inline(always)]
    fn key_and_colon(&mut self, keys: &[Key], expected: usize) -> Option<usize> {
        let index = self.key_index(keys, expected)?;
        // The colon usually follows the key directly.
        if self.peek() == Some(b':') {
            self.pos += 1;
        } else {
            self.eat(b':')?;
        }
        self.ws();
        Some(index)
    }

    /// Learns the bytes from `start` to here as gap `slot`, leading to field `next` (not for
    /// another key than the object's).
    fn learn(&mut self, slot: usize, start: usize, next: usize) {
        let gap = self
            .bytes
            .get(start..self.pos)
            .filter(|_| next != usize::MAX)
            .and_then(|bytes| Gap::new(bytes, next));
        if let (Some(gap), Some(to)) = (gap, self.gaps.get_mut(slot)) {
            *to = gap;
        }
    }

    /// The place in `keys` of the key whose opening quote was just read, its closing quote
    /// read: `expected` is looked for first (the key after the last, in the usual order), then
    /// each other.
    #[inline(always)]
    fn key_index(&mut self, keys: &[Key], expected: usize) -> Option<usize> {
        if let Some(key) = keys.get(expected) {
            if key.is_at(self.bytes, self.pos) {
                self.pos += key.name.len() + 1;
                return Some(expected);
            }
        }
        self.other_key_index(keys)
    }

    /// [`Reader::key_index`] past the expected key.
    fn other_key_index(&mut self, keys: &[Key]) -> Option<usize> {
        if let Some((index, key)) = keys
            .iter()
            .enumerate()
            .find(|(_, key)| key.is_at(self.bytes, self.pos))
        {
            self.pos += key.name.len() + 1;
            return Some(index);
        }
        // Another key, or one too near the end of the text to be compared by words.
        let name = self.key_body()?;
        Some(
            keys.iter()
                .position(|key| key.name == name)
                .unwrap_or(usize::MAX),
        )
    }

    /// Reads an object, `key` reading each key (its opening quote read) and `field` its value.
    #[inline(always)]
    fn object_with<K>(
        &mut self,
        mut key: impl FnMut(&mut Self) -> Option<K>,
        mut field: impl FnMut(&mut Self, K) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        let mut next = self.next_token()?;
        if next != b'}' {
            loop {
                if next != b'"' {
                    return None;
                }
                self.pos += 1;
                let key = key(self)?;
                // The colon usually follows the key directly.
                if self.peek() == Some(b':') {
                    self.pos += 1;
                } else {
                    self.eat(b':')?;
                }
                field(self, key)?;
                match self.next_token()? {
                    b',' => {
                        self.pos += 1;
                        next = self.next_token()?;
                    }
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Some(())
    }

    /// Reads an array, calling `item` to read each element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        let first = self.pos;
        if self.next_token()? == b']' {
            self.pos += 1;
        } else {
            // The first item is read from the white space before it, as the others are (an
            // object learns the white space before its brace).
            self.pos = first;
            loop {
                item(self)?;
                match self.next_token()? {
                    b',' => self.pos += 1,
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn vec<T>(&mut self, item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.vec_from(Vec::new(), item)
    }

    /// An array's items, read by `item`, onto the end of the document's list of them
    /// (`list`): a run of that list.
    #[inline(always)]
    fn run<T>(
        &mut self,
        list: impl Fn(&mut Self) -> &mut Vec<T>,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Run<T>> {
        let start = list(self).len();
        self.array(|p| {
            let read = item(p)?;
            list(p).push(read);
            Some(())
        })?;
        Run::in_arena(start, list(self).len() - start)
    }

    /// A rule's variations, onto the end of the document's.
    fn variations(&mut self) -> Option<Run<Variation<'a>>> {
        self.run(|p| &mut p.lists.variations, Self::variation)
    }

    /// A variation's variable values, onto the end of the document's.
    fn usages(&mut self) -> Option<Run<VariableUsage<'a>>> {
        self.run(|p| &mut p.lists.usages, Self::variable_usage)
    }

    /// A top-level list of the document (audiences, experiments, flags, rollouts): with room
    /// to begin with for as many items as a document of its size usually has (one per `bytes`
    /// of the document, up to `most`), so that it is not copied over and over as it grows.
    fn large_vec<T>(
        &mut self,
        (bytes, most): (usize, usize),
        item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let capacity = (self.bytes.len() / bytes).clamp(4, most);
        self.vec_from(Vec::with_capacity(capacity), item)
    }

    /// The items of an array, pushed onto `items`.
    fn vec_from<T>(
        &mut self,
        mut items: Vec<T>,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.array(|p| {
            items.push(item(p)?);
            Some(())
        })?;
        Some(items)
    }

    /// A list: its first `N` items kept in place.
    fn list<T: Default, const N: usize>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<List<T, N>> {
        let mut items = List::default();
        self.array(|p| {
            items.push(item(p)?);
            Some(())
        })?;
        Some(items)
    }

    /// An object key without escapes, as written, its opening quote read.
    #[inline(always)]
    fn key_body(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let end = self.run_end();
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        self.bytes.get(start..end)
    }

    /// The position of the first byte at or after `pos` that ends an unescaped run.
    fn run_end(&self) -> usize {
        crate::scan::string_run_end(self.bytes, self.pos)
    }

    /// A string value: borrowed when it holds no escapes.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        match self.string_literal()? {
            Literal::Plain(s) => Some(Cow::Borrowed(s)),
            Literal::Escaped(body) => Some(Cow::Owned(unescape(body))),
            Literal::Unicode(quoted) => serde_json::from_str(quoted).ok().map(Cow::Owned),
        }
    }

    /// A string as written, checked as serde_json checks it.
    #[inline(always)]
    fn string_literal(&mut self) -> Option<Literal<'a>> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = self.run_end();
        if self.bytes.get(end)? == &b'"' {
            self.pos = end + 1;
            return self.slice(start, end).map(Literal::Plain);
        }
        self.pos = end;
        let unicode = self.skip_string_body()?;
        if unicode {
            self.slice(start - 1, self.pos).map(Literal::Unicode)
        } else {
            self.slice(start, self.pos - 1).map(Literal::Escaped)
        }
    }

    /// The text between `start` and `end`, both just past or at an ASCII byte the reader found
    /// (so on character boundaries), split off in line.
    #[inline(always)]
    fn slice(&self, start: usize, end: usize) -> Option<&'a str> {
        let (head, _) = self.text.split_at_checked(end)?;
        let (_, s) = head.split_at_checked(start)?;
        Some(s)
    }

    /// Skips a string's contents and closing quote (the opening quote already read),
    /// checking it as serde_json does; true when it holds a unicode escape.
    fn skip_string_body(&mut self) -> Option<bool> {
        let bytes = self.bytes;
        let mut unicode = false;
        let mut i = self.pos;
        loop {
            i = crate::scan::escaped_run_end(bytes, i);
            match bytes.get(i)? {
                b'"' => break,
                b'\\' => match bytes.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = bytes.get(i + 2..i + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        unicode = true;
                        i += 6;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
        self.pos = i + 1;
        Some(unicode)
    }

    #[inline(always)]
    fn text(&mut self) -> Option<Text<'a>> {
        self.string().map(Text)
    }

    /// A string the build copies as it is: kept as written when its only escapes are short.
    #[inline(always)]
    fn raw_text(&mut self) -> Option<RawText<'a>> {
        Some(match self.string_literal()? {
            Literal::Plain(s) => RawText::Text(Text(Cow::Borrowed(s))),
            Literal::Escaped(body) => RawText::Escaped(body),
            Literal::Unicode(quoted) => RawText::Text(Text(serde_json::from_str(quoted).ok()?)),
        })
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end)? == word {
            self.pos = end;
            Some(())
        } else {
            None
        }
    }

    fn bool(&mut self) -> Option<bool> {
        match self.next_token()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// Whether the next value is `null` (then consumed).
    fn null(&mut self) -> Option<bool> {
        if self.next_token()? == b'n' {
            self.literal(b"null")?;
            Some(true)
        } else {
            Some(false)
        }
    }

    fn optional<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null()? {
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    /// An integer that fits `u32`, written without sign, fraction or exponent.
    fn u32(&mut self) -> Option<u32> {
        self.ws();
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            n = n * 10 + u64::from(b - b'0');
            if n > u64::from(u32::MAX) {
                return None;
            }
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.bytes.get(start) == Some(&b'0')) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        u32::try_from(n).ok()
    }

    /// Skips a number, checking its grammar.
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }

    /// Skips any value, checking it as serde_json does.
    fn skip(&mut self) -> Option<()> {
        match self.next_token()? {
            b'"' => {
                self.pos += 1;
                self.skip_string_body().map(|_| ())
            }
            b'{' => self.object(|p, _| p.skip()),
            b'[' => self.array(Self::skip),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    /// Any value as a generic JSON value, read by serde_json from its text so numbers come
    /// out exactly as serde reads them.
    fn value(&mut self) -> Option<Value> {
        match self.next_token()? {
            b'"' => self.string().map(|s| Value::String(s.into_owned())),
            b't' => self.literal(b"true").map(|()| Value::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Value::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Value::Null),
            _ => {
                let start = self.pos;
                self.skip()?;
                serde_json::from_str(self.slice(start, self.pos)?).ok()
            }
        }
    }

    fn datafile(&mut self) -> Option<Datafile<'a>> {
        let (mut version, mut revision, mut account_id, mut project_id) = Default::default();
        let (mut anonymize_ip, mut bot_filtering, mut send_flag_decisions) = Default::default();
        let (mut sdk_key, mut environment_key, mut region) = Default::default();
        let (mut attributes, mut audiences, mut typed_audiences) = Default::default();
        let (mut experiments, mut groups, mut feature_flags, mut rollouts) = Default::default();
        let (mut events, mut integrations, mut holdouts, mut local_holdouts) = Default::default();
        fields!(self => p, Object::Datafile, {
            b"version" => version = p.text(),
            b"revision" => revision = p.text(),
            b"accountId" => account_id = p.text(),
            b"projectId" => project_id = p.text(),
            b"anonymizeIP" => anonymize_ip = p.bool(),
            b"botFiltering" => bot_filtering = p.optional(Self::bool),
            b"sendFlagDecisions" => send_flag_decisions = p.bool(),
            b"sdkKey" => sdk_key = p.optional(Self::text),
            b"environmentKey" => environment_key = p.optional(Self::text),
            b"region" => region = p.optional(Self::text),
            b"attributes" => attributes = p.vec(Self::attribute),
            b"audiences" => audiences = p.large_vec(AUDIENCES, Self::audience),
            b"typedAudiences" => typed_audiences = p.large_vec(AUDIENCES, Self::typed_audience),
            b"experiments" => experiments = p.large_vec(RULES, Self::experiment),
            b"groups" => groups = p.vec(Self::group),
            b"featureFlags" => feature_flags = p.large_vec(RULES, Self::feature_flag),
            b"rollouts" => rollouts = p.large_vec(RULES, Self::rollout),
            b"events" => events = p.vec(Self::event),
            b"integrations" => integrations = p.vec(Self::integration),
            b"holdouts" => holdouts = p.vec(Self::holdout),
            b"localHoldouts" => local_holdouts = p.vec(Self::holdout),
        });
        Some(Datafile {
            version: version?,
            revision: revision?,
            account_id: account_id?,
            project_id: project_id?,
            anonymize_ip: anonymize_ip.unwrap_or_default(),
            bot_filtering: bot_filtering.flatten(),
            send_flag_decisions: send_flag_decisions.unwrap_or_default(),
            sdk_key: sdk_key.flatten(),
            environment_key: environment_key.flatten(),
            region: region.flatten(),
            attributes: attributes?,
            audiences: audiences?,
            typed_audiences: typed_audiences.unwrap_or_default(),
            experiments: experiments?,
            groups: groups?,
            feature_flags: feature_flags.unwrap_or_default(),
            rollouts: rollouts.unwrap_or_default(),
            events: events?,
            integrations: integrations.unwrap_or_default(),
            holdouts: holdouts.unwrap_or_default(),
            local_holdouts: local_holdouts.unwrap_or_default(),
            lists: std::mem::take(&mut self.lists),
        })
    }

    fn attribute(&mut self) -> Option<Attribute<'a>> {
        let (mut id, mut key) = Default::default();
        fields!(self => p, Object::Attribute, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
        });
        Some(Attribute { id: id?, key: key? })
    }

    fn audience(&mut self) -> Option<Audience<'a>> {
        let (mut id, mut name, mut conditions) = Default::default();
        fields!(self => p, Object::Audience, {
            b"id" => id = p.text(),
            b"name" => name = p.text(),
            b"conditions" => conditions = p.legacy_conditions(),
        });
        Some(Audience {
            id: id?,
            name: name.unwrap_or_default(),
            conditions: conditions?,
        })
    }

    /// A legacy audience's conditions: usually a string that a typed audience with the same
    /// id replaces, so its escapes are decoded only when it is read.
    fn legacy_conditions(&mut self) -> Option<LegacyConditions<'a>> {
        if self.next_token()? != b'"' {
            return self.condition().map(LegacyConditions::Tree);
        }
        // Datafiles give most legacy audiences the same conditions text (the typed audience of
        // the same id replaces it): the bytes of the last such string, then a quote, are that
        // string again, checked once already.
        let body = self.pos + 1;
        let end = body + self.last_legacy.len();
        if !self.last_legacy.is_empty()
            && self.bytes.get(body..end) == Some(self.last_legacy.as_bytes())
            && self.bytes.get(end) == Some(&b'"')
        {
            self.pos = end + 1;
            return self.slice(body, end).map(LegacyConditions::Escaped);
        }
        Some(match self.string_literal()? {
            Literal::Plain(s) => LegacyConditions::Encoded(Cow::Borrowed(s)),
            Literal::Escaped(body) => {
                self.last_legacy = body;
                LegacyConditions::Escaped(body)
            }
            Literal::Unicode(quoted) => {
                LegacyConditions::Encoded(serde_json::from_str(quoted).ok()?)
            }
        })
    }

    fn typed_audience(&mut self) -> Option<TypedAudience<'a>> {
        let (mut id, mut name, mut conditions) = Default::default();
        fields!(self => p, Object::TypedAudience, {
            b"id" => id = p.text(),
            b"name" => name = p.text(),
            b"conditions" => conditions = p.condition(),
        });
        Some(TypedAudience {
            id: id?,
            name: name.unwrap_or_default(),
            conditions: conditions?,
        })
    }

    /// A condition tree, as [`RawCondition`]'s serde reading gives it.
    fn condition(&mut self) -> Option<RawCondition<'a>> {
        if let Some(pair) = self.string_pair() {
            return Some(pair);
        }
        // The tree's nodes go to the end of the document's.
        let mut nodes = std::mem::take(&mut self.lists.conditions.nodes);
        let start = nodes.len();
        let read = self.condition_node(&mut nodes);
        let len = nodes.len() - start;
        self.lists.conditions.nodes = nodes;
        read?;
        RawCondition::in_arena(start, len)
    }

    /// A list of two strings without escapes, `["or", "<audience id>"]` (a rule's usual
    /// conditions: one audience), read without the node list of the general reading; `None`
    /// (nothing consumed) for anything else.
    #[inline]
    fn string_pair(&mut self) -> Option<RawCondition<'a>> {
        let start = self.pos;
        let pair = self.string_pair_from();
        if pair.is_none() {
            self.pos = start;
        }
        pair
    }

    /// [`Reader::string_pair`], leaving the position wherever it stopped.
    #[inline(always)]
    fn string_pair_from(&mut self) -> Option<RawCondition<'a>> {
        // The list is one level deeper than where it is, as the general reading counts it.
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        let first = self.plain_string()?;
        self.eat(b',')?;
        let second = self.plain_string()?;
        self.eat(b']')?;
        Some(RawCondition::string_pair(first, second))
    }

    /// A string without escapes (its quotes read); `None` for anything else.
    #[inline(always)]
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = self.run_end();
        if self.bytes.get(end)? != &b'"' {
            return None;
        }
        self.pos = end + 1;
        self.slice(start, end)
    }

    /// A node of a condition tree and the nodes under it, onto the end of `nodes`.
    fn condition_node(&mut self, nodes: &mut Vec<RawNode<'a>>) -> Option<()> {
        match self.next_token()? {
            b'[' => push_list(
                nodes,
                |nodes| self.array(|p| p.condition_node(nodes)).ok_or(()),
                || (),
            )
            .ok()?,
            b'"' => nodes.push(RawNode::Str(self.string()?)),
            b'{' => nodes.push(self.leaf_node()?),
            _ => nodes.push(RawNode::Other(Box::new(self.value()?))),
        }
        Some(())
    }

    /// A leaf condition object: a datafile repeats a few leaves many times, so the first of
    /// each text is read (checked as the serde reading checks it), and the same text again
    /// shares what was read.
    fn leaf_node(&mut self) -> Option<RawNode<'a>> {
        self.ws();
        let start = self.pos;
        // The text up to the first closing brace: when it is a leaf read before, the object
        // here is that leaf (its text is a whole object), and it is not read again.
        let candidate = crate::scan::find_byte(self.bytes, start, b'}')
            .and_then(|end| self.slice(start, end + 1));
        if let Some((&text, &at)) = candidate.and_then(|text| self.leaves.get_key_value(text)) {
            self.pos = start + text.len();
            return Some(RawNode::Shared(at));
        }
        let leaf = self.leaf()?;
        let text = self.slice(start, self.pos)?;
        let at = u32::try_from(self.lists.conditions.leaves.len()).ok()?;
        self.lists.conditions.leaves.push(leaf);
        self.leaves.insert(text, at);
        Some(RawNode::Shared(at))
    }

    fn leaf(&mut self) -> Option<RawLeaf<'a>> {
        let mut leaf = RawLeaf::default();
        // Later keys win, as in the serde reading.
        self.object(|p, key| {
            match key {
                b"name" => leaf.name = p.scalar()?,
                b"type" => leaf.kind = p.scalar()?,
                b"match" => {
                    leaf.match_type = match p.next_token()? {
                        b'"' => Some(Ok(p.string()?)),
                        b'n' => {
                            p.literal(b"null")?;
                            None
                        }
                        _ => {
                            p.value()?;
                            Some(Err(()))
                        }
                    }
                }
                b"value" => {
                    leaf.value = if p.next_token()? == b'"' {
                        LeafValue::Str(p.string()?)
                    } else {
                        LeafValue::Other(p.value()?)
                    }
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(leaf)
    }

    /// A leaf's `name` or `type`: the string, or `None` for null or any other value (read
    /// as a value, so that a number serde cannot read is not let through).
    #[inline(always)]
    fn scalar(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.next_token()? == b'"' {
            self.string().map(Some)
        } else {
            self.value().map(|_| None)
        }
    }

    fn traffic(&mut self) -> Option<TrafficRange<'a>> {
        let (mut entity_id, mut end_of_range) = Default::default();
        fields!(self => p, Object::Traffic, {
            b"entityId" => entity_id = p.text(),
            b"endOfRange" => end_of_range = p.u32(),
        });
        Some(TrafficRange {
            entity_id: entity_id?,
            end_of_range: end_of_range?,
        })
    }

    fn variation(&mut self) -> Option<Variation<'a>> {
        let (mut id, mut key, mut feature_enabled, mut variables) = Default::default();
        fields!(self => p, Object::Variation, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
            b"featureEnabled" => feature_enabled = p.optional(Self::bool),
            b"variables" => variables = p.usages(),
        });
        Some(Variation {
            id: id?,
            key: key?,
            feature_enabled: feature_enabled.flatten(),
            variables: variables.unwrap_or_default(),
        })
    }

    fn variable_usage(&mut self) -> Option<VariableUsage<'a>> {
        let (mut id, mut value) = Default::default();
        fields!(self => p, Object::VariableUsage, {
            b"id" => id = p.text(),
            b"value" => value = p.raw_text(),
        });
        Some(VariableUsage {
            id: id?,
            value: value?,
        })
    }

    #[inline(always)]
    fn texts(&mut self) -> Option<List<Text<'a>, 2>> {
        self.list(Self::text)
    }

    fn experiment(&mut self) -> Option<Experiment<'a>> {
        let (mut id, mut key, mut layer_id, mut status) = Default::default();
        let (mut variations, mut traffic_allocation, mut audience_ids) = Default::default();
        let (mut audience_conditions, mut forced_variations, mut kind, mut cmab) =
            Default::default();
        fields!(self => p, Object::Experiment, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
            b"status" => status = p.text(),
            b"layerId" => layer_id = p.text(),
            b"audienceIds" => audience_ids = p.texts(),
            b"audienceConditions" => audience_conditions = p.optional(Self::condition),
            b"variations" => variations = p.variations(),
            b"trafficAllocation" => traffic_allocation = p.list(Self::traffic),
            b"forcedVariations" => forced_variations = p.string_map(),
            b"type" => kind = p.optional(Self::text),
            b"cmab" => cmab = p.optional(Self::value),
        });
        Some(Experiment {
            id: id?,
            key: key?,
            layer_id: layer_id?,
            status: status?,
            variations: variations?,
            traffic_allocation: traffic_allocation?,
            audience_ids: audience_ids?,
            audience_conditions: audience_conditions.flatten(),
            forced_variations: forced_variations?,
            kind: kind.flatten(),
            cmab: cmab.flatten(),
        })
    }

    /// An object of strings; a repeated key keeps its last value.
    fn string_map(&mut self) -> Option<HashMap<Text<'a>, Text<'a>>> {
        let mut map = HashMap::new();
        self.eat(b'{')?;
        self.enter()?;
        if self.next_token()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                let key = self.text()?;
                self.eat(b':')?;
                let value = self.text()?;
                map.insert(key, value);
                match self.next_token()? {
                    b',' => self.pos += 1,
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(map)
    }

    fn rollout_rule(&mut self) -> Option<RolloutRule<'a>> {
        let (mut id, mut key, mut layer_id, mut status) = Default::default();
        let (mut variations, mut traffic_allocation, mut audience_ids) = Default::default();
        let mut audience_conditions = None;
        fields!(self => p, Object::RolloutRule, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
            b"status" => status = p.text(),
            b"layerId" => layer_id = p.text(),
            b"audienceIds" => audience_ids = p.texts(),
            b"audienceConditions" => audience_conditions = p.optional(Self::condition),
            b"variations" => variations = p.variations(),
            b"trafficAllocation" => traffic_allocation = p.list(Self::traffic),
            b"forcedVariations" => _ = p.skip(),
        });
        Some(RolloutRule {
            id: id?,
            key: key?,
            layer_id: layer_id.unwrap_or_default(),
            status: status.unwrap_or_default(),
            variations: variations.unwrap_or_default(),
            traffic_allocation: traffic_allocation.unwrap_or_default(),
            audience_ids: audience_ids.unwrap_or_default(),
            audience_conditions: audience_conditions.flatten(),
        })
    }

    fn group(&mut self) -> Option<Group<'a>> {
        let (mut id, mut policy, mut traffic_allocation, mut experiments) = Default::default();
        fields!(self => p, Object::Group, {
            b"id" => id = p.text(),
            b"policy" => policy = p.text(),
            b"trafficAllocation" => traffic_allocation = p.list(Self::traffic),
            b"experiments" => experiments = p.vec(Self::experiment),
        });
        Some(Group {
            id: id?,
            policy: policy?,
            traffic_allocation: traffic_allocation?,
            experiments: experiments?,
        })
    }

    fn feature_flag(&mut self) -> Option<FeatureFlag<'a>> {
        let (mut id, mut key, mut rollout_id, mut experiment_ids, mut variables) =
            Default::default();
        fields!(self => p, Object::FeatureFlag, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
            b"rolloutId" => rollout_id = p.text(),
            b"experimentIds" => experiment_ids = p.texts(),
            b"variables" => variables = p.run(|p| &mut p.lists.variables, Self::variable),
        });
        Some(FeatureFlag {
            id: id?,
            key: key?,
            rollout_id: rollout_id.unwrap_or_default(),
            experiment_ids: experiment_ids.unwrap_or_default(),
            variables: variables.unwrap_or_default(),
        })
    }

    fn variable(&mut self) -> Option<Variable<'a>> {
        let (mut id, mut key, mut kind, mut sub_type, mut default_value) = Default::default();
        fields!(self => p, Object::Variable, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
            b"type" => kind = p.text(),
            b"defaultValue" => default_value = p.raw_text(),
            b"subType" => sub_type = p.optional(Self::text),
        });
        Some(Variable {
            id: id?,
            key: key?,
            kind: kind?,
            sub_type: sub_type.flatten(),
            default_value: default_value?,
        })
    }

    fn rollout(&mut self) -> Option<Rollout<'a>> {
        let (mut id, mut experiments) = Default::default();
        fields!(self => p, Object::Rollout, {
            b"id" => id = p.text(),
            b"experiments" => experiments = p.run(|p| &mut p.lists.rollout_rules, Self::rollout_rule),
        });
        Some(Rollout {
            id: id?,
            experiments: experiments.unwrap_or_default(),
        })
    }

    fn event(&mut self) -> Option<Event<'a>> {
        let (mut id, mut key, mut experiment_ids) = Default::default();
        fields!(self => p, Object::Event, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
            b"experimentIds" => experiment_ids = p.texts(),
        });
        Some(Event {
            id: id?,
            key: key?,
            experiment_ids: experiment_ids?,
        })
    }

    fn integration(&mut self) -> Option<Integration<'a>> {
        let (mut key, mut host, mut public_key) = Default::default();
        fields!(self => p, Object::Integration, {
            b"key" => key = p.text(),
            b"host" => host = p.optional(Self::text),
            b"publicKey" => public_key = p.optional(Self::text),
        });
        Some(Integration {
            key: key?,
            host: host.flatten(),
            public_key: public_key.flatten(),
        })
    }

    fn holdout(&mut self) -> Option<Holdout<'a>> {
        let (mut id, mut key, mut status) = Default::default();
        let (mut variations, mut traffic_allocation, mut audience_ids) = Default::default();
        let (mut audience_conditions, mut included_rules, mut exclude_targeted_deliveries) =
            Default::default();
        fields!(self => p, Object::Holdout, {
            b"id" => id = p.text(),
            b"key" => key = p.text(),
            b"status" => status = p.text(),
            b"variations" => variations = p.variations(),
            b"trafficAllocation" => traffic_allocation = p.list(Self::traffic),
            b"audienceIds" => audience_ids = p.texts(),
            b"audienceConditions" => audience_conditions = p.optional(Self::condition),
            b"includedRules" => included_rules = p.optional(Self::texts),
            b"excludeTargetedDeliveries" => exclude_targeted_deliveries = p.bool(),
        });
        Some(Holdout {
            id: id?,
            key: key?,
            status: status.unwrap_or_default(),
            variations: variations.unwrap_or_default(),
            traffic_allocation: traffic_allocation.unwrap_or_default(),
            audience_ids: audience_ids.unwrap_or_default(),
            audience_conditions: audience_conditions.flatten(),
            included_rules: included_rules.flatten(),
            exclude_targeted_deliveries: exclude_targeted_deliveries.unwrap_or_default(),
        })
    }
}

/// The serde reading of `text` before any version check, duplicate fields resolved as the
/// datafile layer resolves them: what [`parse`] must agree with.
#[cfg(any(test, fuzzing))]
pub(crate) fn serde_model(text: &str) -> Option<Datafile<'_>> {
    use serde::Deserialize;
    match serde_json::from_str::<Datafile>(text) {
        Ok(datafile) => Some(datafile),
        Err(e) if e.to_string().starts_with("duplicate field") => {
            let value: Value = serde_json::from_str(text).ok()?;
            Datafile::deserialize(value).ok()
        }
        Err(_) => None,
    }
}

/// Whether the one-pass reader agrees with serde on `text`: it gives no model, or the model
/// serde gives. For the differential fuzz target.
#[cfg(fuzzing)]
pub fn readers_agree(text: &str) -> bool {
    match parse(text) {
        Some(fast) => serde_model(text).as_ref() == Some(&fast.detached()),
        None => true,
    }
}

#[cfg(test)]
mod tests;
