//! Replays test cases against a client: the case format of the compatibility fixtures (one
//! JSON object per line) in, one result object per case out.
//!
//! This is what `decisive replay` runs, so that any list of users can be checked against a
//! datafile by a diff.
//!
//! A case: `{"id", "user_id", "attributes", "op": "decide" | "decide_all" | "track",
//! "flag_key", "options": [names], "forced": [[flag, rule | null, variation]], "segments",
//! "event_key", "tags"}`. A result: `{"id", "decisions": {flag: {"variation_key", "enabled",
//! "rule_key", "variables"}}}` for decide operations.

use crate::{Attributes, Client, DecideOption, Decision, DecisionContext, ForcedDecision};
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

/// Runs one case and returns its result object.
pub fn run(client: &Client, case: &Case) -> Result<Value, ReplayError> {
    let options = case
        .options
        .iter()
        .map(|name| {
            DecideOption::from_name(name).ok_or_else(|| ReplayError::UnknownOption(name.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
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
    let mut result = Map::new();
    result.insert("id".into(), case.id.clone());
    match case.op.as_str() {
        "decide" => {
            let key = case
                .flag_key
                .as_deref()
                .ok_or(ReplayError::MissingFlagKey)?;
            let decision = user.decide(key, &options);
            let mut decisions = Map::new();
            decisions.insert(key.to_owned(), decision_json(&decision));
            result.insert("decisions".into(), Value::Object(decisions));
        }
        "decide_all" => {
            let decisions = user
                .decide_all(&options)
                .iter()
                .map(|d| (d.flag_key().to_owned(), decision_json(d)))
                .collect();
            result.insert("decisions".into(), Value::Object(decisions));
        }
        "track" => {}
        other => return Err(ReplayError::UnknownOp(other.to_owned())),
    }
    Ok(Value::Object(result))
}
