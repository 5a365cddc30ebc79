//! Serde shapes of the datafile JSON.
//!
//! These types mirror the document as written: they hold strings and lists exactly as the
//! datafile gives them and are only read while a [`crate::ProjectConfig`] is built. Fields the
//! JSON schema of the official SDKs requires have no default; everything else defaults to
//! empty or false, and unknown fields are ignored.

use super::conditions::{LegacyConditions, RawCondition};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// The whole datafile.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Datafile {
    pub version: String,
    pub revision: String,
    pub account_id: String,
    pub project_id: String,
    #[serde(default, rename = "anonymizeIP")]
    pub anonymize_ip: bool,
    #[serde(default)]
    pub bot_filtering: Option<bool>,
    #[serde(default)]
    pub send_flag_decisions: bool,
    #[serde(default)]
    pub sdk_key: Option<String>,
    #[serde(default)]
    pub environment_key: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub attributes: Vec<Attribute>,
    pub audiences: Vec<Audience>,
    #[serde(default)]
    pub typed_audiences: Vec<TypedAudience>,
    pub experiments: Vec<Experiment>,
    pub groups: Vec<Group>,
    #[serde(default)]
    pub feature_flags: Vec<FeatureFlag>,
    #[serde(default)]
    pub rollouts: Vec<Rollout>,
    pub events: Vec<Event>,
    #[serde(default)]
    pub integrations: Vec<Integration>,
    #[serde(default)]
    pub holdouts: Vec<Holdout>,
    #[serde(default)]
    pub local_holdouts: Vec<Holdout>,
}

/// `attributes[]`: a user attribute the project knows, by key and id.
#[derive(Debug, Deserialize)]
pub(crate) struct Attribute {
    pub id: String,
    pub key: String,
}

/// `audiences[]`: a legacy audience whose conditions are a JSON-encoded string.
#[derive(Debug, Deserialize)]
pub(crate) struct Audience {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub conditions: LegacyConditions,
}

/// `typedAudiences[]`: an audience whose conditions are a JSON tree.
#[derive(Debug, Deserialize)]
pub(crate) struct TypedAudience {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub conditions: RawCondition,
}

/// `trafficAllocation[]` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrafficRange {
    pub entity_id: String,
    pub end_of_range: u32,
}

/// A variation of an experiment, rollout rule or holdout.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Variation {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub feature_enabled: Option<bool>,
    #[serde(default)]
    pub variables: Vec<VariableUsage>,
}

/// The value a variation gives a flag variable.
#[derive(Debug, Deserialize)]
pub(crate) struct VariableUsage {
    pub id: String,
    pub value: String,
}

/// A top-level or grouped experiment.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Experiment {
    pub id: String,
    pub key: String,
    pub layer_id: String,
    pub status: String,
    pub variations: Vec<Variation>,
    pub traffic_allocation: Vec<TrafficRange>,
    pub audience_ids: Vec<String>,
    #[serde(default)]
    pub audience_conditions: Option<RawCondition>,
    pub forced_variations: HashMap<String, String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub cmab: Option<Value>,
}

/// A delivery rule of a rollout: the experiment shape, leniently read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RolloutRule {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub layer_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub variations: Vec<Variation>,
    #[serde(default)]
    pub traffic_allocation: Vec<TrafficRange>,
    #[serde(default)]
    pub audience_ids: Vec<String>,
    #[serde(default)]
    pub audience_conditions: Option<RawCondition>,
}

/// `groups[]`: a mutual-exclusion group.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group {
    pub id: String,
    pub policy: String,
    pub traffic_allocation: Vec<TrafficRange>,
    pub experiments: Vec<Experiment>,
}

/// `featureFlags[]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FeatureFlag {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub rollout_id: String,
    #[serde(default)]
    pub experiment_ids: Vec<String>,
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// A flag variable definition.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Variable {
    pub id: String,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub sub_type: Option<String>,
    pub default_value: String,
}

/// `rollouts[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct Rollout {
    pub id: String,
    #[serde(default)]
    pub experiments: Vec<RolloutRule>,
}

/// `events[]`: a conversion event.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    pub id: String,
    pub key: String,
    pub experiment_ids: Vec<String>,
}

/// `integrations[]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Integration {
    pub key: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub public_key: Option<String>,
}

/// `holdouts[]` and `localHoldouts[]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Holdout {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub variations: Vec<Variation>,
    #[serde(default)]
    pub traffic_allocation: Vec<TrafficRange>,
    #[serde(default)]
    pub audience_ids: Vec<String>,
    #[serde(default)]
    pub audience_conditions: Option<RawCondition>,
    #[serde(default)]
    pub included_rules: Option<Vec<String>>,
}
