//! The load-time rules of the official SDKs, read off the built config: typed audiences over
//! legacy ones, flags skipping missing experiments, empty rollout ids, feature-rollout
//! injection, flag variations, typed variables and per-variation variable sets.

use super::*;
use crate::value::Attributes;
use serde_json::{json, Value};

fn variation(id: &str, key: &str, enabled: bool, variables: Value) -> Value {
    json!({"id": id, "key": key, "featureEnabled": enabled, "variables": variables})
}

fn experiment(id: &str, key: &str, variations: Value, traffic: Value) -> Value {
    json!({"id": id, "key": key, "layerId": format!("layer_{id}"), "status": "Running",
           "variations": variations, "trafficAllocation": traffic,
           "audienceIds": [], "forcedVariations": {}})
}

fn datafile() -> Value {
    json!({"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
           "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": [],
           "featureFlags": [], "rollouts": []})
}

fn load(d: &Value) -> ProjectConfig {
    ProjectConfig::from_datafile(d.to_string()).expect("the test datafile loads")
}

fn flag<'a>(config: &'a ProjectConfig, key: &str) -> &'a Flag {
    config.flag(key).expect("the flag exists").1
}

fn rule_keys<'a>(config: &'a ProjectConfig, rules: &[u32]) -> Vec<&'a str> {
    rules
        .iter()
        .map(|&r| &*config.rule(r).unwrap().key)
        .collect()
}

fn variation_ids<'a>(config: &'a ProjectConfig, variations: &[u32]) -> Vec<(&'a str, &'a str)> {
    variations
        .iter()
        .map(|&v| {
            let var = config.variation(v).unwrap();
            (&*var.id, &*var.key)
        })
        .collect()
}

fn rule_by_key<'a>(config: &'a ProjectConfig, key: &str) -> &'a Rule {
    config
        .rules
        .iter()
        .find(|r| &*r.key == key)
        .expect("the rule exists")
}

fn audience<'a>(config: &'a ProjectConfig, id: &str) -> &'a Audience {
    let at = *config
        .audience_index
        .get(id)
        .expect("the audience is indexed");
    &config.audiences[at as usize]
}

#[test]
fn a_typed_audience_replaces_the_legacy_audience_with_the_same_id() {
    let mut d = datafile();
    d["audiences"] = json!([
        {"id": "1", "name": "legacy one", "conditions":
            "[\"or\", {\"name\": \"country\", \"type\": \"custom_attribute\", \"match\": \"exists\"}]"},
        // Replaced by a typed audience, so its broken conditions are never read.
        {"id": "2", "name": "legacy two", "conditions": "[\"and\", {"},
        {"id": "3", "name": "legacy only", "conditions":
            "[\"or\", {\"name\": \"plan\", \"type\": \"custom_attribute\", \"value\": \"pro\"}]"}
    ]);
    d["typedAudiences"] = json!([
        {"id": "1", "name": "typed one", "conditions":
            ["and", {"name": "country", "type": "custom_attribute", "match": "exact", "value": "US"}]},
        {"id": "2", "name": "typed two", "conditions":
            {"name": "age", "type": "custom_attribute", "match": "gt", "value": 20}}
    ]);
    let config = load(&d);
    assert_eq!(config.audiences.len(), 3);
    assert_eq!(&*audience(&config, "1").name, "typed one");
    assert_eq!(&*audience(&config, "2").name, "typed two");
    assert_eq!(&*audience(&config, "3").name, "legacy only");

    let fr: Attributes = [("country", "FR")].into_iter().collect();
    let us: Attributes = [("country", "US")].into_iter().collect();
    // The legacy audience 1 (country exists) would admit FR; the typed one does not.
    assert_eq!(audience(&config, "1").evaluate(&fr, &[]), Some(false));
    assert_eq!(audience(&config, "1").evaluate(&us, &[]), Some(true));
    let old: Attributes = [("age", 21)].into_iter().collect();
    assert_eq!(audience(&config, "2").evaluate(&old, &[]), Some(true));
    let pro: Attributes = [("plan", "pro")].into_iter().collect();
    assert_eq!(audience(&config, "3").evaluate(&pro, &[]), Some(true));
}

#[test]
fn a_flag_skips_experiment_ids_that_name_no_experiment() {
    let mut d = datafile();
    let on = json!([variation("11", "on", true, json!([]))]);
    let all = json!([{"entityId": "11", "endOfRange": 10000}]);
    d["experiments"] = json!([
        experiment("10", "exp_a", on.clone(), all.clone()),
        experiment("20", "exp_b", on, all)
    ]);
    d["featureFlags"] = json!([{"id": "f", "key": "flag", "rolloutId": "",
        "experimentIds": ["20", "404", "10"], "variables": []}]);
    let config = load(&d);
    let f = flag(&config, "flag");
    assert_eq!(rule_keys(&config, config.rules_of(f).0), ["exp_b", "exp_a"]);
}

#[test]
fn rollout_ids_that_are_empty_or_unknown_give_no_delivery_rules() {
    let mut d = datafile();
    let everyone = experiment(
        "31",
        "everyone",
        json!([variation("32", "on", true, json!([]))]),
        json!([{"entityId": "32", "endOfRange": 10000}]),
    );
    let targeted = experiment("33", "targeted", json!([]), json!([]));
    d["rollouts"] = json!([{"id": "30", "experiments": [targeted, everyone]}]);
    d["featureFlags"] = json!([
        {"id": "a", "key": "empty", "rolloutId": "", "experimentIds": [], "variables": []},
        {"id": "b", "key": "unknown", "rolloutId": "99", "experimentIds": [], "variables": []},
        {"id": "c", "key": "known", "rolloutId": "30", "experimentIds": [], "variables": []},
        {"id": "d", "key": "absent", "experimentIds": [], "variables": []}
    ]);
    let config = load(&d);
    for key in ["empty", "unknown", "absent"] {
        assert!(config.rules_of(flag(&config, key)).1.is_empty(), "{key}");
    }
    assert_eq!(
        rule_keys(&config, config.rules_of(flag(&config, "known")).1),
        ["targeted", "everyone"]
    );
}

#[test]
fn a_feature_rollout_experiment_gets_the_everyone_else_variation_up_to_10000() {
    let mut d = datafile();
    let fr = |id: &str, key: &str| {
        let mut e = experiment(
            id,
            key,
            json!([variation(&format!("{id}1"), "treatment", true, json!([]))]),
            json!([{"entityId": format!("{id}1"), "endOfRange": 2500}]),
        );
        e["type"] = json!("fr");
        e
    };
    let mut ab = experiment(
        "60",
        "ab_test",
        json!([variation("601", "b", true, json!([]))]),
        json!([{"entityId": "601", "endOfRange": 2500}]),
    );
    ab["type"] = json!("ab");
    d["experiments"] = json!([
        fr("40", "fr_with_rollout"),
        fr("50", "fr_without_rollout"),
        ab
    ]);
    d["rollouts"] = json!([{"id": "70", "experiments": [
        experiment("71", "targeted", json!([variation("711", "targeted_on", true, json!([]))]),
                   json!([{"entityId": "711", "endOfRange": 10000}])),
        experiment("72", "everyone_else",
                   json!([variation("721", "ee_first", false, json!([])),
                          variation("722", "ee_second", true, json!([]))]),
                   json!([{"entityId": "721", "endOfRange": 10000}]))
    ]}]);
    d["featureFlags"] = json!([
        {"id": "f1", "key": "with_rollout", "rolloutId": "70", "experimentIds": ["40", "60"], "variables": []},
        {"id": "f2", "key": "without_rollout", "rolloutId": "", "experimentIds": ["50"], "variables": []}
    ]);
    let config = load(&d);

    let injected = rule_by_key(&config, "fr_with_rollout");
    assert!(injected.feature_rollout);
    assert_eq!(
        variation_ids(&config, &injected.variations),
        [("401", "treatment"), ("721", "ee_first")]
    );
    let ranges: Vec<(u32, Option<&str>)> = injected
        .traffic
        .iter()
        .map(|r| (r.end, r.entity.map(|v| &*config.variation(v).unwrap().key)))
        .collect();
    assert_eq!(
        ranges,
        [(2500, Some("treatment")), (10000, Some("ee_first"))]
    );

    // Not "fr", or no rollout to take the variation from: unchanged.
    let ab = rule_by_key(&config, "ab_test");
    assert_eq!(variation_ids(&config, &ab.variations), [("601", "b")]);
    assert_eq!(ab.traffic.len(), 1);
    let lonely = rule_by_key(&config, "fr_without_rollout");
    assert_eq!(
        variation_ids(&config, &lonely.variations),
        [("501", "treatment")]
    );
    assert_eq!(lonely.traffic.len(), 1);
}

#[test]
fn flag_variations_are_every_rule_variation_once_by_id_first_seen_first() {
    let mut d = datafile();
    d["experiments"] = json!([experiment(
        "10",
        "exp",
        json!([
            variation("1", "a", true, json!([])),
            variation("2", "b", false, json!([]))
        ]),
        json!([])
    )]);
    d["rollouts"] = json!([{"id": "20", "experiments": [
        experiment("21", "targeted", json!([variation("2", "b_again", true, json!([])),
                                            variation("3", "c", true, json!([]))]), json!([])),
        experiment("22", "everyone", json!([variation("1", "a_again", false, json!([]))]), json!([]))
    ]}]);
    d["featureFlags"] = json!([{"id": "f", "key": "flag", "rolloutId": "20",
        "experimentIds": ["10"], "variables": []}]);
    let config = load(&d);
    assert_eq!(
        variation_ids(&config, config.flag_variations_of(flag(&config, "flag"))),
        [("1", "a"), ("2", "b"), ("3", "c")]
    );
}

#[test]
fn variables_are_typed_by_their_declared_type_and_string_json_is_json() {
    let mut d = datafile();
    d["featureFlags"] = json!([{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": [],
    "variables": [
        {"id": "1", "key": "s", "type": "string", "defaultValue": "{\"a\": 1}"},
        {"id": "2", "key": "sj", "type": "string", "subType": "json", "defaultValue": "{\"a\": 1}"},
        {"id": "3", "key": "j", "type": "json", "defaultValue": "[1, \"x\"]"},
        {"id": "4", "key": "i", "type": "integer", "defaultValue": "42"},
        {"id": "5", "key": "d", "type": "double", "defaultValue": "2.5"},
        {"id": "6", "key": "b", "type": "boolean", "defaultValue": "true"},
        {"id": "7", "key": "bad_int", "type": "integer", "defaultValue": "4.5"}
    ]}]);
    let config = load(&d);
    let f = flag(&config, "flag");
    let defaults = &config.variable_sets_of(f)[0];
    assert_eq!(
        defaults.kinds(),
        [
            ("s", VariableType::String),
            ("sj", VariableType::Json),
            ("j", VariableType::Json),
            ("i", VariableType::Integer),
            ("d", VariableType::Double),
            ("b", VariableType::Boolean),
            ("bad_int", VariableType::Integer),
        ]
    );
    let expected = [
        ("s", VariableValue::String("{\"a\": 1}".into())),
        ("sj", VariableValue::Json(json!({"a": 1}))),
        ("j", VariableValue::Json(json!([1, "x"]))),
        ("i", VariableValue::Integer(42)),
        ("d", VariableValue::Double(2.5)),
        ("b", VariableValue::Boolean(true)),
        ("bad_int", VariableValue::Null),
    ];
    let got: Vec<(&str, VariableValue)> = defaults.iter().map(|(k, v)| (k, v.clone())).collect();
    assert_eq!(got, expected.map(|(k, v)| (k, v)));
}

#[test]
fn a_sets_values_are_typed_once_and_shared_by_its_clones_and_every_read() {
    let mut d = datafile();
    d["featureFlags"] = json!([{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": [],
    "variables": [
        {"id": "1", "key": "j", "type": "json", "defaultValue": "{\"a\": [1, 2]}"},
        {"id": "2", "key": "s", "type": "string", "defaultValue": "x"}
    ]}]);
    let config = load(&d);
    let f = flag(&config, "flag");
    let defaults = &config.variable_sets_of(f)[0];
    let copy = defaults.clone();
    // Read through the clone first: the set is typed once, for both.
    let first = copy.get("s").expect("s") as *const VariableValue;
    assert_eq!(defaults.get("s"), Some(&VariableValue::String("x".into())));
    assert!(std::ptr::eq(defaults.get("s").expect("s"), first));
    let json = defaults.get("j").expect("j");
    assert_eq!(json, &VariableValue::Json(json!({"a": [1, 2]})));
    assert!(std::ptr::eq(copy.get("j").expect("j"), json));
    let read: Vec<*const VariableValue> = defaults.iter().map(|(_, v)| v as *const _).collect();
    assert_eq!(read, [json as *const _, first]);
    // The other set (no variable map) is its own, typed apart.
    let none = &config.variable_sets_of(f)[1];
    assert_eq!(none.get("s"), Some(&VariableValue::Null));
    assert_eq!(none.get("missing"), None);
}

#[test]
fn variable_values_written_with_escapes_are_typed_decoded() {
    // As a datafile writes them: every short escape, in a default and in a variation's value.
    let value = r#"tab\t slash\/ quote\" back\\ line\n"#;
    let json = r#"{\"a\": \"x\\/y\"}"#;
    let text = format!(
        r#"{{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
        "attributes": [], "audiences": [], "groups": [], "events": [], "rollouts": [],
        "experiments": [{{"id": "10", "key": "exp", "layerId": "9", "status": "Running",
          "variations": [{{"id": "11", "key": "on", "featureEnabled": true,
            "variables": [{{"id": "1", "value": "{value}"}}, {{"id": "2", "value": "{json}"}}]}}],
          "trafficAllocation": [{{"entityId": "11", "endOfRange": 10000}}],
          "audienceIds": [], "forcedVariations": {{}}}}],
        "featureFlags": [{{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": ["10"],
          "variables": [{{"id": "1", "key": "s", "type": "string", "defaultValue": "{value}"}},
                        {{"id": "2", "key": "j", "type": "json", "defaultValue": "{json}"}}]}}]}}"#
    );
    let config = ProjectConfig::from_datafile(text).expect("the datafile loads");
    let f = flag(&config, "flag");
    let decoded = json!("tab\t slash/ quote\" back\\ line\n");
    let expected = [
        ("s".to_owned(), decoded),
        ("j".to_owned(), json!({"a": "x/y"})),
    ];
    // The defaults, then the variation's own values.
    assert_eq!(as_pairs(&config.variable_sets_of(f)[0]), expected);
    assert_eq!(as_pairs(first_variation_set(&config, f)), expected);
}

/// A flag with one experiment whose variations are `on` (enabled, overrides `color` and
/// `size`), `off` (disabled, overrides `color`) and `plain` (enabled, overrides nothing).
fn variable_override_datafile() -> Value {
    let mut d = datafile();
    d["experiments"] = json!([experiment(
        "10",
        "exp",
        json!([
            variation(
                "11",
                "on",
                true,
                json!([{"id": "1", "value": "red"}, {"id": "2", "value": "7"}])
            ),
            variation("12", "off", false, json!([{"id": "1", "value": "green"}])),
            variation("13", "plain", true, json!([]))
        ]),
        json!([{"entityId": "11", "endOfRange": 10000}])
    )]);
    d["featureFlags"] = json!([{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": ["10"],
    "variables": [
        {"id": "1", "key": "color", "type": "string", "defaultValue": "blue"},
        {"id": "2", "key": "size", "type": "integer", "defaultValue": "1"}
    ]}]);
    d
}

/// The variable set of the first enabled variation of flag `f`.
fn first_variation_set<'c>(config: &'c ProjectConfig, f: &Flag) -> &'c Variables {
    let &(_, set) = config
        .variation_sets_of(f)
        .first()
        .expect("the variation's set");
    &config.variable_sets_of(f)[set as usize]
}

fn as_pairs(v: &Variables) -> Vec<(String, serde_json::Value)> {
    v.iter().map(|(k, v)| (k.to_owned(), v.to_json())).collect()
}

#[test]
fn only_enabled_variations_get_a_variable_set_of_their_own() {
    let config = load(&variable_override_datafile());
    let f = flag(&config, "flag");
    let with_sets: Vec<&str> = config
        .variation_sets_of(f)
        .iter()
        .map(|&(v, _)| &*config.variation(v).unwrap().key)
        .collect();
    assert_eq!(with_sets, ["on", "plain"]);
    let set_of = |key: &str| {
        let &(_, set) = config
            .variation_sets_of(f)
            .iter()
            .find(|&&(v, _)| &*config.variation(v).unwrap().key == key)
            .unwrap();
        as_pairs(&config.variable_sets_of(f)[set as usize])
    };
    assert_eq!(
        set_of("on"),
        [
            ("color".to_owned(), json!("red")),
            ("size".to_owned(), json!(7))
        ]
    );
    assert_eq!(
        set_of("plain"),
        [
            ("color".to_owned(), json!("blue")),
            ("size".to_owned(), json!(1))
        ]
    );
    assert_eq!(
        as_pairs(&config.variable_sets_of(f)[0]),
        [
            ("color".to_owned(), json!("blue")),
            ("size".to_owned(), json!(1))
        ]
    );
}

#[test]
fn a_disabled_variation_decides_with_the_default_variable_values() {
    use crate::{Client, DecisionContext, ForcedDecision};
    let client = Client::builder()
        .datafile(variable_override_datafile().to_string())
        .without_events()
        .build()
        .unwrap();
    let table = [
        ("on", true, json!({"color": "red", "size": 7})),
        ("off", false, json!({"color": "blue", "size": 1})),
        ("plain", true, json!({"color": "blue", "size": 1})),
    ];
    for (key, enabled, variables) in table {
        let mut user = client.create_user_context("u", Attributes::new());
        user.set_forced_decision(DecisionContext::new("flag", None), ForcedDecision::new(key));
        let d = user.decide("flag", &[]);
        assert_eq!(
            (d.variation_key(), d.enabled()),
            (Some(key), enabled),
            "{key}"
        );
        assert_eq!(d.variables().to_json(), variables, "{key}");
    }
}

#[test]
fn whitelist_entries_naming_no_variation_resolve_to_none() {
    let mut d = datafile();
    let mut e = experiment(
        "10",
        "exp",
        json!([variation("11", "on", true, json!([]))]),
        json!([]),
    );
    e["forcedVariations"] = json!({"alice": "on", "bob": "missing"});
    d["experiments"] = json!([e]);
    let config = load(&d);
    let rule = rule_by_key(&config, "exp");
    let alice = rule.whitelist.get("alice").copied().flatten();
    assert_eq!(
        alice.map(|v| &*config.variation(v).unwrap().key),
        Some("on")
    );
    assert_eq!(rule.whitelist.get("bob"), Some(&None));
    assert_eq!(rule.whitelist.get("carol"), None);
}

#[test]
fn only_random_groups_gate_their_experiments() {
    let mut d = datafile();
    let e = |id: &str| experiment(id, &format!("exp_{id}"), json!([]), json!([]));
    d["groups"] = json!([
        {"id": "g1", "policy": "random", "trafficAllocation": [], "experiments": [e("1")]},
        {"id": "g2", "policy": "overlapping", "trafficAllocation": [], "experiments": [e("2")]}
    ]);
    let config = load(&d);
    let gate = rule_by_key(&config, "exp_1")
        .group
        .map(|g| &*config.group(g).unwrap().id);
    assert_eq!(gate, Some("g1"));
    assert_eq!(rule_by_key(&config, "exp_2").group, None);
    assert!(config.rule_index.contains_key("1") && config.rule_index.contains_key("2"));
}

#[test]
fn holdouts_are_scoped_by_their_section_and_status() {
    let mut d = datafile();
    let holdout = |id: &str, status: &str| {
        json!({"id": id, "key": format!("hold_{id}"), "status": status, "audienceIds": [],
               "variations": [{"id": format!("{id}0"), "key": "off", "featureEnabled": false}],
               "trafficAllocation": [{"entityId": format!("{id}0"), "endOfRange": 500}]})
    };
    let mut global_with_rules = holdout("1", "Running");
    global_with_rules["includedRules"] = json!(["10"]);
    let mut local = holdout("3", "Running");
    local["includedRules"] = json!(["10", "21"]);
    let mut local_paused = holdout("4", "Draft");
    local_paused["includedRules"] = json!(["10"]);
    d["holdouts"] = json!([global_with_rules, holdout("2", "Paused")]);
    d["localHoldouts"] = json!([local, local_paused, holdout("5", "Running")]);
    d["experiments"] = json!([experiment("10", "exp", json!([]), json!([]))]);
    d["rollouts"] =
        json!([{"id": "20", "experiments": [experiment("21", "everyone", json!([]), json!([]))]}]);
    let config = load(&d);
    assert_eq!(rule_keys(&config, &config.global_holdouts), ["hold_1"]);
    assert_eq!(
        rule_keys(&config, &rule_by_key(&config, "exp").local_holdouts),
        ["hold_3"]
    );
    assert_eq!(
        rule_keys(&config, &rule_by_key(&config, "everyone").local_holdouts),
        ["hold_3"]
    );
    // Holdouts are not experiments: the id index does not know them.
    assert!(!config.rule_index.contains_key("1") && !config.rule_index.contains_key("3"));
}

#[test]
fn traffic_ranges_resolve_to_the_rules_own_variations_or_to_nothing() {
    let mut d = datafile();
    d["experiments"] = json!([experiment(
        "10",
        "exp",
        json!([variation("11", "a", true, json!([]))]),
        json!([
            {"entityId": "", "endOfRange": 1000},
            {"entityId": "11", "endOfRange": 2000},
            {"entityId": "99", "endOfRange": 3000}
        ])
    )]);
    let config = load(&d);
    let ranges: Vec<(u32, Option<&str>)> = rule_by_key(&config, "exp")
        .traffic
        .iter()
        .map(|r| (r.end, r.entity.map(|v| &*config.variation(v).unwrap().key)))
        .collect();
    assert_eq!(ranges, [(1000, None), (2000, Some("a")), (3000, None)]);
}

#[test]
fn audience_conditions_win_over_audience_ids_and_empty_lists_admit_everyone() {
    let mut d = datafile();
    d["typedAudiences"] = json!([
        {"id": "1", "name": "US", "conditions": {"name": "country", "type": "custom_attribute", "value": "US"}},
        {"id": "2", "name": "FR", "conditions": {"name": "country", "type": "custom_attribute", "value": "FR"}}
    ]);
    let with = |id: &str, ids: Value, conditions: Option<Value>| {
        let mut e = experiment(id, &format!("exp_{id}"), json!([]), json!([]));
        e["audienceIds"] = ids;
        if let Some(c) = conditions {
            e["audienceConditions"] = c;
        }
        e
    };
    d["experiments"] = json!([
        with("1", json!(["1"]), Some(json!(["or", "2"]))),
        with("2", json!(["1"]), Some(json!([]))),
        with("3", json!([]), None),
        with("4", json!(["1", "2"]), None),
        with("5", json!(["1"]), Some(json!("2"))),
        with("6", json!([]), Some(json!(["or", "404"]))),
        with("7", json!(["1"]), Some(json!(null)))
    ]);
    let config = load(&d);
    let us: Attributes = [("country", "US")].into_iter().collect();
    let fr: Attributes = [("country", "FR")].into_iter().collect();
    let result = |key: &str, user: &Attributes| {
        rule_by_key(&config, key)
            .matcher
            .as_ref()
            .map(|m| m.matches(&crate::audience::AttributeView::by_name(user), &[]))
    };
    let table = [
        (
            "conditions over ids",
            "exp_1",
            [Some(Some(false)), Some(Some(true))],
        ),
        ("empty conditions", "exp_2", [None, None]),
        ("no audiences", "exp_3", [None, None]),
        (
            "ids are an or",
            "exp_4",
            [Some(Some(true)), Some(Some(true))],
        ),
        (
            "a bare audience id",
            "exp_5",
            [Some(Some(false)), Some(Some(true))],
        ),
        ("an unknown audience id", "exp_6", [Some(None), Some(None)]),
        (
            "null conditions fall back to ids",
            "exp_7",
            [Some(Some(true)), Some(Some(false))],
        ),
    ];
    for (label, key, [for_us, for_fr]) in table {
        assert_eq!(result(key, &us), for_us, "{label}: US");
        assert_eq!(result(key, &fr), for_fr, "{label}: FR");
    }
}

#[test]
fn a_rule_core_record_fits_a_cache_line() {
    assert!(std::mem::size_of::<super::RuleCore>() <= 64);
}

#[test]
fn a_variation_s_values_are_found_by_variable_id_in_any_order_the_last_of_an_id_winning() {
    let mut d = datafile();
    d["experiments"] = json!([experiment(
        "10",
        "exp",
        json!([
            variation(
                "11",
                "reversed",
                true,
                json!([{"id": "2", "value": "9"}, {"id": "1", "value": "pink"}])
            ),
            variation(
                "12",
                "twice",
                true,
                json!([{"id": "1", "value": "a"}, {"id": "1", "value": "b"}])
            ),
            variation(
                "13",
                "in_order",
                true,
                json!([{"id": "1", "value": "red"}, {"id": "2", "value": "7"}])
            )
        ]),
        json!([{"entityId": "11", "endOfRange": 10000}])
    )]);
    d["featureFlags"] = json!([{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": ["10"],
    "variables": [
        {"id": "1", "key": "color", "type": "string", "defaultValue": "blue"},
        {"id": "2", "key": "size", "type": "integer", "defaultValue": "1"}
    ]}]);
    let config = load(&d);
    let f = flag(&config, "flag");
    let set_of = |key: &str| {
        let &(_, set) = config
            .variation_sets_of(f)
            .iter()
            .find(|&&(v, _)| &*config.variation(v).unwrap().key == key)
            .unwrap();
        as_pairs(&config.variable_sets_of(f)[set as usize])
    };
    let pairs = |color: &str, size: i64| {
        vec![
            ("color".to_owned(), json!(color)),
            ("size".to_owned(), json!(size)),
        ]
    };
    assert_eq!(set_of("reversed"), pairs("pink", 9));
    assert_eq!(set_of("twice"), pairs("b", 1));
    assert_eq!(set_of("in_order"), pairs("red", 7));

    // Two variables sharing an id both take the last value given for it, even when the
    // values are listed one per variable.
    d["featureFlags"][0]["variables"] = json!([
        {"id": "1", "key": "color", "type": "string", "defaultValue": "blue"},
        {"id": "1", "key": "shade", "type": "string", "defaultValue": "grey"}
    ]);
    d["experiments"][0]["variations"] = json!([variation(
        "11",
        "both",
        true,
        json!([{"id": "1", "value": "first"}, {"id": "1", "value": "second"}])
    )]);
    let config = load(&d);
    let f = flag(&config, "flag");
    assert_eq!(
        as_pairs(first_variation_set(&config, f)),
        [
            ("color".to_owned(), json!("second")),
            ("shade".to_owned(), json!("second"))
        ]
    );
}

#[test]
fn rules_naming_one_audience_alone_share_its_program_and_others_get_their_own() {
    let mut d = datafile();
    let leaf = |name: &str| json!({"name": name, "type": "custom_attribute", "match": "exists"});
    d["typedAudiences"] = json!([
        {"id": "a", "name": "A", "conditions": ["and", leaf("x"), leaf("y")]},
        {"id": "b", "name": "B", "conditions": ["or", leaf("z")]}
    ]);
    let variations = json!([variation("v", "v", true, json!([]))]);
    let traffic = json!([{"entityId": "v", "endOfRange": 10000}]);
    let mut rules = Vec::new();
    for (id, ids, conditions) in [
        ("1", json!(["a"]), Value::Null),
        ("2", json!([]), json!(["or", "a"])),
        ("3", json!([]), json!(["and", "a", "b"])),
        ("4", json!(["a", "b"]), Value::Null),
        ("5", json!([]), json!("a")),
    ] {
        let mut e = experiment(id, &format!("e{id}"), variations.clone(), traffic.clone());
        e["audienceIds"] = ids;
        if !conditions.is_null() {
            e["audienceConditions"] = conditions;
        }
        rules.push(e);
    }
    d["experiments"] = Value::Array(rules);
    let config = load(&d);
    let program = |key: &str| {
        rule_by_key(&config, key)
            .matcher
            .as_ref()
            .expect("a program")
    };
    let a = &audience(&config, "a").program;
    for key in ["e1", "e2", "e5"] {
        assert!(program(key).shares_nodes_with(a), "{key}");
    }
    for key in ["e3", "e4"] {
        assert!(!program(key).shares_nodes_with(a), "{key}");
    }
    // Each decides as its conditions say.
    let user: Attributes = [("x", 1), ("y", 1)].into_iter().collect();
    let view = crate::audience::AttributeView::by_name(&user);
    let outcome = |key: &str| program(key).matches(&view, &[]);
    assert_eq!(
        ["e1", "e2", "e3", "e4", "e5"].map(outcome),
        [Some(true), Some(true), Some(false), Some(true), Some(true)]
    );
}

#[test]
fn variable_values_a_reading_decodes_and_values_read_as_written_type_alike() {
    // `\u` escapes are decoded as the datafile is read; the other values are kept as written.
    let text = r#"{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
        "attributes": [], "audiences": [], "groups": [], "events": [], "rollouts": [],
        "experiments": [{"id": "10", "key": "exp", "layerId": "9", "status": "Running",
          "variations": [{"id": "11", "key": "on", "featureEnabled": true,
            "variables": [{"id": "1", "value": "na\u00efve"}, {"id": "2", "value": "7"},
                          {"id": "3", "value": "{\"k\": \"\u00e9\\n\"}"}]}],
          "trafficAllocation": [{"entityId": "11", "endOfRange": 10000}],
          "audienceIds": [], "forcedVariations": {}}],
        "featureFlags": [{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": ["10"],
          "variables": [{"id": "1", "key": "s", "type": "string", "defaultValue": "caf\u00e9"},
                        {"id": "2", "key": "n", "type": "integer", "defaultValue": "1"},
                        {"id": "3", "key": "j", "type": "json", "defaultValue": "{}"}]}]}"#;
    let config = ProjectConfig::from_datafile(text).expect("the datafile loads");
    let f = flag(&config, "flag");
    assert_eq!(
        as_pairs(&config.variable_sets_of(f)[0]),
        [
            ("s".to_owned(), json!("café")),
            ("n".to_owned(), json!(1)),
            ("j".to_owned(), json!({}))
        ]
    );
    assert_eq!(
        as_pairs(first_variation_set(&config, f)),
        [
            ("s".to_owned(), json!("naïve")),
            ("n".to_owned(), json!(7)),
            ("j".to_owned(), json!({"k": "é\n"}))
        ]
    );
}
