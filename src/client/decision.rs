//! What a decide call returns.

use super::UserContext;
use crate::config::{ProjectConfig, Variables, NO_VARIABLES};
use crate::decision::{HeldOut, Source};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::sync::Arc;

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read by the event pipeline and the config view")]
pub(crate) enum FlagRef {
    /// A flag of the config.
    Known {
        /// The config decided with, when it is not the one the decision's user context
        /// resolved against (`None`: that one, reached through the user context).
        config: Option<Arc<ProjectConfig>>,
        flag: u32,
        rule: Option<u32>,
        variation: Option<u32>,
        /// Index into the flag's variable sets; `None` for no variables.
        variables: Option<u32>,
        source: Source,
        /// A global holdout the user is in that let targeted deliveries decide the flag.
        held_out: Option<HeldOut>,
    },
    /// A key the config does not have, or no config at all.
    Unknown(Box<str>),
}

/// The decision for one flag and one user.
///
/// It borrows its strings from the config it was made with, so making one allocates nothing
/// beyond the reasons asked for.
#[derive(Debug, Clone)]
pub struct Decision {
    pub(crate) flag: FlagRef,
    pub(crate) enabled: bool,
    pub(crate) user_context: UserContext,
    pub(crate) reasons: Vec<String>,
}

impl Decision {
    pub(crate) fn error(key: &str, user_context: UserContext, reasons: Vec<String>) -> Decision {
        Decision {
            flag: FlagRef::Unknown(key.into()),
            enabled: false,
            user_context,
            reasons,
        }
    }

    /// The config the decision was made with (`None` for an unknown flag).
    pub(crate) fn config(&self) -> Option<&ProjectConfig> {
        match &self.flag {
            FlagRef::Known {
                config: Some(config),
                ..
            } => Some(config),
            FlagRef::Known { config: None, .. } => self.user_context.resolved_config(),
            FlagRef::Unknown(_) => None,
        }
    }

    /// The flag key.
    pub fn flag_key(&self) -> &str {
        match &self.flag {
            FlagRef::Known { flag, .. } => self
                .config()
                .and_then(|c| c.flags.get(*flag as usize))
                .map_or("", |f| f.key.as_ref()),
            FlagRef::Unknown(key) => key,
        }
    }

    /// Whether the flag is on for the user.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The key of the variation chosen, if any.
    pub fn variation_key(&self) -> Option<&str> {
        match &self.flag {
            FlagRef::Known {
                variation: Some(v), ..
            } => self
                .config()
                .and_then(|c| c.variation(*v))
                .map(|v| v.key.as_ref()),
            _ => None,
        }
    }

    /// The key of the rule (experiment, delivery rule or holdout) that chose the variation.
    pub fn rule_key(&self) -> Option<&str> {
        match &self.flag {
            FlagRef::Known { rule: Some(r), .. } => self
                .config()
                .and_then(|c| c.rule(*r))
                .map(|r| r.key.as_ref()),
            _ => None,
        }
    }

    /// The flag's variables with their values for this decision.
    pub fn variables(&self) -> &Variables {
        match &self.flag {
            FlagRef::Known {
                flag,
                variables: Some(set),
                ..
            } => self
                .config()
                .and_then(|c| c.flags.get(*flag as usize))
                .and_then(|f| f.variable_sets.get(*set as usize))
                .unwrap_or(&NO_VARIABLES),
            _ => &NO_VARIABLES,
        }
    }

    /// The user context as it was when the decision was made.
    pub fn user_context(&self) -> &UserContext {
        &self.user_context
    }

    /// Why the decision came out as it did (with `INCLUDE_REASONS`), and any errors.
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// The decision as JSON: `flag_key`, `enabled`, `variation_key`, `rule_key`, `variables`,
    /// `user_context` and `reasons`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The rule type the decision's impression reports.
    #[allow(dead_code, reason = "read by the event pipeline and the config view")]
    pub(crate) fn source(&self) -> Option<Source> {
        match &self.flag {
            FlagRef::Known { source, .. } => Some(*source),
            FlagRef::Unknown(_) => None,
        }
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Decision", 7)?;
        s.serialize_field("flag_key", self.flag_key())?;
        s.serialize_field("enabled", &self.enabled)?;
        s.serialize_field("variation_key", &self.variation_key())?;
        s.serialize_field("rule_key", &self.rule_key())?;
        s.serialize_field("variables", self.variables())?;
        s.serialize_field("user_context", &self.user_context)?;
        s.serialize_field("reasons", &self.reasons)?;
        s.end()
    }
}

/// The decisions of a `decide_all` or `decide_for_keys` call, in the order the flags were
/// asked for (datafile order for `decide_all`).
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    pub(crate) list: Vec<Decision>,
}

impl Decisions {
    /// The decision for `flag_key`.
    pub fn get(&self, flag_key: &str) -> Option<&Decision> {
        self.list.iter().find(|d| d.flag_key() == flag_key)
    }

    /// The decisions in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Decision> {
        self.list.iter()
    }

    /// The flag keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(Decision::flag_key)
    }

    /// The number of decisions.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl IntoIterator for Decisions {
    type Item = Decision;
    type IntoIter = std::vec::IntoIter<Decision>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}

impl<'a> IntoIterator for &'a Decisions {
    type Item = &'a Decision;
    type IntoIter = std::slice::Iter<'a, Decision>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}
