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
    tags, Conversion, EventContext, EventHeader, Impression, Kind, UserEvent, ACTIVATE_EVENT_KEY,
    CUSTOM_ATTRIBUTE_TYPE,
};
use crate::config::Region;
use serde_json::{Map, Number, Value};

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
    /// The batch object.
    pub body: Value,
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
        body: batch(context, events),
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
    let mut body = Map::new();
    body.insert("account_id".into(), context.account_id.as_str().into());
    body.insert("project_id".into(), context.project_id.as_str().into());
    body.insert("revision".into(), context.revision.as_str().into());
    body.insert("client_name".into(), context.client_name.into());
    body.insert("client_version".into(), context.client_version.into());
    body.insert("anonymize_ip".into(), context.anonymize_ip.into());
    body.insert("enrich_decisions".into(), true.into());
    body.insert(
        "visitors".into(),
        Value::Array(events.iter().map(visitor).collect()),
    );
    Value::Object(body)
}

/// The visitor entry of one user event.
fn visitor(event: &UserEvent) -> Value {
    let (header, snapshot) = match &event.0 {
        Kind::Impression { header, impression } => {
            (header, impression_snapshot(header, impression))
        }
        Kind::Conversion { header, conversion } => {
            (header, conversion_snapshot(header, conversion))
        }
    };
    let mut visitor = Map::new();
    visitor.insert("visitor_id".into(), header.visitor_id.as_str().into());
    visitor.insert(
        "attributes".into(),
        Value::Array(
            header
                .attributes
                .iter()
                .map(|a| {
                    let mut entry = Map::new();
                    entry.insert("entity_id".into(), a.entity_id.as_str().into());
                    entry.insert("key".into(), a.key.as_str().into());
                    entry.insert("type".into(), CUSTOM_ATTRIBUTE_TYPE.into());
                    entry.insert("value".into(), a.value.clone());
                    Value::Object(entry)
                })
                .collect(),
        ),
    );
    visitor.insert("snapshots".into(), Value::Array(vec![snapshot]));
    Value::Object(visitor)
}

/// `{entity_id, key, timestamp, uuid}`: the start of every snapshot event.
fn snapshot_event(header: &EventHeader, entity_id: &str, key: &str) -> Map<String, Value> {
    let mut event = Map::new();
    event.insert("entity_id".into(), entity_id.into());
    event.insert("key".into(), key.into());
    event.insert("timestamp".into(), header.timestamp.into());
    event.insert("uuid".into(), header.uuid.as_str().into());
    event
}

/// An impression's snapshot: one decision and its activation event.
fn impression_snapshot(header: &EventHeader, impression: &Impression) -> Value {
    let mut metadata = Map::new();
    metadata.insert("flag_key".into(), impression.flag_key.as_str().into());
    metadata.insert("rule_key".into(), impression.rule_key.as_str().into());
    metadata.insert("rule_type".into(), impression.rule_type.into());
    metadata.insert(
        "variation_key".into(),
        impression.variation_key.as_str().into(),
    );
    metadata.insert("enabled".into(), impression.enabled.into());
    if let Some(cmab_uuid) = impression.cmab_uuid.as_deref().filter(|u| !u.is_empty()) {
        metadata.insert("cmab_uuid".into(), cmab_uuid.into());
    }
    let mut decision = Map::new();
    decision.insert("campaign_id".into(), impression.campaign_id.as_str().into());
    decision.insert(
        "experiment_id".into(),
        impression.experiment_id.as_str().into(),
    );
    decision.insert(
        "variation_id".into(),
        impression
            .variation_id
            .as_deref()
            .map_or(Value::Null, Value::from),
    );
    decision.insert("metadata".into(), Value::Object(metadata));

    let activation = snapshot_event(header, &impression.campaign_id, ACTIVATE_EVENT_KEY);
    let mut snapshot = Map::new();
    snapshot.insert(
        "decisions".into(),
        Value::Array(vec![Value::Object(decision)]),
    );
    snapshot.insert(
        "events".into(),
        Value::Array(vec![Value::Object(activation)]),
    );
    Value::Object(snapshot)
}

/// A conversion's snapshot: one event with its tags, revenue and value when present.
fn conversion_snapshot(header: &EventHeader, conversion: &Conversion) -> Value {
    let mut event = snapshot_event(header, &conversion.event_id, &conversion.event_key);
    if let Some(event_tags) = &conversion.tags {
        event.insert("tags".into(), Value::Object(tags::cleaned(event_tags)));
    }
    if let Some(revenue) = conversion.revenue {
        event.insert("revenue".into(), revenue.into());
    }
    if let Some(value) = conversion.value.and_then(Number::from_f64) {
        event.insert("value".into(), Value::Number(value));
    }
    let mut snapshot = Map::new();
    snapshot.insert("events".into(), Value::Array(vec![Value::Object(event)]));
    Value::Object(snapshot)
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
