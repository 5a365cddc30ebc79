//! Behaviour tests of the event layer. The expected payloads of the `oracle_*` tests were
//! produced by the official Python SDK from the datafile below (with a forwarding event
//! processor, normalised like the compatibility fixtures).

use super::fixture_tests::{normalise, same};
use super::tags::{cleaned, numeric_value, python_float, revenue};
use super::*;
use crate::config::ProjectConfig;
use serde_json::json;

const DATAFILE: &str = r#"{
  "version": "4", "accountId": "A1", "projectId": "P1", "revision": "7",
  "anonymizeIP": true, "botFiltering": false, "sendFlagDecisions": true, "region": "EU",
  "attributes": [
    {"id": "100", "key": "country"}, {"id": "101", "key": "$opt_known"},
    {"id": "", "key": "empty_id"}, {"id": "102", "key": "dup"}, {"id": "103", "key": "dup"}
  ],
  "audiences": [], "typedAudiences": [], "groups": [],
  "events": [
    {"id": "200", "key": "purchase", "experimentIds": []},
    {"id": "201", "key": "dup_event", "experimentIds": []},
    {"id": "202", "key": "dup_event", "experimentIds": []}
  ],
  "experiments": [
    {"id": "300", "key": "exp", "layerId": "400", "status": "Running", "audienceIds": [],
     "forcedVariations": {},
     "variations": [{"id": "301", "key": "a", "featureEnabled": true, "variables": []},
                    {"id": "v-302", "key": "b", "featureEnabled": false, "variables": []}],
     "trafficAllocation": [{"entityId": "301", "endOfRange": 5000},
                           {"entityId": "v-302", "endOfRange": 10000}]},
    {"id": "310", "key": "exp_nolayer", "layerId": "", "status": "Running", "audienceIds": [],
     "forcedVariations": {},
     "variations": [{"id": "311", "key": "c", "featureEnabled": true, "variables": []},
                    {"id": "301", "key": "a_again", "featureEnabled": false, "variables": []}],
     "trafficAllocation": [{"entityId": "311", "endOfRange": 10000}]}
  ],
  "rollouts": [
    {"id": "500", "experiments": [
      {"id": "501", "key": "everyone", "layerId": "500", "status": "Running", "audienceIds": [],
       "forcedVariations": {},
       "variations": [{"id": "", "key": "noid", "featureEnabled": true, "variables": []},
                      {"id": "0042", "key": "zero", "featureEnabled": true, "variables": []}],
       "trafficAllocation": [{"entityId": "0042", "endOfRange": 0}]}
    ]}
  ],
  "featureFlags": [
    {"id": "700", "key": "f1", "experimentIds": ["300"], "rolloutId": "500", "variables": []},
    {"id": "701", "key": "f2", "experimentIds": ["310", "300"], "rolloutId": "", "variables": []}
  ],
  "holdouts": [
    {"id": "600", "key": "ho", "status": "Running", "audienceIds": [],
     "variations": [{"id": "ho_off", "key": "off", "featureEnabled": false}],
     "trafficAllocation": [{"entityId": "ho_off", "endOfRange": 10000}]}
  ]
}"#;

fn config() -> ProjectConfig {
    ProjectConfig::from_datafile(DATAFILE).unwrap()
}

/// [`DATAFILE`] with `edit` applied.
fn config_with(edit: impl FnOnce(&mut Value)) -> ProjectConfig {
    let mut datafile: Value = serde_json::from_str(DATAFILE).unwrap();
    edit(&mut datafile);
    ProjectConfig::from_datafile(serde_json::to_vec(&datafile).unwrap()).unwrap()
}

fn rule(config: &ProjectConfig, key: &str) -> u32 {
    config.rules.iter().position(|r| &*r.key == key).unwrap() as u32
}

fn variation(config: &ProjectConfig, rule_key: &str, key: &str) -> u32 {
    let r = &config.rules[rule(config, rule_key) as usize];
    *r.variations
        .iter()
        .find(|&&v| &*config.variations[v as usize].key == key)
        .unwrap()
}

fn decision(
    config: &ProjectConfig,
    rule_key: Option<&str>,
    variation_key: Option<(&str, &str)>,
    source: Source,
) -> FlagDecision {
    FlagDecision {
        rule: rule_key.map(|k| rule(config, k)),
        variation: variation_key.map(|(r, v)| variation(config, r, v)),
        source,
    }
}

/// The request of one event, normalised like the fixtures: `(url, body)`.
fn request(event: &UserEvent) -> (&'static str, Value) {
    let log = log_event(std::slice::from_ref(event)).unwrap();
    let mut body = log.json();
    normalise(&mut body);
    (log.url, body)
}

/// The decision entry and metadata of an impression's (normalised) body.
fn decision_of(body: &Value) -> &Value {
    &body["visitors"][0]["snapshots"][0]["decisions"][0]
}

fn bot_only() -> Value {
    json!([{"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom",
            "value": false}])
}

/// Attributes in the order written (a `json!` object would sort its keys).
fn attributes(json: &str) -> Attributes {
    serde_json::from_str(json).unwrap()
}

fn assert_same(got: &Value, want: &Value) {
    assert!(same(got, want), "got {got}\nwant {want}");
}

// ---- the batch ----

#[test]
fn oracle_impression_batch_has_every_field_of_the_official_payload() {
    let c = config();
    let attrs = attributes(
        r#"{"country": "US", "$opt_known": "k", "empty_id": "x", "dup": 1,
            "unknown": "u", "$opt_user_agent": "bot", "lst": [1], "none": null}"#,
    );
    let d = decision(&c, Some("exp"), Some(("exp", "a")), Source::FeatureTest);
    let (url, body) = request(&impression(&c, &d, "f1", "u1", &attrs));
    assert_eq!(url, "https://eu.logx.optimizely.com/v1/events");
    let want = json!({"account_id": "A1", "anonymize_ip": true, "enrich_decisions": true,
        "project_id": "P1", "revision": "7", "visitors": [{"attributes": [
            {"entity_id": "100", "key": "country", "type": "custom", "value": "US"},
            {"entity_id": "101", "key": "$opt_known", "type": "custom", "value": "k"},
            {"entity_id": "103", "key": "dup", "type": "custom", "value": 1},
            {"entity_id": "$opt_user_agent", "key": "$opt_user_agent", "type": "custom",
             "value": "bot"},
            {"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom",
             "value": false}],
        "snapshots": [{"decisions": [{"campaign_id": "400", "experiment_id": "300",
            "metadata": {"enabled": true, "flag_key": "f1", "rule_key": "exp",
                         "rule_type": "feature-test", "variation_key": "a"},
            "variation_id": "301"}],
          "events": [{"entity_id": "400", "key": "campaign_activated", "timestamp": 0,
                      "uuid": "<uuid>"}]}],
        "visitor_id": "u1"}]});
    assert_same(&body, &want);
}

#[test]
fn oracle_conversion_batch_has_no_decisions_and_cleaned_tags() {
    let c = config();
    let tags = json!({"revenue": null, "value": null, "tags": null, "decisions": null,
        "other": null, "nested": {"value": null, "keep": null, "list": [{"revenue": null, "x": 1}]}});
    let event = conversion(&c, "purchase", "u2", &Attributes::new(), tags.as_object()).unwrap();
    let (_, body) = request(&event);
    assert_same(
        &body["visitors"][0],
        &json!({"attributes": bot_only(), "snapshots": [{"events": [{"entity_id": "200",
            "key": "purchase", "tags": {"nested": {"keep": null, "list": [{"x": 1}]},
            "other": null}, "timestamp": 0, "uuid": "<uuid>"}]}], "visitor_id": "u2"}),
    );
    // The event itself keeps the caller's tags unchanged.
    let Kind::Conversion { conversion, .. } = &event.0 else {
        panic!("not a conversion")
    };
    assert_eq!(conversion.tags.as_ref(), tags.as_object());
}

#[test]
fn oracle_conversion_sends_revenue_and_value_beside_the_verbatim_tags() {
    let c = config();
    for (tags, revenue, value) in [
        (
            json!({"revenue": -7, "value": "  1_000.5 "}),
            Some(-7),
            Some(1000.5),
        ),
        (
            json!({"revenue": 4200, "value": "\u{661}\u{662}\u{663}"}),
            Some(4200),
            Some(123.0),
        ),
    ] {
        let event = conversion(&c, "purchase", "u2", &Attributes::new(), tags.as_object());
        let (_, body) = request(&event.unwrap());
        let mut want = json!({"entity_id": "200", "key": "purchase", "tags": tags,
            "timestamp": 0, "uuid": "<uuid>", "revenue": revenue, "value": value});
        let _ = want.as_object_mut().map(|m| m.retain(|_, v| !v.is_null()));
        assert_same(&body["visitors"][0]["snapshots"][0]["events"][0], &want);
    }
}

#[test]
fn oracle_empty_tags_are_sent_and_absent_tags_are_not() {
    let c = config();
    let empty = Map::new();
    let (_, body) =
        request(&conversion(&c, "purchase", "u", &Attributes::new(), Some(&empty)).unwrap());
    assert_eq!(
        body["visitors"][0]["snapshots"][0]["events"][0]["tags"],
        json!({})
    );
    let (_, body) = request(&conversion(&c, "purchase", "u", &Attributes::new(), None).unwrap());
    let event = body["visitors"][0]["snapshots"][0]["events"][0]
        .as_object()
        .unwrap();
    let mut keys: Vec<&str> = event.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["entity_id", "key", "timestamp", "uuid"]);
}

#[test]
fn oracle_a_duplicated_event_key_names_the_last_event() {
    let c = config();
    let (_, body) = request(&conversion(&c, "dup_event", "u", &Attributes::new(), None).unwrap());
    assert_eq!(
        body["visitors"][0]["snapshots"][0]["events"][0]["entity_id"],
        "202"
    );
}

#[test]
fn an_unknown_event_key_is_an_error_naming_it() {
    let err = conversion(&config(), "nope", "u", &Attributes::new(), None).unwrap_err();
    assert_eq!(err, EventError::UnknownEvent("nope".into()));
    assert!(err.to_string().contains("\"nope\""));
}

// ---- impressions ----

#[test]
fn oracle_a_non_numeric_variation_id_is_sent_as_null_with_its_key() {
    let c = config();
    let d = decision(&c, Some("exp"), Some(("exp", "b")), Source::FeatureTest);
    let (_, body) = request(&impression(&c, &d, "f1", "u1", &Attributes::new()));
    assert_same(
        decision_of(&body),
        &json!({"campaign_id": "400", "experiment_id": "300", "variation_id": null,
            "metadata": {"enabled": false, "flag_key": "f1", "rule_key": "exp",
                         "rule_type": "feature-test", "variation_key": "b"}}),
    );
    assert_eq!(body["visitors"][0]["attributes"], bot_only());
}

#[test]
fn oracle_a_flag_level_forced_decision_has_empty_ids_and_rule_key() {
    let c = config();
    for (rule_key, var, id, enabled) in [
        ("exp", "b", Value::Null, false),
        ("everyone", "zero", json!("0042"), true),
    ] {
        let d = decision(&c, None, Some((rule_key, var)), Source::FeatureTest);
        let (_, body) = request(&impression(&c, &d, "f1", "u1", &Attributes::new()));
        assert_same(
            decision_of(&body),
            &json!({"campaign_id": "", "experiment_id": "", "variation_id": id,
                "metadata": {"enabled": enabled, "flag_key": "f1", "rule_key": "",
                             "rule_type": "feature-test", "variation_key": var}}),
        );
        assert_eq!(
            body["visitors"][0]["snapshots"][0]["events"][0]["entity_id"],
            ""
        );
    }
}

#[test]
fn oracle_a_variation_with_an_empty_id_reports_no_variation_key() {
    let c = config();
    let d = decision(&c, None, Some(("everyone", "noid")), Source::FeatureTest);
    let (_, body) = request(&impression(&c, &d, "f1", "u1", &Attributes::new()));
    assert_same(
        decision_of(&body),
        &json!({"campaign_id": "", "experiment_id": "", "variation_id": null,
            "metadata": {"enabled": true, "flag_key": "f1", "rule_key": "",
                         "rule_type": "feature-test", "variation_key": ""}}),
    );
}

#[test]
fn oracle_a_rule_without_a_layer_is_its_own_campaign() {
    let c = config();
    let d = decision(
        &c,
        Some("exp_nolayer"),
        Some(("exp_nolayer", "c")),
        Source::FeatureTest,
    );
    let (_, body) = request(&impression(&c, &d, "f2", "u1", &Attributes::new()));
    assert_same(
        decision_of(&body),
        &json!({"campaign_id": "310", "experiment_id": "310", "variation_id": "311",
            "metadata": {"enabled": true, "flag_key": "f2", "rule_key": "exp_nolayer",
                         "rule_type": "feature-test", "variation_key": "c"}}),
    );
    assert_eq!(
        body["visitors"][0]["snapshots"][0]["events"][0]["entity_id"],
        "310"
    );
}

#[test]
fn oracle_the_reported_variation_is_the_flags_first_with_the_decided_id() {
    // Flag f2 has rules exp_nolayer (301 = "a_again") then exp (301 = "a"): a decision for
    // exp's "a" reports "a_again", the first variation of the flag with id 301.
    let c = config();
    let d = decision(&c, Some("exp"), Some(("exp", "a")), Source::FeatureTest);
    let (_, body) = request(&impression(&c, &d, "f2", "u1", &Attributes::new()));
    assert_eq!(decision_of(&body)["metadata"]["variation_key"], "a_again");
    assert_eq!(decision_of(&body)["metadata"]["enabled"], true);
    assert_eq!(decision_of(&body)["variation_id"], "301");
}

#[test]
fn oracle_a_holdout_impression_uses_the_holdout_id_and_its_own_variation() {
    let c = config_with(|d| {
        d["region"] = json!("US");
        d.as_object_mut().unwrap().remove("botFiltering");
    });
    let d = decision(&c, Some("ho"), Some(("ho", "off")), Source::Holdout);
    let attrs = attributes(r#"{"country": "FR"}"#);
    let (url, body) = request(&impression(&c, &d, "f1", "u3", &attrs));
    assert_eq!(url, "https://logx.optimizely.com/v1/events");
    assert_same(
        &body["visitors"][0],
        &json!({"attributes": [{"entity_id": "100", "key": "country", "type": "custom",
                                "value": "FR"}],
            "snapshots": [{"decisions": [{"campaign_id": "600", "experiment_id": "600",
                "metadata": {"enabled": false, "flag_key": "f1", "rule_key": "ho",
                             "rule_type": "holdout", "variation_key": "off"},
                "variation_id": null}],
              "events": [{"entity_id": "600", "key": "campaign_activated", "timestamp": 0,
                          "uuid": "<uuid>"}]}],
            "visitor_id": "u3"}),
    );
}

#[test]
fn no_decision_reports_empty_strings_and_a_null_variation() {
    let c = config();
    let d = FlagDecision {
        rule: None,
        variation: None,
        source: Source::Rollout,
    };
    let (_, body) = request(&impression(&c, &d, "f1", "u", &Attributes::new()));
    assert_same(
        decision_of(&body),
        &json!({"campaign_id": "", "experiment_id": "", "variation_id": null,
            "metadata": {"enabled": false, "flag_key": "f1", "rule_key": "",
                         "rule_type": "rollout", "variation_key": ""}}),
    );
}

#[test]
fn a_cmab_uuid_goes_into_the_metadata_only_when_non_empty() {
    let c = config();
    let d = decision(&c, Some("exp"), Some(("exp", "a")), Source::FeatureTest);
    let mut event = impression(&c, &d, "f1", "u", &Attributes::new());
    for (uuid, sent) in [(None, false), (Some(""), false), (Some("c-1"), true)] {
        if let Kind::Impression { impression, .. } = &mut event.0 {
            impression.cmab_uuid = uuid.map(str::to_owned);
        }
        let (_, body) = request(&event);
        let metadata = &decision_of(&body)["metadata"];
        assert_eq!(metadata.get("cmab_uuid").is_some(), sent, "{uuid:?}");
    }
}

#[test]
fn should_send_impression_follows_source_option_and_send_flag_decisions() {
    use Source::*;
    let table = [
        // (source, sendFlagDecisions, DISABLE_DECISION_EVENT, sent)
        (FeatureTest, false, false, true),
        (Holdout, false, false, true),
        (Rollout, false, false, false),
        (Rollout, true, false, true),
        (FeatureTest, true, true, false),
        (Holdout, false, true, false),
        (Rollout, true, true, false),
    ];
    for (source, sfd, disabled, sent) in table {
        assert_eq!(
            should_send_impression(source, sfd, disabled),
            sent,
            "{source:?} sfd={sfd} disabled={disabled}"
        );
    }
}

// ---- visitor attributes ----

#[test]
fn oracle_attribute_rules_known_reserved_dropped_and_duplicates() {
    let c = config();
    let attrs = attributes(
        r#"{"unknown": "u", "country": "US", "$opt_known": "k",
            "empty_id": "x", "dup": 1, "$opt_user_agent": "bot"}"#,
    );
    let got: Vec<(String, String)> = visitor_attributes(&c, &attrs)
        .into_iter()
        .map(|a| (a.entity_id, a.key))
        .collect();
    let want = [
        ("100", "country"),
        // A datafile key with the reserved prefix still uses its id.
        ("101", "$opt_known"),
        // A duplicated datafile key uses the last attribute's id.
        ("103", "dup"),
        ("$opt_user_agent", "$opt_user_agent"),
        ("$opt_bot_filtering", "$opt_bot_filtering"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(got, want);
}

#[test]
fn oracle_attribute_values_strings_bools_and_numbers_within_two_to_the_53() {
    let c = config();
    let attrs = attributes(
        r#"{"$opt_n53": 9007199254740992, "$opt_big": 9007199254740993,
            "$opt_neg": -9007199254740992, "$opt_negbig": -9007199254740993,
            "$opt_flt": 1e300, "$opt_f": 1.5, "$opt_fbig": 9007199254740994.0,
            "$opt_null": null, "$opt_list": [1], "$opt_obj": {}, "$opt_bool": true,
            "$opt_str": "", "country": 0}"#,
    );
    let got: Vec<(String, Value)> = visitor_attributes(&c, &attrs)
        .into_iter()
        .map(|a| (a.key, a.value))
        .collect();
    let want = vec![
        ("$opt_n53".to_owned(), json!(9007199254740992_i64)),
        ("$opt_neg".to_owned(), json!(-9007199254740992_i64)),
        ("$opt_f".to_owned(), json!(1.5)),
        ("$opt_bool".to_owned(), json!(true)),
        ("$opt_str".to_owned(), json!("")),
        ("country".to_owned(), json!(0)),
        ("$opt_bot_filtering".to_owned(), json!(false)),
    ];
    assert_eq!(got, want);
}

#[test]
fn a_wire_visitor_gives_back_its_id_and_attributes_exactly() {
    let c = config();
    let attrs = attributes(
        r#"{"country": "Ünïcødé ✓", "$opt_e": "", "$opt_i": -3, "$opt_f": 2.5,
            "$opt_b": false, "dropped": "x", "$opt_q": "a\"b\\c"}"#,
    );
    let visitor = WireVisitor::new(&c, "üser ✓ 1", &attrs);
    assert_eq!(visitor.id(), "üser ✓ 1");
    let got: Vec<(&str, &str, WireValue<'_>)> = visitor.attributes().collect();
    assert_eq!(
        got,
        [
            ("100", "country", WireValue::Str("Ünïcødé ✓")),
            ("$opt_e", "$opt_e", WireValue::Str("")),
            ("$opt_i", "$opt_i", WireValue::Int(-3)),
            ("$opt_f", "$opt_f", WireValue::Float(2.5)),
            ("$opt_b", "$opt_b", WireValue::Bool(false)),
            ("$opt_q", "$opt_q", WireValue::Str("a\"b\\c")),
            (
                "$opt_bot_filtering",
                "$opt_bot_filtering",
                WireValue::Bool(false)
            ),
        ]
    );
    let empty = WireVisitor::new(&c, "", &Attributes::new());
    assert_eq!(empty.id(), "");
    assert_eq!(empty.attributes().count(), 1, "bot filtering only");
}

#[test]
fn bot_filtering_is_appended_only_when_the_datafile_has_a_boolean() {
    for (setting, want) in [(json!(true), Some(true)), (json!(false), Some(false))] {
        let c = config_with(|d| d["botFiltering"] = setting);
        let list = visitor_attributes(&c, &Attributes::new());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].value, json!(want));
    }
    let c = config_with(|d| {
        d.as_object_mut().unwrap().remove("botFiltering");
    });
    assert!(visitor_attributes(&c, &Attributes::new()).is_empty());
}

#[test]
fn attributes_keep_the_users_order_with_a_replaced_value_in_place() {
    let c = config();
    let mut attrs = Attributes::new();
    attrs.insert("$opt_b", "1");
    attrs.insert("country", "US");
    attrs.insert("$opt_b", "2");
    let keys: Vec<(String, Value)> = visitor_attributes(&c, &attrs)
        .into_iter()
        .map(|a| (a.key, a.value))
        .collect();
    assert_eq!(keys[0], ("$opt_b".to_owned(), json!("2")));
    assert_eq!(keys[1], ("country".to_owned(), json!("US")));
}

// ---- tags ----

#[test]
fn revenue_and_value_extraction_table() {
    // (label, tag value, revenue from it, value from it)
    let table: [(&str, Value, Option<i64>, Option<f64>); 16] = [
        ("integer", json!(4200), Some(4200), Some(4200.0)),
        ("negative integer", json!(-7), Some(-7), Some(-7.0)),
        ("zero", json!(0), Some(0), Some(0.0)),
        ("float", json!(12.5), None, Some(12.5)),
        ("integral float", json!(100.0), None, Some(100.0)),
        ("numeric string", json!("2.5"), None, Some(2.5)),
        ("integer string", json!("99"), None, Some(99.0)),
        ("padded string", json!(" 7 "), None, Some(7.0)),
        ("non-numeric string", json!("abc"), None, None),
        ("nan string", json!("nan"), None, None),
        ("infinite string", json!("-inf"), None, None),
        ("overflowing string", json!("1e400"), None, None),
        ("true", json!(true), None, None),
        ("false", json!(false), None, None),
        ("null", Value::Null, None, None),
        ("list", json!([1]), None, None),
    ];
    for (label, tag, want_revenue, want_value) in table {
        let mut tags = Map::new();
        tags.insert("revenue".into(), tag.clone());
        tags.insert("value".into(), tag);
        assert_eq!(revenue(&tags), want_revenue, "revenue of {label}");
        assert_eq!(numeric_value(&tags), want_value, "value of {label}");
    }
    assert_eq!(revenue(&Map::new()), None);
    assert_eq!(numeric_value(&Map::new()), None);
    let big = json!({"revenue": 18446744073709551615_u64});
    assert_eq!(revenue(big.as_object().unwrap()), None, "beyond i64");
}

#[test]
fn python_float_agrees_with_python_on_every_listed_string() {
    // (input, Python's float() result: Some(finite), None for an error or a non-finite value)
    // produced by CPython 3.11.
    let table: &[(&str, Option<f64>)] = &[
        ("1", Some(1.0)),
        ("-7", Some(-7.0)),
        ("+3", Some(3.0)),
        ("2.5", Some(2.5)),
        (" 2.5 ", Some(2.5)),
        ("\t\n\u{0b}\u{0c}\r2.5\r\n", Some(2.5)),
        ("\u{1c}2.5", None),
        ("2.5\u{1f}", None),
        ("\u{a0}2.5\u{3000}", Some(2.5)),
        ("\u{2003}2.5\u{2028}", Some(2.5)),
        ("1_000", Some(1000.0)),
        ("1__000", None),
        ("_1", None),
        ("1_", None),
        ("1_000.000_1", Some(1000.0001)),
        ("1e1_0", Some(1e10)),
        ("1_e5", None),
        ("1e_5", None),
        ("1._5", None),
        ("1_.5", None),
        (".5", Some(0.5)),
        ("5.", Some(5.0)),
        ("5.e3", Some(5000.0)),
        (".e3", None),
        (".", None),
        ("", None),
        (" ", None),
        ("+", None),
        ("-", None),
        ("e5", None),
        ("1e", None),
        ("1e+", None),
        ("1e-3", Some(0.001)),
        ("1E3", Some(1000.0)),
        ("+.5e-3", Some(0.0005)),
        ("0x10", None),
        ("1,234", None),
        ("abc", None),
        ("infinit", None),
        ("inf5", None),
        ("1e-400", Some(0.0)),
        ("00012", Some(12.0)),
        ("\u{661}\u{662}\u{663}", Some(123.0)),
        ("\u{661}.\u{665}", Some(1.5)),
        ("\u{ff11}\u{ff12}", Some(12.0)),
        ("\u{1d7ce}\u{1d7cf}", Some(1.0)),
        ("\u{2212}1", None),
        ("1\u{7f}", None),
        ("1 2", None),
        ("--1", None),
        ("+-1", None),
        ("9007199254740993", Some(9007199254740992.0)),
        (
            "123456789012345678901234567890",
            Some(1.2345678901234568e29),
        ),
        ("0.1", Some(0.1)),
        ("1e308", Some(1e308)),
        ("1.7976931348623157e308", Some(f64::MAX)),
    ];
    for &(input, want) in table {
        let got = python_float(input).filter(|f| f.is_finite());
        assert_eq!(got, want, "float({input:?})");
    }
    // Parsed but not finite: Python returns these, the value extraction then refuses them.
    for input in [
        "nan",
        "NaN",
        "-inf",
        "Infinity",
        "+infinity",
        "1e400",
        "-1e400",
        "1.8e308",
    ] {
        let got = python_float(input);
        assert!(
            got.is_some_and(|f| !f.is_finite()),
            "float({input:?}) = {got:?}"
        );
    }
}

#[test]
fn cleaning_drops_null_revenue_value_tags_decisions_at_any_depth_only() {
    let tags = json!({"revenue": null, "value": 0, "tags": null, "decisions": null, "x": null,
        "deep": [{"value": null, "tags": {"decisions": null, "y": null}}]});
    let got = Value::Object(cleaned(tags.as_object().unwrap()));
    assert_eq!(
        got,
        json!({"value": 0, "x": null, "deep": [{"tags": {"y": null}}]})
    );
}

// ---- ids, uuid, endpoint, batches ----

#[test]
fn variation_ids_are_kept_only_when_non_empty_ascii_digits() {
    let table = [
        ("301", Some("301")),
        ("0042", Some("0042")),
        ("", None),
        (" 1", None),
        ("1 ", None),
        ("-1", None),
        ("1.0", None),
        ("1e3", None),
        ("v-302", None),
        ("ho_off", None),
        ("\u{661}", None),
        ("\u{ff11}", None),
    ];
    for (id, want) in table {
        assert_eq!(ids::variation_id(id), want, "{id:?}");
    }
}

#[test]
fn campaign_ids_fall_back_from_layer_to_experiment_to_empty() {
    assert_eq!(ids::campaign_id("400", "300"), "400");
    assert_eq!(ids::campaign_id("layer_abc", "300"), "layer_abc");
    assert_eq!(ids::campaign_id("", "300"), "300");
    assert_eq!(ids::campaign_id("", "default-1"), "default-1");
    assert_eq!(ids::campaign_id("", ""), "");
}

#[test]
fn uuids_are_random_version_4_in_canonical_form() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        let u = uuid::new_uuid();
        assert_eq!(u.len(), 36, "{u}");
        let bytes = u.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(b, b'-', "{u}");
            } else {
                assert!(matches!(b, b'0'..=b'9' | b'a'..=b'f'), "{u}");
            }
        }
        assert_eq!(bytes[14], b'4', "version of {u}");
        assert!(
            matches!(bytes[19], b'8' | b'9' | b'a' | b'b'),
            "variant of {u}"
        );
        assert!(seen.insert(u));
    }
}

#[test]
fn every_uuid_bit_but_version_and_variant_varies() {
    let (mut ones, mut zeros) = (0u128, 0u128);
    for _ in 0..2_000 {
        let bits = u128::from_be_bytes(uuid::new_uuid_bytes());
        ones |= bits;
        zeros |= !bits;
    }
    // Fixed: the version nibble (bits 76..80, 0100) and the variant (bits 62..64, 10).
    let fixed: u128 = (0xF << 76) | (0x3 << 62);
    assert_eq!(ones & zeros, !fixed);
    assert_eq!((ones >> 76) & 0xF, 0x4);
    assert_eq!((ones >> 62) & 0x3, 0x2);
}

#[test]
fn uuids_from_many_threads_do_not_collide() {
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| (0..2_000).map(|_| uuid::new_uuid()).collect::<Vec<_>>()))
        .collect();
    let mut all = std::collections::HashSet::new();
    for h in handles {
        for u in h.join().unwrap() {
            assert!(all.insert(u));
        }
    }
    assert_eq!(all.len(), 8_000);
}

#[test]
fn timestamps_are_milliseconds_now() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let t = uuid::now_millis();
    assert!(t + 1 >= before && t <= before + 60_000, "{t} vs {before}");
}

#[test]
fn the_endpoint_follows_the_region() {
    assert_eq!(
        payload::endpoint(Region::Us),
        "https://logx.optimizely.com/v1/events"
    );
    assert_eq!(
        payload::endpoint(Region::Eu),
        "https://eu.logx.optimizely.com/v1/events"
    );
    let us = config_with(|d| {
        d.as_object_mut().unwrap().remove("region");
    });
    let event = conversion(&us, "purchase", "u", &Attributes::new(), None).unwrap();
    assert_eq!(request(&event).0, "https://logx.optimizely.com/v1/events");
}

#[test]
fn oracle_a_lower_case_region_is_the_eu_endpoint() {
    // Python upper-cases the region before choosing the endpoint.
    for region in ["eu", "Eu", "EU"] {
        let c = config_with(|d| d["region"] = json!(region));
        let event = conversion(&c, "purchase", "u", &Attributes::new(), None).unwrap();
        assert_eq!(
            request(&event).0,
            "https://eu.logx.optimizely.com/v1/events",
            "{region}"
        );
    }
}

#[test]
fn a_log_event_is_a_json_post() {
    let c = config();
    let event = conversion(&c, "purchase", "u", &Attributes::new(), None).unwrap();
    let log = log_event(std::slice::from_ref(&event)).unwrap();
    assert_eq!(log.method, "POST");
    assert_eq!(log.headers, [("Content-Type", "application/json")]);
    assert_eq!(log.json()["client_name"], "decisive");
    assert_eq!(log.json()["client_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(log.json()["enrich_decisions"], true);
    assert!(log_event::<UserEvent>(&[]).is_none());
}

#[test]
fn a_batch_holds_one_visitor_per_event_in_order_under_the_first_context() {
    let c = config();
    let d = decision(&c, Some("exp"), Some(("exp", "a")), Source::FeatureTest);
    let events = [
        impression(&c, &d, "f1", "same", &Attributes::new()),
        conversion(&c, "purchase", "same", &Attributes::new(), None).unwrap(),
        impression(&c, &d, "f1", "same", &Attributes::new()),
    ];
    let log = log_event(&events).unwrap();
    let body = log.json();
    let visitors = body["visitors"].as_array().unwrap();
    assert_eq!(visitors.len(), 3);
    assert_eq!(log.event_count, 3);
    for (v, e) in visitors.iter().zip(&events) {
        assert_eq!(v["visitor_id"], "same");
        assert_eq!(
            v["snapshots"][0]["events"][0]["uuid"],
            uuid::format_uuid(&e.header().uuid)
        );
    }
    assert!(visitors[1]["snapshots"][0].get("decisions").is_none());
}

#[test]
fn log_events_split_where_the_context_changes() {
    let a = config();
    let b = config_with(|d| d["revision"] = json!("8"));
    let eu_to_us = config_with(|d| d["region"] = json!("US"));
    let ev = |c: &ProjectConfig| conversion(c, "purchase", "u", &Attributes::new(), None).unwrap();
    let events = [ev(&a), ev(&a), ev(&b), ev(&a), ev(&eu_to_us), ev(&eu_to_us)];
    let logs = log_events(&events);
    let shape: Vec<(String, usize, &str)> = logs
        .iter()
        .map(|l| {
            (
                l.json()["revision"].as_str().unwrap().to_owned(),
                l.json()["visitors"].as_array().unwrap().len(),
                l.url,
            )
        })
        .collect();
    let eu = "https://eu.logx.optimizely.com/v1/events";
    let us = "https://logx.optimizely.com/v1/events";
    assert_eq!(
        shape,
        [
            ("7".to_owned(), 2, eu),
            ("8".to_owned(), 1, eu),
            ("7".to_owned(), 1, eu),
            ("7".to_owned(), 2, us)
        ]
    );
}

#[test]
fn an_event_keeps_the_context_of_the_config_that_made_it() {
    let c = config();
    let event = conversion(&c, "purchase", "u", &Attributes::new(), None).unwrap();
    assert_eq!(
        *event.context(),
        EventContext {
            account_id: "A1".into(),
            project_id: "P1".into(),
            revision: "7".into(),
            client_name: "decisive",
            client_version: env!("CARGO_PKG_VERSION"),
            anonymize_ip: true,
            bot_filtering: Some(false),
            region: Region::Eu,
        }
    );
}

/// Asserts that two requests are the same but for their batch ids, which differ: each batch
/// gets its own.
fn assert_same_request(written: &LogEvent, built: &LogEvent) {
    assert_ne!(written.batch_id, built.batch_id, "each batch its own id");
    let mut built = built.clone();
    built.batch_id.clone_from(&written.batch_id);
    assert_eq!(*written, built);
}

#[test]
fn an_impression_written_from_the_decide_path_is_byte_identical_to_the_built_one() {
    let c = Arc::new(config());
    let attrs = attributes(
        r#"{"country": "FR", "age": 41, "ratio": 0.25, "beta": true, "$opt_x": "y",
            "unknown": "dropped", "nested": {"a": 1}, "q": "quote\"and\\back\nslash"}"#,
    );
    let visitor = Arc::new(Visitor {
        user_id: "user \"7\"".to_owned(),
        attributes: attrs,
    });
    let flag = c.flag("f1").map(|(i, _)| i).unwrap();
    let decisions = [
        decision(&c, Some("exp"), Some(("exp", "a")), Source::FeatureTest),
        decision(&c, Some("ho"), Some(("ho", "off")), Source::Holdout),
        FlagDecision {
            rule: None,
            variation: None,
            source: Source::Rollout,
        },
    ];
    let mut fragments = payload::Fragments::default();
    for d in decisions.iter().chain(&decisions) {
        let decided = Decided::new(Origin::Own(Arc::clone(&c), Arc::clone(&visitor)), flag, *d);
        // The second round writes from the fragments the first one kept.
        let written = payload::log_event_with(
            std::slice::from_ref(&decided),
            &mut fragments,
            String::new(),
        );
        let written = written.unwrap();
        let built = log_event(&[decided.build()]).unwrap();
        assert_same_request(&written, &built);
        assert_eq!(written.event_count, 1);
        let body = written.json();
        assert_eq!(body["visitors"][0]["visitor_id"], "user \"7\"");
    }
}

#[test]
fn a_conversion_written_from_track_event_is_byte_identical_to_the_built_one() {
    let c = Arc::new(config());
    let visitor = Arc::new(Visitor {
        user_id: "u\u{1}".to_owned(),
        attributes: attributes(r#"{"country": "FR", "$opt_y": 2, "gone": "x"}"#),
    });
    let tags =
        json!({"revenue": 4200, "value": "3.5", "note": "a\"b", "nested": {"revenue": null}});
    let tag_sets = [None, Some(tags.as_object().unwrap())];
    let mut fragments = payload::Fragments::default();
    for tags in tag_sets.iter().chain(&tag_sets) {
        let tracked = Tracked::new(
            Origin::Own(Arc::clone(&c), Arc::clone(&visitor)),
            "purchase",
            *tags,
        )
        .unwrap();
        let written = payload::log_event_with(
            std::slice::from_ref(&tracked),
            &mut fragments,
            String::new(),
        );
        let built = log_event(&[tracked.build()]).unwrap();
        assert_same_request(&written.unwrap(), &built);
    }
    assert_eq!(
        Tracked::new(
            Origin::Own(Arc::clone(&c), Arc::clone(&visitor)),
            "nope",
            None
        )
        .err(),
        Some(EventError::UnknownEvent("nope".to_owned()))
    );
}

#[test]
fn a_users_events_in_one_request_repeat_its_visitor_head_byte_for_byte() {
    use super::processor::Queued;
    let c = Arc::new(config());
    let visitor = |id: &str| {
        Arc::new(Visitor {
            user_id: id.to_owned(),
            attributes: attributes(r#"{"country": "FR", "age": 41, "$opt_x": "y"}"#),
        })
    };
    // Alice's events come through her user context's shared source, Bob's each on its own.
    let alice = Origin::Shared(Arc::new(EventSource::new(Arc::clone(&c), visitor("alice"))));
    let bob_visitor = visitor("bob");
    let bob = Origin::Own(Arc::clone(&c), bob_visitor);
    let flag = c.flag("f1").map(|(i, _)| i).unwrap();
    let d = decision(&c, Some("exp"), Some(("exp", "a")), Source::FeatureTest);
    let impression = |o: &Origin| Queued::Decided(Decided::new(o.clone(), flag, d));
    let conversion =
        |o: &Origin| Queued::Tracked(Tracked::new(o.clone(), "purchase", None).unwrap());
    // Alice twice (her second head is a copy, which her source then keeps), Bob, Alice again
    // after him and a conversion of hers (both from her source's text); then a second
    // request that starts with her again.
    let first = [
        impression(&alice),
        impression(&alice),
        impression(&bob),
        impression(&alice),
        conversion(&alice),
    ];
    let second = [impression(&alice), conversion(&bob)];
    let mut fragments = payload::Fragments::default();
    let mut spare = String::new();
    for batch in [&first[..], &second[..]] {
        let written = payload::log_event_with(batch, &mut fragments, spare).unwrap();
        let built: Vec<UserEvent> = batch
            .iter()
            .map(|q| match q {
                Queued::Decided(d) => d.build(),
                Queued::Tracked(t) => t.build(),
                Queued::Built(e) => (**e).clone(),
            })
            .collect();
        assert_same_request(&written, &log_event(&built).unwrap());
        spare = written.body;
    }
    let Origin::Shared(source) = &alice else {
        unreachable!()
    };
    let kept = source
        .head
        .get()
        .expect("alice's source keeps her visitor entry");
    assert!(kept.starts_with("{\"visitor_id\":\"alice\",\"attributes\":["));
    assert!(kept.ends_with("],\"snapshots\":["));
}
