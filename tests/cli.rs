#![cfg(feature = "cli")]
//! The `decisive` command-line tool, run as a process: its output, its exit codes and its
//! error messages.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat")
}

fn datafile(set: &str) -> PathBuf {
    fixtures().join(set).join("datafile.json")
}

fn decisive(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decisive"))
        .args(args)
        .output()
        .expect("run decisive")
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Runs `decide` and returns its parsed output, checking that it succeeded.
fn decide(args: &[&str]) -> Value {
    let mut all = vec!["decide"];
    all.extend_from_slice(args);
    let output = decisive(&all);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("decide prints one JSON object")
}

/// A file under the temp dir, unique to this process and test, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("decisive-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    /// A path for a file the tool creates (nothing is written now).
    fn reserved(name: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("decisive-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn replay_prints_exactly_the_expected_file_for_every_fixture_set() {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("cases.jsonl").is_file())
        .collect();
    sets.sort();
    assert_eq!(sets.len(), 19, "expected the 19 fixture sets");
    let mut checked = 0;
    for set in &sets {
        let name = set.file_name().unwrap().to_string_lossy().to_string();
        let output = decisive(&[
            "replay",
            "--datafile",
            path_arg(&set.join("datafile.json")),
            "--cases",
            path_arg(&set.join("cases.jsonl")),
        ]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{name}");
        let got = stdout(&output);
        let expected = std::fs::read_to_string(set.join("expected.jsonl")).unwrap();
        assert_eq!(
            got.lines().count(),
            expected.lines().count(),
            "{name}: line counts"
        );
        // Byte for byte: decisions, events and layout, so `diff` can compare them.
        for (got, want) in got.lines().zip(expected.lines()) {
            assert_eq!(got, want, "{name}");
            checked += 1;
        }
    }
    assert_eq!(checked, 8984);
}

#[test]
fn replay_lines_are_json_laid_out_as_python_writes_it() {
    let cases = TempFile::new(
        "compact.jsonl",
        r#"{"id": "a", "user_id": "user20", "attributes": {"age": 23}, "op": "decide", "flag_key": "flag_1"}"#,
    );
    let output = decisive(&[
        "replay",
        "--datafile",
        path_arg(&datafile("js_example")),
        "--cases",
        path_arg(&cases.0),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Keys sorted, ", " and ": " separators, as Python's json.dumps(sort_keys=True).
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(concat!(
            r#"{"decisions": {"flag_1": {"enabled": true, "rule_key": "exp_2", "#,
            r#""variables": {"integer_variable": 2}, "variation_key": "variation_2"}}, "#
        )),
        "{text}"
    );
    assert!(text.ends_with(", \"id\": \"a\"}\n"), "{text}");
}

/// The `id` of each line of a replay's output.
fn ids(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line")["id"].clone())
        .collect()
}

#[test]
fn replay_writes_to_the_output_file_when_asked() {
    let set = fixtures().join("mb_sandbox");
    let (datafile, cases) = (set.join("datafile.json"), set.join("cases.jsonl"));
    let out = TempFile::reserved("replay-output.jsonl");
    let args = [
        "replay",
        "--datafile",
        path_arg(&datafile),
        "--cases",
        path_arg(&cases),
    ];
    let to_stdout = decisive(&args);
    let mut with_output = args.to_vec();
    with_output.extend(["--output", path_arg(&out.0)]);
    let to_file = decisive(&with_output);
    assert_eq!(to_file.status.code(), Some(0), "{}", stderr(&to_file));
    assert_eq!(stdout(&to_file), "");
    let written = std::fs::read_to_string(&out.0).expect("output file");
    assert_eq!(written.lines().count(), 400);
    assert_eq!(written, stdout(&to_stdout));
}

#[test]
fn replay_skips_blank_lines() {
    let cases = TempFile::new(
        "blank.jsonl",
        "\n{\"id\": 1, \"user_id\": \"u\", \"op\": \"track\"}\n   \n\n{\"id\": 2, \"user_id\": \"u\", \"op\": \"track\"}\n\n",
    );
    let output = decisive(&[
        "replay",
        "--datafile",
        path_arg(&datafile("js_example")),
        "--cases",
        path_arg(&cases.0),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(ids(&output), [json!(1), json!(2)]);
}

#[test]
fn malformed_case_line_names_its_line_number() {
    let cases = TempFile::new(
        "malformed.jsonl",
        "{\"id\": 1, \"user_id\": \"u\", \"op\": \"track\"}\n\n{\"id\": 3, \"op\": \n{\"id\": 4, \"user_id\": \"u\", \"op\": \"track\"}\n",
    );
    let output = decisive(&[
        "replay",
        "--datafile",
        path_arg(&datafile("js_example")),
        "--cases",
        path_arg(&cases.0),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(ids(&output), [json!(1)], "the lines before it are printed");
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("line 3:"), "{err}");
    assert!(err.contains("not a case"), "{err}");
}

#[test]
fn case_with_an_unknown_option_names_its_line_number() {
    let cases = TempFile::new(
        "unknown-option.jsonl",
        "{\"id\": 1, \"user_id\": \"u\", \"op\": \"decide_all\", \"options\": [\"NOPE\"]}\n",
    );
    let output = decisive(&[
        "replay",
        "--datafile",
        path_arg(&datafile("js_example")),
        "--cases",
        path_arg(&cases.0),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(err.contains("line 1:"), "{err}");
    assert!(err.contains("\"NOPE\""), "{err}");
}

#[test]
fn missing_cases_file_exits_with_an_error() {
    let missing = std::env::temp_dir().join(format!(
        "decisive-cli-{}-no-such-cases.jsonl",
        std::process::id()
    ));
    let output = decisive(&[
        "replay",
        "--datafile",
        path_arg(&datafile("js_example")),
        "--cases",
        path_arg(&missing),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("no-such-cases.jsonl"), "{err}");
}

#[test]
fn decide_prints_decisions_for_the_requested_flags() {
    // mb_sandbox case 1-54: user22 on checkout, logged in.
    let out = decide(&[
        "--datafile",
        path_arg(&datafile("mb_sandbox")),
        "--user",
        "user22",
        "--attr",
        "currentPath=checkout",
        "--attr",
        "isLoggedIn=true",
        "--flag",
        "targeted_delivery",
        "--flag",
        "a_b_test",
    ]);
    assert_eq!(
        out,
        json!({
            "user_id": "user22",
            "decisions": {
                "targeted_delivery": {
                    "variation_key": "variation_for_audience_on_checkout",
                    "enabled": true,
                    "rule_key": "targeted_delivery_on_checkout",
                    "variables": {},
                    "reasons": [],
                },
                "a_b_test": {
                    "variation_key": "variation_2",
                    "enabled": true,
                    "rule_key": "a_b_test_rule",
                    "variables": {},
                    "reasons": [],
                },
            }
        })
    );
}

#[test]
fn decide_lists_flags_in_the_order_asked_for_once_each() {
    let output = decisive(&[
        "decide",
        "--datafile",
        path_arg(&datafile("mb_sandbox")),
        "--user",
        "user22",
        "--flag",
        "targeted_delivery",
        "--flag",
        "a_b_test",
        "--flag",
        "targeted_delivery",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let first = text
        .find("\"targeted_delivery\"")
        .expect("targeted_delivery");
    let second = text.find("\"a_b_test\"").expect("a_b_test");
    assert!(first < second, "{text}");
    assert_eq!(text.matches("\"targeted_delivery\"").count(), 1, "{text}");
}

#[test]
fn decide_without_flags_decides_every_flag() {
    // js_example case 1-82: user20, age 23.
    let out = decide(&[
        "--datafile",
        path_arg(&datafile("js_example")),
        "--user",
        "user20",
        "--attr",
        "age=23",
    ]);
    assert_eq!(
        out["decisions"],
        json!({
            "flag_1": {"variation_key": "variation_2", "enabled": true, "rule_key": "exp_2",
                       "variables": {"integer_variable": 2}, "reasons": []},
            "flag_2": {"variation_key": "variation_flag_2", "enabled": true, "rule_key": "exp_4",
                       "variables": {}, "reasons": []},
        })
    );
}

/// The `targeted_delivery` rule chosen for user `u1` with one attribute.
fn targeted_delivery_rule(attr: &str) -> Value {
    let out = decide(&[
        "--datafile",
        path_arg(&datafile("mb_sandbox")),
        "--user",
        "u1",
        "--attr",
        attr,
        "--flag",
        "targeted_delivery",
    ]);
    out["decisions"]["targeted_delivery"]["rule_key"].clone()
}

#[test]
fn attr_values_are_typed_like_json_scalars() {
    // js_example: `age <= 60` matches the number 23 only, not the string "23".
    let js = datafile("js_example");
    let args = |attr| {
        [
            "--datafile",
            path_arg(&js),
            "--user",
            "user20",
            "--attr",
            attr,
        ]
    };
    let number = decide(&args("age=23"));
    assert_eq!(number["decisions"]["flag_1"]["rule_key"], "exp_2");
    assert_eq!(
        number["decisions"]["flag_1"]["variation_key"],
        "variation_2"
    );
    let string = decide(&args(r#"age="23""#));
    assert_eq!(
        string["decisions"]["flag_1"]["rule_key"],
        "default-rollout-key"
    );
    assert_eq!(
        string["decisions"]["flag_1"]["variation_key"],
        "variation_7"
    );
    assert_eq!(
        string["decisions"]["flag_1"]["variables"],
        json!({"integer_variable": 7})
    );

    // mb_sandbox targeted_delivery: `isLoggedIn exact false`, `numberOfProductsInCart gt 1`,
    // `appVersion semver_ge "1.0.0"`.
    let fallback = "default-rollout-503562-911768386522787";
    assert_eq!(
        targeted_delivery_rule("isLoggedIn=false"),
        "targeted_delivery_logged_out"
    );
    assert_eq!(targeted_delivery_rule(r#"isLoggedIn="false""#), fallback);
    let more_than_one = "targeted_delivery_more_than_1_product_in_cart";
    assert_eq!(
        targeted_delivery_rule("numberOfProductsInCart=2"),
        more_than_one
    );
    assert_eq!(
        targeted_delivery_rule(r#"numberOfProductsInCart="2""#),
        fallback
    );
    let version = "targeted_delivery_version_1_0_and_up";
    // Not a JSON scalar: the plain string "2.4.1".
    assert_eq!(targeted_delivery_rule("appVersion=2.4.1"), version);
    assert_eq!(targeted_delivery_rule(r#"appVersion="2""#), version);
    // The number 2 is not a version.
    assert_eq!(targeted_delivery_rule("appVersion=2"), fallback);
}

#[test]
fn options_change_the_decisions() {
    let mb = datafile("mb_sandbox");
    let base = ["--datafile", path_arg(&mb), "--user", "user22"];
    let all = decide(&base);
    let keys = |v: &Value| {
        v["decisions"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&all),
        ["a_b_test", "feature_rollout", "targeted_delivery"]
    );
    assert_eq!(all["decisions"]["a_b_test"]["reasons"], json!([]));

    let mut enabled_only = base.to_vec();
    enabled_only.extend(["--option", "ENABLED_FLAGS_ONLY"]);
    let enabled_only = decide(&enabled_only);
    assert_eq!(keys(&enabled_only), ["a_b_test"]);

    let mut reasons = base.to_vec();
    reasons.extend(["--option", "INCLUDE_REASONS", "--flag", "a_b_test"]);
    let reasons = decide(&reasons);
    let list = reasons["decisions"]["a_b_test"]["reasons"]
        .as_array()
        .unwrap();
    assert!(!list.is_empty(), "INCLUDE_REASONS gives reasons");

    let js = datafile("js_example");
    let excluded = decide(&[
        "--datafile",
        path_arg(&js),
        "--user",
        "user20",
        "--attr",
        "age=23",
        "--flag",
        "flag_1",
        "--option",
        "EXCLUDE_VARIABLES",
    ]);
    assert_eq!(excluded["decisions"]["flag_1"]["variables"], json!({}));
    assert_eq!(
        excluded["decisions"]["flag_1"]["variation_key"],
        "variation_2"
    );
}

#[test]
fn unknown_flag_gets_a_disabled_decision_with_a_reason() {
    let out = decide(&[
        "--datafile",
        path_arg(&datafile("js_example")),
        "--user",
        "u",
        "--flag",
        "no_such_flag",
    ]);
    let d = &out["decisions"]["no_such_flag"];
    assert_eq!(d["enabled"], false);
    assert_eq!(d["variation_key"], Value::Null);
    assert_eq!(d["rule_key"], Value::Null);
    assert_eq!(d["variables"], json!({}));
    assert_eq!(d["reasons"].as_array().map(Vec::len), Some(1));
}

#[test]
fn unknown_option_is_a_usage_error() {
    let output = decisive(&[
        "decide",
        "--datafile",
        path_arg(&datafile("js_example")),
        "--user",
        "u",
        "--option",
        "INCLUDE_REASON",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("INCLUDE_REASON"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn attr_without_an_equals_sign_is_a_usage_error() {
    let output = decisive(&[
        "decide",
        "--datafile",
        path_arg(&datafile("js_example")),
        "--user",
        "u",
        "--attr",
        "country",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("country"), "{}", stderr(&output));
}

#[test]
fn unsupported_datafile_version_exits_with_an_error() {
    let path = fixtures().join("invalid/unsupported_version.json");
    for args in [
        vec!["decide", "--datafile", path_arg(&path), "--user", "u"],
        vec![
            "replay",
            "--datafile",
            path_arg(&path),
            "--cases",
            path_arg(&path),
        ],
    ] {
        let output = decisive(&args);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stdout(&output), "");
        let err = stderr(&output);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains("version \"5\""), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn invalid_json_datafile_exits_with_an_error() {
    let path = fixtures().join("invalid/truncated.json");
    let output = decisive(&["decide", "--datafile", path_arg(&path), "--user", "u"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn missing_datafile_exits_with_an_error() {
    let missing = std::env::temp_dir().join(format!(
        "decisive-cli-{}-no-such-datafile.json",
        std::process::id()
    ));
    let output = decisive(&["decide", "--datafile", path_arg(&missing), "--user", "u"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("no-such-datafile.json"), "{err}");
}
