//! The official event payloads of the compatibility fixtures checked against what the public
//! API exposes: every impression the Python SDK sent corresponds, in order, to a decision the
//! client returns (same flag, rule, variation and enabled), and every batch's header fields,
//! endpoint and bot-filtering attribute come from the public `ProjectConfig` accessors. (The
//! payloads themselves are rebuilt and compared byte for byte by the crate's unit tests in
//! `src/event/`.)

mod common;

use common::fixture_sets;
use decisive::replay::Case;
use decisive::{Client, DecideOption, Decision, Region};
use serde_json::Value;

/// The decisions a decide case makes, every flag included (ENABLED_FLAGS_ONLY only filters
/// what decide_all returns; impressions are sent for disabled flags too).
fn decisions(client: &Client, case: &Case) -> Vec<Decision> {
    let options: Vec<DecideOption> = case
        .options
        .iter()
        .map(|n| DecideOption::from_name(n).expect("known option"))
        .filter(|o| *o != DecideOption::EnabledFlagsOnly)
        .collect();
    let user = decisive::replay::user_context(client, case);
    match case.op.as_str() {
        "decide" => vec![user.decide(case.flag_key.as_deref().expect("flag key"), &options)],
        "decide_all" => {
            // One decision per flag listed: a key listed twice is decided (and sends its
            // impression) twice, as in the official SDKs.
            let all = user.decide_all(&options);
            let config = client.config().expect("config");
            config
                .flag_keys()
                .filter_map(|key| all.get(key).cloned())
                .collect()
        }
        _ => Vec::new(),
    }
}

fn impression_decision(body: &Value) -> Option<&Value> {
    body["visitors"][0]["snapshots"][0]["decisions"].get(0)
}

#[test]
fn every_official_impression_matches_a_public_decision_in_order() {
    let mut impressions = 0;
    let mut failures = Vec::new();
    for set in fixture_sets() {
        let name = set.file_name().unwrap().to_string_lossy().to_string();
        let client = Client::builder()
            .datafile_path(set.join("datafile.json"))
            .without_events()
            .build()
            .unwrap();
        let config = client.config().unwrap();
        let cases = std::fs::read_to_string(set.join("cases.jsonl")).unwrap();
        let expected = std::fs::read_to_string(set.join("expected.jsonl")).unwrap();
        for (line, want) in cases.lines().zip(expected.lines()) {
            let case = Case::parse(line).unwrap();
            if case.op == "track" {
                continue;
            }
            let want: Value = serde_json::from_str(want).unwrap();
            let sent: Vec<&Value> = want["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| impression_decision(&e["body"]))
                .collect();
            // An unknown flag key gives an error decision, which sends nothing.
            let decisions: Vec<Decision> = decisions(&client, &case)
                .into_iter()
                .filter(|d| config.flag_keys().any(|k| k == d.flag_key()))
                .collect();
            let disabled = case.options.iter().any(|o| o == "DISABLE_DECISION_EVENT");
            if disabled && !sent.is_empty() {
                failures.push(format!(
                    "{name} {}: impressions despite the option",
                    case.id
                ));
            }
            if !disabled && config.send_flag_decisions() && sent.len() != decisions.len() {
                failures.push(format!(
                    "{name} {}: sendFlagDecisions but {} impressions for {} decisions",
                    case.id,
                    sent.len(),
                    decisions.len()
                ));
            }
            // Each impression is the next decision of its flag, and agrees with it.
            let mut rest = decisions.iter();
            for imp in sent {
                impressions += 1;
                let meta = &imp["metadata"];
                let flag = meta["flag_key"].as_str().unwrap();
                let Some(d) = rest.by_ref().find(|d| d.flag_key() == flag) else {
                    failures.push(format!("{name} {}: no decision for {flag}", case.id));
                    break;
                };
                let agrees = meta["rule_key"] == d.rule_key().unwrap_or("")
                    && meta["variation_key"] == d.variation_key().unwrap_or("")
                    && meta["enabled"] == d.enabled()
                    && (imp["experiment_id"] == "") == d.rule_key().is_none();
                if !agrees {
                    failures.push(format!(
                        "{name} {}: impression {imp} vs decision {}",
                        case.id,
                        d.to_json()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    assert_eq!(impressions, 9396);
}

#[test]
fn every_official_batch_header_comes_from_the_public_config() {
    let mut batches = 0;
    for set in fixture_sets() {
        let client = Client::builder()
            .datafile_path(set.join("datafile.json"))
            .without_events()
            .build()
            .unwrap();
        let config = client.config().unwrap();
        let url = match config.region() {
            Region::Us => "https://logx.optimizely.com/v1/events",
            Region::Eu => "https://eu.logx.optimizely.com/v1/events",
        };
        let expected = std::fs::read_to_string(set.join("expected.jsonl")).unwrap();
        for want in expected.lines() {
            let want: Value = serde_json::from_str(want).unwrap();
            for event in want["events"].as_array().unwrap() {
                batches += 1;
                let body = &event["body"];
                assert_eq!(event["url"], url);
                assert_eq!(event["method"], "POST");
                assert_eq!(body["account_id"], config.account_id());
                assert_eq!(body["project_id"], config.project_id());
                assert_eq!(body["revision"], config.revision());
                assert_eq!(body["anonymize_ip"], config.anonymize_ip());
                assert_eq!(body["enrich_decisions"], true);
                assert_eq!(body["visitors"].as_array().map(Vec::len), Some(1));
                let attributes = body["visitors"][0]["attributes"].as_array().unwrap();
                let bot = attributes
                    .iter()
                    .filter(|a| a["key"] == "$opt_bot_filtering")
                    .map(|a| a["value"].as_bool())
                    .collect::<Vec<_>>();
                match config.bot_filtering() {
                    Some(b) => {
                        assert_eq!(bot, [Some(b)]);
                        assert_eq!(attributes.last().unwrap()["key"], "$opt_bot_filtering");
                    }
                    None => assert!(bot.is_empty()),
                }
            }
        }
    }
    assert_eq!(batches, 10_589);
}
