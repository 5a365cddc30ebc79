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

use super::{
    tags, Conversion, EventContext, Impression, Kind, UserEvent, VisitorAttribute,
    ACTIVATE_EVENT_KEY, CUSTOM_ATTRIBUTE_TYPE,
};
use crate::config::Region;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Number, Value};

/// The US event endpoint (the default).
pub(crate) const US_ENDPOINT: &str = "https://logx.optimizely.com/v1/events";

/// The EU event endpoint.
pub(crate) const EU_ENDPOINT: &str = "https://eu.logx.optimizely.com/v1/events";

/// The HTTP method of every batch.
pub(crate) const HTTP_METHOD: &str = "POST";

/// The headers of every batch.
pub(crate) const HTTP_HEADERS: [(&str, &str); 1] = [("Content-Type", "application/json")];

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
pub(crate) fn log_event(events: &[UserEvent]) -> Option<LogEvent> {
    let context = events.first()?.context();
    Some(LogEvent {
        url: endpoint(context.region),
        method: HTTP_METHOD,
        headers: HTTP_HEADERS,
        body: batch_text(context, events),
        event_count: events.len(),
    })
}

/// One request per run of consecutive events with equal contexts, in order.
pub(crate) fn log_events(events: &[UserEvent]) -> Vec<LogEvent> {
    events
        .chunk_by(|a, b| a.context() == b.context())
        .filter_map(log_event)
        .collect()
}

/// The batch object of `events` under `context`.
pub(crate) fn batch(context: &EventContext, events: &[UserEvent]) -> Value {
    serde_json::to_value(Batch { context, events }).unwrap_or(Value::Null)
}

/// The batch object of `events` under `context`, as JSON text, written in one pass from the
/// events (no intermediate JSON tree).
pub(crate) fn batch_text(context: &EventContext, events: &[UserEvent]) -> String {
    // Serialising these borrowed shapes cannot fail: every map key is a string and every
    // number finite.
    serde_json::to_string(&Batch { context, events }).unwrap_or_default()
}

/// The batch object, serialised from borrowed parts.
struct Batch<'a> {
    context: &'a EventContext,
    events: &'a [UserEvent],
}

impl Serialize for Batch<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = self.context;
        let mut body = serializer.serialize_struct("Batch", 8)?;
        body.serialize_field("account_id", &c.account_id)?;
        body.serialize_field("project_id", &c.project_id)?;
        body.serialize_field("revision", &c.revision)?;
        body.serialize_field("client_name", c.client_name)?;
        body.serialize_field("client_version", c.client_version)?;
        body.serialize_field("anonymize_ip", &c.anonymize_ip)?;
        body.serialize_field("enrich_decisions", &true)?;
        body.serialize_field("visitors", &Visitors(self.events))?;
        body.end()
    }
}

/// The `visitors` array: one entry per user event.
struct Visitors<'a>(&'a [UserEvent]);

impl Serialize for Visitors<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(VisitorOut))
    }
}

/// The visitor entry of one user event.
struct VisitorOut<'a>(&'a UserEvent);

impl Serialize for VisitorOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let header = self.0.header();
        let mut visitor = serializer.serialize_struct("Visitor", 3)?;
        visitor.serialize_field("visitor_id", &header.visitor_id)?;
        visitor.serialize_field("attributes", &Attributes(&header.attributes))?;
        visitor.serialize_field("snapshots", &[SnapshotOut(self.0)])?;
        visitor.end()
    }
}

/// A visitor's `attributes`: `{entity_id, key, type: "custom", value}` each.
struct Attributes<'a>(&'a [VisitorAttribute]);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|a| AttributeOut {
            entity_id: &a.entity_id,
            key: &a.key,
            kind: CUSTOM_ATTRIBUTE_TYPE,
            value: &a.value,
        }))
    }
}

/// One visitor attribute.
struct AttributeOut<'a> {
    entity_id: &'a str,
    key: &'a str,
    kind: &'static str,
    value: &'a Value,
}

impl Serialize for AttributeOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut attribute = serializer.serialize_struct("Attribute", 4)?;
        attribute.serialize_field("entity_id", self.entity_id)?;
        attribute.serialize_field("key", self.key)?;
        attribute.serialize_field("type", self.kind)?;
        attribute.serialize_field("value", self.value)?;
        attribute.end()
    }
}

/// A visitor's one snapshot: an impression's decision and activation, or a conversion.
struct SnapshotOut<'a>(&'a UserEvent);

impl Serialize for SnapshotOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 .0 {
            Kind::Impression { header, impression } => {
                let mut snapshot = serializer.serialize_struct("Snapshot", 2)?;
                snapshot.serialize_field("decisions", &[DecisionOut(impression)])?;
                snapshot.serialize_field(
                    "events",
                    &[EventOut {
                        entity_id: &impression.campaign_id,
                        key: ACTIVATE_EVENT_KEY,
                        timestamp: header.timestamp,
                        uuid: &header.uuid,
                        conversion: None,
                    }],
                )?;
                snapshot.end()
            }
            Kind::Conversion { header, conversion } => {
                let mut snapshot = serializer.serialize_struct("Snapshot", 1)?;
                snapshot.serialize_field(
                    "events",
                    &[EventOut {
                        entity_id: &conversion.event_id,
                        key: &conversion.event_key,
                        timestamp: header.timestamp,
                        uuid: &header.uuid,
                        conversion: Some(conversion),
                    }],
                )?;
                snapshot.end()
            }
        }
    }
}

/// An impression's decision: `{campaign_id, experiment_id, variation_id, metadata}`.
struct DecisionOut<'a>(&'a Impression);

impl Serialize for DecisionOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let mut decision = serializer.serialize_struct("Decision", 4)?;
        decision.serialize_field("campaign_id", &i.campaign_id)?;
        decision.serialize_field("experiment_id", &i.experiment_id)?;
        decision.serialize_field("variation_id", &i.variation_id)?;
        decision.serialize_field("metadata", &MetadataOut(i))?;
        decision.end()
    }
}

/// `{flag_key, rule_key, rule_type, variation_key, enabled, cmab_uuid?}`.
struct MetadataOut<'a>(&'a Impression);

impl Serialize for MetadataOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let i = self.0;
        let cmab_uuid = i.cmab_uuid.as_deref().filter(|u| !u.is_empty());
        let mut metadata = serializer.serialize_struct("Metadata", 6)?;
        metadata.serialize_field("flag_key", &i.flag_key)?;
        metadata.serialize_field("rule_key", &i.rule_key)?;
        metadata.serialize_field("rule_type", i.rule_type)?;
        metadata.serialize_field("variation_key", &i.variation_key)?;
        metadata.serialize_field("enabled", &i.enabled)?;
        match cmab_uuid {
            Some(uuid) => metadata.serialize_field("cmab_uuid", uuid)?,
            None => metadata.skip_field("cmab_uuid")?,
        }
        metadata.end()
    }
}

/// A snapshot event `{entity_id, key, timestamp, uuid}`, with a conversion's `tags`,
/// `revenue` and `value` when present.
struct EventOut<'a> {
    entity_id: &'a str,
    key: &'a str,
    timestamp: u64,
    uuid: &'a str,
    conversion: Option<&'a Conversion>,
}

impl Serialize for EventOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut event = serializer.serialize_struct("Event", 7)?;
        event.serialize_field("entity_id", self.entity_id)?;
        event.serialize_field("key", self.key)?;
        event.serialize_field("timestamp", &self.timestamp)?;
        event.serialize_field("uuid", self.uuid)?;
        if let Some(conversion) = self.conversion {
            if let Some(event_tags) = &conversion.tags {
                event.serialize_field("tags", &tags::cleaned(event_tags))?;
            }
            if let Some(revenue) = conversion.revenue {
                event.serialize_field("revenue", &revenue)?;
            }
            if let Some(value) = conversion.value.and_then(Number::from_f64) {
                event.serialize_field("value", &value)?;
            }
        }
        event.end()
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
