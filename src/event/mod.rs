//! The event layer's data: user events (impressions and conversions) built from a decision or a
//! `track` call, exactly as the official Python SDK (`optimizely/event/user_event_factory.py`)
//! builds them, and the batch payload sent to the Optimizely event endpoint ([`payload`]).
//!
//! Invariant: a [`UserEvent`] is complete once built. It carries its own [`EventContext`]
//! (account, project, revision, client, IP anonymisation, bot filtering, region) taken from the
//! config that decided it, and its visitor attributes already in wire form, so a batch built
//! later (after a datafile update, on another thread) reports what was decided, and batches
//! can be split wherever the context changes.

#![allow(
    dead_code,
    reason = "called by the client's decide and track paths and by the batch processor"
)]

pub(crate) mod dispatcher;
pub(crate) mod http;
mod ids;
pub(crate) mod json;
pub(crate) mod payload;
pub(crate) mod processor;
pub(crate) mod spool;
pub(crate) mod tags;
mod uuid;
mod worker;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use payload::log_events;
#[allow(
    unused_imports,
    reason = "the API the client and the batch processor use"
)]
pub(crate) use payload::{log_event, LogEvent};

use crate::config::{ProjectConfig, Region, Rule, RuleKind, Variation};
use crate::decision::{FlagDecision, HeldOut, PackedDecision, Source, NONE};
use crate::small_str::SmallStr;
use crate::value::{AttributeValue, Attributes};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

/// The `client_name` this crate reports in event batches.
pub(crate) const CLIENT_NAME: &str = "decisive";

/// The `client_version` this crate reports in event batches.
pub(crate) const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Attribute keys with this prefix are sent even when the datafile does not list them.
pub(crate) const RESERVED_ATTRIBUTE_PREFIX: &str = "$opt_";

/// The visitor attribute carrying the datafile's `botFiltering`.
pub(crate) const BOT_FILTERING_ATTRIBUTE: &str = "$opt_bot_filtering";

/// The `key` of an impression's activation event.
pub(crate) const ACTIVATE_EVENT_KEY: &str = "campaign_activated";

/// The `type` of every visitor attribute.
pub(crate) const CUSTOM_ATTRIBUTE_TYPE: &str = "custom";

/// Why a user event could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum EventError {
    /// `track` named an event key the datafile does not have (the Python SDK sends nothing).
    UnknownEvent(String),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::UnknownEvent(key) => {
                write!(
                    f,
                    "event key {key:?} is not in the datafile; nothing tracked"
                )
            }
        }
    }
}

impl std::error::Error for EventError {}

/// The batch-level facts of a user event; events are batched together only while these are
/// equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventContext {
    /// The datafile's `accountId` (kept in place when short, as ids are: an event holds its
    /// context, and copies it when cloned, without an allocation).
    pub account_id: SmallStr,
    /// The datafile's `projectId`.
    pub project_id: SmallStr,
    /// The datafile's `revision`.
    pub revision: SmallStr,
    /// This SDK's name ([`CLIENT_NAME`]).
    pub client_name: &'static str,
    /// This SDK's version ([`CLIENT_VERSION`]).
    pub client_version: &'static str,
    /// The datafile's `anonymizeIP`.
    pub anonymize_ip: bool,
    /// The datafile's `botFiltering`, when it is a boolean.
    pub bot_filtering: Option<bool>,
    /// The region whose endpoint receives the batch.
    pub region: Region,
}

impl EventContext {
    /// The context of events decided with `config`.
    pub(crate) fn of(config: &ProjectConfig) -> EventContext {
        EventContext {
            account_id: config.account_id.clone(),
            project_id: config.project_id.clone(),
            revision: config.revision.clone(),
            client_name: CLIENT_NAME,
            client_version: CLIENT_VERSION,
            anonymize_ip: config.anonymize_ip,
            bot_filtering: config.bot_filtering,
            region: config.region,
        }
    }
}

/// One entry of a visitor's `attributes`: `{entity_id, key, type: "custom", value}`.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VisitorAttribute {
    /// The datafile's attribute id, or the key itself for a `$opt_` key the datafile lacks.
    pub entity_id: String,
    /// The attribute key as the user gave it.
    pub key: String,
    /// A string, boolean or number (finite, |x| ≤ 2^53), as the user gave it.
    pub value: Value,
}

/// What every user event carries besides its own kind's data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventHeader {
    /// The batch-level facts: one allocation, shared by the event's clones (an event is made
    /// on the caller's thread and dropped on the event thread, where each allocation it holds
    /// is freed away from the thread that made it).
    pub context: Arc<EventContext>,
    /// The user id (`visitor_id`) and the visitor attributes in wire form, in the user's
    /// attribute order, then `$opt_bot_filtering` when the datafile has a boolean
    /// `botFiltering`.
    pub visitor: WireVisitor,
    /// The bytes of a random version-4 UUID naming this event (written out with the batch).
    pub uuid: [u8; 16],
    /// When the event was made, in milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// A visitor as a batch reports it: its id and its attributes in wire form, their strings
/// kept in one text (two allocations however many attributes there are).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WireVisitor {
    /// The id, then each attribute's entity id, key and string value, one after another.
    text: String,
    /// Where the id ends in `text`.
    id_end: usize,
    /// The attributes, in order.
    attributes: Vec<WireAttribute>,
}

/// A [`WireVisitor`]'s attribute: where its strings are in the visitor's text.
#[derive(Debug, Clone, PartialEq)]
struct WireAttribute {
    /// The entity id's range.
    entity_id: (usize, usize),
    /// The key's range.
    key: (usize, usize),
    /// The value: a string's range, or the value itself.
    value: WireValueAt,
}

/// A [`WireAttribute`]'s value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum WireValueAt {
    /// A string, by its range in the visitor's text.
    Str(usize, usize),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl WireVisitor {
    /// User `user_id` with `attributes`, as events decided with `config` report them (see
    /// [`for_each_visitor_attribute`]).
    pub(crate) fn new(config: &ProjectConfig, user_id: &str, attributes: &Attributes) -> Self {
        let mut text = String::with_capacity(user_id.len() + 16 * attributes.len() + 40);
        text.push_str(user_id);
        let id_end = text.len();
        let mut list = Vec::new();
        let push = |text: &mut String, s: &str| {
            let start = text.len();
            text.push_str(s);
            (start, text.len())
        };
        for_each_visitor_attribute(config, attributes, |entity_id, key, value| {
            let entity_id = push(&mut text, entity_id);
            let key = push(&mut text, key);
            let value = match value {
                WireValue::Str(s) => {
                    let (start, end) = push(&mut text, s);
                    WireValueAt::Str(start, end)
                }
                WireValue::Bool(b) => WireValueAt::Bool(b),
                WireValue::Int(i) => WireValueAt::Int(i),
                WireValue::Float(f) => WireValueAt::Float(f),
            };
            list.push(WireAttribute {
                entity_id,
                key,
                value,
            });
        });
        WireVisitor {
            text,
            id_end,
            attributes: list,
        }
    }

    /// The user id.
    pub(crate) fn id(&self) -> &str {
        self.text.get(..self.id_end).unwrap_or_default()
    }

    /// Each attribute's entity id, key and value, in order.
    pub(crate) fn attributes(&self) -> impl Iterator<Item = (&str, &str, WireValue<'_>)> {
        let at = |(start, end): (usize, usize)| self.text.get(start..end).unwrap_or_default();
        self.attributes.iter().map(move |a| {
            let value = match a.value {
                WireValueAt::Str(start, end) => WireValue::Str(at((start, end))),
                WireValueAt::Bool(b) => WireValue::Bool(b),
                WireValueAt::Int(i) => WireValue::Int(i),
                WireValueAt::Float(f) => WireValue::Float(f),
            };
            (at(a.entity_id), at(a.key), value)
        })
    }
}

/// An impression: the user was shown a flag decision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Impression {
    /// The layer id of the rule, else its id (`""` without a rule). Also the activation's
    /// `entity_id`.
    pub campaign_id: String,
    /// The rule's (experiment's, delivery rule's or holdout's) id; `""` without a rule.
    pub experiment_id: String,
    /// The variation id when it is a non-empty string of ASCII digits, else `None` (`null`).
    pub variation_id: Option<String>,
    /// The flag key.
    pub flag_key: String,
    /// The rule key; `""` without a rule.
    pub rule_key: String,
    /// `feature-test`, `rollout`, `holdout` (or `experiment` for a legacy activate).
    pub rule_type: &'static str,
    /// The variation key; `""` without a variation.
    pub variation_key: String,
    /// Whether the flag is on for the user.
    pub enabled: bool,
    /// The CMAB prediction's UUID, for a CMAB rule; sent only when non-empty.
    pub cmab_uuid: Option<String>,
}

/// A conversion: the user did something the datafile lists as an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conversion {
    /// The datafile event's id (the snapshot event's `entity_id`), then its key: one
    /// allocation for both.
    names: String,
    /// Where the id ends in `names`.
    id_end: usize,
    /// The caller's tags, unchanged (`revenue` and `value` stay in them).
    pub tags: Option<Map<String, Value>>,
    /// The integer `revenue` tag.
    pub revenue: Option<i64>,
    /// The numeric `value` tag.
    pub value: Option<f64>,
}

impl Conversion {
    /// A conversion of the datafile event with id `event_id` and key `event_key`.
    fn new(
        event_id: &str,
        event_key: &str,
        tags: Option<&Map<String, Value>>,
        revenue: Option<i64>,
        value: Option<f64>,
    ) -> Conversion {
        let mut names = String::with_capacity(event_id.len() + event_key.len());
        names.push_str(event_id);
        names.push_str(event_key);
        Conversion {
            names,
            id_end: event_id.len(),
            tags: tags.cloned(),
            revenue,
            value,
        }
    }

    /// The datafile event's id (the snapshot event's `entity_id`).
    pub(crate) fn event_id(&self) -> &str {
        self.names.get(..self.id_end).unwrap_or_default()
    }

    /// The event key.
    pub(crate) fn event_key(&self) -> &str {
        self.names.get(self.id_end..).unwrap_or_default()
    }
}

/// An event about one user (an impression or a conversion), ready to be batched: built by the
/// SDK from a decision or a `track`, and handed to a
/// [`BatchEventProcessor`](crate::BatchEventProcessor).
#[derive(Debug, Clone, PartialEq)]
pub struct UserEvent(pub(crate) Kind);

/// What a [`UserEvent`] holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A decision was made (and is reported).
    Impression {
        /// Context, visitor, uuid and time.
        header: EventHeader,
        /// The decision.
        impression: Impression,
    },
    /// A `track` call.
    Conversion {
        /// Context, visitor, uuid and time.
        header: EventHeader,
        /// The event.
        conversion: Conversion,
    },
}

impl UserEvent {
    /// Context, visitor, uuid and time.
    pub(crate) fn header(&self) -> &EventHeader {
        match &self.0 {
            Kind::Impression { header, .. } | Kind::Conversion { header, .. } => header,
        }
    }

    /// The batch-level facts.
    pub(crate) fn context(&self) -> &EventContext {
        &self.header().context
    }
}

/// Whether a flag decision sends an impression (Python `_create_optimizely_decision`): never
/// with `DISABLE_DECISION_EVENT`; always for an experiment rule (`feature-test`, which includes
/// flag-level forced decisions) or a holdout; for a delivery rule or no decision (`rollout`)
/// only when the datafile's `sendFlagDecisions` is true.
pub(crate) fn should_send_impression(
    source: Source,
    send_flag_decisions: bool,
    disable_decision_event: bool,
) -> bool {
    !disable_decision_event
        && (matches!(source, Source::FeatureTest | Source::Holdout) || send_flag_decisions)
}

/// The impressions a flag decision sends, in order: first, for a user held out by a global
/// holdout that lets targeted deliveries decide the flag, the holdout's own impression; then
/// the decision's, when [`should_send_impression`] says so. Nothing with
/// `DISABLE_DECISION_EVENT`.
pub(crate) fn reported(
    decision: FlagDecision,
    held_out: Option<HeldOut>,
    send_flag_decisions: bool,
    disable_decision_event: bool,
) -> [Option<FlagDecision>; 2] {
    let holdout = held_out
        .filter(|_| !disable_decision_event && decision.source != Source::Holdout)
        .map(|held| FlagDecision {
            rule: Some(held.rule),
            variation: Some(held.variation),
            source: Source::Holdout,
        });
    let own = should_send_impression(decision.source, send_flag_decisions, disable_decision_event)
        .then_some(decision);
    [holdout, own]
}

/// The impression of `decision` for flag `flag_key` and user `user_id`.
///
/// As the Python SDK: the variation reported is looked up again by the decided variation's id,
/// among the flag's rules' variations (first rule that has the id) or, for a holdout, among the
/// holdout's; a decided variation with an empty id reports none. `enabled` is the decided
/// variation's `featureEnabled`.
pub(crate) fn impression(
    config: &ProjectConfig,
    decision: &FlagDecision,
    flag_key: &str,
    user_id: &str,
    attributes: &Attributes,
) -> UserEvent {
    let header = header(config, user_id, attributes);
    impression_with(config, decision, flag_key, header)
}

/// The impression of `decision` for flag `flag_key` with `header` (see [`impression`]).
fn impression_with(
    config: &ProjectConfig,
    decision: &FlagDecision,
    flag_key: &str,
    header: EventHeader,
) -> UserEvent {
    let parts = impression_parts(config, decision, flag_key);
    UserEvent(Kind::Impression {
        header,
        impression: Impression {
            campaign_id: parts.campaign_id.to_owned(),
            experiment_id: parts.experiment_id.to_owned(),
            variation_id: parts.variation_id.map(str::to_owned),
            flag_key: parts.flag_key.to_owned(),
            rule_key: parts.rule_key.to_owned(),
            rule_type: parts.rule_type,
            variation_key: parts.variation_key.to_owned(),
            enabled: parts.enabled,
            cmab_uuid: None,
        },
    })
}

/// What an impression reports, borrowed from the config (see [`Impression`] for each field).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ImpressionParts<'a> {
    pub campaign_id: &'a str,
    pub experiment_id: &'a str,
    pub variation_id: Option<&'a str>,
    pub flag_key: &'a str,
    pub rule_key: &'a str,
    pub rule_type: &'static str,
    pub variation_key: &'a str,
    pub enabled: bool,
    pub cmab_uuid: Option<&'a str>,
}

/// What the impression of `decision` for flag `flag_key` reports (see [`impression`]).
pub(crate) fn impression_parts<'a>(
    config: &'a ProjectConfig,
    decision: &FlagDecision,
    flag_key: &'a str,
) -> ImpressionParts<'a> {
    let rule = decision.rule.and_then(|r| config.rule(r));
    let decided = decision.variation.and_then(|v| config.variation(v));
    let experiment_id = rule.map_or("", |r| &*r.id);
    let layer_id = rule
        .filter(|r| r.kind != RuleKind::Holdout)
        .map_or("", |r| &*r.layer_id);
    let reported = match decided.map(|v| &*v.id) {
        Some(id) if !id.is_empty() => {
            if !flag_key.is_empty() && decision.source != Source::Holdout {
                flag_variation_by_id(config, flag_key, id)
            } else if !experiment_id.is_empty() {
                rule.and_then(|r| rule_variation_by_id(config, r, id))
            } else {
                None
            }
        }
        _ => None,
    };
    ImpressionParts {
        campaign_id: ids::campaign_id(layer_id, experiment_id),
        experiment_id,
        variation_id: reported.and_then(|v| ids::variation_id(&v.id)),
        flag_key,
        rule_key: rule.map_or("", |r| &*r.key),
        rule_type: decision.source.as_str(),
        variation_key: reported.map_or("", |v| &*v.key),
        enabled: decided.is_some_and(|v| v.feature_enabled),
        cmab_uuid: None,
    }
}

/// The conversion of event `event_key` for user `user_id` with `tags`; an error when the
/// datafile has no such event.
pub(crate) fn conversion(
    config: &ProjectConfig,
    event_key: &str,
    user_id: &str,
    attributes: &Attributes,
    event_tags: Option<&Map<String, Value>>,
) -> Result<UserEvent, EventError> {
    let event = config
        .event_index
        .get(event_key)
        .and_then(|&i| config.events.get(i as usize))
        .ok_or_else(|| EventError::UnknownEvent(event_key.to_owned()))?;
    Ok(UserEvent(Kind::Conversion {
        header: header(config, user_id, attributes),
        conversion: Conversion::new(
            &event.id,
            &event.key,
            event_tags,
            event_tags.and_then(tags::revenue),
            event_tags.and_then(tags::numeric_value),
        ),
    }))
}

/// A user and the config their user context resolved its attributes against, kept together
/// by the user context so that each event of its decisions holds one reference (to this, on a
/// cache line of the user's) rather than one to the config, which every event would share.
/// The event thread keeps here the user's visitor entry as it writes it with this config
/// (from the second event on), so that the later events of a user context copy one piece of
/// text rather than reading the user's id and attributes again.
#[derive(Debug)]
pub(crate) struct EventSource {
    /// The config.
    pub config: Arc<ProjectConfig>,
    /// The user.
    pub visitor: Arc<Visitor>,
    /// The visitor entry's text up to its snapshots, once kept.
    pub(crate) head: OnceLock<Box<str>>,
    /// Whether the event thread has written an event of this source (the second keeps the
    /// text: a user context that sends one event never pays for keeping it).
    pub(crate) seen: AtomicBool,
}

impl EventSource {
    /// The source of events of `visitor` decided with `config`.
    pub(crate) fn new(config: Arc<ProjectConfig>, visitor: Arc<Visitor>) -> EventSource {
        EventSource {
            config,
            visitor,
            head: OnceLock::new(),
            seen: AtomicBool::new(false),
        }
    }
}

/// Where a queued event comes from: the config that decided (or looked up the event key) and
/// the user.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// The user context's own source: the usual case.
    Shared(Arc<EventSource>),
    /// A config other than the user context's (one that replaced it since), with the user.
    Own(Arc<ProjectConfig>, Arc<Visitor>),
}

impl Origin {
    /// The config.
    pub(crate) fn config(&self) -> &Arc<ProjectConfig> {
        match self {
            Origin::Shared(source) => &source.config,
            Origin::Own(config, _) => config,
        }
    }

    /// The user.
    pub(crate) fn visitor(&self) -> &Arc<Visitor> {
        match self {
            Origin::Shared(source) => &source.visitor,
            Origin::Own(_, visitor) => visitor,
        }
    }
}

/// A conversion as `track_event` hands it over: the datafile event as an index, the config
/// and user, the caller's tags with `revenue` and `value` already read, a uuid and a time. The
/// event thread writes its wire form; [`Tracked::build`] gives the same as [`conversion`].
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    /// The config the event key was looked up in, and the user.
    pub origin: Origin,
    /// The datafile event, as an index into the config's events.
    pub event: u32,
    /// The caller's tags with what they say, when given (boxed: most conversions have none,
    /// and a queue slot stays as small as an impression).
    pub tags: Option<Box<TrackedTags>>,
    /// The event's uuid, drawn (its bits are computed when it is written).
    pub uuid: uuid::UuidDraw,
    /// When the event was tracked, in milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// A conversion's tags and the `revenue` and `value` read from them.
#[derive(Debug, Clone)]
pub(crate) struct TrackedTags {
    /// The caller's tags, unchanged.
    pub tags: Map<String, Value>,
    /// The integer `revenue` tag.
    pub revenue: Option<i64>,
    /// The numeric `value` tag.
    pub value: Option<f64>,
}

impl Tracked {
    /// The conversion of `event_key` by `visitor` with `event_tags`, stamped now; an error
    /// when the datafile has no such event.
    pub(crate) fn new(
        origin: Origin,
        event_key: &str,
        event_tags: Option<&Map<String, Value>>,
    ) -> Result<Tracked, EventError> {
        let config = origin.config();
        let event = config
            .event_index
            .get(event_key)
            .copied()
            .filter(|&i| (i as usize) < config.events.len())
            .ok_or_else(|| EventError::UnknownEvent(event_key.to_owned()))?;
        Ok(Tracked {
            origin,
            event,
            tags: event_tags.map(|t| {
                Box::new(TrackedTags {
                    revenue: tags::revenue(t),
                    value: tags::numeric_value(t),
                    tags: t.clone(),
                })
            }),
            uuid: uuid::draw(),
            timestamp: uuid::now_millis(),
        })
    }

    /// The datafile event's id and key.
    pub(crate) fn id_and_key(&self) -> (&str, &str) {
        self.origin
            .config()
            .events
            .get(self.event as usize)
            .map_or(("", ""), |e| (&*e.id, &*e.key))
    }

    /// The conversion in wire form (what the event thread writes, as a value to compare).
    #[cfg(test)]
    pub(crate) fn build(&self) -> UserEvent {
        let (event_id, event_key) = self.id_and_key();
        UserEvent(Kind::Conversion {
            header: header_at(
                self.origin.config(),
                &self.origin.visitor().user_id,
                &self.origin.visitor().attributes,
                self.uuid.bytes(),
                self.timestamp,
            ),
            conversion: Conversion::new(
                event_id,
                event_key,
                self.tags.as_ref().map(|t| &t.tags),
                self.tags.as_ref().and_then(|t| t.revenue),
                self.tags.as_ref().and_then(|t| t.value),
            ),
        })
    }
}

/// Context, visitor, a new uuid and the current time.
fn header(config: &ProjectConfig, user_id: &str, attributes: &Attributes) -> EventHeader {
    header_at(
        config,
        user_id,
        attributes,
        uuid::new_uuid_bytes(),
        uuid::now_millis(),
    )
}

/// Context and visitor, with the given uuid and time.
fn header_at(
    config: &ProjectConfig,
    user_id: &str,
    attributes: &Attributes,
    uuid: [u8; 16],
    timestamp: u64,
) -> EventHeader {
    EventHeader {
        context: Arc::new(EventContext::of(config)),
        visitor: WireVisitor::new(config, user_id, attributes),
        uuid,
        timestamp,
    }
}

/// A user as events report them: the id and the attributes at the time of the event. Shared
/// (behind an `Arc`) between a user context and the events it made, so an event costs its
/// caller no copy of the attributes.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Visitor {
    /// The user id.
    pub user_id: String,
    /// The attributes.
    pub attributes: Attributes,
}

/// An impression as the decide path hands it over: the decision as config indexes, the
/// config and user it was made with, a uuid and a time. Its wire form (strings, visitor
/// attributes) is built on the event thread by [`Decided::build`], with exactly the result
/// [`impression`] gives. It is kept small (56 bytes: no uuid bits, the clock reading as it was
/// read, the decision's indexes unwrapped, the queue's tag in the clock reading's unused
/// values) so that a queue slot, with its stamp, fits one 64-byte cache line.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Decided {
    /// The config that decided, and the user.
    pub origin: Origin,
    /// The event's uuid, drawn (its bits are computed when it is written).
    pub uuid: uuid::UuidDraw,
    /// The flag, as an index into the config's flags.
    pub flag: u32,
    /// The decision's rule index, [`NONE`] for none.
    rule: u32,
    /// The decision's variation index, [`NONE`] for none.
    variation: u32,
    /// The decision's source.
    source: Source,
    /// When the decision was made (its milliseconds are computed when it is written). Last,
    /// so that the queue can tell its kinds of events apart by the clock reading's unused
    /// values, after the bytes of the others.
    pub timestamp: uuid::Moment,
}

impl Decided {
    /// The impression of `decision` of flag `flag` for `visitor`, stamped now.
    pub(crate) fn new(origin: Origin, flag: u32, decision: FlagDecision) -> Decided {
        Decided::packed(origin, flag, PackedDecision::pack(decision))
    }

    /// [`Decided::new`] for a decision packed as the decide path has it.
    #[inline]
    pub(crate) fn packed(origin: Origin, flag: u32, decision: PackedDecision) -> Decided {
        Decided {
            origin,
            uuid: uuid::draw(),
            timestamp: uuid::Moment::now(),
            flag,
            rule: decision.rule(),
            variation: decision.variation(),
            source: decision.source,
        }
    }

    /// The outcome reported, packed.
    pub(crate) fn packed_decision(&self) -> PackedDecision {
        PackedDecision::new(self.rule, self.variation, self.source)
    }

    /// The outcome reported.
    pub(crate) fn decision(&self) -> FlagDecision {
        let index = |i: u32| (i != NONE).then_some(i);
        FlagDecision {
            rule: index(self.rule),
            variation: index(self.variation),
            source: self.source,
        }
    }

    /// The impression in wire form (what the event thread writes, as a value to compare).
    #[cfg(test)]
    pub(crate) fn build(&self) -> UserEvent {
        let config = &**self.origin.config();
        let flag_key = config.flags.get(self.flag as usize).map_or("", |f| &*f.key);
        let header = header_at(
            config,
            &self.origin.visitor().user_id,
            &self.origin.visitor().attributes,
            self.uuid.bytes(),
            self.timestamp.millis(),
        );
        impression_with(config, &self.decision(), flag_key, header)
    }
}

/// The visitor attributes of `attributes` (Python `EventFactory.build_attribute_list`).
///
/// Each attribute, in the user's order, whose value is a string, a boolean or a finite number
/// of magnitude at most 2^53: a key the datafile lists is sent with the datafile's id (even a
/// `$opt_` key), another `$opt_` key with the key as its id, any other key not at all; an
/// empty datafile id drops the attribute. Then `$opt_bot_filtering` when the datafile has a
/// boolean `botFiltering`.
#[cfg(test)]
pub(crate) fn visitor_attributes(
    config: &ProjectConfig,
    attributes: &Attributes,
) -> Vec<VisitorAttribute> {
    WireVisitor::new(config, "", attributes)
        .attributes()
        .map(|(entity_id, key, value)| VisitorAttribute {
            entity_id: entity_id.to_owned(),
            key: key.to_owned(),
            value: value.to_value(),
        })
        .collect()
}

/// Calls `f(entity_id, key, value)` for each visitor attribute of `attributes`, in order (see
/// [`visitor_attributes`]), `$opt_bot_filtering` last.
pub(crate) fn for_each_visitor_attribute<'a>(
    config: &'a ProjectConfig,
    attributes: &'a Attributes,
    mut f: impl FnMut(&'a str, &'a str, WireValue<'a>),
) {
    for (key, value) in attributes.iter() {
        let Some(value) = WireValue::of(value) else {
            continue;
        };
        match attribute_entity(config, key) {
            AttributeEntity::Listed(id) => f(id, key, value),
            AttributeEntity::Reserved => f(key, key, value),
            AttributeEntity::Dropped => {}
        }
    }
    if let Some(bot_filtering) = config.bot_filtering {
        f(
            BOT_FILTERING_ATTRIBUTE,
            BOT_FILTERING_ATTRIBUTE,
            WireValue::Bool(bot_filtering),
        );
    }
}

/// Whether and under which id an attribute key is sent (the rule of
/// [`visitor_attributes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttributeEntity<'c> {
    /// A key the datafile lists, sent with the datafile's (non-empty) id.
    Listed(&'c str),
    /// A `$opt_` key the datafile does not list, sent with the key as its id.
    Reserved,
    /// Not sent: an unlisted key, or a listed one with an empty id.
    Dropped,
}

/// How attribute `key` is sent with `config`.
pub(crate) fn attribute_entity<'c>(config: &'c ProjectConfig, key: &str) -> AttributeEntity<'c> {
    let listed = config
        .attribute_index
        .get(key)
        .and_then(|&i| config.attributes.get(i as usize));
    match listed {
        Some(def) if def.id.is_empty() => AttributeEntity::Dropped,
        Some(def) => AttributeEntity::Listed(&def.id),
        None if key.starts_with(RESERVED_ATTRIBUTE_PREFIX) => AttributeEntity::Reserved,
        None => AttributeEntity::Dropped,
    }
}

/// An attribute value the event endpoint accepts: a string, a boolean, or a finite number of
/// magnitude at most 2^53.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum WireValue<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl<'a> WireValue<'a> {
    /// `value` in wire form, when the event endpoint accepts it.
    pub(crate) fn of(value: &'a AttributeValue) -> Option<WireValue<'a>> {
        match value {
            AttributeValue::String(s) => Some(WireValue::Str(s)),
            AttributeValue::Bool(b) => Some(WireValue::Bool(*b)),
            AttributeValue::Int(i) if value.is_valid_number() => Some(WireValue::Int(*i)),
            AttributeValue::Float(f) if value.is_valid_number() => Some(WireValue::Float(*f)),
            _ => None,
        }
    }

    /// As a JSON value.
    #[cfg(test)]
    fn to_value(self) -> Value {
        match self {
            WireValue::Str(s) => Value::from(s),
            WireValue::Bool(b) => Value::Bool(b),
            WireValue::Int(i) => Value::from(i),
            WireValue::Float(f) => {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
        }
    }
}

/// The variation with id `id` among the variations of flag `flag_key`'s rules: the first rule
/// (experiment rules, then delivery rules) that has one (Python `get_flag_variation`).
fn flag_variation_by_id<'c>(
    config: &'c ProjectConfig,
    flag_key: &str,
    id: &str,
) -> Option<&'c Variation> {
    let (_, flag) = config.flag(flag_key)?;
    let (experiments, deliveries) = config.rules_of(flag);
    experiments
        .iter()
        .chain(deliveries)
        .filter_map(|&r| config.rule(r))
        .find_map(|rule| rule_variation_by_id(config, rule, id))
}

/// The variation with id `id` of `rule` (the last one, when several share it, as in the
/// official SDKs' id maps).
fn rule_variation_by_id<'c>(
    config: &'c ProjectConfig,
    rule: &Rule,
    id: &str,
) -> Option<&'c Variation> {
    rule.variations
        .iter()
        .rev()
        .filter_map(|&v| config.variation(v))
        .find(|v| *v.id == *id)
}

impl UserEvent {
    /// The conversion event a `track` of `event_key` by `user_id` sends, decided with
    /// `config`; `None` when the datafile has no such event. For feeding a
    /// [`BatchEventProcessor`](crate::BatchEventProcessor) directly (tests, or tracking outside a client).
    pub fn conversion(
        config: &ProjectConfig,
        event_key: &str,
        user_id: &str,
        attributes: &Attributes,
    ) -> Option<UserEvent> {
        conversion(config, event_key, user_id, attributes, None).ok()
    }
}
