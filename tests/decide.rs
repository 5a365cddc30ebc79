//! The decision order for one flag, through the public API, on small datafiles written here:
//! flag forced decision, global holdouts, then per experiment rule (rule forced decision,
//! local holdouts, status, whitelist, user profile, audience, group, bucketing), then the
//! delivery rules with the skip to everyone else; and what decide options change.
//!
//! Users are chosen by their bucket (`bucket_value`), and traffic ranges are placed around
//! those buckets, so every assertion names the exact variation and rule.

use decisive::{
    bucket_value, AttributeValue, Attributes, Client, DecideOption, DecisionContext,
    ForcedDecision, UserProfile, UserProfileError, UserProfileService,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Flag `flag`: experiment `exp` (audience US; `control` below 5000, `treatment` above;
/// whitelist `whitelisted` → treatment, `misnamed` → a key that is no variation), then the
/// rollout `targeted` (audience US, half the traffic), `second` (everyone) and
/// `everyone_else`. Flag `grouped`: experiments `grp_a` and `grp_b` of a random group, half
/// the group each. Flag `off`: no rules.
const BASE: &str = r#"{
  "version": "4", "revision": "1", "accountId": "10", "projectId": "20",
  "attributes": [{"id": "a1", "key": "country"}],
  "audiences": [],
  "typedAudiences": [{"id": "us", "name": "US", "conditions":
    ["and", {"name": "country", "type": "custom_attribute", "match": "exact", "value": "US"}]}],
  "experiments": [
    {"id": "1000", "key": "exp", "layerId": "l1000", "status": "Running", "audienceIds": ["us"],
     "forcedVariations": {"whitelisted": "treatment", "misnamed": "no_such_variation"},
     "variations": [
       {"id": "1001", "key": "control", "featureEnabled": true, "variables": [{"id": "v1", "value": "red"}]},
       {"id": "1002", "key": "treatment", "featureEnabled": true, "variables": [{"id": "v1", "value": "green"}]}],
     "trafficAllocation": [{"entityId": "1001", "endOfRange": 5000}, {"entityId": "1002", "endOfRange": 10000}]}
  ],
  "groups": [
    {"id": "3000", "policy": "random",
     "trafficAllocation": [{"entityId": "3100", "endOfRange": 5000}, {"entityId": "3200", "endOfRange": 10000}],
     "experiments": [
       {"id": "3100", "key": "grp_a", "layerId": "l3100", "status": "Running", "audienceIds": [], "forcedVariations": {},
        "variations": [{"id": "3101", "key": "a_on", "featureEnabled": true}],
        "trafficAllocation": [{"entityId": "3101", "endOfRange": 10000}]},
       {"id": "3200", "key": "grp_b", "layerId": "l3200", "status": "Running", "audienceIds": [], "forcedVariations": {},
        "variations": [{"id": "3201", "key": "b_on", "featureEnabled": true}],
        "trafficAllocation": [{"entityId": "3201", "endOfRange": 10000}]}]}
  ],
  "featureFlags": [
    {"id": "f1", "key": "flag", "rolloutId": "2000", "experimentIds": ["1000"],
     "variables": [{"id": "v1", "key": "color", "type": "string", "defaultValue": "blue"}]},
    {"id": "f2", "key": "grouped", "rolloutId": "", "experimentIds": ["3200", "3100"], "variables": []},
    {"id": "f3", "key": "off", "rolloutId": "", "experimentIds": [], "variables": []}
  ],
  "rollouts": [{"id": "2000", "experiments": [
    {"id": "2100", "key": "targeted", "layerId": "l2100", "status": "Running", "audienceIds": ["us"], "forcedVariations": {},
     "variations": [{"id": "2101", "key": "targeted_on", "featureEnabled": true, "variables": [{"id": "v1", "value": "gold"}]}],
     "trafficAllocation": [{"entityId": "2101", "endOfRange": 5000}]},
    {"id": "2200", "key": "second", "layerId": "l2200", "status": "Running", "audienceIds": [], "forcedVariations": {},
     "variations": [{"id": "2201", "key": "second_on", "featureEnabled": true, "variables": []}],
     "trafficAllocation": [{"entityId": "2201", "endOfRange": 10000}]},
    {"id": "2300", "key": "everyone_else", "layerId": "l2300", "status": "Running", "audienceIds": [], "forcedVariations": {},
     "variations": [{"id": "2301", "key": "ee_off", "featureEnabled": false, "variables": []}],
     "trafficAllocation": [{"entityId": "2301", "endOfRange": 10000}]}]}],
  "events": []
}"#;

fn base() -> Value {
    serde_json::from_str(BASE).expect("BASE is JSON")
}

fn client(datafile: &Value) -> Client {
    Client::builder()
        .datafile(datafile.to_string())
        .without_events()
        .build()
        .expect("the test datafile loads")
}

fn us() -> Attributes {
    [("country", "US")].into_iter().collect()
}

fn fr() -> Attributes {
    [("country", "FR")].into_iter().collect()
}

/// The first user id `user-N` whose bucket in every `(entity, range)` lies in that range.
fn user_with(buckets: &[(&str, std::ops::Range<u32>)]) -> String {
    (0..200_000)
        .map(|i| format!("user-{i}"))
        .find(|id| {
            buckets
                .iter()
                .all(|(entity, range)| range.contains(&bucket_value(id, entity)))
        })
        .expect("some user has such buckets")
}

/// `(variation key, rule key, enabled)` of a decision.
fn outcome(d: &decisive::Decision) -> (Option<&str>, Option<&str>, bool) {
    (d.variation_key(), d.rule_key(), d.enabled())
}

fn color(d: &decisive::Decision) -> Option<&str> {
    d.variables().get("color").and_then(|v| v.as_str())
}

fn holdout(id: &str, key: &str, end: u32) -> Value {
    json!({"id": id, "key": key, "status": "Running", "audienceIds": [],
           "variations": [{"id": format!("{id}1"), "key": format!("{key}_off"), "featureEnabled": false}],
           "trafficAllocation": [{"entityId": format!("{id}1"), "endOfRange": end}]})
}

#[test]
fn a_user_in_the_audience_gets_the_variation_of_their_bucket() {
    let c = client(&base());
    let low = user_with(&[("1000", 0..5000)]);
    let d = c
        .create_user_context(low.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(outcome(&d), (Some("control"), Some("exp"), true));
    assert_eq!(color(&d), Some("red"));
    let high = user_with(&[("1000", 5000..10000)]);
    let d = c
        .create_user_context(high.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(outcome(&d), (Some("treatment"), Some("exp"), true));
    assert_eq!(color(&d), Some("green"));
}

#[test]
fn user_on_range_boundary_goes_to_next_variation() {
    let id = user_with(&[("1000", 100..9000)]);
    let b = bucket_value(&id, "1000");
    let mut d = base();
    d["experiments"][0]["trafficAllocation"][0]["endOfRange"] = json!(b);
    let on_boundary = client(&d)
        .create_user_context(id.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(on_boundary.variation_key(), Some("treatment"));
    d["experiments"][0]["trafficAllocation"][0]["endOfRange"] = json!(b + 1);
    let inside = client(&d)
        .create_user_context(id.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(inside.variation_key(), Some("control"));
}

#[test]
fn zero_width_and_hold_back_ranges_bucket_no_one() {
    let id = user_with(&[("1000", 100..9000), ("2100", 0..5000)]);
    let b = bucket_value(&id, "1000");
    let mut d = base();
    // control ends exactly at the user's bucket, treatment has zero width there, then a
    // hold-back range: the user is in no variation of `exp` and goes on to the rollout.
    d["experiments"][0]["trafficAllocation"] = json!([
        {"entityId": "1001", "endOfRange": b},
        {"entityId": "1002", "endOfRange": b},
        {"entityId": "", "endOfRange": 10000}
    ]);
    let decision = client(&d)
        .create_user_context(id.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("targeted_on"), Some("targeted"), true)
    );
    // A range naming a variation the experiment does not have buckets no one either.
    d["experiments"][0]["trafficAllocation"] = json!([{"entityId": "2101", "endOfRange": 10000}]);
    let decision = client(&d)
        .create_user_context(id.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("targeted_on"), Some("targeted"), true)
    );
}

#[test]
fn a_flag_level_forced_decision_beats_holdouts_whitelist_and_rules() {
    let mut d = base();
    d["holdouts"] = json!([holdout("9000", "global_hold", 10000)]);
    let c = client(&d);
    let mut user = c.create_user_context("whitelisted", us());
    let flag = DecisionContext::new("flag", None);
    user.set_forced_decision(flag.clone(), ForcedDecision::new("ee_off"));
    let decision = user.decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some("ee_off"), None, false));
    assert_eq!(color(&decision), Some("blue"));
    user.set_forced_decision(flag, ForcedDecision::new("treatment"));
    let decision = user.decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some("treatment"), None, true));
    assert_eq!(color(&decision), Some("green"));
}

#[test]
fn a_forced_decision_naming_no_flag_variation_is_ignored() {
    let c = client(&base());
    let id = user_with(&[("1000", 0..5000)]);
    let mut user = c.create_user_context(id.as_str(), us());
    user.set_forced_decision(
        DecisionContext::new("flag", None),
        ForcedDecision::new("nope"),
    );
    user.set_forced_decision(
        DecisionContext::new("flag", Some("exp")),
        ForcedDecision::new("a_on"),
    );
    let decision = user.decide("flag", &[DecideOption::IncludeReasons]);
    assert_eq!(outcome(&decision), (Some("control"), Some("exp"), true));
    for name in ["\"nope\"", "\"a_on\""] {
        assert!(
            decision.reasons().iter().any(|r| r.contains(name)),
            "no reason names {name}: {:?}",
            decision.reasons()
        );
    }
}

#[test]
fn a_rule_level_forced_decision_applies_to_its_rule_even_when_paused() {
    let mut d = base();
    d["experiments"][0]["status"] = json!("Paused");
    let c = client(&d);
    // Not in the audience and the experiment is paused: the forced decision still wins.
    let mut user = c.create_user_context("someone", fr());
    user.set_forced_decision(
        DecisionContext::new("flag", Some("exp")),
        ForcedDecision::new("treatment"),
    );
    assert_eq!(
        outcome(&user.decide("flag", &[])),
        (Some("treatment"), Some("exp"), true)
    );
    // A delivery rule's forced decision may name any variation of the flag.
    let mut user = c.create_user_context("someone", fr());
    user.set_forced_decision(
        DecisionContext::new("flag", Some("second")),
        ForcedDecision::new("targeted_on"),
    );
    let decision = user.decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("targeted_on"), Some("second"), true)
    );
    assert_eq!(color(&decision), Some("gold"));
}

#[test]
fn a_global_holdout_beats_experiments() {
    let mut d = base();
    d["holdouts"] = json!([holdout("9000", "global_hold", 10000)]);
    let c = client(&d);
    let decision = c
        .create_user_context("whitelisted", us())
        .decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("global_hold_off"), Some("global_hold"), false)
    );
    assert_eq!(color(&decision), Some("blue"));
    // Every flag is held out, including one without rules.
    let off = c.create_user_context("u", fr()).decide("off", &[]);
    assert_eq!(
        outcome(&off),
        (Some("global_hold_off"), Some("global_hold"), false)
    );
}

#[test]
fn a_global_holdout_admits_only_its_audience_traffic_and_running_status() {
    let held = user_with(&[("9000", 0..3000), ("1000", 0..5000)]);
    let free = user_with(&[("9000", 3000..10000), ("1000", 0..5000)]);
    let mut d = base();
    let mut h = holdout("9000", "global_hold", 3000);
    h["audienceIds"] = json!(["us"]);
    d["holdouts"] = json!([h.clone()]);
    let c = client(&d);
    let table = [
        (
            "in audience and traffic",
            held.as_str(),
            us(),
            (Some("global_hold_off"), Some("global_hold"), false),
        ),
        (
            "outside the audience",
            held.as_str(),
            fr(),
            (Some("second_on"), Some("second"), true),
        ),
        (
            "outside the traffic",
            free.as_str(),
            us(),
            (Some("control"), Some("exp"), true),
        ),
    ];
    for (label, id, attributes, expected) in table {
        let decision = c.create_user_context(id, attributes).decide("flag", &[]);
        assert_eq!(outcome(&decision), expected, "{label}");
    }
    h["status"] = json!("Paused");
    d["holdouts"] = json!([h]);
    let decision = client(&d)
        .create_user_context(held.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some("control"), Some("exp"), true));
}

#[test]
fn a_local_holdout_applies_only_to_its_included_rule() {
    let mut d = base();
    let mut local = holdout("9100", "local_hold", 10000);
    local["includedRules"] = json!(["2100"]);
    d["localHoldouts"] = json!([local]);
    let c = client(&d);
    let id = user_with(&[("1000", 0..5000)]);
    // In the experiment: the holdout on the targeted delivery rule is never reached.
    let decision = c.create_user_context(id.as_str(), us()).decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some("control"), Some("exp"), true));
    // Reaching the targeted rule: held out there, before its audience is evaluated.
    let decision = c.create_user_context(id.as_str(), fr()).decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("local_hold_off"), Some("local_hold"), false)
    );
    // Other flags are not affected.
    let expected = if bucket_value(&id, "3000") < 5000 {
        "grp_a"
    } else {
        "grp_b"
    };
    let grouped = c
        .create_user_context(id.as_str(), fr())
        .decide("grouped", &[]);
    assert_eq!(grouped.rule_key(), Some(expected));
}

#[test]
fn a_local_holdout_on_an_experiment_precedes_its_status_and_audience() {
    let mut d = base();
    let mut local = holdout("9100", "local_hold", 10000);
    local["includedRules"] = json!(["1000"]);
    d["localHoldouts"] = json!([local]);
    let held = (Some("local_hold_off"), Some("local_hold"), false);
    let decision = client(&d)
        .create_user_context("u", fr())
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), held);
    d["experiments"][0]["status"] = json!("Paused");
    let decision = client(&d)
        .create_user_context("u", fr())
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), held);
}

#[test]
fn a_non_running_experiment_is_skipped_whitelist_included() {
    let id = user_with(&[("2100", 0..5000)]);
    for status in ["Paused", "Not started", "Archived", "running", ""] {
        let mut d = base();
        d["experiments"][0]["status"] = json!(status);
        let c = client(&d);
        let decision = c.create_user_context(id.as_str(), us()).decide("flag", &[]);
        assert_eq!(
            outcome(&decision),
            (Some("targeted_on"), Some("targeted"), true),
            "{status:?}"
        );
        let decision = c
            .create_user_context("whitelisted", fr())
            .decide("flag", &[]);
        assert_eq!(
            outcome(&decision),
            (Some("second_on"), Some("second"), true),
            "{status:?}"
        );
    }
}

#[test]
fn the_whitelist_wins_over_audience_and_bucketing() {
    // Whitelist the user into the variation their bucket does not give.
    let (bucketed, other) = if bucket_value("whitelisted", "1000") < 5000 {
        ("control", "treatment")
    } else {
        ("treatment", "control")
    };
    let mut d = base();
    d["experiments"][0]["forcedVariations"] = json!({"whitelisted": other});
    let c = client(&d);
    let decision = c
        .create_user_context("whitelisted", us())
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some(other), Some("exp"), true));
    // Outside the audience too.
    let decision = c
        .create_user_context("whitelisted", fr())
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some(other), Some("exp"), true));
    // Without the entry the same user is bucketed.
    let mut d = base();
    d["experiments"][0]["forcedVariations"] = json!({});
    let decision = client(&d)
        .create_user_context("whitelisted", us())
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some(bucketed), Some("exp"), true));
}

#[test]
fn a_whitelist_entry_naming_no_variation_is_ignored() {
    let c = client(&base());
    let decision = c.create_user_context("misnamed", fr()).decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("second_on"), Some("second"), true)
    );
    let expected = if bucket_value("misnamed", "1000") < 5000 {
        "control"
    } else {
        "treatment"
    };
    let decision = c.create_user_context("misnamed", us()).decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some(expected), Some("exp"), true));
}

#[test]
fn the_whitelist_is_keyed_by_user_id_not_bucketing_id() {
    let c = client(&base());
    let mut attributes = fr();
    attributes.insert("$opt_bucketing_id", "whitelisted");
    let decision = c
        .create_user_context("other", attributes)
        .decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("second_on"), Some("second"), true)
    );
    let mut attributes = fr();
    attributes.insert("$opt_bucketing_id", "other");
    let decision = c
        .create_user_context("whitelisted", attributes)
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some("treatment"), Some("exp"), true));
}

/// A user profile service kept in memory, counting its calls.
#[derive(Default, Clone)]
struct MemoryProfiles {
    profiles: Arc<Mutex<HashMap<String, UserProfile>>>,
    lookups: Arc<Mutex<usize>>,
    saves: Arc<Mutex<usize>>,
    fail_lookups: bool,
}

impl MemoryProfiles {
    fn store(&self, user_id: &str, experiment_id: &str, variation_id: &str) {
        let mut map = HashMap::new();
        map.insert(experiment_id.to_owned(), variation_id.to_owned());
        self.profiles.lock().unwrap().insert(
            user_id.to_owned(),
            UserProfile {
                user_id: user_id.to_owned(),
                experiment_bucket_map: map,
            },
        );
    }

    fn stored(&self, user_id: &str) -> Option<HashMap<String, String>> {
        self.profiles
            .lock()
            .unwrap()
            .get(user_id)
            .map(|p| p.experiment_bucket_map.clone())
    }

    fn calls(&self) -> (usize, usize) {
        (*self.lookups.lock().unwrap(), *self.saves.lock().unwrap())
    }
}

impl UserProfileService for MemoryProfiles {
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, UserProfileError> {
        *self.lookups.lock().unwrap() += 1;
        if self.fail_lookups {
            return Err("profile store unavailable".into());
        }
        Ok(self.profiles.lock().unwrap().get(user_id).cloned())
    }

    fn save(&self, profile: &UserProfile) -> Result<(), UserProfileError> {
        *self.saves.lock().unwrap() += 1;
        self.profiles
            .lock()
            .unwrap()
            .insert(profile.user_id.clone(), profile.clone());
        Ok(())
    }
}

fn client_with_profiles(datafile: &Value, profiles: &MemoryProfiles) -> Client {
    Client::builder()
        .datafile(datafile.to_string())
        .without_events()
        .user_profile_service(profiles.clone())
        .build()
        .expect("the test datafile loads")
}

#[test]
fn a_stored_variation_wins_over_audience_and_bucketing() {
    let profiles = MemoryProfiles::default();
    let c = client_with_profiles(&base(), &profiles);
    let id = user_with(&[("1000", 0..5000)]);
    profiles.store(&id, "1000", "1002");
    // Outside the audience and bucketed into control, yet the stored treatment is used.
    let decision = c.create_user_context(id.as_str(), fr()).decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some("treatment"), Some("exp"), true));
    // Nothing changed, so nothing was saved.
    assert_eq!(profiles.calls(), (1, 0));
}

#[test]
fn ignore_user_profile_service_neither_reads_nor_writes_profiles() {
    let profiles = MemoryProfiles::default();
    let c = client_with_profiles(&base(), &profiles);
    let id = user_with(&[("1000", 0..5000)]);
    profiles.store(&id, "1000", "1002");
    let user = c.create_user_context(id.as_str(), us());
    let decision = user.decide("flag", &[DecideOption::IgnoreUserProfileService]);
    assert_eq!(outcome(&decision), (Some("control"), Some("exp"), true));
    assert_eq!(profiles.calls(), (0, 0));
    assert_eq!(
        profiles
            .stored(&id)
            .unwrap()
            .get("1000")
            .map(String::as_str),
        Some("1002")
    );
}

#[test]
fn a_newly_bucketed_variation_is_saved_and_then_sticks() {
    let profiles = MemoryProfiles::default();
    let mut d = base();
    let c = client_with_profiles(&d, &profiles);
    let id = user_with(&[("1000", 0..5000)]);
    let decision = c.create_user_context(id.as_str(), us()).decide("flag", &[]);
    assert_eq!(decision.variation_key(), Some("control"));
    assert_eq!(profiles.calls(), (1, 1));
    let saved = profiles.stored(&id).unwrap();
    assert_eq!(
        saved,
        HashMap::from([("1000".to_owned(), "1001".to_owned())])
    );

    // The traffic moves everyone to treatment; the stored control sticks.
    d["experiments"][0]["trafficAllocation"] = json!([{"entityId": "1002", "endOfRange": 10000}]);
    d["revision"] = json!("2");
    assert!(c.update_datafile(d.to_string()).unwrap());
    let decision = c.create_user_context(id.as_str(), us()).decide("flag", &[]);
    assert_eq!(decision.variation_key(), Some("control"));
    assert_eq!(profiles.calls(), (2, 1));
}

#[test]
fn a_stored_id_that_is_no_variation_is_replaced_by_the_bucketed_one() {
    let profiles = MemoryProfiles::default();
    let c = client_with_profiles(&base(), &profiles);
    let id = user_with(&[("1000", 5000..10000)]);
    profiles.store(&id, "1000", "9999");
    let decision = c.create_user_context(id.as_str(), us()).decide("flag", &[]);
    assert_eq!(decision.variation_key(), Some("treatment"));
    assert_eq!(
        profiles
            .stored(&id)
            .unwrap()
            .get("1000")
            .map(String::as_str),
        Some("1002")
    );
}

#[test]
fn forced_whitelisted_and_delivery_decisions_are_not_saved() {
    let profiles = MemoryProfiles::default();
    let c = client_with_profiles(&base(), &profiles);
    c.create_user_context("whitelisted", fr())
        .decide("flag", &[]);
    let mut forced = c.create_user_context("forced", us());
    forced.set_forced_decision(
        DecisionContext::new("flag", Some("exp")),
        ForcedDecision::new("treatment"),
    );
    forced.decide("flag", &[]);
    c.create_user_context("delivery", fr()).decide("flag", &[]);
    assert_eq!(profiles.calls(), (3, 0));
    assert!(profiles.profiles.lock().unwrap().is_empty());
}

#[test]
fn a_failing_profile_lookup_decides_as_if_there_were_no_profile() {
    let profiles = MemoryProfiles {
        fail_lookups: true,
        ..MemoryProfiles::default()
    };
    let c = client_with_profiles(&base(), &profiles);
    let id = user_with(&[("1000", 0..5000)]);
    let decision = c.create_user_context(id.as_str(), us()).decide("flag", &[]);
    assert_eq!(outcome(&decision), (Some("control"), Some("exp"), true));
    assert_eq!(
        profiles
            .stored(&id)
            .unwrap()
            .get("1000")
            .map(String::as_str),
        Some("1001")
    );
}

#[test]
fn decide_all_looks_the_profile_up_once_and_saves_it_once() {
    let profiles = MemoryProfiles::default();
    let c = client_with_profiles(&base(), &profiles);
    let id = user_with(&[("1000", 0..5000), ("3000", 0..5000)]);
    let all = c.create_user_context(id.as_str(), us()).decide_all(&[]);
    assert_eq!(all.len(), 3);
    assert_eq!(profiles.calls(), (1, 1));
    assert_eq!(
        profiles.stored(&id).unwrap(),
        HashMap::from([
            ("1000".to_owned(), "1001".to_owned()),
            ("3100".to_owned(), "3101".to_owned())
        ])
    );
}

#[test]
fn missing_the_traffic_of_a_targeted_rule_skips_to_everyone_else() {
    let mut d = base();
    d["experiments"][0]["status"] = json!("Paused");
    let c = client(&d);
    let inside = user_with(&[("2100", 0..5000)]);
    let outside = user_with(&[("2100", 5000..10000)]);
    let table = [
        (
            "in audience and traffic",
            inside.as_str(),
            us(),
            (Some("targeted_on"), Some("targeted"), true),
            Some("gold"),
        ),
        // `second` admits everyone, but it is skipped.
        (
            "in audience, outside traffic",
            outside.as_str(),
            us(),
            (Some("ee_off"), Some("everyone_else"), false),
            Some("blue"),
        ),
        (
            "outside audience",
            outside.as_str(),
            fr(),
            (Some("second_on"), Some("second"), true),
            Some("blue"),
        ),
    ];
    for (label, id, attributes, expected, expected_color) in table {
        let decision = c.create_user_context(id, attributes).decide("flag", &[]);
        assert_eq!(outcome(&decision), expected, "{label}");
        assert_eq!(color(&decision), expected_color, "{label}");
    }
}

#[test]
fn missing_the_everyone_else_traffic_gives_no_decision() {
    let mut d = base();
    d["experiments"][0]["status"] = json!("Paused");
    d["rollouts"][0]["experiments"][2]["trafficAllocation"][0]["endOfRange"] = json!(0);
    let outside = user_with(&[("2100", 5000..10000)]);
    let decision = client(&d)
        .create_user_context(outside.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(outcome(&decision), (None, None, false));
    assert_eq!(color(&decision), Some("blue"));
}

#[test]
fn a_random_group_excludes_users_bucketed_into_a_sibling_experiment() {
    let c = client(&base());
    // The flag lists grp_b first; the group, not the order, decides.
    let a = user_with(&[("3000", 0..5000)]);
    let b = user_with(&[("3000", 5000..10000)]);
    let decision = c
        .create_user_context(a.as_str(), fr())
        .decide("grouped", &[]);
    assert_eq!(outcome(&decision), (Some("a_on"), Some("grp_a"), true));
    let decision = c
        .create_user_context(b.as_str(), fr())
        .decide("grouped", &[]);
    assert_eq!(outcome(&decision), (Some("b_on"), Some("grp_b"), true));
}

#[test]
fn a_group_range_for_no_experiment_excludes_the_user_from_all() {
    let mut d = base();
    d["groups"][0]["trafficAllocation"] = json!([
        {"entityId": "3100", "endOfRange": 3000},
        {"entityId": "", "endOfRange": 6000},
        {"entityId": "3200", "endOfRange": 10000}
    ]);
    let held_back = user_with(&[("3000", 3000..6000)]);
    let decision = client(&d)
        .create_user_context(held_back.as_str(), fr())
        .decide("grouped", &[]);
    assert_eq!(outcome(&decision), (None, None, false));
}

#[test]
fn an_overlapping_group_does_not_gate_its_experiments() {
    let mut d = base();
    d["groups"][0]["policy"] = json!("overlapping");
    let a = user_with(&[("3000", 0..5000)]);
    let decision = client(&d)
        .create_user_context(a.as_str(), fr())
        .decide("grouped", &[]);
    // The first listed experiment admits everyone.
    assert_eq!(outcome(&decision), (Some("b_on"), Some("grp_b"), true));
}

#[test]
fn a_string_bucketing_id_replaces_the_user_id_in_every_bucketing() {
    let c = client(&base());
    let low = user_with(&[("1000", 0..5000), ("3000", 0..5000)]);
    let high = user_with(&[("1000", 5000..10000), ("3000", 5000..10000)]);
    let mut attributes = us();
    attributes.insert("$opt_bucketing_id", high.as_str());
    let user = c.create_user_context(low.as_str(), attributes);
    assert_eq!(user.decide("flag", &[]).variation_key(), Some("treatment"));
    assert_eq!(user.decide("grouped", &[]).rule_key(), Some("grp_b"));
}

#[test]
fn a_bucketing_id_that_is_not_a_string_is_ignored() {
    let c = client(&base());
    let low = user_with(&[("1000", 0..5000), ("3000", 0..5000)]);
    let values = [
        AttributeValue::Int(5),
        AttributeValue::Float(0.5),
        AttributeValue::Bool(true),
        AttributeValue::Null,
        AttributeValue::Json(json!(["x"])),
    ];
    for value in values {
        let mut attributes = us();
        attributes.insert("$opt_bucketing_id", value.clone());
        let user = c.create_user_context(low.as_str(), attributes);
        assert_eq!(
            user.decide("flag", &[]).variation_key(),
            Some("control"),
            "{value:?}"
        );
        assert_eq!(
            user.decide("grouped", &[]).rule_key(),
            Some("grp_a"),
            "{value:?}"
        );
    }
}

#[test]
fn enabled_flags_only_filters_decide_all_and_decide_for_keys_but_not_decide() {
    let c = client(&base());
    let id = user_with(&[("1000", 0..5000)]);
    let user = c.create_user_context(id.as_str(), us());
    let all = user.decide_all(&[]);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["flag", "grouped", "off"]);
    let enabled = user.decide_all(&[DecideOption::EnabledFlagsOnly]);
    assert_eq!(enabled.keys().collect::<Vec<_>>(), ["flag", "grouped"]);
    let some = user.decide_for_keys(&["off", "flag"], &[DecideOption::EnabledFlagsOnly]);
    assert_eq!(some.keys().collect::<Vec<_>>(), ["flag"]);
    let single = user.decide("off", &[DecideOption::EnabledFlagsOnly]);
    assert_eq!((single.flag_key(), single.enabled()), ("off", false));

    // The same as a default option of the client.
    let c = Client::builder()
        .datafile(BASE)
        .without_events()
        .default_decide_options(&[DecideOption::EnabledFlagsOnly])
        .build()
        .unwrap();
    let user = c.create_user_context(id.as_str(), us());
    assert_eq!(
        user.decide_all(&[]).keys().collect::<Vec<_>>(),
        ["flag", "grouped"]
    );
    assert_eq!(user.decide("off", &[]).flag_key(), "off");
}

#[test]
fn exclude_variables_gives_empty_variables() {
    let c = client(&base());
    let id = user_with(&[("1000", 0..5000)]);
    let user = c.create_user_context(id.as_str(), us());
    assert_eq!(
        user.decide("flag", &[]).variables().to_json(),
        json!({"color": "red"})
    );
    let decision = user.decide("flag", &[DecideOption::ExcludeVariables]);
    assert_eq!(outcome(&decision), (Some("control"), Some("exp"), true));
    assert!(decision.variables().is_empty());
    let c = Client::builder()
        .datafile(BASE)
        .without_events()
        .default_decide_options(&[DecideOption::ExcludeVariables])
        .build()
        .unwrap();
    let decision = c.create_user_context(id.as_str(), us()).decide("flag", &[]);
    assert!(decision.variables().is_empty());
}

#[test]
fn an_unknown_flag_gives_a_disabled_decision_with_null_keys_and_a_reason() {
    let c = client(&base());
    let user = c.create_user_context("u", us());
    let decision = user.decide("no_such_flag", &[]);
    assert_eq!(decision.flag_key(), "no_such_flag");
    assert_eq!(outcome(&decision), (None, None, false));
    assert!(decision.variables().is_empty());
    assert_eq!(decision.reasons().len(), 1);
    assert!(
        decision.reasons()[0].contains("\"no_such_flag\""),
        "{:?}",
        decision.reasons()
    );
    let json = decision.to_json();
    assert_eq!(
        (&json["variation_key"], &json["rule_key"], &json["enabled"]),
        (&Value::Null, &Value::Null, &json!(false))
    );
    let many = user.decide_for_keys(&["off", "no_such_flag", "flag"], &[]);
    assert_eq!(
        many.keys().collect::<Vec<_>>(),
        ["off", "no_such_flag", "flag"]
    );
}

#[test]
fn a_client_without_a_datafile_is_not_ready_until_one_arrives() {
    let c = Client::builder().without_events().build().unwrap();
    assert!(c.config().is_none());
    let user = c.create_user_context("whitelisted", fr());
    let decision = user.decide("flag", &[]);
    assert_eq!(decision.flag_key(), "flag");
    assert_eq!(outcome(&decision), (None, None, false));
    assert_eq!(decision.reasons().len(), 1);
    assert!(
        decision.reasons()[0].contains("not configured"),
        "{:?}",
        decision.reasons()
    );
    assert!(user.decide_all(&[]).is_empty());

    assert!(c.update_datafile(BASE).unwrap());
    // The context made before the datafile arrived decides with it.
    assert_eq!(
        outcome(&user.decide("flag", &[])),
        (Some("treatment"), Some("exp"), true)
    );
}

#[test]
fn update_datafile_reports_a_new_revision_and_keeps_the_config_on_error() {
    let c = client(&base());
    let user = c.create_user_context("u", fr());
    assert!(!c.update_datafile(BASE).unwrap());

    let mut next = base();
    next["revision"] = json!("2");
    next["rollouts"][0]["experiments"][1]["trafficAllocation"] = json!([]);
    assert!(c.update_datafile(next.to_string()).unwrap());
    assert_eq!(c.config().unwrap().revision(), "2");
    assert_eq!(
        outcome(&user.decide("flag", &[])),
        (Some("ee_off"), Some("everyone_else"), false)
    );

    for bad in ["", "{", "[1]", r#"{"version": "5"}"#] {
        assert!(c.update_datafile(bad).is_err(), "{bad:?}");
        assert_eq!(c.config().unwrap().revision(), "2", "{bad:?}");
    }
    // Same revision, different content: nothing changes.
    assert!(!c.update_datafile(BASE.replace("\"1\"", "\"2\"")).unwrap());
    assert_eq!(
        outcome(&user.decide("flag", &[])),
        (Some("ee_off"), Some("everyone_else"), false)
    );
}

/// What a decision says, for comparing two.
fn summary(d: &decisive::Decision) -> (String, Option<String>, Option<String>, bool, Value) {
    (
        d.flag_key().to_owned(),
        d.variation_key().map(str::to_owned),
        d.rule_key().map(str::to_owned),
        d.enabled(),
        d.variables().to_json(),
    )
}

#[test]
fn reasons_and_when_a_context_was_made_never_change_a_decision() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/compat/generated_2"
    );
    let datafile = std::fs::read_to_string(format!("{root}/datafile.json")).unwrap();
    let cases = std::fs::read_to_string(format!("{root}/cases.jsonl")).unwrap();
    let now = Client::builder()
        .datafile(&datafile)
        .without_events()
        .build()
        .unwrap();
    let late = Client::builder().without_events().build().unwrap();
    let mut users = Vec::new();
    for line in cases.lines().take(200) {
        let case: Value = serde_json::from_str(line).unwrap();
        let id = case["user_id"].as_str().unwrap_or_default().to_owned();
        let attributes: Attributes = serde_json::from_value(case["attributes"].clone()).unwrap();
        // Made before the client has a datafile.
        let early = late.create_user_context(id.as_str(), attributes.clone());
        users.push((now.create_user_context(id, attributes), early));
    }
    assert!(late.update_datafile(&datafile).unwrap());
    let mut compared = 0;
    for (user, early) in &users {
        let plain: Vec<_> = user.decide_all(&[]).iter().map(summary).collect();
        let explained: Vec<_> = user
            .decide_all(&[DecideOption::IncludeReasons])
            .iter()
            .map(summary)
            .collect();
        let from_early: Vec<_> = early.decide_all(&[]).iter().map(summary).collect();
        assert_eq!(plain, explained, "{}", user.user_id());
        assert_eq!(plain, from_early, "{}", user.user_id());
        compared += plain.len();
    }
    assert!(compared > 1000, "only {compared} decisions compared");
}

#[test]
fn qualified_segments_of_the_context_decide_a_segment_audience() {
    let mut d = base();
    d["typedAudiences"] = json!([{"id": "us", "name": "VIP segment", "conditions":
        ["and", {"name": "odp.audiences", "type": "third_party_dimension", "match": "qualified", "value": "vip"}]}]);
    d["experiments"][0]["status"] = json!("Paused");
    let c = client(&d);
    assert_eq!(c.config().unwrap().segments().collect::<Vec<_>>(), ["vip"]);
    let id = user_with(&[("2100", 0..5000)]);
    let mut user = c.create_user_context(id.as_str(), Attributes::new());
    let not_qualified = (Some("second_on"), Some("second"), true);
    assert_eq!(outcome(&user.decide("flag", &[])), not_qualified);
    user.set_qualified_segments(Some(vec!["gold".into(), "vip".into()]));
    assert_eq!(
        outcome(&user.decide("flag", &[])),
        (Some("targeted_on"), Some("targeted"), true)
    );
    user.set_qualified_segments(None);
    assert_eq!(outcome(&user.decide("flag", &[])), not_qualified);
}

#[test]
fn an_enabled_holdout_variation_has_no_variable_values() {
    let mut d = base();
    let mut h = holdout("9000", "global_hold", 10000);
    h["variations"][0]["featureEnabled"] = json!(true);
    d["holdouts"] = json!([h]);
    d["featureFlags"][0]["variables"] = json!([
        {"id": "v1", "key": "color", "type": "string", "defaultValue": "blue"},
        {"id": "v2", "key": "on", "type": "boolean", "defaultValue": "true"},
        {"id": "v3", "key": "n", "type": "integer", "defaultValue": "3"},
        {"id": "v4", "key": "j", "type": "json", "defaultValue": "{}"}
    ]);
    let decision = client(&d)
        .create_user_context("u", us())
        .decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("global_hold_off"), Some("global_hold"), true)
    );
    // As the Python SDK: the holdout variation has no variable map, so values are null and
    // booleans false.
    assert_eq!(
        decision.variables().to_json(),
        json!({"color": null, "on": false, "n": null, "j": null})
    );
}

#[test]
fn delivery_rules_have_no_status_check_and_no_whitelist() {
    let mut d = base();
    d["experiments"][0]["status"] = json!("Paused");
    d["rollouts"][0]["experiments"][0]["status"] = json!("Paused");
    d["rollouts"][0]["experiments"][1]["forcedVariations"] = json!({"listed": "ee_off"});
    let c = client(&d);
    let inside = user_with(&[("2100", 0..5000)]);
    let decision = c
        .create_user_context(inside.as_str(), us())
        .decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("targeted_on"), Some("targeted"), true)
    );
    let decision = c.create_user_context("listed", fr()).decide("flag", &[]);
    assert_eq!(
        outcome(&decision),
        (Some("second_on"), Some("second"), true)
    );
}

#[test]
fn rule_audience_combinations_use_three_valued_logic() {
    let id = user_with(&[("1000", 0..5000), ("2100", 5000..10000)]);
    let in_exp = (Some("control"), Some("exp"), true);
    let second = (Some("second_on"), Some("second"), true);
    let everyone_else = (Some("ee_off"), Some("everyone_else"), false);
    let no_country = Attributes::new();
    let table = [
        // An unknown audience is unknown; `not` keeps it unknown: nobody qualifies.
        (
            "not of an unknown audience",
            json!(["not", "404"]),
            us(),
            everyone_else,
        ),
        (
            "not of an unknown audience, FR",
            json!(["not", "404"]),
            fr(),
            second,
        ),
        ("not US, for FR", json!(["not", "us"]), fr(), in_exp),
        ("not US, for US", json!(["not", "us"]), us(), everyone_else),
        (
            "not US, without a country",
            json!(["not", "us"]),
            no_country.clone(),
            second,
        ),
        (
            "unknown or US, for US",
            json!(["or", "404", "us"]),
            us(),
            in_exp,
        ),
        (
            "unknown or US, for FR",
            json!(["or", "404", "us"]),
            fr(),
            second,
        ),
        ("a bare audience id", json!("us"), us(), in_exp),
        (
            "an empty list admits everyone",
            json!([]),
            no_country,
            in_exp,
        ),
    ];
    for (label, conditions, attributes, expected) in table {
        let mut d = base();
        d["experiments"][0]["audienceConditions"] = conditions;
        let decision = client(&d)
            .create_user_context(id.as_str(), attributes)
            .decide("flag", &[]);
        assert_eq!(outcome(&decision), expected, "{label}");
    }
}

/// A flag key listed twice: the official SDKs' key maps keep the last flag with the key, so
/// `decide` follows the later flag's rules (checked against the Python SDK 5.7.0).
#[test]
fn a_flag_key_listed_twice_decides_by_its_last_flag() {
    let mut datafile = base();
    datafile["featureFlags"]
        .as_array_mut()
        .expect("flags")
        .push(json!({"id": "f9", "key": "flag", "rolloutId": "", "experimentIds": [], "variables": []}));
    let user = client(&datafile).create_user_context("whitelisted", us());
    let d = user.decide("flag", &[]);
    assert_eq!(outcome(&d), (None, None, false));
    assert!(d.variables().is_empty());
    // decide_all: one decision per key, in the order keys first come, each by its last flag.
    let all = user.decide_all(&[]);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["flag", "grouped", "off"]);
    assert_eq!(outcome(all.get("flag").expect("flag")), (None, None, false));
    // A key asked for twice is one decision too.
    let some = user.decide_for_keys(&["off", "flag", "off", "nope", "nope"], &[]);
    assert_eq!(some.keys().collect::<Vec<_>>(), ["off", "flag", "nope"]);
    // Without the later flag, the first one whitelists this user into `treatment`.
    let d = client(&base())
        .create_user_context("whitelisted", us())
        .decide("flag", &[]);
    assert_eq!(outcome(&d), (Some("treatment"), Some("exp"), true));
}

/// A rollout id listed twice: the flag's delivery rules are the last rollout's (checked
/// against the Python SDK 5.7.0).
#[test]
fn a_rollout_id_listed_twice_gives_the_flag_the_last_rollouts_rules() {
    let mut datafile = base();
    datafile["rollouts"].as_array_mut().expect("rollouts").push(json!(
        {"id": "2000", "experiments": [
          {"id": "2400", "key": "later_everyone", "layerId": "l2400", "status": "Running",
           "audienceIds": [], "forcedVariations": {},
           "variations": [{"id": "2401", "key": "later_on", "featureEnabled": true, "variables": []}],
           "trafficAllocation": [{"entityId": "2401", "endOfRange": 10000}]}]}
    ));
    let d = client(&datafile)
        .create_user_context("someone", fr())
        .decide("flag", &[]);
    assert_eq!(
        outcome(&d),
        (Some("later_on"), Some("later_everyone"), true)
    );
    let d = client(&base())
        .create_user_context("someone", fr())
        .decide("flag", &[]);
    assert_eq!(outcome(&d), (Some("second_on"), Some("second"), true));
}

/// An experiment of two variations, half the traffic each: `{key}_first`, then `{key}_second`.
fn halves(id: &str, key: &str) -> Value {
    json!({"id": id, "key": key, "layerId": format!("layer-{id}"), "status": "Running",
        "audienceIds": [], "forcedVariations": {},
        "variations": [
            {"id": format!("{id}-1"), "key": format!("{key}_first"), "featureEnabled": true},
            {"id": format!("{id}-2"), "key": format!("{key}_second"), "featureEnabled": true}],
        "trafficAllocation": [
            {"entityId": format!("{id}-1"), "endOfRange": 5000},
            {"entityId": format!("{id}-2"), "endOfRange": 10000}]})
}

/// Ids too long to be hashed as one word (more than 13 bytes) are hashed as text: a group and
/// its experiments, and an experiment of its own, with such ids, with and without reasons.
#[test]
fn groups_and_rules_with_long_ids_bucket_users_as_their_ids_text_says() {
    let mut d = base();
    let group = "group-with-a-long-id-5000";
    let (first, second, alone) = (
        "experiment-with-a-long-id-5100",
        "experiment-with-a-long-id-5200",
        "experiment-with-a-long-id-6000",
    );
    d["groups"].as_array_mut().unwrap().push(json!({
        "id": group, "policy": "random",
        "trafficAllocation": [
            {"entityId": first, "endOfRange": 5000},
            {"entityId": second, "endOfRange": 10000}],
        "experiments": [halves(first, "long_a"), halves(second, "long_b")]}));
    d["experiments"]
        .as_array_mut()
        .unwrap()
        .push(halves(alone, "long_alone"));
    let flags = d["featureFlags"].as_array_mut().unwrap();
    flags.push(json!({"id": "f5", "key": "long_grouped", "rolloutId": "",
        "experimentIds": [first, second], "variables": []}));
    flags.push(json!({"id": "f6", "key": "long_alone", "rolloutId": "",
        "experimentIds": [alone], "variables": []}));
    let c = client(&d);
    let half = |user: &str, entity: &str| {
        if bucket_value(user, entity) < 5000 {
            "first"
        } else {
            "second"
        }
    };
    let mut cases = Vec::new();
    for i in 0..100 {
        let user = format!("user-{i}");
        let (rule, rule_id) = match half(&user, group) {
            "first" => ("long_a", first),
            _ => ("long_b", second),
        };
        let variation = format!("{rule}_{}", half(&user, rule_id));
        cases.push(("long_grouped", user.clone(), rule, variation));
        let variation = format!("long_alone_{}", half(&user, alone));
        cases.push(("long_alone", user, "long_alone", variation));
    }
    // Both of the group's experiments and both halves of each are reached.
    for variation in [
        "long_a_first",
        "long_a_second",
        "long_b_first",
        "long_b_second",
    ] {
        assert!(
            cases.iter().any(|(_, _, _, v)| v == variation),
            "{variation}"
        );
    }
    for (flag, user, rule, variation) in &cases {
        for options in [&[][..], &[DecideOption::IncludeReasons][..]] {
            let decision = c
                .create_user_context(user.as_str(), Attributes::default())
                .decide(flag, options);
            assert_eq!(
                outcome(&decision),
                (Some(variation.as_str()), Some(*rule), true),
                "{flag} for {user} ({options:?})"
            );
        }
    }
}
