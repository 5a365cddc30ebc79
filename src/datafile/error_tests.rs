//! Every way a datafile can be unusable gives an error that names the problem.

use super::*;

fn err(text: &[u8]) -> DatafileError {
    match parse(text) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

const MINIMAL: &str = r#"{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
  "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": []}"#;

#[test]
fn an_empty_datafile_is_reported_as_empty() {
    let e = err(include_bytes!(
        "../../tests/fixtures/compat/invalid/empty.json"
    ));
    assert!(matches!(e, DatafileError::Empty));
    assert_eq!(e.to_string(), "datafile is empty");
    assert!(matches!(err(b"  \n\t "), DatafileError::Empty));
}

#[test]
fn a_json_array_is_not_a_datafile() {
    let e = err(include_bytes!(
        "../../tests/fixtures/compat/invalid/not_an_object.json"
    ));
    assert!(matches!(e, DatafileError::NotAnObject));
    assert_eq!(e.to_string(), "datafile is not a JSON object");
    assert!(matches!(err(b"\"text\""), DatafileError::NotAnObject));
}

#[test]
fn a_truncated_datafile_names_the_line_and_column() {
    let e = err(include_bytes!(
        "../../tests/fixtures/compat/invalid/truncated.json"
    ));
    let DatafileError::Syntax { line, column, .. } = &e else {
        panic!("expected a syntax error, got {e:?}")
    };
    assert_eq!((*line, *column), (1, 4278));
    assert_eq!(
        e.to_string(),
        "datafile is not valid JSON at line 1 column 4278: EOF while parsing a string"
    );
}

#[test]
fn an_unsupported_version_is_named() {
    let e = err(include_bytes!(
        "../../tests/fixtures/compat/invalid/unsupported_version.json"
    ));
    assert!(matches!(&e, DatafileError::UnsupportedVersion(v) if v == "5"));
    assert_eq!(
        e.to_string(),
        "unsupported datafile version \"5\" (supported: 2, 3, 4)"
    );
}

#[test]
fn a_numeric_version_is_not_a_string() {
    let e = err(include_bytes!(
        "../../tests/fixtures/compat/invalid/version_is_number.json"
    ));
    assert!(matches!(e, DatafileError::VersionNotAString));
    assert_eq!(
        e.to_string(),
        "datafile field `version` is missing or not a string"
    );
}

#[test]
fn a_missing_section_is_named_by_its_path() {
    let e = err(include_bytes!(
        "../../tests/fixtures/compat/invalid/missing_experiments.json"
    ));
    assert!(matches!(&e, DatafileError::Field { path, .. } if path == "experiments"));
    assert_eq!(e.to_string(), "datafile field `experiments` is missing");
}

#[test]
fn a_wrongly_typed_field_is_named_by_its_full_path() {
    let e = err(include_bytes!(
        "../../tests/fixtures/compat/invalid/end_of_range_is_string.json"
    ));
    assert!(
        matches!(&e, DatafileError::Field { path, .. } if path == "experiments[0].trafficAllocation[0].endOfRange"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "datafile field `experiments[0].trafficAllocation[0].endOfRange`: invalid type: string \"5000\", expected u32"
    );
}

#[test]
fn a_field_missing_inside_an_array_element_names_its_index() {
    let text = MINIMAL.replace(
        r#""experiments": []"#,
        r#""experiments": [
            {"id": "1", "key": "a", "layerId": "9", "status": "Running", "variations": [],
             "trafficAllocation": [], "audienceIds": [], "forcedVariations": {}},
            {"id": "2", "key": "b", "layerId": "9", "variations": [],
             "trafficAllocation": [], "audienceIds": [], "forcedVariations": {}}
        ]"#,
    );
    let e = err(text.as_bytes());
    assert!(
        matches!(&e, DatafileError::Field { path, .. } if path == "experiments[1].status"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "datafile field `experiments[1].status` is missing"
    );
}

#[test]
fn invalid_legacy_audience_conditions_are_named() {
    let text = MINIMAL.replace(
        r#""audiences": []"#,
        r#""audiences": [{"id": "1", "name": "a", "conditions": "[\"and\""}]"#,
    );
    let e = crate::ProjectConfig::from_datafile(text).unwrap_err();
    assert!(
        matches!(&e, DatafileError::Conditions { path, .. } if path == "audiences[0].conditions"),
        "{e:?}"
    );
}

#[test]
fn versions_two_three_and_four_load_and_unknown_fields_are_ignored() {
    for version in ["2", "3", "4"] {
        let text = MINIMAL
            .replace(r#""version": "4""#, &format!(r#""version": "{version}""#))
            .replace(
                r#""groups": []"#,
                r#""groups": [], "someFutureField": {"x": [1]}"#,
            );
        let config = crate::ProjectConfig::from_datafile(text).unwrap();
        assert_eq!(config.version(), version);
        assert_eq!(config.revision(), "1");
    }
}

#[test]
fn no_byte_sequence_panics_the_parser() {
    let base = include_bytes!("../../tests/fixtures/compat/invalid/end_of_range_is_string.json");
    // Every prefix of a real datafile, and a few corruptions, give an error or a config.
    for len in (0..base.len()).step_by(97) {
        let _ = crate::ProjectConfig::from_datafile(&base[..len]);
    }
    for bad in [
        &b"\xff\xfe{"[..],
        b"{\"version\": \"4\"",
        b"{}",
        b"null",
        b"[[[[[[[[",
    ] {
        assert!(crate::ProjectConfig::from_datafile(bad).is_err());
    }
}
