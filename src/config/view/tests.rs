use super::conditions::audiences_string;
use super::json::{dumps, float_repr, loads, Json};
use crate::config::ProjectConfig;
use serde_json::json;
use std::collections::HashMap;

fn parse(text: &str) -> Json {
    loads(text).unwrap()
}

#[test]
fn floats_are_written_as_python_repr_writes_them() {
    let cases = [
        (1e20, "1e+20"),
        (1e-5, "1e-05"),
        (1.0, "1.0"),
        (2.5e-7, "2.5e-07"),
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (0.1, "0.1"),
        (0.0001, "0.0001"),
        (-1.5e300, "-1.5e+300"),
        (123.456, "123.456"),
        (12345.678, "12345.678"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (45.5, "45.5"),
        (100.0, "100.0"),
    ];
    for (f, expected) in cases {
        assert_eq!(float_repr(f), expected, "{f:e}");
    }
}

#[test]
fn dumps_writes_what_python_json_dumps_writes() {
    // Key order as written; a repeated key keeps its first place and its last value.
    assert_eq!(
        dumps(&parse(
            r#"{"value": 1, "name": "a", "match": null, "name": "b"}"#
        )),
        r#"{"value": 1, "name": "b", "match": null}"#
    );
    // Integers stay integers (beyond 2^53 too), floats keep their point.
    assert_eq!(
        dumps(&parse("[123456789012345678, 1.0, -3, 2e3, true, [], {}]")),
        "[123456789012345678, 1.0, -3, 2000.0, true, [], {}]"
    );
    // Everything outside printable ASCII is escaped, beyond the BMP as a surrogate pair.
    assert_eq!(
        dumps(&parse(r#""\u00e9\ud83d\ude00\n\t\r\b\f\u0001\u007f\"\\/""#)),
        r#""\u00e9\ud83d\ude00\n\t\r\b\f\u0001\u007f\"\\/""#
    );
    assert_eq!(dumps(&parse("\"é\"")), r#""\u00e9""#);
}

#[test]
fn a_negative_zero_integer_is_written_as_zero() {
    assert_eq!(dumps(&parse("-0")), "0");
    assert_eq!(dumps(&parse("-0.0")), "-0.0");
}

fn names() -> HashMap<String, String> {
    [("1", "one"), ("2", "two"), ("3", "three"), ("4", "")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn audiences(conditions: serde_json::Value) -> String {
    let conditions = parse(&conditions.to_string());
    audiences_string(Some(&conditions), &names())
}

#[test]
fn audience_conditions_read_as_the_python_sdk_writes_them() {
    let cases = [
        (json!(["or", "1", "2", "3"]), r#""one" OR "two" OR "three""#),
        (json!(["and", "1", "2"]), r#""one" AND "two""#),
        (json!(["1", "2"]), r#""one" OR "two""#),
        (json!(["not", "1"]), r#"NOT "one""#),
        (json!(["and", "1"]), r#""one""#),
        (json!(["1"]), r#""one""#),
        (json!(["and", ["or", "1", "2"]]), r#"AND ("one" OR "two")"#),
        (
            json!(["and", ["or", "1", "2"], ["or", "3"]]),
            r#"("one" OR "two") AND ("three")"#,
        ),
        (
            json!(["or", ["and", "1", "2"], "3", ["not", "1"]]),
            r#"("one" AND "two") "three" OR (NOT "one")"#,
        ),
        (json!(["or", "1", "9"]), r#""one" OR "9""#),
        (json!(["or", "1", null, "2"]), r#""one" OR OR "two""#),
        (json!(["or", "4"]), r#""""#),
        (json!([]), ""),
        (json!(["and"]), ""),
        (json!(null), ""),
        // A bare string is read as the list of its characters.
        (json!("1"), r#""one""#),
        (json!("12"), r#""one" OR "two""#),
        (json!("123"), r#""one" OR "two" OR "three""#),
    ];
    for (conditions, expected) in cases {
        assert_eq!(audiences(conditions.clone()), expected, "{conditions}");
    }
    assert_eq!(audiences_string(None, &names()), "");
}

#[test]
fn conditions_the_python_sdk_fails_on_give_a_string_without_panicking() {
    for conditions in [
        json!({"a": 1}),
        json!(3),
        json!([["or", "1"]]),
        json!([5]),
        json!([null]),
        json!(["and", {"a": 1}]),
        json!(["not", 2.5]),
    ] {
        let _ = audiences(conditions);
    }
}

const BASE: &str = r#"{
  "version": "4", "revision": "7", "accountId": "1", "projectId": "2",
  "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": []
}"#;

/// A datafile: `BASE` with `fields` set.
fn datafile(fields: serde_json::Value) -> String {
    let mut d: serde_json::Value = serde_json::from_str(BASE).unwrap();
    for (k, v) in fields.as_object().unwrap() {
        d[k] = v.clone();
    }
    d.to_string()
}

fn view_of(fields: serde_json::Value) -> std::sync::Arc<super::ConfigView> {
    ProjectConfig::from_datafile(datafile(fields))
        .unwrap()
        .config_view()
}

fn experiment(
    id: &str,
    key: &str,
    variations: serde_json::Value,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut e = json!({
        "id": id, "key": key, "layerId": "l", "status": "Running",
        "variations": variations,
        "trafficAllocation": [], "audienceIds": [], "forcedVariations": {}
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn flag_variables() -> serde_json::Value {
    json!([
        {"id": "v1", "key": "color", "type": "string", "defaultValue": "red"},
        {"id": "v2", "key": "size", "type": "integer", "defaultValue": "1"},
        {"id": "v3", "key": "doc", "type": "string", "subType": "json", "defaultValue": "{}"}
    ])
}

#[test]
fn missing_optional_fields_give_empty_values() {
    let view = view_of(json!({
        "experiments": [experiment("1", "e", json!([{"id": "a", "key": "a"}]), json!({"audienceIds": ["9"]}))],
        "audiences": [{"id": "9", "name": "nine", "conditions": "[\"or\"]"}]
    }));
    assert_eq!(view.revision, "7");
    assert_eq!(view.sdk_key, "");
    assert_eq!(view.environment_key, "");
    let e = &view.experiments_map["e"];
    // Only `audienceConditions` is shown, never `audienceIds`.
    assert_eq!(e.audiences, "");
    let a = &e.variations_map["a"];
    assert_eq!(a.feature_enabled, None);
    assert!(
        a.variables_map.is_empty(),
        "an experiment of no flag has no variables"
    );
    assert!(view.features_map.is_empty());
    let json = serde_json::to_value(&*view).unwrap();
    assert_eq!(
        json["experiments_map"]["e"]["variations_map"]["a"]["feature_enabled"],
        json!(null)
    );
    assert!(json.get("datafile").is_none());
}

#[test]
fn typed_audiences_come_first_and_replace_legacy_ones() {
    // Written by hand: the typed audience's keys stay in this order.
    let typed = r#"[{"id": "2", "name": "typed", "conditions": ["and", {"value": 1.0, "name": "b", "type": "custom_attribute", "match": "ge"}]}]"#;
    let text = datafile(json!({
        "audiences": [
            {"id": "1", "name": "legacy", "conditions": "[\"or\", {\"name\": \"a\", \"type\": \"custom_attribute\", \"value\": 1}]"},
            {"id": "2", "name": "replaced", "conditions": "[\"or\"]"},
            {"id": "$opt_dummy_audience", "name": "dummy", "conditions": "[\"or\"]"}
        ],
        "typedAudiences": "TYPED",
        "experiments": [experiment("1", "e", json!([]), json!({"audienceConditions": ["and", "1", "2"]}))]
    }))
    .replace("\"TYPED\"", typed);
    let view = ProjectConfig::from_datafile(text).unwrap().config_view();
    let list: Vec<(&str, Option<&str>, &str)> = view
        .audiences
        .iter()
        .map(|a| (a.id.as_str(), a.name.as_deref(), a.conditions.as_str()))
        .collect();
    assert_eq!(
        list,
        [
            (
                "2",
                Some("typed"),
                r#"["and", {"value": 1.0, "name": "b", "type": "custom_attribute", "match": "ge"}]"#
            ),
            (
                "1",
                Some("legacy"),
                r#"["or", {"name": "a", "type": "custom_attribute", "value": 1}]"#
            ),
        ]
    );
    assert_eq!(
        view.experiments_map["e"].audiences,
        r#""legacy" AND "typed""#
    );
}

#[test]
fn enabled_variations_show_their_values_over_the_flag_defaults() {
    let view = view_of(json!({
        "experiments": [experiment("10", "exp", json!([
            {"id": "a", "key": "on", "featureEnabled": true,
             "variables": [{"id": "v1", "value": "blue"}, {"id": "unknown", "value": "x"}]},
            {"id": "b", "key": "off", "featureEnabled": false,
             "variables": [{"id": "v1", "value": "green"}]}
        ]), json!({}))],
        "featureFlags": [{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": ["10"],
                          "variables": flag_variables()}]
    }));
    let values = |variation: &str| -> Vec<(String, String, String)> {
        view.experiments_map["exp"].variations_map[variation]
            .variables_map
            .values()
            .map(|v| (v.key.clone(), v.kind.clone(), v.value.clone()))
            .collect()
    };
    let row = |k: &str, t: &str, v: &str| (k.to_owned(), t.to_owned(), v.to_owned());
    assert_eq!(
        values("on"),
        [
            row("color", "string", "blue"),
            row("doc", "json", "{}"),
            row("size", "integer", "1")
        ]
    );
    assert_eq!(
        values("off"),
        [
            row("color", "string", "red"),
            row("doc", "json", "{}"),
            row("size", "integer", "1")
        ]
    );
    let flag = &view.features_map["flag"];
    assert_eq!(flag.variables_map["color"].value, "red");
    assert_eq!(flag.experiment_rules.len(), 1);
    assert_eq!(flag.experiment_rules[0], view.experiments_map["exp"]);
    assert_eq!(flag.experiments_map["exp"], view.experiments_map["exp"]);
    assert!(flag.delivery_rules.is_empty());
}

#[test]
fn delivery_rules_follow_the_rollout_and_show_the_defaults() {
    let view = view_of(json!({
        "audiences": [{"id": "5", "name": "five", "conditions": "[\"or\"]"}],
        "featureFlags": [{"id": "f", "key": "flag", "rolloutId": "r", "experimentIds": [],
                          "variables": flag_variables()}],
        "rollouts": [{"id": "r", "experiments": [
            experiment("20", "targeted", json!([{"id": "t", "key": "t", "featureEnabled": true,
                "variables": [{"id": "v1", "value": "rollout"}]}]),
                json!({"audienceConditions": ["or", "5"]})),
            experiment("21", "everyone_else", json!([{"id": "e", "key": "e", "featureEnabled": false}]),
                json!({}))
        ]}]
    }));
    let rules = &view.features_map["flag"].delivery_rules;
    let keys: Vec<&str> = rules.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["targeted", "everyone_else"]);
    assert_eq!(rules[0].audiences, r#""five""#);
    assert_eq!(rules[1].audiences, "");
    // As in the official SDK, a delivery rule's variation shows the flag's defaults.
    assert_eq!(
        rules[0].variations_map["t"].variables_map["color"].value,
        "red"
    );
    assert_eq!(rules[0].variations_map["t"].feature_enabled, Some(true));
    // Rollout rules are not experiments.
    assert!(view.experiments_map.is_empty());
}

#[test]
fn feature_rollout_experiments_show_the_everyone_else_variation() {
    let view = view_of(json!({
        "experiments": [experiment("10", "fr_exp", json!([
            {"id": "a", "key": "a", "featureEnabled": true, "variables": []}
        ]), json!({"type": "fr"}))],
        "featureFlags": [{"id": "f", "key": "flag", "rolloutId": "r", "experimentIds": ["10"],
                          "variables": flag_variables()}],
        "rollouts": [{"id": "r", "experiments": [
            experiment("21", "everyone_else", json!([{"id": "e", "key": "ee",
                "variables": [{"id": "v2", "value": "9"}]}]), json!({}))
        ]}]
    }));
    let variations = &view.experiments_map["fr_exp"].variations_map;
    let keys: Vec<&str> = variations.keys().map(String::as_str).collect();
    assert_eq!(keys, ["a", "ee"]);
    // The added variation's featureEnabled is a boolean (absent: false), so its values are
    // not shown.
    assert_eq!(variations["ee"].feature_enabled, Some(false));
    assert_eq!(variations["ee"].variables_map["size"].value, "1");
    assert_eq!(
        view.features_map["flag"].experiment_rules[0]
            .variations_map
            .len(),
        2
    );
    // The rollout's own rule is unchanged.
    assert_eq!(
        view.features_map["flag"].delivery_rules[0].variations_map["ee"].feature_enabled,
        None
    );
}

#[test]
fn a_config_builds_its_view_only_when_asked_and_once() {
    let config =
        ProjectConfig::from_datafile(datafile(json!({"sdkKey": "sdk", "environmentKey": "prod"})))
            .unwrap();
    assert!(config.view.view.get().is_none());
    let view = config.config_view();
    assert!(std::sync::Arc::ptr_eq(&view, &config.config_view()));
    assert_eq!(
        (view.sdk_key.as_str(), view.environment_key.as_str()),
        ("sdk", "prod")
    );
    assert!(format!("{view:?}").contains("bytes>"));
}

#[test]
fn the_reader_keeps_numbers_as_python_reads_them() {
    assert_eq!(
        dumps(&parse(
            "[18446744073709551616, -99999999999999999999999, 0, -0, 1E2, 0.30000000000000004]"
        )),
        "[18446744073709551616, -99999999999999999999999, 0, 0, 100.0, 0.30000000000000004]"
    );
    assert_eq!(
        parse(" {\"a\" : [ ] } "),
        Json::Object(vec![("a".into(), Json::List(vec![]))])
    );
    for bad in [
        "",
        "[1,]",
        "{\"a\" 1}",
        "[1] x",
        "\"\\x\"",
        "tru",
        "-",
        "[\"\\ud800\"]",
    ] {
        assert_eq!(loads(bad), None, "{bad}");
    }
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    assert_eq!(loads(&deep), None);
}
