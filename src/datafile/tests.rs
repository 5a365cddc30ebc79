//! What `parse` accepts and, for every fixture in tests/fixtures/compat/invalid and every other
//! way a document can be wrong, which error names the problem and where.

use super::*;
use serde_json::{json, Value};

/// Every field the schema requires, nothing else.
fn minimal() -> Value {
    json!({"version": "4", "revision": "1", "accountId": "12", "projectId": "34",
           "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": []})
}

fn experiment(id: &str) -> Value {
    json!({"id": id, "key": format!("exp_{id}"), "layerId": "9", "status": "Running",
           "variations": [{"id": format!("{id}1"), "key": "on"}],
           "trafficAllocation": [{"entityId": format!("{id}1"), "endOfRange": 10000}],
           "audienceIds": [], "forcedVariations": {}})
}

fn error_of(text: &[u8]) -> DatafileError {
    match parse(text) {
        Ok(_) => panic!("expected an error for {}", String::from_utf8_lossy(text)),
        Err(e) => e,
    }
}

/// The path of a `Field` error (panics on any other error).
fn field_path(value: &Value) -> (String, String) {
    let e = error_of(value.to_string().as_bytes());
    match &e {
        DatafileError::Field { path, .. } => (path.clone(), e.to_string()),
        other => panic!("expected a field error, got {other:?}"),
    }
}

type Check = fn(&DatafileError) -> bool;

#[test]
fn every_invalid_fixture_gives_its_own_error() {
    let table: [(&str, &[u8], Check, &str); 7] = [
        (
            "empty",
            include_bytes!("../../tests/fixtures/compat/invalid/empty.json"),
            |e| matches!(e, DatafileError::Empty),
            "datafile is empty",
        ),
        (
            "not_an_object",
            include_bytes!("../../tests/fixtures/compat/invalid/not_an_object.json"),
            |e| matches!(e, DatafileError::NotAnObject),
            "datafile is not a JSON object",
        ),
        (
            "truncated",
            include_bytes!("../../tests/fixtures/compat/invalid/truncated.json"),
            |e| {
                matches!(
                    e,
                    DatafileError::Syntax {
                        line: 1,
                        column: 4278,
                        ..
                    }
                )
            },
            "datafile is not valid JSON at line 1 column 4278: EOF while parsing a string",
        ),
        (
            "unsupported_version",
            include_bytes!("../../tests/fixtures/compat/invalid/unsupported_version.json"),
            |e| matches!(e, DatafileError::UnsupportedVersion(v) if v == "5"),
            "unsupported datafile version \"5\" (supported: 2, 3, 4)",
        ),
        (
            "version_is_number",
            include_bytes!("../../tests/fixtures/compat/invalid/version_is_number.json"),
            |e| matches!(e, DatafileError::VersionNotAString),
            "datafile field `version` is missing or not a string",
        ),
        (
            "missing_experiments",
            include_bytes!("../../tests/fixtures/compat/invalid/missing_experiments.json"),
            |e| matches!(e, DatafileError::Field { path, .. } if path == "experiments"),
            "datafile field `experiments` is missing",
        ),
        (
            "end_of_range_is_string",
            include_bytes!("../../tests/fixtures/compat/invalid/end_of_range_is_string.json"),
            |e| {
                matches!(e, DatafileError::Field { path, .. }
                    if path == "experiments[0].trafficAllocation[0].endOfRange")
            },
            "datafile field `experiments[0].trafficAllocation[0].endOfRange`: invalid type: \
             string \"5000\", expected u32",
        ),
    ];
    for (name, bytes, check, display) in table {
        let e = error_of(bytes);
        assert!(check(&e), "{name}: got {e:?}");
        assert_eq!(e.to_string(), display, "{name}");
        // The same bytes through the public entry point give the same error.
        let public = crate::ProjectConfig::from_datafile(bytes).expect_err(name);
        assert_eq!(public.to_string(), display, "{name} via ProjectConfig");
    }
}

#[test]
fn bytes_that_are_not_utf8_name_the_first_bad_offset() {
    let mut text = minimal().to_string().into_bytes();
    let at = text.iter().position(|&b| b == b'1').unwrap();
    text[at] = 0xff;
    let e = error_of(&text);
    assert!(
        matches!(e, DatafileError::NotUtf8 { offset } if offset == at),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("datafile is not UTF-8 text (invalid byte at offset {at})")
    );
}

#[test]
fn an_owned_string_is_the_text_as_it_is_and_bytes_are_checked() {
    let text = minimal().to_string();
    let at = text.as_ptr();
    let owned = text.clone().into_datafile_text().unwrap();
    assert_eq!(owned, text);
    let taken = text.into_datafile_text().unwrap();
    assert_eq!(taken.as_ptr(), at, "the string itself, not a copy");
    let boxed: Box<str> = "{}".into();
    assert_eq!(boxed.into_datafile_text().unwrap(), "{}");
    let mut bytes = minimal().to_string().into_bytes();
    bytes[1] = 0xc3;
    assert!(matches!(
        bytes.into_datafile_text(),
        Err(DatafileError::NotUtf8 { offset: 1 })
    ));
    // Through the client builder, the error is the build's.
    let e = crate::Client::builder()
        .datafile(vec![b'{', 0xff, b'}'])
        .without_events()
        .build()
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("cannot load the datafile: datafile is not UTF-8 text (invalid byte at offset 1)")
    );
    let client = crate::Client::builder()
        .datafile(minimal().to_string())
        .without_events()
        .build()
        .unwrap();
    assert_eq!(
        client.config().map(|c| c.revision().to_owned()).as_deref(),
        Some("1")
    );
}

#[test]
fn syntax_and_field_errors_keep_their_json_source() {
    use std::error::Error;
    let truncated = error_of(include_bytes!(
        "../../tests/fixtures/compat/invalid/truncated.json"
    ));
    assert!(truncated.source().is_some());
    let field = error_of(include_bytes!(
        "../../tests/fixtures/compat/invalid/missing_experiments.json"
    ));
    assert!(field.source().is_some());
    assert!(DatafileError::Empty.source().is_none());
}

#[test]
fn only_white_space_is_empty_and_other_scalars_are_not_objects() {
    let table: [(&str, &[u8], Check); 6] = [
        ("spaces and newlines", b" \n\r\t ", |e| {
            matches!(e, DatafileError::Empty)
        }),
        ("null", b"null", |e| matches!(e, DatafileError::NotAnObject)),
        ("number", b"42", |e| matches!(e, DatafileError::NotAnObject)),
        ("string", b"\"{}\"", |e| {
            matches!(e, DatafileError::NotAnObject)
        }),
        ("empty array", b"[]", |e| {
            matches!(e, DatafileError::NotAnObject)
        }),
        (
            "syntax error on line 3",
            b"{\n \"version\": \"4\",\n \"x\": tru }",
            |e| matches!(e, DatafileError::Syntax { line: 3, .. }),
        ),
    ];
    for (label, bytes, check) in table {
        let e = error_of(bytes);
        assert!(check(&e), "{label}: got {e:?}");
    }
}

#[test]
fn the_version_is_checked_before_any_other_field() {
    let cases: [(&str, Value, Check); 7] = [
        (
            "version 5, complete",
            json!("5"),
            |e| matches!(e, DatafileError::UnsupportedVersion(v) if v == "5"),
        ),
        (
            "version 1",
            json!("1"),
            |e| matches!(e, DatafileError::UnsupportedVersion(v) if v == "1"),
        ),
        (
            "version 4.0",
            json!("4.0"),
            |e| matches!(e, DatafileError::UnsupportedVersion(v) if v == "4.0"),
        ),
        (
            "empty version",
            json!(""),
            |e| matches!(e, DatafileError::UnsupportedVersion(v) if v.is_empty()),
        ),
        ("numeric version", json!(4), |e| {
            matches!(e, DatafileError::VersionNotAString)
        }),
        ("null version", json!(null), |e| {
            matches!(e, DatafileError::VersionNotAString)
        }),
        ("list version", json!(["4"]), |e| {
            matches!(e, DatafileError::VersionNotAString)
        }),
    ];
    for (label, version, check) in cases {
        let mut d = minimal();
        d["version"] = version;
        let e = error_of(d.to_string().as_bytes());
        assert!(check(&e), "{label}: got {e:?}");
        // Also when another required field is missing: the version is the first problem.
        d.as_object_mut().unwrap().remove("experiments");
        let e = error_of(d.to_string().as_bytes());
        assert!(check(&e), "{label} without experiments: got {e:?}");
    }
    let mut d = minimal();
    d.as_object_mut().unwrap().remove("version");
    assert!(matches!(
        error_of(d.to_string().as_bytes()),
        DatafileError::VersionNotAString
    ));
}

#[test]
fn versions_two_three_and_four_parse() {
    for version in ["2", "3", "4"] {
        let mut d = minimal();
        d["version"] = json!(version);
        let text = d.to_string();
        let parsed = parse(text.as_bytes()).expect("a supported version");
        assert_eq!(parsed.version.as_str(), version);
        assert_eq!(parsed.revision.as_str(), "1");
        assert_eq!(parsed.account_id.as_str(), "12");
        let config = crate::ProjectConfig::from_datafile(d.to_string()).expect("loads");
        assert_eq!((config.version(), config.revision()), (version, "1"));
    }
    assert_eq!(SUPPORTED_VERSIONS, ["2", "3", "4"]);
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let mut d = minimal();
    d["futureTopLevel"] = json!({"nested": [1, 2, {"x": null}]});
    d["variables"] = json!([{"legacy": true}]);
    let mut e = experiment("5");
    e["newExperimentField"] = json!("x");
    e["variations"][0]["weight"] = json!(3);
    e["trafficAllocation"][0]["note"] = json!([]);
    d["experiments"] = json!([e]);
    d["attributes"] = json!([{"id": "1", "key": "country", "segmentId": "s"}]);
    let text = d.to_string();
    let parsed = parse(text.as_bytes()).expect("unknown fields are ignored");
    assert_eq!(parsed.experiments.len(), 1);
    assert_eq!(
        parsed.experiments[0].traffic_allocation[0].end_of_range,
        10000
    );
    assert_eq!(parsed.attributes[0].key.as_str(), "country");
}

#[test]
fn optional_sections_default_to_empty() {
    let text = minimal().to_string();
    let parsed = parse(text.as_bytes()).expect("minimal datafile");
    assert!(parsed.feature_flags.is_empty());
    assert!(parsed.rollouts.is_empty());
    assert!(parsed.typed_audiences.is_empty());
    assert!(parsed.holdouts.is_empty());
    assert!(parsed.local_holdouts.is_empty());
    assert!(parsed.integrations.is_empty());
    assert_eq!(
        (
            parsed.anonymize_ip,
            parsed.bot_filtering,
            parsed.send_flag_decisions
        ),
        (false, None, false)
    );
}

#[test]
fn rollout_rules_need_only_an_id_and_a_key() {
    let mut d = minimal();
    d["rollouts"] = json!([{"id": "r", "experiments": [{"id": "1", "key": "everyone"}]}]);
    let text = d.to_string();
    let parsed = parse(text.as_bytes()).expect("lenient rollout rules");
    let rule = &parsed.rollouts[0]
        .experiments
        .of(&parsed.lists.rollout_rules)[0];
    assert_eq!((rule.id.as_str(), rule.status.as_str()), ("1", ""));
    assert!(rule.variations.is_empty() && rule.traffic_allocation.is_empty());
}

#[test]
fn a_missing_field_inside_an_array_element_names_its_index() {
    let mut second = experiment("2");
    second.as_object_mut().unwrap().remove("status");
    let mut d = minimal();
    d["experiments"] = json!([experiment("1"), second, experiment("3")]);
    let (path, display) = field_path(&d);
    assert_eq!(path, "experiments[1].status");
    assert_eq!(display, "datafile field `experiments[1].status` is missing");
}

#[test]
fn field_errors_name_the_full_path() {
    let mut cases: Vec<(&str, Value, &str, &str)> = Vec::new();

    let mut d = minimal();
    d.as_object_mut().unwrap().remove("revision");
    cases.push((
        "missing top-level field",
        d,
        "revision",
        "datafile field `revision` is missing",
    ));

    let mut d = minimal();
    d["accountId"] = json!(12);
    cases.push((
        "wrongly typed top-level field",
        d,
        "accountId",
        "datafile field `accountId`: invalid type: integer `12`, expected a string",
    ));

    let mut d = minimal();
    let mut grouped = experiment("7");
    grouped["trafficAllocation"] =
        json!([{"entityId": "71", "endOfRange": 10}, {"endOfRange": 20}]);
    d["groups"] =
        json!([{"id": "g", "policy": "random", "trafficAllocation": [], "experiments": [grouped]}]);
    cases.push((
        "missing field three levels down",
        d,
        "groups[0].experiments[0].trafficAllocation[1].entityId",
        "datafile field `groups[0].experiments[0].trafficAllocation[1].entityId` is missing",
    ));

    let mut d = minimal();
    d["featureFlags"] = json!([{"id": "f", "key": "flag", "rolloutId": "", "experimentIds": [],
        "variables": [{"id": "1", "key": "a", "type": "string", "defaultValue": "x"},
                      {"id": "2", "key": "b", "type": "integer", "defaultValue": 3}]}]);
    cases.push((
        "wrongly typed variable default",
        d,
        "featureFlags[0].variables[1].defaultValue",
        "datafile field `featureFlags[0].variables[1].defaultValue`: invalid type: integer `3`, \
         expected a string",
    ));

    let mut d = minimal();
    d["attributes"] = json!([
        {"id": "1", "key": "a[0],{b}:\"c\""},
        {"id": "2", "key": "d\\"},
        {"id": "3"}
    ]);
    cases.push((
        "brackets, commas and escapes inside earlier strings",
        d,
        "attributes[2].key",
        "datafile field `attributes[2].key` is missing",
    ));

    let mut d = minimal();
    let mut e = experiment("8");
    e["variations"] = json!({"id": "81"});
    d["experiments"] = json!([experiment("1"), e]);
    cases.push((
        "an object where a list belongs",
        d,
        "experiments[1].variations",
        "datafile field `experiments[1].variations`: invalid type: map, expected a sequence",
    ));

    let mut d = minimal();
    let mut e = experiment("9");
    e["trafficAllocation"][0]["endOfRange"] = json!(-1);
    d["experiments"] = json!([e]);
    cases.push((
        "a negative range end",
        d,
        "experiments[0].trafficAllocation[0].endOfRange",
        "datafile field `experiments[0].trafficAllocation[0].endOfRange`: invalid value: \
         integer `-1`, expected u32",
    ));

    let mut d = minimal();
    d["holdouts"] = json!([{"id": "h", "key": "hold", "variations": [{"key": "off"}]}]);
    cases.push((
        "a holdout variation without an id",
        d,
        "holdouts[0].variations[0].id",
        "datafile field `holdouts[0].variations[0].id` is missing",
    ));

    let mut d = minimal();
    d["experiments"] = json!([experiment("1"), {}]);
    cases.push((
        "an empty object element",
        d,
        "experiments[1].id",
        "datafile field `experiments[1].id` is missing",
    ));

    let mut d = minimal();
    let mut e = experiment("1");
    e["variations"][0]["key"] = json!(null);
    d["experiments"] = json!([e]);
    cases.push((
        "a null where a string belongs",
        d,
        "experiments[0].variations[0].key",
        "datafile field `experiments[0].variations[0].key`: invalid type: null, expected a string",
    ));

    let mut d = minimal();
    d["events"] = json!([{"id": "1", "key": "buy", "experimentIds": "1000"}]);
    cases.push((
        "a string where a list belongs",
        d,
        "events[0].experimentIds",
        "datafile field `events[0].experimentIds`: invalid type: string \"1000\", expected a sequence",
    ));

    for (label, document, path, display) in cases {
        let (got_path, got_display) = field_path(&document);
        assert_eq!(got_path, path, "{label}");
        assert_eq!(got_display, display, "{label}");
    }
}

#[test]
fn a_pretty_printed_document_reports_the_same_path() {
    let mut second = experiment("2");
    second["trafficAllocation"][0]["endOfRange"] = json!("10000");
    let mut d = minimal();
    d["experiments"] = json!([experiment("1"), second]);
    let pretty = serde_json::to_string_pretty(&d).unwrap();
    let e = error_of(pretty.as_bytes());
    assert!(
        matches!(&e, DatafileError::Field { path, .. }
            if path == "experiments[1].trafficAllocation[0].endOfRange"),
        "{e:?}"
    );
}

#[test]
fn invalid_legacy_conditions_are_named_by_path_when_the_config_is_built() {
    let mut d = minimal();
    d["audiences"] = json!([
        {"id": "1", "name": "ok", "conditions": "[\"or\"]"},
        {"id": "2", "name": "broken", "conditions": "[\"and\", {"}
    ]);
    let e = crate::ProjectConfig::from_datafile(d.to_string()).expect_err("bad conditions");
    assert!(
        matches!(&e, DatafileError::Conditions { path, .. } if path == "audiences[1].conditions"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("datafile field `audiences[1].conditions`: conditions are not valid JSON"),
        "{e}"
    );
    // `parse` alone does not read the encoded conditions.
    assert!(parse(d.to_string().as_bytes()).is_ok());
}

#[test]
fn trailing_characters_after_a_complete_datafile_are_a_syntax_error() {
    let text = format!("{} x", minimal());
    let e = error_of(text.as_bytes());
    assert!(matches!(e, DatafileError::Syntax { line: 1, .. }), "{e:?}");
    assert!(e.to_string().ends_with(": trailing characters"), "{e}");
}

#[test]
fn a_syntax_error_is_reported_even_after_a_wrongly_typed_field() {
    // The fixture with a string endOfRange, cut short after that field: the document is not
    // JSON at all, which is the first thing to say (and its version is "4", a string).
    let full: &[u8] =
        include_bytes!("../../tests/fixtures/compat/invalid/end_of_range_is_string.json");
    let at = full
        .windows(b"\"5000\"".len())
        .position(|w| w == b"\"5000\"")
        .expect("the string endOfRange")
        + 10;
    let e = error_of(&full[..at]);
    assert!(
        matches!(e, DatafileError::Syntax { line: 1, .. }),
        "cut at byte {at}: got {e:?}"
    );
    // A missing field followed by garbage: also a syntax error, not a version problem.
    let e = error_of(b"{\"version\": \"4\"} x");
    assert!(
        matches!(e, DatafileError::Syntax { line: 1, .. }),
        "got {e:?}"
    );
}

#[test]
fn a_duplicated_key_takes_its_last_value_as_in_the_official_sdks() {
    let text = r#"{"version": "4", "revision": "1", "accountId": "12", "projectId": "34",
        "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": [],
        "revision": "2"}"#;
    let config = crate::ProjectConfig::from_datafile(text).expect("Python's json.loads accepts it");
    assert_eq!(config.revision(), "2");
}
