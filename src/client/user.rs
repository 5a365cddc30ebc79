//! The user context: a user id, attributes, qualified segments and forced decisions, and the
//! decide calls made for that user.

use super::{
    Client, ClientError, DecideOption, Decision, DecisionNotification, Decisions, FlagRef,
    OptionSet, TrackNotification,
};
use crate::audience::{AttributeView, Resolution};
use crate::bucketing::BucketingKey;
use crate::config::{Flag, ProjectConfig};
use crate::decision::{
    self, DecisionContext, ForcedDecision, ForcedDecisions, PackedDecision, ProfileTracker,
    Reasons, Settings, User,
};
use crate::event::processor::BatchEventProcessor;
use crate::event::{self, Decided, EventSource, Origin, Tracked, Visitor};
use crate::value::BUCKETING_ID_ATTRIBUTE;
use crate::value::{AttributeValue, Attributes};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Clone)]
struct UserData {
    client: Client,
    /// The user id and attributes, shared with the events this user's decisions make.
    visitor: Arc<Visitor>,
    segments: Option<Vec<String>>,
    forced: ForcedDecisions,
    /// The config current when the attributes were last resolved, and the attribute index of
    /// each of its condition slots.
    resolved: Option<Resolved>,
}

/// The config a call decides with.
enum Current<'a> {
    /// The one the user context resolved its attributes against (decisions reach it through
    /// their user context).
    Resolved(&'a Arc<ProjectConfig>),
    /// A newer one from the client.
    Fresh(Arc<ProjectConfig>),
}

impl Current<'_> {
    fn arc(&self) -> &Arc<ProjectConfig> {
        match self {
            Current::Resolved(config) => config,
            Current::Fresh(config) => config,
        }
    }

    /// What a decision must hold to reach the config: nothing when its user context has it.
    fn for_decision(&self) -> Option<&Arc<ProjectConfig>> {
        match self {
            Current::Resolved(_) => None,
            Current::Fresh(config) => Some(config),
        }
    }
}

/// What a decide call settles once for every flag it decides.
struct Plan<'p> {
    config: &'p Arc<ProjectConfig>,
    /// What each decision holds of the config: `None` when its user context has it.
    fresh: Option<&'p Arc<ProjectConfig>>,
    /// The bucketing key when flags may take the plain decision path.
    plain: Option<&'p BucketingKey>,
    include_reasons: bool,
    exclude_variables: bool,
    settings: Settings,
    /// Where impressions go: `None` without events or with `DisableDecisionEvent`.
    events: Option<&'p BatchEventProcessor>,
}

impl std::ops::Deref for Current<'_> {
    type Target = ProjectConfig;

    fn deref(&self) -> &ProjectConfig {
        self.arc()
    }
}

#[derive(Clone)]
struct Resolved {
    config: Arc<ProjectConfig>,
    generation: u64,
    resolution: Resolution,
    bucketing: BucketingKey,
    /// `config` with the user, for the events of decisions made with it (`config` is kept
    /// beside it so that a decide reaches the config without going through this).
    source: Arc<EventSource>,
}

impl UserData {
    fn resolve(&mut self) {
        let (generation, config) = self.client.current();
        self.resolved = config.map(|config| Resolved {
            resolution: config.resolve(&self.visitor.attributes),
            bucketing: BucketingKey::new(
                match self.visitor.attributes.get(BUCKETING_ID_ATTRIBUTE) {
                    Some(AttributeValue::String(id)) => id,
                    _ => &self.visitor.user_id,
                },
            ),
            source: Arc::new(EventSource::new(
                Arc::clone(&config),
                Arc::clone(&self.visitor),
            )),
            config,
            generation,
        });
    }

    /// Where an event of a decision (or conversion) made with `config` comes from: the user
    /// context's own source when `config` is the one it resolved against.
    fn origin(&self, config: &Arc<ProjectConfig>) -> Origin {
        match &self.resolved {
            // `r.config` is the source's config, and lies beside it.
            Some(r) if Arc::ptr_eq(&r.config, config) => Origin::Shared(Arc::clone(&r.source)),
            _ => Origin::Own(Arc::clone(config), Arc::clone(&self.visitor)),
        }
    }

    /// The client's current config: the resolved one while no update has happened since,
    /// borrowed, without touching the client's lock or its reference count.
    fn config(&self) -> Option<Current<'_>> {
        match &self.resolved {
            Some(r) if r.generation == self.client.generation() => {
                Some(Current::Resolved(&r.config))
            }
            _ => self.client.current().1.map(Current::Fresh),
        }
    }

    /// The user as a decision with `config` sees them.
    fn user(&self, config: &ProjectConfig) -> User<'_> {
        let resolved = self.resolved.as_ref().filter(|r| r.config.id == config.id);
        User {
            id: &self.visitor.user_id,
            attributes: match resolved {
                Some(r) => AttributeView::resolved(&self.visitor.attributes, &r.resolution),
                None => AttributeView::by_name(&self.visitor.attributes),
            },
            segments: self.segments.as_deref().unwrap_or(&[]),
            forced: &self.forced,
            bucketing: resolved.map(|r| r.bucketing),
        }
    }
}

/// One user, as the SDK decides for them.
///
/// Cloning is cheap: the user's data is shared until one of the clones changes it. A
/// [`Decision`] keeps a clone made at decide time, so later changes do not alter it.
#[derive(Clone)]
pub struct UserContext {
    data: Arc<UserData>,
}

impl std::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContext")
            .field("user_id", &self.data.visitor.user_id)
            .field("attributes", &self.data.visitor.attributes)
            .finish()
    }
}

impl PartialEq for UserContext {
    fn eq(&self, other: &Self) -> bool {
        self.data.visitor == other.data.visitor
            && self.data.segments == other.data.segments
            && self.data.forced == other.data.forced
    }
}

impl Serialize for UserContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("UserContext", 2)?;
        s.serialize_field("user_id", &self.data.visitor.user_id)?;
        s.serialize_field("attributes", &self.data.visitor.attributes)?;
        s.end()
    }
}

const NOT_READY: &str = "SDK not configured properly yet: the client has no valid datafile";

impl UserContext {
    pub(crate) fn new(client: Client, user_id: String, attributes: Attributes) -> UserContext {
        let mut data = UserData {
            client,
            visitor: Arc::new(Visitor {
                user_id,
                attributes,
            }),
            segments: None,
            forced: ForcedDecisions::default(),
            resolved: None,
        };
        data.resolve();
        UserContext {
            data: Arc::new(data),
        }
    }

    /// The config this context's attributes were resolved against, if any.
    pub(crate) fn resolved_config(&self) -> Option<&ProjectConfig> {
        self.data.resolved.as_ref().map(|r| &*r.config)
    }

    /// The client this context decides with.
    pub fn client(&self) -> &Client {
        &self.data.client
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.data.visitor.user_id
    }

    /// The attributes.
    pub fn attributes(&self) -> &Attributes {
        &self.data.visitor.attributes
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.data.visitor.attributes.get(key)
    }

    /// Sets attribute `key`.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Into<AttributeValue>) {
        let data = Arc::make_mut(&mut self.data);
        // The resolution's event source shares the visitor: let it go first, so that the
        // visitor is changed in place when no queued event holds it.
        data.resolved = None;
        Arc::make_mut(&mut data.visitor)
            .attributes
            .insert(key, value);
        data.resolve();
    }

    /// The qualified (ODP) segments, if set.
    pub fn qualified_segments(&self) -> Option<&[String]> {
        self.data.segments.as_deref()
    }

    /// Sets (or, with `None`, clears) the qualified segments that `qualified` audience
    /// conditions test.
    pub fn set_qualified_segments(&mut self, segments: Option<Vec<String>>) {
        Arc::make_mut(&mut self.data).segments = segments;
    }

    /// Whether `segment` is among the qualified segments.
    pub fn is_qualified_for(&self, segment: &str) -> bool {
        self.data
            .segments
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == segment))
    }

    /// Forces `decision` for `context`, replacing an earlier one for the same context.
    pub fn set_forced_decision(
        &mut self,
        context: DecisionContext,
        decision: ForcedDecision,
    ) -> bool {
        Arc::make_mut(&mut self.data).forced.set(context, decision);
        true
    }

    /// The forced decision for `context`, if one is set.
    pub fn forced_decision(&self, context: &DecisionContext) -> Option<ForcedDecision> {
        self.data.forced.get(context).cloned()
    }

    /// Removes the forced decision for `context`; false when there was none.
    pub fn remove_forced_decision(&mut self, context: &DecisionContext) -> bool {
        if self.data.forced.get(context).is_none() {
            return false;
        }
        Arc::make_mut(&mut self.data).forced.remove(context)
    }

    /// Removes every forced decision.
    pub fn remove_all_forced_decisions(&mut self) -> bool {
        Arc::make_mut(&mut self.data).forced.clear();
        true
    }

    /// Tracks a conversion: the user did `event_key` (an event the datafile lists), with
    /// optional `tags` (`revenue`, an integer, and `value`, a number, are also reported as
    /// such). The conversion is queued for the event thread; this never blocks, unless the
    /// client's [`ProcessorOptions::full_queue_wait`](crate::ProcessorOptions::full_queue_wait)
    /// asks to wait for room in a full queue.
    ///
    /// Errors: [`ClientError::NotReady`] without a config, [`ClientError::UnknownEvent`] for a
    /// key the datafile does not list (nothing is sent), [`ClientError::EventDropped`] when the
    /// event queue is full or the client is closed (the drop is counted in the event stats).
    /// A client built without events checks the key and sends nothing.
    pub fn track_event(
        &self,
        event_key: &str,
        tags: Option<&Map<String, Value>>,
    ) -> Result<(), ClientError> {
        let Some(config) = self.data.config() else {
            log::error!(target: "decisive", "track_event({event_key:?}): {NOT_READY}");
            return Err(ClientError::NotReady);
        };
        let conversion =
            Tracked::new(self.data.origin(config.arc()), event_key, tags).map_err(|e| {
                log::error!(target: "decisive", "{e}");
                ClientError::from(e)
            })?;
        let Some(events) = &self.data.client.inner.events else {
            return Ok(());
        };
        let listeners = &self.data.client.inner.notifications.track;
        let copy = (!listeners.is_empty()).then(|| conversion.clone());
        if !events.process_tracked(conversion) {
            return Err(ClientError::EventDropped);
        }
        if let Some(log_event) = copy.and_then(|c| event::log_event(&[c])) {
            let notification = TrackNotification {
                event_key,
                user_id: &self.data.visitor.user_id,
                attributes: &self.data.visitor.attributes,
                event_tags: tags,
                log_event: &log_event,
            };
            listeners.each("track", |listener| listener(&notification));
        }
        Ok(())
    }

    /// Decides one flag. `EnabledFlagsOnly` does not apply to a single decision.
    pub fn decide(&self, flag_key: &str, options: &[DecideOption]) -> Decision {
        let Some(config) = self.data.config() else {
            return Decision::error(flag_key, self.clone(), vec![NOT_READY.to_owned()]);
        };
        let options = OptionSet::from_slice(options)
            .union(self.data.client.inner.default_options)
            .without(DecideOption::EnabledFlagsOnly);
        let Some((flag_idx, flag)) = config.flag(flag_key) else {
            return unknown_flag(flag_key, self.clone());
        };
        let mut tracker = self.profile_tracker(options);
        let user = self.data.user(&config);
        let plan = self.plan(&config, &user, options, tracker.is_some());
        let quiet = self.decide_quietly(&plan, &user, flag_idx, flag);
        let (decision, dispatched) = match quiet {
            Some(decision) => (decision, false),
            None => self.decide_one(&plan, &user, flag_idx, flag, tracker.as_mut()),
        };
        self.notify(&decision, dispatched);
        if let Some(t) = tracker {
            t.save();
        }
        decision
    }

    /// Decides every flag of the config, in datafile order.
    pub fn decide_all(&self, options: &[DecideOption]) -> Decisions {
        let Some(config) = self.data.config() else {
            return Decisions::default();
        };
        if config.repeated_flag_keys {
            // Each flag listed is decided by its key, which finds the last flag with it, as
            // the official SDKs decide all flags: for every key listed, in datafile order.
            let keys: Vec<&str> = config.flags.iter().map(|f| &*f.key).collect();
            return self.decide_for_keys(&keys, options);
        }
        let flags = (0..config.flags.len() as u32).zip(&config.flags).map(Ok);
        self.decide_many(&config, options, flags)
    }

    /// Decides the flags `keys`, in that order. An unknown key gives a decision with an error
    /// reason. A key given twice is decided each time (as the official SDKs do, with an
    /// impression each time) and kept once, at its first place, with its last decision.
    pub fn decide_for_keys<K: AsRef<str>>(
        &self,
        keys: &[K],
        options: &[DecideOption],
    ) -> Decisions {
        let Some(config) = self.data.config() else {
            return Decisions::default();
        };
        let flags = keys.iter().map(|key| {
            let key = key.as_ref();
            config.flag(key).ok_or(key)
        });
        let mut decisions = self.decide_many(&config, options, flags);
        decisions.keep_one_per_key();
        decisions
    }

    /// Decides several flags with one user profile lookup and save; `flags` gives each flag
    /// with its index, or the key that names no flag.
    fn decide_many<'c, 'k>(
        &self,
        config: &Current<'_>,
        options: &[DecideOption],
        flags: impl ExactSizeIterator<Item = Result<(u32, &'c Flag), &'k str>>,
    ) -> Decisions {
        let options = OptionSet::from_slice(options).union(self.data.client.inner.default_options);
        let mut tracker = self.profile_tracker(options);
        let user = self.data.user(config);
        let plan = self.plan(config, &user, options, tracker.is_some());
        let mut list = Vec::with_capacity(flags.len());
        let enabled_only = options.has(DecideOption::EnabledFlagsOnly);
        if !enabled_only && self.data.client.inner.notifications.decision.is_empty() {
            // Each decision is written straight into the list.
            for flag in flags {
                match flag {
                    Ok((idx, flag)) => {
                        if let Some(decision) = self.decide_quietly(&plan, &user, idx, flag) {
                            list.push(decision);
                        } else {
                            let decision = self.decide_one_out_of_line(
                                &plan,
                                &user,
                                idx,
                                flag,
                                tracker.as_mut(),
                            );
                            list.push(decision);
                        }
                    }
                    Err(key) => list.push(unknown_flag(key, self.clone())),
                }
            }
        } else {
            for flag in flags {
                match flag {
                    Err(key) => list.push(unknown_flag(key, self.clone())),
                    Ok((idx, flag)) => {
                        let quiet = self.decide_quietly(&plan, &user, idx, flag);
                        let (d, dispatched) = match quiet {
                            Some(decision) => (decision, false),
                            None => self.decide_one(&plan, &user, idx, flag, tracker.as_mut()),
                        };
                        self.notify(&d, dispatched);
                        if d.enabled() || !enabled_only {
                            list.push(d);
                        }
                    }
                }
            }
        }
        if let Some(t) = tracker {
            t.save();
        }
        Decisions { list }
    }

    #[inline]
    fn profile_tracker(&self, options: OptionSet) -> Option<ProfileTracker<'_>> {
        if options.has(DecideOption::IgnoreUserProfileService) {
            return None;
        }
        let service = self.data.client.inner.user_profile_service.as_deref()?;
        Some(ProfileTracker::load(service, &self.data.visitor.user_id))
    }

    /// What a decide call with `options` settles once for all its flags.
    #[inline(always)]
    fn plan<'p>(
        &'p self,
        current: &'p Current<'p>,
        user: &'p User<'p>,
        options: OptionSet,
        profile: bool,
    ) -> Plan<'p> {
        let include_reasons = options.has(DecideOption::IncludeReasons);
        let events = self
            .data
            .client
            .inner
            .events
            .as_ref()
            .filter(|_| !options.has(DecideOption::DisableDecisionEvent));
        Plan {
            config: current.arc(),
            fresh: current.for_decision(),
            plain: decision::plain_key(current, user, include_reasons, profile),
            include_reasons,
            exclude_variables: options.has(DecideOption::ExcludeVariables),
            settings: Settings {
                ignore_user_profile: options.has(DecideOption::IgnoreUserProfileService),
            },
            events,
        }
    }

    /// Decides flag `flag_idx` on the plain path when the plan allows it and there are no
    /// impressions to queue; `None` when the full [`decide_one`](Self::decide_one) is needed.
    #[inline(always)]
    fn decide_quietly(
        &self,
        plan: &Plan<'_>,
        user: &User<'_>,
        flag_idx: u32,
        flag: &Flag,
    ) -> Option<Decision> {
        let (Some(key), None) = (plan.plain, plan.events) else {
            return None;
        };
        let config = plan.config;
        let fd = decision::decide_plain(config, flag, user, key)?;
        // `NONE`, no variation, is no index of the config's either.
        let enabled = config
            .variation(fd.variation())
            .is_some_and(|v| v.feature_enabled);
        Some(Decision::quiet(
            self.clone(),
            plan.fresh.cloned(),
            FlagRef::new(flag_idx, fd, None, enabled, plan.exclude_variables),
        ))
    }

    /// [`decide_one`](Self::decide_one) kept out of the loop of a `decide_all`: most flags
    /// are decided quietly.
    #[inline(never)]
    fn decide_one_out_of_line(
        &self,
        plan: &Plan<'_>,
        user: &User<'_>,
        flag_idx: u32,
        flag: &Flag,
        tracker: Option<&mut ProfileTracker<'_>>,
    ) -> Decision {
        self.decide_one(plan, user, flag_idx, flag, tracker).0
    }

    /// Decides flag `flag_idx` and queues its impressions; also whether the decision's own
    /// impression was queued. The DECISION listeners are the caller's to notify. Called when
    /// [`decide_quietly`](Self::decide_quietly) gave `None`: without impressions to queue, the
    /// plain path has been tried already.
    #[inline(always)]
    fn decide_one(
        &self,
        plan: &Plan<'_>,
        user: &User<'_>,
        flag_idx: u32,
        flag: &Flag,
        tracker: Option<&mut ProfileTracker<'_>>,
    ) -> (Decision, bool) {
        let config = plan.config;
        let plain = match (plan.plain, plan.events) {
            (Some(key), Some(_)) => decision::decide_plain(config, flag, user, key),
            _ => None,
        };
        let mut dispatched = false;
        let (packed, held_out, reasons) = match plain {
            Some(packed) => {
                // The plain path has no holdout of its own to report: at most the decision's
                // impression.
                if let Some(events) = plan.events {
                    if event::should_send_impression(
                        packed.source,
                        config.send_flag_decisions,
                        false,
                    ) {
                        dispatched = events.process_decided(Decided::packed(
                            self.data.origin(config),
                            flag_idx,
                            packed,
                        ));
                    }
                }
                (packed, None, Vec::new())
            }
            None => {
                let mut reasons = Reasons::new(plan.include_reasons);
                let (fd, held_out) = decision::decide_in_full(
                    config,
                    flag,
                    user,
                    &plan.settings,
                    tracker,
                    &mut reasons,
                );
                if let Some(events) = plan.events {
                    let [holdout, own] =
                        event::reported(fd, held_out, config.send_flag_decisions, false);
                    for (reported, is_own) in [(holdout, false), (own, true)] {
                        let Some(reported) = reported else { continue };
                        let queued = events.process_decided(Decided::new(
                            self.data.origin(config),
                            flag_idx,
                            reported,
                        ));
                        dispatched |= is_own && queued;
                    }
                }
                (PackedDecision::pack(fd), held_out, reasons.into_vec())
            }
        };
        // `NONE`, no variation, is no index of the config's either.
        let enabled = config
            .variation(packed.variation())
            .is_some_and(|v| v.feature_enabled);
        let decision = Decision::known(
            self.clone(),
            plan.fresh.cloned(),
            FlagRef::new(flag_idx, packed, held_out, enabled, plan.exclude_variables),
            reasons,
        );
        (decision, dispatched)
    }

    /// Tells the DECISION listeners of `decision`: in line, the check that there are none
    /// (the usual case, part of every decide); out of line, the calls.
    #[inline(always)]
    fn notify(&self, decision: &Decision, dispatched: bool) {
        if !self.data.client.inner.notifications.decision.is_empty() {
            self.notify_listeners(decision, dispatched);
        }
    }

    /// Calls the DECISION listeners with `decision`.
    #[cold]
    #[inline(never)]
    fn notify_listeners(&self, decision: &Decision, dispatched: bool) {
        let notification = DecisionNotification {
            decision,
            decision_event_dispatched: dispatched,
        };
        self.data
            .client
            .inner
            .notifications
            .decision
            .each("decision", |listener| listener(&notification));
    }
}

fn unknown_flag(key: &str, user_context: UserContext) -> Decision {
    Decision::error(
        key,
        user_context,
        vec![format!("no flag was found for key {key:?}")],
    )
}
