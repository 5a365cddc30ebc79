//! The event batch as the Optimizely event endpoint takes it (Python
//! `optimizely/event/event_factory.py` and `payload.py`):
//!
//! ```text
//! {account_id, project_id, revision, client_name, client_version, anonymize_ip,
//!  enrich_decisions: true, visitors: [
//!    {visitor_id, attributes: [{entity_id, key, type: "custom", value}],
//!     snapshots: [{decisions: [{campaign_id, experiment_id, variation_id,
//!                               metadata: {flag_key, rule_key, rule_type, variation_key,
//!                                          enabled, cmab_uuid?}}],
//!                  events: [{entity_id: campaign_id, key: "campaign_activated", timestamp, uuid}]}]}
//!  ]}
//! ```
//!
//! A conversion's snapshot has no `decisions` key and one event `{entity_id: event id, key:
//! event key, timestamp, uuid, tags?, revenue?, value?}`; the optional keys are left out when
//! absent. One visitor per user event, never merged.

use super::json::JsonWriter;
use super::uuid::{MillisecondSpan, Moment};
use super::{
    attribute_entity, impression_parts, tags, AttributeEntity, Conversion, Decided, EventContext,
    EventHeader, ImpressionParts, Kind, Origin, Tracked, UserEvent, Visitor, WireValue,
    ACTIVATE_EVENT_KEY, CLIENT_NAME, CLIENT_VERSION, CUSTOM_ATTRIBUTE_TYPE,
};
use crate::config::{ProjectConfig, Region};
use crate::decision::PackedDecision;
use serde_json::{Map, Number, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The US event endpoint (the default).
pub(crate) const US_ENDPOINT: &str = "https://logx.optimizely.com/v1/events";

/// The EU event endpoint.
pub(crate) const EU_ENDPOINT: &str = "https://eu.logx.optimizely.com/v1/events";

/// The HTTP method of every batch.
pub(crate) const HTTP_METHOD: &str = "POST";

/// The headers of every batch.
pub(crate) const HTTP_HEADERS: [(&str, &str); 1] = [("Content-Type", "application/json")];

/// The request header [`HttpDispatcher`](crate::HttpDispatcher) sends a batch's
/// [`LogEvent::batch_id`] in: every attempt of one batch carries the same value.
pub const BATCH_ID_HEADER: &str = "X-Decisive-Batch-Id";

/// One HTTP request to the event endpoint: what the dispatcher sends and what LOG_EVENT
/// listeners receive.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// The endpoint of the batch's region.
    pub url: &'static str,
    /// Always `POST`.
    pub method: &'static str,
    /// Always `Content-Type: application/json`.
    pub headers: [(&'static str, &'static str); 1],
    /// The batch object as JSON text, exactly the bytes sent.
    pub body: String,
    /// How many user events (visitors) the batch holds.
    pub event_count: usize,
    /// The batch's id: a random UUID given when the batch is built. Every attempt to send the
    /// batch carries it (retries, and sends from the spool after a restart), so a receiver
    /// can tell a batch that arrives twice; [`HttpDispatcher`](crate::HttpDispatcher) sends
    /// it in the [`BATCH_ID_HEADER`] header. The official SDKs send no such header; the body
    /// is the same either way. A batch the service finds too large is sent again in halves,
    /// each a new batch with an id of its own.
    pub batch_id: String,
}

impl LogEvent {
    /// The batch object parsed (`Null` if the body were not JSON, which a batch built by this
    /// crate never is).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The event endpoint of `region`.
pub(crate) fn endpoint(region: Region) -> &'static str {
    match region {
        Region::Us => US_ENDPOINT,
        Region::Eu => EU_ENDPOINT,
    }
}

/// One request holding `events`, with the batch fields and endpoint of the first event's
/// context (as the Python SDK does); `None` for no events. Callers batch together only events
/// with equal contexts ([`log_events`] splits for them).
pub(crate) fn log_event<T: BatchItem>(events: &[T]) -> Option<LogEvent> {
    log_event_with(events, &mut Fragments::default(), String::new())
}

/// [`log_event`], reusing the text `fragments` of earlier batches and writing into `buf` (its
/// text is replaced; its capacity is kept, so a buffer from an earlier batch saves the
/// allocation).
pub(crate) fn log_event_with<T: BatchItem>(
    events: &[T],
    fragments: &mut Fragments,
    buf: String,
) -> Option<LogEvent> {
    let context = events.first()?.context();
    fragments.last_head = None;
    fragments.head_copied = false;
    let mut w = JsonWriter::reusing(buf, 256 + 768 * events.len());
    w.raw("{\"account_id\":");
    w.string(context.account_id);
    w.raw(",\"project_id\":");
    w.string(context.project_id);
    w.raw(",\"revision\":");
    w.string(context.revision);
    w.raw(",\"client_name\":");
    w.string(CLIENT_NAME);
    w.raw(",\"client_version\":");
    w.string(CLIENT_VERSION);
    w.raw(",\"anonymize_ip\":");
    w.bool(context.anonymize_ip);
    w.raw(",\"enrich_decisions\":true,\"visitors\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            w.raw(",");
        }
        event.write_visitor(&mut w, fragments);
    }
    w.raw("]}");
    Some(LogEvent {
        url: endpoint(context.region),
        method: HTTP_METHOD,
        headers: HTTP_HEADERS,
        body: w.finish(),
        event_count: events.len(),
        batch_id: super::uuid::new_uuid(),
    })
}

/// The runs of consecutive events with equal contexts, in order: what one request may hold.
#[cfg(test)]
fn context_runs<T: BatchItem>(events: &[T]) -> impl Iterator<Item = &[T]> {
    events.chunk_by(|a, b| a.same_context(b))
}

/// One request per run of consecutive events with equal contexts, in order.
#[cfg(test)]
pub(crate) fn log_events<T: BatchItem>(events: &[T]) -> Vec<LogEvent> {
    context_runs(events).filter_map(log_event).collect()
}

/// Pieces of batch text that depend only on the config, kept by the event thread so that
/// most of an impression is copied rather than written string by string: per decision (flag,
/// rule, variation, rule type) the snapshot up to its timestamp, and per datafile attribute
/// the attribute entry up to its value. Bounded by the config's flags, rules, variations and
/// attributes; cleared when events of another config arrive.
#[derive(Default)]
pub(crate) struct Fragments {
    /// The config the fragments were made from.
    config: Option<Arc<ProjectConfig>>,
    /// Snapshot text up to and including `"timestamp":`, by flag index, then by decision (a
    /// flag's few decisions are scanned). As long as the config's flags.
    snapshots: Vec<Vec<(PackedDecision, Box<str>)>>,
    /// Attribute entry text up to and including `"value":`, by the keys the datafile lists.
    attributes: PrefixTable,
    /// The last timestamp written, and its text: events made within the same millisecond
    /// (most of them, when many are made) copy it.
    timestamp: (u64, String),
    /// The clock readings of the last converted reading's millisecond.
    span: Option<MillisecondSpan>,
    /// The visitor head last written into the request being written: the visitor's and the
    /// config's addresses, and where its text lies. A user's next event in the same request
    /// (a `decide_all` makes one per flag) copies that text. Addresses identify them only
    /// while the request's events are alive, so this is cleared when a request starts.
    last_head: Option<LastHead>,
    /// The text of `last_head` when `head_copied` (copied out for its first repeat; the
    /// buffer is kept from one visitor to the next).
    head_copy: String,
    /// Whether `head_copy` holds the text of `last_head`.
    head_copied: bool,
}

/// See [`Fragments::last_head`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct LastHead {
    visitor: usize,
    config: usize,
    start: usize,
    end: usize,
}

impl Fragments {
    /// The milliseconds of `moment`: from the span of the last reading converted when it lies
    /// there (events made within one millisecond, most of them when many are made).
    fn millis(&mut self, moment: Moment) -> u64 {
        if let Some(millis) = self.span.and_then(|s| s.millis_of(moment)) {
            return millis;
        }
        self.span = MillisecondSpan::of(moment);
        self.span.map_or_else(|| moment.millis(), |s| s.millis())
    }

    /// The decimal text of `timestamp`.
    fn timestamp(&mut self, timestamp: u64) -> &str {
        let (last, text) = &mut self.timestamp;
        if *last != timestamp || text.is_empty() {
            let mut w = JsonWriter::reusing(std::mem::take(text), 20);
            w.unsigned(timestamp);
            *text = w.finish();
            *last = timestamp;
        }
        text
    }

    /// Makes the fragments those of `config`.
    fn use_config(&mut self, config: &Arc<ProjectConfig>) {
        if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            self.snapshots.clear();
            self.snapshots.resize_with(config.flags.len(), Vec::new);
            self.attributes.clear();
            self.config = Some(Arc::clone(config));
        }
    }
}

/// Attribute entry prefixes by attribute key: an open-addressed table whose probes compare a
/// key's length and its first and last eight bytes before the key itself (for keys of up to
/// 16 bytes, the usual case, those words are the whole key), so a lookup is a few word
/// operations rather than a general hash and a byte comparison.
#[derive(Default)]
pub(crate) struct PrefixTable {
    /// Entry index + 1 per slot, 0 for an empty slot; a power of two long, at most half full.
    slots: Vec<u32>,
    /// The entries, in insertion order.
    entries: Vec<PrefixEntry>,
}

/// One key of a [`PrefixTable`] and its prefix.
struct PrefixEntry {
    /// The key's length and its first and last eight bytes (see [`key_words`]).
    words: KeyWords,
    /// The key.
    key: Box<str>,
    /// Its entry text up to `"value":`.
    prefix: Box<str>,
}

/// A key's length and its first and last eight bytes as words (zero-padded when shorter).
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeyWords {
    len: usize,
    head: u64,
    tail: u64,
}

/// The [`KeyWords`] of `key`.
#[inline(always)]
fn key_words(key: &[u8]) -> KeyWords {
    let word = |b: Option<&[u8]>| {
        b.and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let len = key.len();
    let (head, tail) = match len {
        0 => (0, 0),
        1..=7 => (crate::hash::tail_word(key), 0),
        _ => (word(key.get(..8)), word(key.get(len - 8..))),
    };
    KeyWords { len, head, tail }
}

impl KeyWords {
    /// The slot to probe first in a table of `mask + 1` slots.
    #[inline(always)]
    fn home(self, mask: usize) -> usize {
        let mixed = (self.head ^ self.tail.rotate_left(29) ^ self.len as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 40) as usize & mask
    }
}

impl PrefixTable {
    /// The prefix of `key`, if inserted.
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        let mask = self.slots.len().checked_sub(1)?;
        let words = key_words(key.as_bytes());
        let mut at = words.home(mask);
        loop {
            let index = (*self.slots.get(at)? as usize).checked_sub(1)?;
            let entry = self.entries.get(index)?;
            // Keys of up to 16 bytes are equal when their words are.
            if entry.words == words && (words.len <= 16 || *entry.key == *key) {
                return Some(&entry.prefix);
            }
            at = (at + 1) & mask;
        }
    }

    /// Inserts `key` (not yet in the table) with `prefix`; returns the prefix.
    fn insert(&mut self, key: &str, prefix: Box<str>) -> &str {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let words = key_words(key.as_bytes());
        self.entries.push(PrefixEntry {
            words,
            key: key.into(),
            prefix,
        });
        let index = self.entries.len();
        self.place(words, index);
        self.entries.last().map_or("", |e| &e.prefix)
    }

    /// Puts entry `index` (1-based) into the first free slot from its home.
    fn place(&mut self, words: KeyWords, index: usize) {
        let Some(mask) = self.slots.len().checked_sub(1) else {
            return;
        };
        let mut at = words.home(mask);
        while let Some(slot) = self.slots.get_mut(at) {
            if *slot == 0 {
                *slot = u32::try_from(index).unwrap_or(0);
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Doubles the slots (at least 16) and places every entry again.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        self.slots = vec![0; size];
        let words: Vec<KeyWords> = self.entries.iter().map(|e| e.words).collect();
        for (i, w) in words.into_iter().enumerate() {
            self.place(w, i + 1);
        }
    }

    /// Empties the table.
    fn clear(&mut self) {
        self.slots.clear();
        self.entries.clear();
    }
}

/// The batch-level facts of an event, borrowed: events batch together only while these are
/// equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContextRef<'a> {
    pub account_id: &'a str,
    pub project_id: &'a str,
    pub revision: &'a str,
    pub anonymize_ip: bool,
    pub bot_filtering: Option<bool>,
    pub region: Region,
}

impl<'a> ContextRef<'a> {
    /// The context of events decided with `config`.
    pub(crate) fn of_config(config: &'a ProjectConfig) -> ContextRef<'a> {
        ContextRef {
            account_id: config.account_id(),
            project_id: config.project_id(),
            revision: config.revision(),
            anonymize_ip: config.anonymize_ip(),
            bot_filtering: config.bot_filtering(),
            region: config.region(),
        }
    }

    /// A built event's context.
    pub(crate) fn of_event(context: &'a EventContext) -> ContextRef<'a> {
        ContextRef {
            account_id: &context.account_id,
            project_id: &context.project_id,
            revision: &context.revision,
            anonymize_ip: context.anonymize_ip,
            bot_filtering: context.bot_filtering,
            region: context.region,
        }
    }
}

/// A user event a batch can hold: its context, and its visitor entry written as JSON.
pub(crate) trait BatchItem {
    /// The batch-level facts.
    fn context(&self) -> ContextRef<'_>;

    /// Whether `self` and `other` may share a batch.
    fn same_context(&self, other: &Self) -> bool {
        self.context() == other.context()
    }

    /// Writes the visitor entry `{visitor_id, attributes, snapshots: [one snapshot]}`, using
    /// (and adding to) `fragments` where it can.
    fn write_visitor(&self, w: &mut JsonWriter, fragments: &mut Fragments);
}

impl BatchItem for UserEvent {
    fn context(&self) -> ContextRef<'_> {
        ContextRef::of_event(UserEvent::context(self))
    }

    fn same_context(&self, other: &Self) -> bool {
        let (a, b) = (&self.header().context, &other.header().context);
        Arc::ptr_eq(a, b) || a == b
    }

    fn write_visitor(&self, w: &mut JsonWriter, fragments: &mut Fragments) {
        let header = self.header();
        w.raw("{\"visitor_id\":");
        w.string(header.visitor.id());
        w.raw(",\"attributes\":[");
        for (i, (entity_id, key, value)) in header.visitor.attributes().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            write_attribute(w, entity_id, key, |w| write_wire_value(w, value));
        }
        w.raw("],\"snapshots\":[");
        match &self.0 {
            Kind::Impression { header, impression } => {
                let parts = ImpressionParts {
                    campaign_id: &impression.campaign_id,
                    experiment_id: &impression.experiment_id,
                    variation_id: impression.variation_id.as_deref(),
                    flag_key: &impression.flag_key,
                    rule_key: &impression.rule_key,
                    rule_type: impression.rule_type,
                    variation_key: &impression.variation_key,
                    enabled: impression.enabled,
                    cmab_uuid: impression.cmab_uuid.as_deref(),
                };
                let timestamp = fragments.timestamp(header.timestamp);
                write_impression_snapshot(w, &parts, timestamp, &header.uuid);
            }
            Kind::Conversion { header, conversion } => {
                let timestamp = fragments.timestamp(header.timestamp);
                write_conversion_snapshot(w, header, timestamp, conversion);
            }
        }
        w.raw("]}");
    }
}

impl BatchItem for Decided {
    fn context(&self) -> ContextRef<'_> {
        ContextRef::of_config(self.origin.config())
    }

    fn same_context(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.origin.config(), other.origin.config())
            || self.context() == other.context()
    }

    fn write_visitor(&self, w: &mut JsonWriter, fragments: &mut Fragments) {
        let config = &**self.origin.config();
        write_visitor_head(w, fragments, &self.origin);
        let flag = config.flags.get(self.flag as usize);
        let decision = self.packed_decision();
        let snapshots = flag.and_then(|_| fragments.snapshots.get_mut(self.flag as usize));
        let kept = snapshots
            .as_ref()
            .and_then(|list| list.iter().find(|(d, _)| *d == decision));
        if let Some((_, text)) = kept {
            w.raw(text);
        } else {
            let parts = impression_parts(config, &self.decision(), flag.map_or("", |f| &*f.key));
            let mut text = JsonWriter::with_capacity(512);
            write_impression_head(&mut text, &parts);
            let text = text.finish().into_boxed_str();
            w.raw(&text);
            if let Some(list) = snapshots {
                list.push((decision, text));
            }
        }
        write_impression_tail(
            w,
            {
                let millis = fragments.millis(self.timestamp);
                fragments.timestamp(millis)
            },
            &self.uuid.bytes(),
        );
        w.raw("]}");
    }
}

/// `{"visitor_id":…,"attributes":[…],"snapshots":[` for the user of an event from `origin`:
/// the text its user context's source keeps, when it does (kept from the source's second
/// event on), else written.
fn write_visitor_head(w: &mut JsonWriter, fragments: &mut Fragments, origin: &Origin) {
    fragments.use_config(origin.config());
    let Origin::Shared(source) = origin else {
        write_visitor_head_text(w, fragments, origin.config(), origin.visitor());
        return;
    };
    if let Some(text) = source.head.get() {
        w.raw(text);
        return;
    }
    let start = w.len();
    write_visitor_head_text(w, fragments, &source.config, &source.visitor);
    if source.seen.swap(true, Ordering::Relaxed) {
        if let Some(text) = w.written(start..w.len()) {
            let _ = source.head.set(text.into());
        }
    }
}

/// `{"visitor_id":…,"attributes":[…],"snapshots":[` for `visitor`, decided or tracked with
/// `config` (the fragments' config): the attributes [`attribute_entity`] lets through, from
/// `fragments` where it can.
fn write_visitor_head_text(
    w: &mut JsonWriter,
    fragments: &mut Fragments,
    config_arc: &Arc<ProjectConfig>,
    visitor: &Visitor,
) {
    let config = &**config_arc;
    let (visitor_at, config_at) = (
        std::ptr::from_ref(visitor) as usize,
        Arc::as_ptr(config_arc) as usize,
    );
    if let Some(last) = fragments.last_head {
        if (last.visitor, last.config) == (visitor_at, config_at) {
            if !fragments.head_copied {
                if let Some(text) = w.written(last.start..last.end) {
                    fragments.head_copy.clear();
                    fragments.head_copy.push_str(text);
                    fragments.head_copied = true;
                }
            }
            if fragments.head_copied {
                w.raw(&fragments.head_copy);
                return;
            }
        }
    }
    let start = w.len();
    w.raw("{\"visitor_id\":");
    w.string(&visitor.user_id);
    w.raw(",\"attributes\":[");
    let mut first = true;
    for (key, value) in visitor.attributes.iter() {
        let Some(value) = WireValue::of(value) else {
            continue;
        };
        // Only keys the datafile lists are cached: the cache stays bounded whatever keys come.
        let made;
        let prefix = match fragments.attributes.get(key) {
            Some(prefix) => prefix,
            None => match attribute_entity(config, key) {
                AttributeEntity::Listed(id) => fragments
                    .attributes
                    .insert(key, attribute_prefix(id, key).into()),
                AttributeEntity::Reserved => {
                    made = attribute_prefix(key, key);
                    made.as_str()
                }
                AttributeEntity::Dropped => continue,
            },
        };
        if !first {
            w.raw(",");
        }
        first = false;
        w.raw(prefix);
        write_wire_value(w, value);
        w.raw("}");
    }
    if let Some(bot_filtering) = config.bot_filtering() {
        if !first {
            w.raw(",");
        }
        w.raw(BOT_FILTERING_PREFIX);
        w.bool(bot_filtering);
        w.raw("}");
    }
    w.raw("],\"snapshots\":[");
    fragments.last_head = Some(LastHead {
        visitor: visitor_at,
        config: config_at,
        start,
        end: w.len(),
    });
    fragments.head_copied = false;
}

impl BatchItem for Tracked {
    fn context(&self) -> ContextRef<'_> {
        ContextRef::of_config(self.origin.config())
    }

    fn same_context(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.origin.config(), other.origin.config())
            || self.context() == other.context()
    }

    fn write_visitor(&self, w: &mut JsonWriter, fragments: &mut Fragments) {
        write_visitor_head(w, fragments, &self.origin);
        let (event_id, event_key) = self.id_and_key();
        w.raw("{\"events\":[");
        write_snapshot_event(
            w,
            event_id,
            event_key,
            fragments.timestamp(self.timestamp),
            &self.uuid.bytes(),
        );
        let tags = self.tags.as_deref();
        write_conversion_extras(
            w,
            tags.map(|t| &t.tags),
            tags.and_then(|t| t.revenue),
            tags.and_then(|t| t.value),
        );
        w.raw("}]}]}");
    }
}

/// The entry of `$opt_bot_filtering` up to its value.
const BOT_FILTERING_PREFIX: &str = "{\"entity_id\":\"$opt_bot_filtering\",\"key\":\"$opt_bot_filtering\",\"type\":\"custom\",\"value\":";

/// `{"entity_id":…,"key":…,"type":"custom","value":`.
fn attribute_prefix(entity_id: &str, key: &str) -> String {
    let mut w = JsonWriter::with_capacity(64 + entity_id.len() + key.len());
    w.raw("{\"entity_id\":");
    w.string(entity_id);
    w.raw(",\"key\":");
    w.string(key);
    w.raw(",\"type\":\"");
    w.raw(CUSTOM_ATTRIBUTE_TYPE);
    w.raw("\",\"value\":");
    w.finish()
}

/// An attribute value in wire form.
fn write_wire_value(w: &mut JsonWriter, value: WireValue<'_>) {
    match value {
        WireValue::Str(s) => w.string(s),
        WireValue::Bool(b) => w.bool(b),
        WireValue::Int(i) => w.integer(i),
        WireValue::Float(f) => w.value(&f),
    }
}

/// `{entity_id, key, type: "custom", value}`.
fn write_attribute(
    w: &mut JsonWriter,
    entity_id: &str,
    key: &str,
    value: impl FnOnce(&mut JsonWriter),
) {
    w.raw("{\"entity_id\":");
    w.string(entity_id);
    w.raw(",\"key\":");
    w.string(key);
    w.raw(",\"type\":\"");
    w.raw(CUSTOM_ATTRIBUTE_TYPE);
    w.raw("\"");
    w.raw(",\"value\":");
    value(w);
    w.raw("}");
}

/// An impression's snapshot: one decision and its activation event.
fn write_impression_snapshot(
    w: &mut JsonWriter,
    parts: &ImpressionParts<'_>,
    timestamp: &str,
    uuid: &[u8; 16],
) {
    write_impression_head(w, parts);
    write_impression_tail(w, timestamp, uuid);
}

/// An impression's snapshot up to its activation's timestamp: what depends only on the
/// config and the decision.
fn write_impression_head(w: &mut JsonWriter, parts: &ImpressionParts<'_>) {
    w.raw("{\"decisions\":[{\"campaign_id\":");
    w.string(parts.campaign_id);
    w.raw(",\"experiment_id\":");
    w.string(parts.experiment_id);
    w.raw(",\"variation_id\":");
    match parts.variation_id {
        Some(id) => w.string(id),
        None => w.null(),
    }
    w.raw(",\"metadata\":{\"flag_key\":");
    w.string(parts.flag_key);
    w.raw(",\"rule_key\":");
    w.string(parts.rule_key);
    w.raw(",\"rule_type\":");
    w.string(parts.rule_type);
    w.raw(",\"variation_key\":");
    w.string(parts.variation_key);
    w.raw(",\"enabled\":");
    w.bool(parts.enabled);
    if let Some(cmab_uuid) = parts.cmab_uuid.filter(|u| !u.is_empty()) {
        w.raw(",\"cmab_uuid\":");
        w.string(cmab_uuid);
    }
    w.raw("}}],\"events\":[{\"entity_id\":");
    w.string(parts.campaign_id);
    w.raw(",\"key\":");
    w.string(ACTIVATE_EVENT_KEY);
    w.raw(",\"timestamp\":");
}

/// The rest of an impression's snapshot: the activation's timestamp (its decimal text) and
/// uuid.
fn write_impression_tail(w: &mut JsonWriter, timestamp: &str, uuid: &[u8; 16]) {
    w.raw(timestamp);
    w.raw(",\"uuid\":");
    w.uuid(uuid);
    w.raw("}]}");
}

/// `{entity_id, key, timestamp, uuid` (left open for a conversion's extra fields).
fn write_snapshot_event(
    w: &mut JsonWriter,
    entity_id: &str,
    key: &str,
    timestamp: &str,
    uuid: &[u8; 16],
) {
    w.raw("{\"entity_id\":");
    w.string(entity_id);
    w.raw(",\"key\":");
    w.string(key);
    w.raw(",\"timestamp\":");
    w.raw(timestamp);
    w.raw(",\"uuid\":");
    w.uuid(uuid);
}

/// A conversion's snapshot: one event with its tags, revenue and value when present.
fn write_conversion_snapshot(
    w: &mut JsonWriter,
    header: &EventHeader,
    timestamp: &str,
    conversion: &Conversion,
) {
    w.raw("{\"events\":[");
    write_snapshot_event(
        w,
        conversion.event_id(),
        conversion.event_key(),
        timestamp,
        &header.uuid,
    );
    write_conversion_extras(
        w,
        conversion.tags.as_ref(),
        conversion.revenue,
        conversion.value,
    );
    w.raw("}]}");
}

/// A conversion event's `tags` (cleaned), `revenue` and `value`, each when present.
fn write_conversion_extras(
    w: &mut JsonWriter,
    event_tags: Option<&Map<String, Value>>,
    revenue: Option<i64>,
    value: Option<f64>,
) {
    if let Some(event_tags) = event_tags {
        w.raw(",\"tags\":");
        w.value(&tags::cleaned(event_tags));
    }
    if let Some(revenue) = revenue {
        w.raw(",\"revenue\":");
        w.integer(revenue);
    }
    if let Some(value) = value.and_then(Number::from_f64) {
        w.raw(",\"value\":");
        w.value(&value);
    }
}

/// `body` with the compatibility fixtures' normalisation: every `uuid` becomes `"<uuid>"`,
/// every `timestamp` 0, and the batch loses `client_name` and `client_version`.
pub(crate) fn normalised(mut body: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    match k.as_str() {
                        "uuid" => *x = Value::from("<uuid>"),
                        "timestamp" => *x = Value::from(0),
                        _ => walk(x),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if let Value::Object(map) = &mut body {
        map.remove("client_name");
        map.remove("client_version");
    }
    walk(&mut body);
    body
}

#[cfg(test)]
mod prefix_tests {
    use super::*;
    use crate::event::BOT_FILTERING_ATTRIBUTE;

    #[test]
    fn the_bot_filtering_prefix_is_the_written_one() {
        assert_eq!(
            BOT_FILTERING_PREFIX,
            attribute_prefix(BOT_FILTERING_ATTRIBUTE, BOT_FILTERING_ATTRIBUTE)
        );
    }
}

#[cfg(test)]
mod prefix_table_tests {
    use super::*;

    #[test]
    fn every_inserted_key_finds_its_own_prefix_and_no_other_key_finds_one() {
        let mut keys: Vec<String> = (0..40).map(|n| "k".repeat(n)).collect();
        // Long keys that agree in their length and first and last eight bytes.
        keys.extend((0..10).map(|i| format!("first8bytes-{i}-last8bytes")));
        keys.extend(["", "a\0", "ü", "$opt_user_agent"].map(String::from));
        keys.sort();
        keys.dedup();
        let mut table = PrefixTable::default();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(table.insert(key, format!("p{i}").into()), format!("p{i}"));
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(table.get(key), Some(format!("p{i}").as_str()), "{key:?}");
        }
        for missing in [
            "a",
            "kk\0",
            "first8bytes-x-last8bytes",
            "K",
            "$opt_user_agenT",
        ] {
            assert_eq!(table.get(missing), None, "{missing:?}");
        }
        table.clear();
        assert_eq!(table.get("k"), None);
    }
}
