//! Replays test cases against a client: the case format of the compatibility fixtures (one
//! JSON object per line) in, one result object per case out.
//!
//! This is what `decisive replay` runs, so that any list of users can be checked against a
//! datafile by a diff.
//!
//! A case: `{"id", "user_id", "attributes", "op": "decide" | "decide_all" | "track",
//! "flag_key", "options": [names], "forced": [[flag, rule | null, variation]], "segments",
//! "event_key", "tags"}`. A result: `{"id", "decisions": {flag: {"variation_key", "enabled",
//! "rule_key", "variables"}}, "events": [{"url", "method", "body"}]}` (no `decisions` for
//! `track`). Events are the requests the case would send, one user event per request, with
//! the fixtures' normalisation: every `uuid` is `"<uuid>"`, every `timestamp` 0, and the
//! batch has no `client_name` or `client_version`.

use crate::event::{self, LogEvent, UserEvent};
use crate::{
    Attributes, Client, DecideOption, Decision, DecisionContext, ForcedDecision, UserContext,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// One case.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// The case id, echoed in the result.
    pub id: Value,
    /// The user id.
    #[serde(default)]
    pub user_id: String,
    /// The user's attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// `decide`, `decide_all` or `track`.
    pub op: String,
    /// The flag of a `decide`.
    #[serde(default)]
    pub flag_key: Option<String>,
    /// Decide option names (`DISABLE_DECISION_EVENT`, ...).
    #[serde(default)]
    pub options: Vec<String>,
    /// Forced decisions: `[flag_key, rule_key or null, variation_key]`.
    #[serde(default)]
    pub forced: Vec<(String, Option<String>, String)>,
    /// Qualified segments.
    #[serde(default)]
    pub segments: Option<Vec<String>>,
    /// The event of a `track`.
    #[serde(default)]
    pub event_key: Option<String>,
    /// The event tags of a `track`.
    #[serde(default)]
    pub tags: Option<Value>,
}

/// Why a case could not be replayed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The line is not a case.
    Parse(serde_json::Error),
    /// An option name is not one of the decide options.
    UnknownOption(String),
    /// The operation is not one of `decide`, `decide_all`, `track`.
    UnknownOp(String),
    /// A `decide` case has no `flag_key`.
    MissingFlagKey,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Parse(e) => write!(f, "not a case: {e}"),
            ReplayError::UnknownOption(o) => write!(f, "unknown decide option {o:?}"),
            ReplayError::UnknownOp(o) => {
                write!(f, "unknown op {o:?} (expected decide, decide_all or track)")
            }
            ReplayError::MissingFlagKey => f.write_str("a decide case needs a flag_key"),
        }
    }
}

impl std::error::Error for ReplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplayError::Parse(e) => Some(e),
            _ => None,
        }
    }
}

impl Case {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<Case, ReplayError> {
        serde_json::from_str(line).map_err(ReplayError::Parse)
    }
}

/// A decision in the result format: `{variation_key, enabled, rule_key, variables}`.
pub fn decision_json(decision: &Decision) -> Value {
    json!({
        "variation_key": decision.variation_key(),
        "enabled": decision.enabled(),
        "rule_key": decision.rule_key(),
        "variables": decision.variables().to_json(),
    })
}

/// The impressions `decision` sends: a holdout's first when the user is in a global holdout
/// that let targeted deliveries decide, then the decision's own when its rule type sends one.
fn impressions_of(decision: &Decision, disabled: bool) -> Vec<UserEvent> {
    let (Some((decided, held_out)), Some(config)) = (decision.decided(), decision.config()) else {
        return Vec::new();
    };
    let user = decision.user_context();
    event::reported(decided, held_out, config.send_flag_decisions, disabled)
        .into_iter()
        .flatten()
        .map(|reported| {
            event::impression(
                config,
                &reported,
                decision.flag_key(),
                user.user_id(),
                user.attributes(),
            )
        })
        .collect()
}

/// A request in the result format, normalised as the fixtures are: `{url, method, body}`
/// with every `uuid` `"<uuid>"`, every `timestamp` 0, and no client name or version.
pub fn request_json(log_event: &LogEvent) -> Value {
    json!({
        "url": log_event.url,
        "method": log_event.method,
        "body": event::payload::normalised(log_event.json()),
    })
}

/// The user context a case describes: its user, attributes, forced decisions and segments.
pub fn user_context(client: &Client, case: &Case) -> UserContext {
    let mut user = client.create_user_context(case.user_id.clone(), case.attributes.clone());
    for (flag, rule, variation) in &case.forced {
        user.set_forced_decision(
            DecisionContext::new(flag.clone(), rule.as_deref()),
            ForcedDecision::new(variation.clone()),
        );
    }
    if case.segments.is_some() {
        user.set_qualified_segments(case.segments.clone());
    }
    user
}

/// What one case produced: its decisions (for decide operations) and the requests it sends,
/// one user event per request, as built (not normalised).
pub(crate) struct Outcome {
    pub decisions: Option<Map<String, Value>>,
    pub requests: Vec<LogEvent>,
}

/// Runs one case.
pub(crate) fn play(client: &Client, case: &Case) -> Result<Outcome, ReplayError> {
    let options = case
        .options
        .iter()
        .map(|name| {
            DecideOption::from_name(name).ok_or_else(|| ReplayError::UnknownOption(name.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let disabled = options.contains(&DecideOption::DisableDecisionEvent);
    let user = user_context(client, case);
    let mut user_events = Vec::new();
    let decisions = match case.op.as_str() {
        "decide" => {
            let key = case
                .flag_key
                .as_deref()
                .ok_or(ReplayError::MissingFlagKey)?;
            let decision = user.decide(key, &options);
            user_events.extend(impressions_of(&decision, disabled));
            let mut decisions = Map::new();
            decisions.insert(key.to_owned(), decision_json(&decision));
            Some(decisions)
        }
        "decide_all" => {
            // ENABLED_FLAGS_ONLY filters what decide_all returns, not the impressions sent.
            let enabled_only = options.contains(&DecideOption::EnabledFlagsOnly);
            let all: Vec<DecideOption> = options
                .iter()
                .copied()
                .filter(|o| *o != DecideOption::EnabledFlagsOnly)
                .collect();
            let mut decisions = Map::new();
            let all = user.decide_all(&all);
            for d in all.iter() {
                if d.enabled() || !enabled_only {
                    decisions.insert(d.flag_key().to_owned(), decision_json(d));
                }
            }
            // An impression per flag listed, in datafile order: a key listed twice is decided
            // (and sends its impression) twice, as in the official SDKs.
            if let Some(config) = client.config() {
                for key in config.flag_keys() {
                    if let Some(d) = all.get(key) {
                        user_events.extend(impressions_of(d, disabled));
                    }
                }
            }
            Some(decisions)
        }
        "track" => {
            let key = case.event_key.as_deref().unwrap_or("");
            let tags = match &case.tags {
                Some(Value::Object(map)) => Some(map),
                _ => None,
            };
            if let Some(config) = client.config() {
                match event::conversion(&config, key, &case.user_id, &case.attributes, tags) {
                    Ok(conversion) => user_events.push(conversion),
                    Err(e) => log::info!(target: "decisive", "no conversion: {e}"),
                }
            }
            None
        }
        other => return Err(ReplayError::UnknownOp(other.to_owned())),
    };
    let requests = user_events
        .iter()
        .filter_map(|e| event::log_event(std::slice::from_ref(e)))
        .collect();
    Ok(Outcome {
        decisions,
        requests,
    })
}

/// Runs one case and returns its result object.
pub fn run(client: &Client, case: &Case) -> Result<Value, ReplayError> {
    let outcome = play(client, case)?;
    let mut result = Map::new();
    result.insert("id".into(), case.id.clone());
    if let Some(decisions) = outcome.decisions {
        result.insert("decisions".into(), Value::Object(decisions));
    }
    let events = outcome.requests.iter().map(request_json).collect();
    result.insert("events".into(), Value::Array(events));
    Ok(Value::Object(result))
}

/// `value` laid out as Python's `json.dumps(value, sort_keys=True)` lays it out — `", "` and
/// `": "` separators, non-ASCII characters escaped as `\uXXXX` — so that results can be
/// compared with files the official Python SDK wrote using `diff`. (Object keys come out
/// sorted because `serde_json` keeps them so.)
pub fn to_python_json(value: &Value) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    if serde::Serialize::serialize(value, &mut serializer).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

/// The separators and escapes of Python's `json.dumps`.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}
