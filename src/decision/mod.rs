//! The decision layer: for one flag and one user, the order of the official SDKs — flag-level
//! forced decision, global holdouts, then each experiment rule (rule forced decision, local
//! holdouts, running status, whitelist, user profile, audience, bucketing), then the rollout's
//! delivery rules with the skip to everyone-else.
//!
//! Invariant: pure. A decision reads the config and the user and returns indexes into the
//! config; it does no I/O beyond the user profile service it is handed, allocates only the
//! reasons it was asked for, and hashes the bucketing key once per rule it buckets in.

mod forced;
mod profile;

pub(crate) use forced::ForcedDecisions;
pub use forced::{DecisionContext, ForcedDecision};
pub(crate) use profile::ProfileTracker;
pub use profile::{UserProfile, UserProfileError, UserProfileService};

use crate::audience::{AttributeView, UserValue};
use crate::bucketing::{self, BucketingKey};
use crate::config::{Flag, ProjectConfig, Rule};
use crate::value::{BUCKETING_ID_ATTRIBUTE, BUCKETING_ID_SLOT};

/// Where a flag decision came from; it decides the impression's `rule_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    FeatureTest,
    Rollout,
    Holdout,
}

impl Source {
    #[allow(dead_code, reason = "read by the event pipeline and the config view")]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::FeatureTest => "feature-test",
            Source::Rollout => "rollout",
            Source::Holdout => "holdout",
        }
    }
}

/// The outcome for one flag: the rule (or holdout) and variation chosen, as config indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FlagDecision {
    pub rule: Option<u32>,
    pub variation: Option<u32>,
    pub source: Source,
}

/// A global holdout the user is in that lets targeted deliveries run
/// (`excludeTargetedDeliveries`): the flag is decided by its targeted-delivery experiments and
/// delivery rules, and the holdout is reported with an impression of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldOut {
    pub rule: u32,
    pub variation: u32,
}

/// Decision reasons, collected only when asked for.
pub(crate) struct Reasons {
    enabled: bool,
    list: Vec<String>,
}

impl Reasons {
    pub(crate) fn new(enabled: bool) -> Reasons {
        Reasons {
            enabled,
            list: Vec::new(),
        }
    }

    /// Whether reasons are being collected.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    #[inline]
    pub(crate) fn add(&mut self, message: impl FnOnce() -> String) {
        if self.enabled {
            self.list.push(message());
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.list
    }
}

/// The user as a decision sees it.
pub(crate) struct User<'a> {
    pub id: &'a str,
    pub attributes: AttributeView<'a>,
    pub segments: &'a [String],
    pub forced: &'a ForcedDecisions,
    /// The hash state of the bucketing id, when the user context computed it in advance.
    pub bucketing: Option<BucketingKey>,
}

impl User<'_> {
    /// `$opt_bucketing_id` when it is a string, else the user id.
    pub(crate) fn bucketing_id(&self, reasons: &mut Reasons) -> &str {
        match self
            .attributes
            .get(BUCKETING_ID_SLOT, BUCKETING_ID_ATTRIBUTE)
        {
            Some(UserValue::Str(s)) => s,
            Some(_) => {
                reasons.add(|| "bucketing id attribute is not a string; using the user id".into());
                self.id
            }
            None => self.id,
        }
    }
}

/// One decide call's settings.
pub(crate) struct Settings {
    pub ignore_user_profile: bool,
}

/// Decides `flag` for `user`.
pub(crate) fn decide_flag(
    config: &ProjectConfig,
    flag: &Flag,
    user: &User<'_>,
    settings: &Settings,
    mut profile: Option<&mut ProfileTracker<'_>>,
    reasons: &mut Reasons,
) -> (FlagDecision, Option<HeldOut>) {
    if let Some(variation) = forced_variation(config, flag, None, user, reasons) {
        let decision = FlagDecision {
            rule: None,
            variation: Some(variation),
            source: Source::FeatureTest,
        };
        return (decision, None);
    }
    let bucketing_id = match user.bucketing {
        Some(key) if !reasons.enabled() => key,
        _ => BucketingKey::new(user.bucketing_id(reasons)),
    };
    let bucketing_id = &bucketing_id;

    let mut held = None;
    for &h in &config.global_holdouts {
        if let Some(variation) = holdout_variation(config, h, user, bucketing_id, reasons) {
            let holdout = config.rule(h);
            if !holdout.is_some_and(|r| r.exclude_targeted_deliveries) {
                let decision = FlagDecision {
                    rule: Some(h),
                    variation: Some(variation),
                    source: Source::Holdout,
                };
                return (decision, None);
            }
            reasons.add(|| {
                format!(
                    "holdout {:?} lets targeted deliveries run; evaluating them",
                    holdout.map_or("", |r| &*r.key)
                )
            });
            held = Some(HeldOut { rule: h, variation });
            break;
        }
    }

    for &r in &flag.experiment_rules {
        let Some(rule) = config.rule(r) else { continue };
        if held.is_some() && !rule.targeted_delivery {
            continue;
        }
        if let Some(variation) = forced_variation(config, flag, Some(&rule.key), user, reasons) {
            return (
                FlagDecision {
                    rule: Some(r),
                    variation: Some(variation),
                    source: Source::FeatureTest,
                },
                held,
            );
        }
        for &h in &rule.local_holdouts {
            if let Some(variation) = holdout_variation(config, h, user, bucketing_id, reasons) {
                return (
                    FlagDecision {
                        rule: Some(h),
                        variation: Some(variation),
                        source: Source::Holdout,
                    },
                    held,
                );
            }
        }
        let variation = experiment_variation(
            config,
            rule,
            user,
            bucketing_id,
            settings,
            profile.as_deref_mut(),
            reasons,
        );
        if let Some(variation) = variation {
            return (
                FlagDecision {
                    rule: Some(r),
                    variation: Some(variation),
                    source: Source::FeatureTest,
                },
                held,
            );
        }
    }

    (
        delivery_variation(config, flag, user, bucketing_id, reasons),
        held,
    )
}

/// A forced decision for the flag (or one of its rules) whose variation the flag has.
#[inline(always)]
fn forced_variation(
    config: &ProjectConfig,
    flag: &Flag,
    rule_key: Option<&str>,
    user: &User<'_>,
    reasons: &mut Reasons,
) -> Option<u32> {
    if user.forced.is_empty() {
        return None;
    }
    find_forced_variation(config, flag, rule_key, user, reasons)
}

/// The look-up behind [`forced_variation`], kept out of line: most users have no forced
/// decisions.
#[inline(never)]
fn find_forced_variation(
    config: &ProjectConfig,
    flag: &Flag,
    rule_key: Option<&str>,
    user: &User<'_>,
    reasons: &mut Reasons,
) -> Option<u32> {
    let forced = user.forced.lookup(&flag.key, rule_key)?;
    let found = flag.flag_variations.iter().copied().find(|&v| {
        config
            .variation(v)
            .is_some_and(|var| *var.key == *forced.variation_key)
    });
    match found {
        Some(_) => reasons.add(|| {
            format!(
                "forced decision: variation {:?} for flag {:?}{}",
                forced.variation_key,
                flag.key,
                rule_key.map_or(String::new(), |r| format!(" rule {r:?}"))
            )
        }),
        None => reasons.add(|| {
            format!(
                "forced decision for flag {:?}{} names variation {:?}, which the flag does not have; ignored",
                flag.key,
                rule_key.map_or(String::new(), |r| format!(" rule {r:?}")),
                forced.variation_key
            )
        }),
    }
    found
}

/// Whether the user is in the rule's audiences (an unknown result is not).
#[inline(never)]
fn in_audience(rule: &Rule, user: &User<'_>, reasons: &mut Reasons) -> bool {
    let Some(tree) = &rule.matcher else {
        return true;
    };
    if !reasons.enabled() {
        if let Some(result) = tree.matches_by_terms(&user.attributes) {
            return result == Some(true);
        }
    }
    in_audience_by_nodes(rule, user, reasons)
}

/// [`in_audience`] node by node, or with reasons.
#[inline(never)]
fn in_audience_by_nodes(rule: &Rule, user: &User<'_>, reasons: &mut Reasons) -> bool {
    let Some(tree) = &rule.matcher else {
        return true;
    };
    let result = tree.matches(&user.attributes, user.segments);
    if reasons.enabled() {
        audience_reason(rule, result, reasons);
    }
    result == Some(true)
}

/// The reason that tells how a rule's audiences evaluated.
#[cold]
#[inline(never)]
fn audience_reason(rule: &Rule, result: Option<bool>, reasons: &mut Reasons) {
    reasons.add(|| {
        let shown = match result {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        };
        format!("audiences of {:?} evaluated to {shown}", rule.key)
    });
}

/// Buckets the user into the rule: group gate first (random policy), then the rule's ranges.
#[inline(never)]
fn bucket(
    config: &ProjectConfig,
    rule: &Rule,
    bucketing_id: &BucketingKey,
    reasons: &mut Reasons,
) -> Option<u32> {
    if !rule.bucketable {
        return None;
    }
    if rule.group.is_some() || reasons.enabled() {
        return bucket_in_full(config, rule, bucketing_id, reasons);
    }
    // Every bucket is below the first range's end when it reaches the last bucket, so a rule
    // whose first range covers all traffic needs no hash.
    let first = rule.traffic.first()?;
    if first.end >= bucketing::MAX_TRAFFIC_VALUE {
        return first.entity;
    }
    let value = bucketing_id.bucket_entity(&rule.hash_key);
    bucketing::find(&rule.traffic, value).copied().flatten()
}

/// [`bucket`] for a rule of a group, or with reasons.
#[inline(never)]
fn bucket_in_full(
    config: &ProjectConfig,
    rule: &Rule,
    bucketing_id: &BucketingKey,
    reasons: &mut Reasons,
) -> Option<u32> {
    if !rule.bucketable {
        return None;
    }
    if let Some(g) = rule.group {
        let group = config.group(g)?;
        let value = bucketing_id.bucket_entity(&group.hash_key);
        match bucketing::find(&group.traffic, value) {
            Some(entity) if **entity == *rule.id => {}
            _ => {
                reasons.add(|| {
                    format!(
                        "user is not in experiment {:?} of group {:?}",
                        rule.key, group.id
                    )
                });
                return None;
            }
        }
    }
    // Every bucket is below the first range's end when it reaches the last bucket, so a rule
    // whose first range covers all traffic needs no hash (unless the reasons show the bucket).
    if let Some(first) = rule.traffic.first() {
        if first.end >= bucketing::MAX_TRAFFIC_VALUE && !reasons.enabled() {
            return first.entity;
        }
    }
    let value = bucketing_id.bucket_entity(&rule.hash_key);
    reasons.add(|| format!("bucket {value} in {:?}", rule.key));
    let found = bucketing::find(&rule.traffic, value).copied().flatten();
    if found.is_none() {
        reasons.add(|| format!("bucket {value} of {:?} is in no variation", rule.key));
    }
    found
}

fn holdout_variation(
    config: &ProjectConfig,
    h: u32,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    reasons: &mut Reasons,
) -> Option<u32> {
    let holdout = config.rule(h)?;
    if !holdout.running {
        return None;
    }
    match admit(config, holdout, user, bucketing_id, reasons, false) {
        Gate::Variation(v) => {
            reasons.add(|| format!("user is in holdout {:?}", holdout.key));
            Some(v)
        }
        Gate::NotInAudience | Gate::NotBucketed => None,
    }
}

/// The outcome of a rule's audience check and bucketing.
enum Gate {
    NotInAudience,
    /// Not bucketed (and, when bucketing ran first, the audience was not evaluated).
    NotBucketed,
    Variation(u32),
}

/// The audience check, then bucketing — the official SDKs' order, kept whenever reasons are
/// collected or the caller must tell "not in the audience" from "not bucketed". Otherwise the
/// cheaper bucketing runs first and the audience is evaluated only for a user it would admit:
/// both are pure, so the outcome is the same.
#[inline]
fn admit(
    config: &ProjectConfig,
    rule: &Rule,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    reasons: &mut Reasons,
    miss_needs_audience: bool,
) -> Gate {
    if reasons.enabled() || miss_needs_audience {
        if !in_audience(rule, user, reasons) {
            return Gate::NotInAudience;
        }
        return match bucket(config, rule, bucketing_id, reasons) {
            Some(v) => Gate::Variation(v),
            None => Gate::NotBucketed,
        };
    }
    match bucket(config, rule, bucketing_id, reasons) {
        None => Gate::NotBucketed,
        Some(v) if in_audience(rule, user, reasons) => Gate::Variation(v),
        Some(_) => Gate::NotInAudience,
    }
}

/// The variation the rule's `forcedVariations` give `user_id`, kept out of line: few rules
/// have any.
#[inline(never)]
fn whitelisted(rule: &Rule, user_id: &str) -> Option<u32> {
    rule.whitelist.get(user_id).copied().flatten()
}

fn experiment_variation(
    config: &ProjectConfig,
    rule: &Rule,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    settings: &Settings,
    profile: Option<&mut ProfileTracker<'_>>,
    reasons: &mut Reasons,
) -> Option<u32> {
    if !rule.running {
        reasons.add(|| format!("experiment {:?} is not running", rule.key));
        return None;
    }
    if !rule.whitelist.is_empty() {
        if let Some(v) = whitelisted(rule, user.id) {
            reasons.add(|| format!("user is whitelisted in {:?}", rule.key));
            return Some(v);
        }
    }
    let profile = if settings.ignore_user_profile || rule.cmab {
        None
    } else {
        profile
    };
    if let Some(tracker) = &profile {
        if let Some(stored) = tracker.stored_variation(&rule.id) {
            let found = rule
                .variations
                .iter()
                .copied()
                .find(|&v| config.variation(v).is_some_and(|var| *var.id == *stored));
            if let Some(v) = found {
                reasons.add(|| {
                    format!(
                        "stored variation {stored:?} of {:?} from the user profile",
                        rule.key
                    )
                });
                return Some(v);
            }
        }
    }
    if rule.cmab {
        if in_audience(rule, user, reasons) {
            reasons.add(|| {
                format!(
                    "{:?} is a CMAB experiment, which this SDK does not decide",
                    rule.key
                )
            });
        }
        return None;
    }
    let Gate::Variation(variation) = admit(config, rule, user, bucketing_id, reasons, false) else {
        return None;
    };
    if let Some(tracker) = profile {
        if let Some(var) = config.variation(variation) {
            tracker.record(&rule.id, &var.id);
        }
    }
    Some(variation)
}

fn delivery_variation(
    config: &ProjectConfig,
    flag: &Flag,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    reasons: &mut Reasons,
) -> FlagDecision {
    let rules = &flag.delivery_rules;
    let last = rules.len().saturating_sub(1);
    let mut i = 0;
    while let Some(&r) = rules.get(i) {
        let Some(rule) = config.rule(r) else {
            i += 1;
            continue;
        };
        if let Some(variation) = forced_variation(config, flag, Some(&rule.key), user, reasons) {
            return FlagDecision {
                rule: Some(r),
                variation: Some(variation),
                source: Source::Rollout,
            };
        }
        for &h in &rule.local_holdouts {
            if let Some(variation) = holdout_variation(config, h, user, bucketing_id, reasons) {
                return FlagDecision {
                    rule: Some(h),
                    variation: Some(variation),
                    source: Source::Holdout,
                };
            }
        }
        // Past the second-to-last rule, "not in the audience" and "not bucketed" both lead to
        // the everyone-else rule (or the end), so the audience need not be known on a miss.
        match admit(config, rule, user, bucketing_id, reasons, i + 1 < last) {
            Gate::Variation(variation) => {
                return FlagDecision {
                    rule: Some(r),
                    variation: Some(variation),
                    source: Source::Rollout,
                }
            }
            Gate::NotBucketed if i < last => {
                reasons.add(|| {
                    format!(
                        "not bucketed into delivery rule {:?}; trying everyone else",
                        rule.key
                    )
                });
                i = last;
                continue;
            }
            Gate::NotBucketed | Gate::NotInAudience => {}
        }
        i += 1;
    }
    FlagDecision {
        rule: None,
        variation: None,
        source: Source::Rollout,
    }
}

#[cfg(test)]
mod tests;
