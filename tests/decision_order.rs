//! The decision order for one flag, through the public API, on a small datafile built here:
//! flag forced decision, global holdouts, experiment rules (rule forced decision, local
//! holdouts, status, whitelist, user profile, audience, group, bucketing), then delivery
//! rules with the skip to everyone else.

use decisive::{
    bucket_value, Attributes, Client, DecideOption, DecisionContext, ForcedDecision, UserProfile,
    UserProfileError, UserProfileService,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn variation(id: &str, key: &str, enabled: bool, color: Option<&str>) -> Value {
    let variables = match color {
        Some(c) => json!([{"id": "700", "value": c}]),
        None => json!([]),
    };
    json!({"id": id, "key": key, "featureEnabled": enabled, "variables": variables})
}

fn rule(id: &str, key: &str, audience: &[&str], ranges: Value, variations: Value) -> Value {
    json!({"id": id, "key": key, "layerId": format!("l{id}"), "status": "Running",
           "audienceIds": audience, "forcedVariations": {}, "variations": variations,
           "trafficAllocation": ranges})
}

/// The base datafile; `holdout_end` is the end of the global holdout's range.
fn datafile(holdout_end: u32) -> Value {
    let mut exp = rule(
        "300",
        "exp_1",
        &["200"],
        json!([{"entityId": "301", "endOfRange": 5000}, {"entityId": "302", "endOfRange": 10000}]),
        json!([
            variation("301", "v_a", true, Some("red")),
            variation("302", "v_b", false, None)
        ]),
    );
    exp["forcedVariations"] = json!({"white": "v_b", "bad": "no_such_variation"});
    json!({
        "version": "4", "revision": "7", "accountId": "1", "projectId": "2",
        "attributes": [{"id": "100", "key": "country"}, {"id": "101", "key": "app"}],
        "typedAudiences": [{"id": "200", "name": "US", "conditions":
            ["and", {"name": "country", "type": "custom_attribute", "match": "exact", "value": "US"}]}],
        "audiences": [{"id": "201", "name": "has app", "conditions":
            "[\"or\", {\"name\": \"app\", \"type\": \"custom_attribute\", \"match\": \"exists\"}]"}],
        "experiments": [exp],
        "groups": [{"id": "400", "policy": "random",
            "trafficAllocation": [{"entityId": "410", "endOfRange": 5000}, {"entityId": "420", "endOfRange": 10000}],
            "experiments": [
                rule("410", "grp_a", &[], json!([{"entityId": "411", "endOfRange": 10000}]), json!([variation("411", "a_on", true, None)])),
                rule("420", "grp_b", &[], json!([{"entityId": "421", "endOfRange": 10000}]), json!([variation("421", "b_on", true, None)]))
            ]}],
        "featureFlags": [
            {"id": "800", "key": "f1", "rolloutId": "500", "experimentIds": ["300", "999"],
             "variables": [{"id": "700", "key": "color", "type": "string", "defaultValue": "blue"}]},
            {"id": "801", "key": "f_group", "rolloutId": "", "experimentIds": ["410", "420"], "variables": []},
            {"id": "802", "key": "f_roll", "rolloutId": "510", "experimentIds": [], "variables": []}
        ],
        "rollouts": [
            {"id": "500", "experiments": [rule("501", "f1_everyone", &[], json!([{"entityId": "502", "endOfRange": 10000}]), json!([variation("502", "ee_off", false, None)]))]},
            {"id": "510", "experiments": [
                rule("511", "t1", &["200"], json!([{"entityId": "512", "endOfRange": 3000}]), json!([variation("512", "t1_on", true, None)])),
                rule("513", "t2", &["201"], json!([{"entityId": "514", "endOfRange": 10000}]), json!([variation("514", "t2_on", true, None)])),
                rule("515", "roll_everyone", &[], json!([{"entityId": "516", "endOfRange": 10000}]), json!([variation("516", "ee_on", true, None)]))
            ]}
        ],
        "holdouts": [{"id": "600", "key": "h_global", "status": "Running", "audienceIds": [],
            "variations": [{"id": "601", "key": "h_off", "featureEnabled": false}],
            "trafficAllocation": [{"entityId": "601", "endOfRange": holdout_end}]}],
        "localHoldouts": [{"id": "610", "key": "h_local", "status": "Running", "audienceIds": [],
            "variations": [{"id": "611", "key": "hl_off", "featureEnabled": false}],
            "trafficAllocation": [{"entityId": "611", "endOfRange": 10000}],
            "includedRules": ["513"]}],
        "events": []
    })
}

fn client(datafile: &Value) -> Client {
    Client::builder()
        .datafile(datafile.to_string())
        .without_events()
        .build()
        .expect("test datafile loads")
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

/// The first user id `user-N` whose bucket in `entity` satisfies `pred`.
fn user_where(entity: &str, pred: impl Fn(u32) -> bool) -> String {
    (0..100_000)
        .map(|i| format!("user-{i}"))
        .find(|id| pred(bucket_value(id, entity)))
        .expect("some user has such a bucket")
}

/// A user outside the global holdout (whose range ends at 1000 in most tests).
fn not_held_out(entity: &str, pred: impl Fn(u32) -> bool) -> String {
    (0..100_000)
        .map(|i| format!("user-{i}"))
        .find(|id| bucket_value(id, "600") >= 1000 && pred(bucket_value(id, entity)))
        .expect("some user has such buckets")
}

#[test]
fn a_user_in_the_experiment_audience_gets_the_variation_of_their_bucket() {
    let c = client(&datafile(1000));
    let id = not_held_out("300", |b| b < 5000);
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "US")]))
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key(), d.enabled()),
        (Some("v_a"), Some("exp_1"), true)
    );
    assert_eq!(
        d.variables().get("color").and_then(|v| v.as_str()),
        Some("red")
    );
    let id = not_held_out("300", |b| b >= 5000);
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "US")]))
        .decide("f1", &[]);
    assert_eq!((d.variation_key(), d.enabled()), (Some("v_b"), false));
    assert_eq!(
        d.variables().get("color").and_then(|v| v.as_str()),
        Some("blue")
    );
}

#[test]
fn a_user_outside_the_audience_falls_through_to_the_rollout() {
    let c = client(&datafile(1000));
    let id = not_held_out("300", |_| true);
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "FR")]))
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key(), d.enabled()),
        (Some("ee_off"), Some("f1_everyone"), false)
    );
}

#[test]
fn a_flag_level_forced_decision_beats_holdouts_and_rules() {
    let c = client(&datafile(10_000));
    let mut user = c.create_user_context("anyone", attrs(&[("country", "FR")]));
    user.set_forced_decision(DecisionContext::new("f1", None), ForcedDecision::new("v_a"));
    let d = user.decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key(), d.enabled()),
        (Some("v_a"), None, true)
    );
    assert_eq!(
        user.forced_decision(&DecisionContext::new("f1", None)),
        Some(ForcedDecision::new("v_a"))
    );
    assert!(user.remove_forced_decision(&DecisionContext::new("f1", None)));
    assert!(!user.remove_forced_decision(&DecisionContext::new("f1", None)));
    assert_eq!(user.decide("f1", &[]).rule_key(), Some("h_global"));
}

#[test]
fn a_forced_variation_the_flag_does_not_have_is_ignored() {
    let c = client(&datafile(1000));
    let id = not_held_out("300", |_| true);
    let mut user = c.create_user_context(id.as_str(), attrs(&[("country", "FR")]));
    user.set_forced_decision(
        DecisionContext::new("f1", None),
        ForcedDecision::new("t1_on"),
    );
    let d = user.decide("f1", &[DecideOption::IncludeReasons]);
    assert_eq!(d.variation_key(), Some("ee_off"));
    assert!(
        d.reasons().iter().any(|r| r.contains("does not have")),
        "{:?}",
        d.reasons()
    );
}

#[test]
fn a_rule_level_forced_decision_applies_to_its_rule() {
    let c = client(&datafile(1000));
    let id = not_held_out("300", |_| true);
    let mut user = c.create_user_context(id.as_str(), attrs(&[("country", "FR")]));
    user.set_forced_decision(
        DecisionContext::new("f1", Some("exp_1")),
        ForcedDecision::new("v_b"),
    );
    let d = user.decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("v_b"), Some("exp_1"))
    );
    assert!(user.remove_all_forced_decisions());
    assert_eq!(user.decide("f1", &[]).variation_key(), Some("ee_off"));
}

#[test]
fn a_global_holdout_beats_experiments() {
    let c = client(&datafile(10_000));
    let d = c
        .create_user_context("user-1", attrs(&[("country", "US")]))
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key(), d.enabled()),
        (Some("h_off"), Some("h_global"), false)
    );
    assert_eq!(
        d.variables().get("color").and_then(|v| v.as_str()),
        Some("blue")
    );
}

#[test]
fn a_local_holdout_applies_only_to_its_included_rule() {
    let c = client(&datafile(0));
    // Rule t1 (audience US, 30% traffic) is not held out.
    let id = user_where("511", |b| b < 3000);
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "US")]))
        .decide("f_roll", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("t1_on"), Some("t1"))
    );
    // Rule t2 (audience "has app") is: its users land in the local holdout.
    let d = c
        .create_user_context("someone", attrs(&[("app", "ios")]))
        .decide("f_roll", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key(), d.enabled()),
        (Some("hl_off"), Some("h_local"), false)
    );
}

#[test]
fn missing_the_traffic_of_a_targeted_rule_skips_to_everyone_else() {
    let c = client(&datafile(0));
    // In t1's audience but outside its 30%: t2 (whose audience the user is also in) is skipped.
    let id = user_where("511", |b| b >= 3000);
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "US"), ("app", "ios")]))
        .decide("f_roll", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("ee_on"), Some("roll_everyone"))
    );
    // The same user, reasons collected (the official evaluation order), decides the same.
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "US"), ("app", "ios")]))
        .decide("f_roll", &[DecideOption::IncludeReasons]);
    assert_eq!(d.rule_key(), Some("roll_everyone"));
    assert!(d.reasons().iter().any(|r| r.contains("everyone else")));
}

#[test]
fn a_paused_experiment_is_skipped() {
    let mut df = datafile(0);
    df["experiments"][0]["status"] = json!("Paused");
    let c = client(&df);
    let d = c
        .create_user_context("user-3", attrs(&[("country", "US")]))
        .decide("f1", &[]);
    assert_eq!(d.rule_key(), Some("f1_everyone"));
}

#[test]
fn the_whitelist_wins_over_audience_and_a_bad_whitelist_entry_is_ignored() {
    let c = client(&datafile(0));
    let d = c
        .create_user_context("white", attrs(&[("country", "FR")]))
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("v_b"), Some("exp_1"))
    );
    let d = c
        .create_user_context("bad", attrs(&[("country", "FR")]))
        .decide("f1", &[]);
    assert_eq!(d.variation_key(), Some("ee_off"));
}

#[test]
fn a_random_group_gives_each_user_at_most_one_of_its_experiments() {
    let c = client(&datafile(0));
    let a = user_where("400", |b| b < 5000);
    let b = user_where("400", |b| b >= 5000);
    let d = c
        .create_user_context(a.as_str(), Attributes::new())
        .decide("f_group", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("a_on"), Some("grp_a"))
    );
    let d = c
        .create_user_context(b.as_str(), Attributes::new())
        .decide("f_group", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("b_on"), Some("grp_b"))
    );
}

#[test]
fn a_string_bucketing_id_replaces_the_user_id_and_any_other_is_ignored() {
    let c = client(&datafile(0));
    let low = user_where("400", |b| b < 5000);
    let high = user_where("400", |b| b >= 5000);
    let mut attributes = Attributes::new();
    attributes.insert("$opt_bucketing_id", high.as_str());
    let d = c
        .create_user_context(low.as_str(), attributes)
        .decide("f_group", &[]);
    assert_eq!(d.rule_key(), Some("grp_b"));
    let mut attributes = Attributes::new();
    attributes.insert("$opt_bucketing_id", 42);
    let d = c
        .create_user_context(low.as_str(), attributes)
        .decide("f_group", &[]);
    assert_eq!(d.rule_key(), Some("grp_a"));
}

#[derive(Default, Clone)]
struct MemoryProfiles(Arc<Mutex<HashMap<String, UserProfile>>>);

impl UserProfileService for MemoryProfiles {
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, UserProfileError> {
        Ok(self
            .0
            .lock()
            .map_err(|e| e.to_string())?
            .get(user_id)
            .cloned())
    }
    fn save(&self, profile: &UserProfile) -> Result<(), UserProfileError> {
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .insert(profile.user_id.clone(), profile.clone());
        Ok(())
    }
}

#[test]
fn a_stored_variation_is_sticky_unless_the_profile_service_is_ignored() {
    let profiles = MemoryProfiles::default();
    let c = Client::builder()
        .datafile(datafile(0).to_string())
        .without_events()
        .user_profile_service(profiles.clone())
        .build()
        .unwrap();
    let id = user_where("300", |b| b < 5000);
    let user = c.create_user_context(id.as_str(), attrs(&[("country", "US")]));
    assert_eq!(user.decide("f1", &[]).variation_key(), Some("v_a"));
    // The bucketed variation was saved.
    let saved = profiles.0.lock().unwrap().get(&id).cloned().unwrap();
    assert_eq!(
        saved.experiment_bucket_map.get("300").map(String::as_str),
        Some("301")
    );
    // A stored variation wins over bucketing (and over the audience).
    profiles
        .0
        .lock()
        .unwrap()
        .get_mut(&id)
        .unwrap()
        .experiment_bucket_map
        .insert("300".into(), "302".into());
    let outside = c.create_user_context(id.as_str(), attrs(&[("country", "FR")]));
    assert_eq!(outside.decide("f1", &[]).variation_key(), Some("v_b"));
    assert_eq!(
        outside
            .decide("f1", &[DecideOption::IgnoreUserProfileService])
            .variation_key(),
        Some("ee_off")
    );
}

#[test]
fn enabled_flags_only_filters_decide_all_but_not_decide() {
    let c = client(&datafile(0));
    let user = c.create_user_context("user-9", attrs(&[("country", "FR")]));
    let all = user.decide_all(&[]);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["f1", "f_group", "f_roll"]);
    let enabled = user.decide_all(&[DecideOption::EnabledFlagsOnly]);
    assert!(enabled.iter().all(|d| d.enabled()));
    assert!(enabled.get("f1").is_none());
    let single = user.decide("f1", &[DecideOption::EnabledFlagsOnly]);
    assert_eq!((single.flag_key(), single.enabled()), ("f1", false));
}

#[test]
fn exclude_variables_returns_no_variables() {
    let c = client(&datafile(0));
    let user = c.create_user_context("user-9", Attributes::new());
    assert_eq!(user.decide("f1", &[]).variables().len(), 1);
    assert!(user
        .decide("f1", &[DecideOption::ExcludeVariables])
        .variables()
        .is_empty());
}

#[test]
fn an_unknown_flag_gives_a_disabled_decision_with_a_reason() {
    let c = client(&datafile(0));
    let user = c.create_user_context("u", Attributes::new());
    let d = user.decide("nope", &[]);
    assert_eq!(
        (d.flag_key(), d.enabled(), d.variation_key(), d.rule_key()),
        ("nope", false, None, None)
    );
    assert_eq!(d.reasons(), ["no flag was found for key \"nope\""]);
    let many = user.decide_for_keys(&["f1", "nope"], &[]);
    assert_eq!(many.keys().collect::<Vec<_>>(), ["f1", "nope"]);
}

#[test]
fn a_client_without_a_datafile_answers_not_ready_until_it_gets_one() {
    let c = Client::builder().without_events().build().unwrap();
    let user = c.create_user_context("u", Attributes::new());
    let d = user.decide("f1", &[]);
    assert!(!d.enabled());
    assert_eq!(d.reasons().len(), 1);
    assert!(
        d.reasons()[0].starts_with("SDK not configured"),
        "{:?}",
        d.reasons()
    );
    assert!(user.decide_all(&[]).is_empty());

    let df = datafile(0);
    assert!(c.update_datafile(df.to_string()).unwrap());
    assert!(!c.update_datafile(df.to_string()).unwrap());
    assert!(c.update_datafile("{").is_err());
    assert_eq!(c.config().unwrap().revision(), "7");
    // The context created before the datafile arrived decides with it now.
    assert_eq!(user.decide("f1", &[]).rule_key(), Some("f1_everyone"));
    let mut next = df.clone();
    next["revision"] = json!("8");
    assert!(c.update_datafile(next.to_string()).unwrap());
    assert_eq!(c.config().unwrap().revision(), "8");
}

#[test]
fn a_decision_keeps_the_user_context_as_it_was() {
    let c = client(&datafile(0));
    let mut user = c.create_user_context("u", attrs(&[("country", "US")]));
    let d = user.decide("f1", &[]);
    user.set_attribute("country", "FR");
    assert_eq!(
        d.user_context().attribute("country"),
        Some(&decisive::AttributeValue::String("US".into()))
    );
    assert_eq!(
        user.attribute("country"),
        Some(&decisive::AttributeValue::String("FR".into()))
    );
}

#[test]
fn a_feature_rollout_experiment_gives_everyone_else_its_traffic_remainder() {
    let mut df = datafile(0);
    df["experiments"][0]["type"] = json!("fr");
    df["experiments"][0]["audienceIds"] = json!([]);
    df["experiments"][0]["trafficAllocation"] = json!([{"entityId": "301", "endOfRange": 2000}]);
    let c = client(&df);
    let inside = user_where("300", |b| b < 2000);
    let outside = user_where("300", |b| b >= 2000);
    let d = c
        .create_user_context(inside.as_str(), Attributes::new())
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("v_a"), Some("exp_1"))
    );
    // Outside the rollout's traffic: the everyone-else variation, within the experiment rule.
    let d = c
        .create_user_context(outside.as_str(), Attributes::new())
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("ee_off"), Some("exp_1"))
    );
}

#[test]
fn a_typed_audience_replaces_the_legacy_audience_with_the_same_id() {
    let mut df = datafile(0);
    // A legacy audience 200 that would match everyone; the typed one (country == US) wins.
    df["audiences"] = json!([{"id": "200", "name": "legacy", "conditions":
        "[\"or\", {\"name\": \"country\", \"type\": \"custom_attribute\", \"match\": \"exists\"}]"}]);
    let c = client(&df);
    let id = user_where("300", |b| b < 5000);
    let fr = c.create_user_context(id.as_str(), attrs(&[("country", "FR")]));
    assert_eq!(fr.decide("f1", &[]).rule_key(), Some("f1_everyone"));
    let us = c.create_user_context(id.as_str(), attrs(&[("country", "US")]));
    assert_eq!(us.decide("f1", &[]).rule_key(), Some("exp_1"));
}

/// The datafile with its global holdout letting targeted deliveries run.
fn excluding_holdout(experiment_type: Option<&str>, send_flag_decisions: bool) -> Value {
    let mut df = datafile(10_000);
    df["holdouts"][0]["excludeTargetedDeliveries"] = json!(true);
    df["sendFlagDecisions"] = json!(send_flag_decisions);
    if let Some(t) = experiment_type {
        df["experiments"][0]["type"] = json!(t);
    }
    df
}

#[test]
fn a_holdout_excluding_targeted_deliveries_skips_experiments_but_not_deliveries() {
    let id = user_where("300", |b| b < 5000);
    let c = client(&excluding_holdout(None, false));
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "US")]))
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("ee_off"), Some("f1_everyone"))
    );
    // A targeted-delivery experiment is still evaluated.
    let c = client(&excluding_holdout(Some("td"), false));
    let d = c
        .create_user_context(id.as_str(), attrs(&[("country", "US")]))
        .decide("f1", &[]);
    assert_eq!(
        (d.variation_key(), d.rule_key()),
        (Some("v_a"), Some("exp_1"))
    );
}

/// Decisions and impressions checked against the official Python SDK 5.7.0 on this datafile.
#[test]
fn a_holdout_excluding_targeted_deliveries_sends_its_own_impression_first() {
    use decisive::replay::{run, Case};
    let id = user_where("300", |b| b < 5000);
    let case = Case::parse(
        &json!({"id": "h", "user_id": id, "attributes": {"country": "US"}, "op": "decide",
                "flag_key": "f1", "options": []})
        .to_string(),
    )
    .unwrap();
    let events_of = |df: &Value, case: &Case| -> Vec<(String, String, String)> {
        run(&client(df), case).unwrap()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let d = &e["body"]["visitors"][0]["snapshots"][0]["decisions"][0];
                (
                    d["metadata"]["rule_type"].as_str().unwrap().to_owned(),
                    d["metadata"]["rule_key"].as_str().unwrap().to_owned(),
                    d["metadata"]["variation_key"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let holdout = (
        "holdout".to_owned(),
        "h_global".to_owned(),
        "h_off".to_owned(),
    );
    // The delivery rule's impression follows only with sendFlagDecisions.
    assert_eq!(
        events_of(&excluding_holdout(None, false), &case),
        std::slice::from_ref(&holdout)
    );
    assert_eq!(
        events_of(&excluding_holdout(None, true), &case),
        [
            holdout.clone(),
            (
                "rollout".to_owned(),
                "f1_everyone".to_owned(),
                "ee_off".to_owned()
            )
        ]
    );
    assert_eq!(
        events_of(&excluding_holdout(Some("td"), false), &case),
        [
            holdout,
            (
                "feature-test".to_owned(),
                "exp_1".to_owned(),
                "v_a".to_owned()
            )
        ]
    );
    // None at all with DISABLE_DECISION_EVENT.
    let mut quiet = case.clone();
    quiet.options.push("DISABLE_DECISION_EVENT".to_owned());
    assert!(events_of(&excluding_holdout(None, true), &quiet).is_empty());
}
