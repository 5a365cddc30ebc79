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
use crate::config::{Flag, ProjectConfig, Rule, RuleCore};
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

/// No index: the `None` of a [`PackedDecision`] (no config has `u32::MAX` entries).
pub(crate) const NONE: u32 = u32::MAX;

/// A [`FlagDecision`] with its `Option`s packed into `u32`s ([`NONE`] for none), the two
/// indexes in one scalar: small enough to be returned in registers, and kept so in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PackedDecision {
    /// The rule index in the low 32 bits, the variation's in the high 32.
    pub indexes: u64,
    pub source: Source,
}

impl PackedDecision {
    #[inline]
    pub(crate) fn new(rule: u32, variation: u32, source: Source) -> PackedDecision {
        PackedDecision {
            indexes: u64::from(rule) | u64::from(variation) << 32,
            source,
        }
    }

    #[inline]
    pub(crate) fn pack(decision: FlagDecision) -> PackedDecision {
        PackedDecision::new(
            decision.rule.unwrap_or(NONE),
            decision.variation.unwrap_or(NONE),
            decision.source,
        )
    }

    /// The rule index, [`NONE`] for none.
    #[inline]
    pub(crate) fn rule(self) -> u32 {
        self.indexes as u32
    }

    /// The variation index, [`NONE`] for none.
    #[inline]
    pub(crate) fn variation(self) -> u32 {
        (self.indexes >> 32) as u32
    }

    #[inline]
    pub(crate) fn unpack(self) -> FlagDecision {
        let (rule, variation) = (self.rule(), self.variation());
        FlagDecision {
            rule: (rule != NONE).then_some(rule),
            variation: (variation != NONE).then_some(variation),
            source: self.source,
        }
    }
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
    /// `None` when reasons are not collected.
    list: Option<Vec<String>>,
}

impl Reasons {
    pub(crate) fn new(enabled: bool) -> Reasons {
        Reasons {
            list: enabled.then(Vec::new),
        }
    }

    /// Whether reasons are being collected.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.list.is_some()
    }

    #[inline]
    pub(crate) fn add(&mut self, message: impl FnOnce() -> String) {
        if let Some(list) = &mut self.list {
            list.push(message());
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.list.unwrap_or_default()
    }
}

/// Where the steps shared by both decision paths send their reasons: [`Reasons`] on the full
/// path, [`NoReasons`] on the plain one, where every check of whether reasons are collected
/// is then settled at compile time.
pub(crate) trait Report {
    /// Whether reasons are being collected.
    fn enabled(&self) -> bool;

    /// Adds the reason `message` makes, when reasons are being collected.
    fn add(&mut self, message: impl FnOnce() -> String);

    /// Calls `f`, a step kept out of line, with these reasons (a disabled list of its own for
    /// [`NoReasons`]).
    fn out_of_line<T>(&mut self, f: impl FnOnce(&mut Reasons) -> T) -> T;
}

impl Report for Reasons {
    #[inline(always)]
    fn enabled(&self) -> bool {
        Reasons::enabled(self)
    }

    #[inline(always)]
    fn add(&mut self, message: impl FnOnce() -> String) {
        Reasons::add(self, message);
    }

    #[inline(always)]
    fn out_of_line<T>(&mut self, f: impl FnOnce(&mut Reasons) -> T) -> T {
        f(self)
    }
}

/// No reasons, and no list to keep them in: the plain path's [`Report`].
pub(crate) struct NoReasons;

impl Report for NoReasons {
    #[inline(always)]
    fn enabled(&self) -> bool {
        false
    }

    #[inline(always)]
    fn add(&mut self, _: impl FnOnce() -> String) {}

    #[inline(always)]
    fn out_of_line<T>(&mut self, f: impl FnOnce(&mut Reasons) -> T) -> T {
        f(&mut Reasons::new(false))
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

/// Decides `flag` for `user`: the plain path when it applies, else the full one (a decide call
/// makes the same choice, with [`plain_key`] settled once per call).
#[cfg(test)]
pub(crate) fn decide_flag(
    config: &ProjectConfig,
    flag: &Flag,
    user: &User<'_>,
    settings: &Settings,
    profile: Option<&mut ProfileTracker<'_>>,
    reasons: &mut Reasons,
) -> (FlagDecision, Option<HeldOut>) {
    if let Some(key) = plain_key(config, user, reasons.enabled(), profile.is_some()) {
        if let Some(decision) = decide_plain(config, flag, user, key) {
            return (decision.unpack(), None);
        }
    }
    decide_in_full(config, flag, user, settings, profile, reasons)
}

/// The bucketing key to decide with when any flag of `config` may take [`decide_plain`]: no
/// reasons, no user profile, no forced decisions and no global holdouts. A call that decides
/// several flags settles this once.
#[inline(always)]
pub(crate) fn plain_key<'u>(
    config: &ProjectConfig,
    user: &'u User<'_>,
    reasons: bool,
    profile: bool,
) -> Option<&'u BucketingKey> {
    match (
        reasons,
        profile,
        user.forced.is_empty(),
        config.global_holdouts.is_empty(),
        &user.bucketing,
    ) {
        (false, false, true, true, Some(key)) => Some(key),
        _ => None,
    }
}

/// [`decide_flag`] step by step.
#[inline(never)]
pub(crate) fn decide_in_full(
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

    let (experiments, deliveries) = config.rules_of(flag);
    for &r in experiments {
        let Some(core) = config.core(r) else { continue };
        if held.is_some() && !core.has(RuleCore::TARGETED_DELIVERY) {
            continue;
        }
        if core.has(RuleCore::LOCAL_HOLDOUTS) || !user.forced.is_empty() {
            let overridden = rule_override(
                config,
                flag,
                r,
                Source::FeatureTest,
                user,
                bucketing_id,
                reasons,
            );
            if let Some(decision) = overridden {
                return (decision, held);
            }
        }
        let variation = experiment_variation(
            config,
            r,
            core,
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
        delivery_variation(config, flag, deliveries, user, bucketing_id, reasons),
        held,
    )
}

/// [`decide_flag`] for a user without forced decisions, a config without global holdouts, and
/// no reasons or user profile: the same steps with nothing to report or record. `None` when
/// an experiment rule has local holdouts, a whitelist or a CMAB: the full path decides then.
#[inline(never)]
pub(crate) fn decide_plain(
    config: &ProjectConfig,
    flag: &Flag,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
) -> Option<PackedDecision> {
    let reasons = &mut NoReasons;
    let (experiments, deliveries) = config.rules_of(flag);
    for &r in experiments {
        let core = config.core(r)?;
        if core.flags & (RuleCore::LOCAL_HOLDOUTS | RuleCore::WHITELIST | RuleCore::CMAB) != 0 {
            return None;
        }
        if !core.has(RuleCore::RUNNING) {
            continue;
        }
        if let Gate::Variation(variation) =
            admit(config, r, core, user, bucketing_id, reasons, false)
        {
            return Some(PackedDecision::new(r, variation, Source::FeatureTest));
        }
    }
    Some(PackedDecision::pack(delivery_variation(
        config,
        flag,
        deliveries,
        user,
        bucketing_id,
        reasons,
    )))
}

/// The rule's forced decision, else the first of its local holdouts the user is in: a
/// decision of `source`, or of the holdout.
#[inline(never)]
fn rule_override(
    config: &ProjectConfig,
    flag: &Flag,
    r: u32,
    source: Source,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    reasons: &mut Reasons,
) -> Option<FlagDecision> {
    let rule = config.rule(r)?;
    if let Some(variation) = forced_variation(config, flag, Some(&rule.key), user, reasons) {
        return Some(FlagDecision {
            rule: Some(r),
            variation: Some(variation),
            source,
        });
    }
    for &h in &rule.local_holdouts {
        if let Some(variation) = holdout_variation(config, h, user, bucketing_id, reasons) {
            return Some(FlagDecision {
                rule: Some(h),
                variation: Some(variation),
                source: Source::Holdout,
            });
        }
    }
    None
}

/// The key of rule `r`, for reasons.
fn key_of(config: &ProjectConfig, r: u32) -> &str {
    config.rule(r).map_or("", |rule| &rule.key)
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
    let found = config.flag_variations_of(flag).iter().copied().find(|&v| {
        config
            .variation(v)
            .is_some_and(|var| var.key == *forced.variation_key)
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
#[inline(always)]
fn in_audience<R: Report>(
    config: &ProjectConfig,
    r: u32,
    core: &RuleCore,
    user: &User<'_>,
    reasons: &mut R,
) -> bool {
    if core.flags & (RuleCore::TERMS | RuleCore::MATCHER) == 0 {
        return true;
    }
    if core.has(RuleCore::TERMS) && !reasons.enabled() {
        if let Some(result) = core.terms.matches(&user.attributes) {
            return result == Some(true);
        }
    }
    match config.rule(r) {
        Some(rule) => reasons.out_of_line(|reasons| in_rule_audience(rule, user, reasons)),
        None => true,
    }
}

/// [`in_audience`] from the rule's compiled audience.
#[inline(never)]
fn in_rule_audience(rule: &Rule, user: &User<'_>, reasons: &mut Reasons) -> bool {
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

/// [`in_rule_audience`] node by node, or with reasons.
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
#[inline(always)]
fn bucket<R: Report>(
    config: &ProjectConfig,
    r: u32,
    core: &RuleCore,
    bucketing_id: &BucketingKey,
    reasons: &mut R,
) -> Option<u32> {
    if !core.has(RuleCore::BUCKETABLE) {
        return None;
    }
    if core.has(RuleCore::GROUPED) || reasons.enabled() {
        let rule = config.rule(r)?;
        return reasons.out_of_line(|reasons| bucket_in_full(config, rule, bucketing_id, reasons));
    }
    // Every bucket is below the first range's end when it reaches the last bucket, so a rule
    // whose first range covers all traffic needs no hash.
    if core.has(RuleCore::COVERS_ALL) {
        return (!core.has(RuleCore::COVERS_ALL_NONE)).then_some(core.first_entity);
    }
    let traffic = config.traffic_of(core);
    let first = traffic.first()?;
    if first.end >= bucketing::MAX_TRAFFIC_VALUE {
        return first.entity;
    }
    let value = match &core.short_id {
        Some(id) => bucketing_id.bucket_short(id),
        None => bucketing_id.bucket(&config.rule(r)?.id),
    };
    bucketing::find(traffic, value).copied().flatten()
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
        let value = bucketing_id.bucket_id(group.short_id.as_ref(), &group.id);
        match bucketing::find(&group.traffic, value) {
            Some(entity) if *entity == rule.id => {}
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
    let value = bucketing_id.bucket_id(rule.short_id.as_ref(), &rule.id);
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
    let holdout = config.core(h)?;
    if !holdout.has(RuleCore::RUNNING) {
        return None;
    }
    match admit(config, h, holdout, user, bucketing_id, reasons, false) {
        Gate::Variation(v) => {
            reasons.add(|| format!("user is in holdout {:?}", key_of(config, h)));
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
#[inline(always)]
fn admit<R: Report>(
    config: &ProjectConfig,
    r: u32,
    core: &RuleCore,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    reasons: &mut R,
    miss_needs_audience: bool,
) -> Gate {
    if reasons.enabled() || miss_needs_audience {
        if !in_audience(config, r, core, user, reasons) {
            return Gate::NotInAudience;
        }
        return match bucket(config, r, core, bucketing_id, reasons) {
            Some(v) => Gate::Variation(v),
            None => Gate::NotBucketed,
        };
    }
    match bucket(config, r, core, bucketing_id, reasons) {
        None => Gate::NotBucketed,
        Some(v) if in_audience(config, r, core, user, reasons) => Gate::Variation(v),
        Some(_) => Gate::NotInAudience,
    }
}

/// The variation the rule's `forcedVariations` give `user_id`, kept out of line: few rules
/// have any.
#[inline(never)]
fn whitelisted(rule: &Rule, user_id: &str) -> Option<u32> {
    rule.whitelist.get(user_id).copied().flatten()
}

#[allow(clippy::too_many_arguments)]
fn experiment_variation(
    config: &ProjectConfig,
    r: u32,
    core: &RuleCore,
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    settings: &Settings,
    profile: Option<&mut ProfileTracker<'_>>,
    reasons: &mut Reasons,
) -> Option<u32> {
    if !core.has(RuleCore::RUNNING) {
        reasons.add(|| format!("experiment {:?} is not running", key_of(config, r)));
        return None;
    }
    if core.has(RuleCore::WHITELIST) {
        if let Some(v) = config.rule(r).and_then(|rule| whitelisted(rule, user.id)) {
            reasons.add(|| format!("user is whitelisted in {:?}", key_of(config, r)));
            return Some(v);
        }
    }
    let cmab = core.has(RuleCore::CMAB);
    let profile = if settings.ignore_user_profile || cmab {
        None
    } else {
        profile
    };
    if let Some(tracker) = &profile {
        if let Some(v) = config
            .rule(r)
            .and_then(|rule| stored(config, rule, tracker, reasons))
        {
            return Some(v);
        }
    }
    if cmab {
        if in_audience(config, r, core, user, reasons) {
            reasons.add(|| {
                format!(
                    "{:?} is a CMAB experiment, which this SDK does not decide",
                    key_of(config, r)
                )
            });
        }
        return None;
    }
    let Gate::Variation(variation) = admit(config, r, core, user, bucketing_id, reasons, false)
    else {
        return None;
    };
    if let Some(tracker) = profile {
        if let (Some(rule), Some(var)) = (config.rule(r), config.variation(variation)) {
            tracker.record(&rule.id, &var.id);
        }
    }
    Some(variation)
}

/// The variation of `rule` the user profile holds, when the rule still has it.
#[inline(never)]
fn stored(
    config: &ProjectConfig,
    rule: &Rule,
    tracker: &ProfileTracker<'_>,
    reasons: &mut Reasons,
) -> Option<u32> {
    let stored = tracker.stored_variation(&rule.id)?;
    let found = rule
        .variations
        .iter()
        .copied()
        .find(|&v| config.variation(v).is_some_and(|var| var.id == *stored));
    if found.is_some() {
        reasons.add(|| {
            format!(
                "stored variation {stored:?} of {:?} from the user profile",
                rule.key
            )
        });
    }
    found
}

#[inline(always)]
fn delivery_variation<R: Report>(
    config: &ProjectConfig,
    flag: &Flag,
    rules: &[u32],
    user: &User<'_>,
    bucketing_id: &BucketingKey,
    reasons: &mut R,
) -> FlagDecision {
    let last = rules.len().saturating_sub(1);
    let mut i = 0;
    while let Some(&r) = rules.get(i) {
        let Some(core) = config.core(r) else {
            i += 1;
            continue;
        };
        if core.has(RuleCore::LOCAL_HOLDOUTS) || !user.forced.is_empty() {
            let overridden = reasons.out_of_line(|reasons| {
                rule_override(
                    config,
                    flag,
                    r,
                    Source::Rollout,
                    user,
                    bucketing_id,
                    reasons,
                )
            });
            if let Some(decision) = overridden {
                return decision;
            }
        }
        // Past the second-to-last rule, "not in the audience" and "not bucketed" both lead to
        // the everyone-else rule (or the end), so the audience need not be known on a miss.
        match admit(config, r, core, user, bucketing_id, reasons, i + 1 < last) {
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
                        key_of(config, r)
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
