//! A datafile reader written for the datafile's shape: it reads the document in one pass
//! straight into the [`model`](super::model) types, borrowing every string without escapes,
//! and gives up (`None`) on anything it is not certain to read exactly as the serde
//! definitions do — a syntax error, a wrong type, a duplicate field, an escaped field name,
//! deep nesting. The caller then reads the document again with serde, which either gives the
//! same model or names the problem. So this reader decides nothing on its own: it is only a
//! faster road to the same result.

use super::conditions::{LegacyConditions, RawCondition, RawLeaf};
use super::model::*;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Nesting deeper than this is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 96;

/// Reads `text` as a datafile; `None` when the serde reading must decide.
pub(crate) fn parse(text: &str) -> Option<Datafile<'_>> {
    let mut p = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let datafile = p.datafile()?;
    p.ws();
    (p.pos == p.bytes.len()).then_some(datafile)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

/// Marks field `bit` as read; `None` when it was read before (serde rejects a duplicate field).
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    let mask = 1u32 << bit;
    if *seen & mask != 0 {
        return None;
    }
    *seen |= mask;
    Some(())
}

/// Whether `b` ends an unescaped run inside a string.
fn special(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
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
    // Only ASCII bytes were replaced, by ASCII bytes: the text stays UTF-8.
    String::from_utf8(out).unwrap_or_default()
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
            _ => self.ws_run(),
        }
    }

    /// [`Reader::ws`] past its common cases, out of line so that the common cases stay small.
    #[inline(never)]
    fn ws_run(&mut self) {
        let mut i = self.pos;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b' ' | b'\r' | b'\t' => i += 1,
                b'\n' => {
                    i += 1;
                    // An indented document: skip the indentation eight bytes at a time.
                    while let Some(chunk) = self.bytes.get(i..i + 8) {
                        let mut word = [0u8; 8];
                        word.copy_from_slice(chunk);
                        let spaces =
                            (u64::from_le_bytes(word) ^ 0x2020_2020_2020_2020).trailing_zeros() / 8;
                        i += spaces as usize;
                        if spaces < 8 {
                            break;
                        }
                    }
                }
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
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.next_token()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                let key = self.key()?;
                self.eat(b':')?;
                field(self, key)?;
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
        Some(())
    }

    /// Reads an array, calling `item` to read each element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        if self.next_token()? == b']' {
            self.pos += 1;
        } else {
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

    fn vec<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut items = Vec::new();
        self.array(|p| {
            items.push(item(p)?);
            Some(())
        })?;
        Some(items)
    }

    /// An object key without escapes, as written.
    fn key(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
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
        let mut i = self.pos;
        while let Some(chunk) = self.bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_le_bytes(word);
            const ONES: u64 = 0x0101_0101_0101_0101;
            const HIGHS: u64 = 0x8080_8080_8080_8080;
            let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
            let hits = (x.wrapping_sub(ONES * 0x20) & !x & HIGHS)
                | zero(x ^ (ONES * u64::from(b'"')))
                | zero(x ^ (ONES * u64::from(b'\\')));
            if hits != 0 {
                // The lowest flagged byte is exact; later flags may be borrow artefacts.
                return i + (hits.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&b) = self.bytes.get(i) {
            if special(b) {
                return i;
            }
            i += 1;
        }
        i
    }

    /// A string value: borrowed when it holds no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        match self.string_literal()? {
            Literal::Plain(s) => Some(Cow::Borrowed(s)),
            Literal::Escaped(body) => Some(Cow::Owned(unescape(body))),
            Literal::Unicode(quoted) => serde_json::from_str(quoted).ok().map(Cow::Owned),
        }
    }

    /// A string as written, checked as serde_json checks it.
    fn string_literal(&mut self) -> Option<Literal<'a>> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = self.run_end();
        if self.bytes.get(end)? == &b'"' {
            self.pos = end + 1;
            return self.text.get(start..end).map(Literal::Plain);
        }
        self.pos = end;
        let unicode = self.skip_string_body()?;
        if unicode {
            self.text.get(start - 1..self.pos).map(Literal::Unicode)
        } else {
            self.text.get(start..self.pos - 1).map(Literal::Escaped)
        }
    }

    /// Skips a string's contents and closing quote (the opening quote already read),
    /// checking it as serde_json does; true when it holds a unicode escape.
    fn skip_string_body(&mut self) -> Option<bool> {
        let mut unicode = false;
        loop {
            self.pos = self.run_end();
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(unicode);
                }
                b'\\' => match self.bytes.get(self.pos + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
                    b'u' => {
                        let hex = self.bytes.get(self.pos + 2..self.pos + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        unicode = true;
                        self.pos += 6;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    fn text(&mut self) -> Option<Text<'a>> {
        self.string().map(Text)
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
                serde_json::from_str(self.text.get(start..self.pos)?).ok()
            }
        }
    }

    fn datafile(&mut self) -> Option<Datafile<'a>> {
        let (mut version, mut revision, mut account_id, mut project_id) = (None, None, None, None);
        let (mut anonymize_ip, mut bot_filtering, mut send_flag_decisions) = (false, None, false);
        let (mut sdk_key, mut environment_key, mut region) = (None, None, None);
        let (mut attributes, mut audiences, mut typed_audiences) = (None, None, Vec::new());
        let (mut experiments, mut groups, mut feature_flags) = (None, None, Vec::new());
        let (mut rollouts, mut events, mut integrations) = (Vec::new(), None, Vec::new());
        let (mut holdouts, mut local_holdouts) = (Vec::new(), Vec::new());
        let mut seen = 0u32;
        self.object(|p, key| {
            match key {
                b"version" => {
                    once(&mut seen, 0)?;
                    version = Some(p.text()?);
                }
                b"revision" => {
                    once(&mut seen, 1)?;
                    revision = Some(p.text()?);
                }
                b"accountId" => {
                    once(&mut seen, 2)?;
                    account_id = Some(p.text()?);
                }
                b"projectId" => {
                    once(&mut seen, 3)?;
                    project_id = Some(p.text()?);
                }
                b"anonymizeIP" => {
                    once(&mut seen, 4)?;
                    anonymize_ip = p.bool()?;
                }
                b"botFiltering" => {
                    once(&mut seen, 5)?;
                    bot_filtering = p.optional(Self::bool)?;
                }
                b"sendFlagDecisions" => {
                    once(&mut seen, 6)?;
                    send_flag_decisions = p.bool()?;
                }
                b"sdkKey" => {
                    once(&mut seen, 7)?;
                    sdk_key = p.optional(Self::text)?;
                }
                b"environmentKey" => {
                    once(&mut seen, 8)?;
                    environment_key = p.optional(Self::text)?;
                }
                b"region" => {
                    once(&mut seen, 9)?;
                    region = p.optional(Self::text)?;
                }
                b"attributes" => {
                    once(&mut seen, 10)?;
                    attributes = Some(p.vec(Self::attribute)?);
                }
                b"audiences" => {
                    once(&mut seen, 11)?;
                    audiences = Some(p.vec(Self::audience)?);
                }
                b"typedAudiences" => {
                    once(&mut seen, 12)?;
                    typed_audiences = p.vec(Self::typed_audience)?;
                }
                b"experiments" => {
                    once(&mut seen, 13)?;
                    experiments = Some(p.vec(Self::experiment)?);
                }
                b"groups" => {
                    once(&mut seen, 14)?;
                    groups = Some(p.vec(Self::group)?);
                }
                b"featureFlags" => {
                    once(&mut seen, 15)?;
                    feature_flags = p.vec(Self::feature_flag)?;
                }
                b"rollouts" => {
                    once(&mut seen, 16)?;
                    rollouts = p.vec(Self::rollout)?;
                }
                b"events" => {
                    once(&mut seen, 17)?;
                    events = Some(p.vec(Self::event)?);
                }
                b"integrations" => {
                    once(&mut seen, 18)?;
                    integrations = p.vec(Self::integration)?;
                }
                b"holdouts" => {
                    once(&mut seen, 19)?;
                    holdouts = p.vec(Self::holdout)?;
                }
                b"localHoldouts" => {
                    once(&mut seen, 20)?;
                    local_holdouts = p.vec(Self::holdout)?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Datafile {
            version: version?,
            revision: revision?,
            account_id: account_id?,
            project_id: project_id?,
            anonymize_ip,
            bot_filtering,
            send_flag_decisions,
            sdk_key,
            environment_key,
            region,
            attributes: attributes?,
            audiences: audiences?,
            typed_audiences,
            experiments: experiments?,
            groups: groups?,
            feature_flags,
            rollouts,
            events: events?,
            integrations,
            holdouts,
            local_holdouts,
        })
    }

    fn attribute(&mut self) -> Option<Attribute<'a>> {
        let (mut id, mut key, mut seen) = (None, None, 0);
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Attribute { id: id?, key: key? })
    }

    fn audience(&mut self) -> Option<Audience<'a>> {
        let (mut id, mut name, mut conditions, mut seen) = (None, Text::default(), None, 0);
        self.object(|p, key| {
            match key {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"name" => {
                    once(&mut seen, 1)?;
                    name = p.text()?;
                }
                b"conditions" => {
                    once(&mut seen, 2)?;
                    conditions = Some(if p.next_token()? == b'"' {
                        // Usually replaced by a typed audience: decoded only when read.
                        match p.string_literal()? {
                            Literal::Plain(s) => LegacyConditions::Encoded(Cow::Borrowed(s)),
                            Literal::Escaped(body) => LegacyConditions::Escaped(body),
                            Literal::Unicode(quoted) => {
                                LegacyConditions::Encoded(serde_json::from_str(quoted).ok()?)
                            }
                        }
                    } else {
                        LegacyConditions::Tree(p.condition()?)
                    });
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Audience {
            id: id?,
            name,
            conditions: conditions?,
        })
    }

    fn typed_audience(&mut self) -> Option<TypedAudience<'a>> {
        let (mut id, mut name, mut conditions, mut seen) = (None, Text::default(), None, 0);
        self.object(|p, key| {
            match key {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"name" => {
                    once(&mut seen, 1)?;
                    name = p.text()?;
                }
                b"conditions" => {
                    once(&mut seen, 2)?;
                    conditions = Some(p.condition()?);
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(TypedAudience {
            id: id?,
            name,
            conditions: conditions?,
        })
    }

    /// A condition tree node, as [`RawCondition`]'s serde reading gives it.
    fn condition(&mut self) -> Option<RawCondition<'a>> {
        match self.next_token()? {
            b'[' => self.vec(Self::condition).map(RawCondition::List),
            b'"' => self.string().map(RawCondition::Str),
            b'{' => self.leaf().map(RawCondition::Leaf),
            _ => self.value().map(RawCondition::Other),
        }
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
                b"value" => leaf.value = p.value()?,
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(leaf)
    }

    /// A leaf's `name` or `type`: the string, or `None` for null or any other value (read
    /// as a value, so that a number serde cannot read is not let through).
    fn scalar(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.next_token()? == b'"' {
            self.string().map(Some)
        } else {
            self.value().map(|_| None)
        }
    }

    fn traffic(&mut self) -> Option<TrafficRange<'a>> {
        let (mut entity_id, mut end_of_range, mut seen) = (None, None, 0);
        self.object(|p, key| {
            match key {
                b"entityId" => {
                    once(&mut seen, 0)?;
                    entity_id = Some(p.text()?);
                }
                b"endOfRange" => {
                    once(&mut seen, 1)?;
                    end_of_range = Some(p.u32()?);
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(TrafficRange {
            entity_id: entity_id?,
            end_of_range: end_of_range?,
        })
    }

    fn variation(&mut self) -> Option<Variation<'a>> {
        let (mut id, mut key, mut feature_enabled, mut variables) = (None, None, None, Vec::new());
        let mut seen = 0;
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                b"featureEnabled" => {
                    once(&mut seen, 2)?;
                    feature_enabled = p.optional(Self::bool)?;
                }
                b"variables" => {
                    once(&mut seen, 3)?;
                    variables = p.vec(Self::variable_usage)?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Variation {
            id: id?,
            key: key?,
            feature_enabled,
            variables,
        })
    }

    fn variable_usage(&mut self) -> Option<VariableUsage<'a>> {
        let (mut id, mut value, mut seen) = (None, None, 0);
        self.object(|p, key| {
            match key {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"value" => {
                    once(&mut seen, 1)?;
                    value = Some(p.text()?);
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(VariableUsage {
            id: id?,
            value: value?,
        })
    }

    fn texts(&mut self) -> Option<Vec<Text<'a>>> {
        self.vec(Self::text)
    }

    fn experiment(&mut self) -> Option<Experiment<'a>> {
        let (mut id, mut key, mut layer_id, mut status) = (None, None, None, None);
        let (mut variations, mut traffic_allocation, mut audience_ids) = (None, None, None);
        let (mut audience_conditions, mut forced_variations) = (None, None);
        let (mut kind, mut cmab, mut seen) = (None, None, 0);
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                b"layerId" => {
                    once(&mut seen, 2)?;
                    layer_id = Some(p.text()?);
                }
                b"status" => {
                    once(&mut seen, 3)?;
                    status = Some(p.text()?);
                }
                b"variations" => {
                    once(&mut seen, 4)?;
                    variations = Some(p.vec(Self::variation)?);
                }
                b"trafficAllocation" => {
                    once(&mut seen, 5)?;
                    traffic_allocation = Some(p.vec(Self::traffic)?);
                }
                b"audienceIds" => {
                    once(&mut seen, 6)?;
                    audience_ids = Some(p.texts()?);
                }
                b"audienceConditions" => {
                    once(&mut seen, 7)?;
                    audience_conditions = p.optional(Self::condition)?;
                }
                b"forcedVariations" => {
                    once(&mut seen, 8)?;
                    forced_variations = Some(p.string_map()?);
                }
                b"type" => {
                    once(&mut seen, 9)?;
                    kind = p.optional(Self::text)?;
                }
                b"cmab" => {
                    once(&mut seen, 10)?;
                    cmab = p.optional(Self::value)?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Experiment {
            id: id?,
            key: key?,
            layer_id: layer_id?,
            status: status?,
            variations: variations?,
            traffic_allocation: traffic_allocation?,
            audience_ids: audience_ids?,
            audience_conditions,
            forced_variations: forced_variations?,
            kind,
            cmab,
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
        let (mut id, mut key, mut layer_id, mut status) =
            (None, None, Text::default(), Text::default());
        let (mut variations, mut traffic_allocation, mut audience_ids) =
            (Vec::new(), Vec::new(), Vec::new());
        let (mut audience_conditions, mut seen) = (None, 0);
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                b"layerId" => {
                    once(&mut seen, 2)?;
                    layer_id = p.text()?;
                }
                b"status" => {
                    once(&mut seen, 3)?;
                    status = p.text()?;
                }
                b"variations" => {
                    once(&mut seen, 4)?;
                    variations = p.vec(Self::variation)?;
                }
                b"trafficAllocation" => {
                    once(&mut seen, 5)?;
                    traffic_allocation = p.vec(Self::traffic)?;
                }
                b"audienceIds" => {
                    once(&mut seen, 6)?;
                    audience_ids = p.texts()?;
                }
                b"audienceConditions" => {
                    once(&mut seen, 7)?;
                    audience_conditions = p.optional(Self::condition)?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(RolloutRule {
            id: id?,
            key: key?,
            layer_id,
            status,
            variations,
            traffic_allocation,
            audience_ids,
            audience_conditions,
        })
    }

    fn group(&mut self) -> Option<Group<'a>> {
        let (mut id, mut policy, mut traffic_allocation, mut experiments) =
            (None, None, None, None);
        let mut seen = 0;
        self.object(|p, key| {
            match key {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"policy" => {
                    once(&mut seen, 1)?;
                    policy = Some(p.text()?);
                }
                b"trafficAllocation" => {
                    once(&mut seen, 2)?;
                    traffic_allocation = Some(p.vec(Self::traffic)?);
                }
                b"experiments" => {
                    once(&mut seen, 3)?;
                    experiments = Some(p.vec(Self::experiment)?);
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Group {
            id: id?,
            policy: policy?,
            traffic_allocation: traffic_allocation?,
            experiments: experiments?,
        })
    }

    fn feature_flag(&mut self) -> Option<FeatureFlag<'a>> {
        let (mut id, mut key, mut rollout_id) = (None, None, Text::default());
        let (mut experiment_ids, mut variables, mut seen) = (Vec::new(), Vec::new(), 0);
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                b"rolloutId" => {
                    once(&mut seen, 2)?;
                    rollout_id = p.text()?;
                }
                b"experimentIds" => {
                    once(&mut seen, 3)?;
                    experiment_ids = p.texts()?;
                }
                b"variables" => {
                    once(&mut seen, 4)?;
                    variables = p.vec(Self::variable)?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(FeatureFlag {
            id: id?,
            key: key?,
            rollout_id,
            experiment_ids,
            variables,
        })
    }

    fn variable(&mut self) -> Option<Variable<'a>> {
        let (mut id, mut key, mut kind, mut sub_type, mut default_value) =
            (None, None, None, None, None);
        let mut seen = 0;
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                b"type" => {
                    once(&mut seen, 2)?;
                    kind = Some(p.text()?);
                }
                b"subType" => {
                    once(&mut seen, 3)?;
                    sub_type = p.optional(Self::text)?;
                }
                b"defaultValue" => {
                    once(&mut seen, 4)?;
                    default_value = Some(p.text()?);
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Variable {
            id: id?,
            key: key?,
            kind: kind?,
            sub_type,
            default_value: default_value?,
        })
    }

    fn rollout(&mut self) -> Option<Rollout<'a>> {
        let (mut id, mut experiments, mut seen) = (None, Vec::new(), 0);
        self.object(|p, key| {
            match key {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"experiments" => {
                    once(&mut seen, 1)?;
                    experiments = p.vec(Self::rollout_rule)?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Rollout {
            id: id?,
            experiments,
        })
    }

    fn event(&mut self) -> Option<Event<'a>> {
        let (mut id, mut key, mut experiment_ids, mut seen) = (None, None, None, 0);
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                b"experimentIds" => {
                    once(&mut seen, 2)?;
                    experiment_ids = Some(p.texts()?);
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Event {
            id: id?,
            key: key?,
            experiment_ids: experiment_ids?,
        })
    }

    fn integration(&mut self) -> Option<Integration<'a>> {
        let (mut key, mut host, mut public_key, mut seen) = (None, None, None, 0);
        self.object(|p, name| {
            match name {
                b"key" => {
                    once(&mut seen, 0)?;
                    key = Some(p.text()?);
                }
                b"host" => {
                    once(&mut seen, 1)?;
                    host = p.optional(Self::text)?;
                }
                b"publicKey" => {
                    once(&mut seen, 2)?;
                    public_key = p.optional(Self::text)?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Integration {
            key: key?,
            host,
            public_key,
        })
    }

    fn holdout(&mut self) -> Option<Holdout<'a>> {
        let (mut id, mut key, mut status) = (None, None, Text::default());
        let (mut variations, mut traffic_allocation, mut audience_ids) =
            (Vec::new(), Vec::new(), Vec::new());
        let (mut audience_conditions, mut included_rules) = (None, None);
        let (mut exclude_targeted_deliveries, mut seen) = (false, 0);
        self.object(|p, name| {
            match name {
                b"id" => {
                    once(&mut seen, 0)?;
                    id = Some(p.text()?);
                }
                b"key" => {
                    once(&mut seen, 1)?;
                    key = Some(p.text()?);
                }
                b"status" => {
                    once(&mut seen, 2)?;
                    status = p.text()?;
                }
                b"variations" => {
                    once(&mut seen, 3)?;
                    variations = p.vec(Self::variation)?;
                }
                b"trafficAllocation" => {
                    once(&mut seen, 4)?;
                    traffic_allocation = p.vec(Self::traffic)?;
                }
                b"audienceIds" => {
                    once(&mut seen, 5)?;
                    audience_ids = p.texts()?;
                }
                b"audienceConditions" => {
                    once(&mut seen, 6)?;
                    audience_conditions = p.optional(Self::condition)?;
                }
                b"includedRules" => {
                    once(&mut seen, 7)?;
                    included_rules = p.optional(Self::texts)?;
                }
                b"excludeTargetedDeliveries" => {
                    once(&mut seen, 8)?;
                    exclude_targeted_deliveries = p.bool()?;
                }
                _ => p.skip()?,
            }
            Some(())
        })?;
        Some(Holdout {
            id: id?,
            key: key?,
            status,
            variations,
            traffic_allocation,
            audience_ids,
            audience_conditions,
            included_rules,
            exclude_targeted_deliveries,
        })
    }
}

#[cfg(test)]
mod tests;
