//! A client shared by threads: decisions never fail and never mix two configs while the
//! datafile is swapped underneath them.

use decisive::{Attributes, Client};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A one-flag datafile whose single delivery rule serves `variation` to everyone.
fn datafile(revision: u32, variation: &str) -> String {
    json!({
        "version": "4", "revision": revision.to_string(), "accountId": "1", "projectId": "2",
        "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": [],
        "featureFlags": [{"id": "1", "key": "f", "rolloutId": "2", "experimentIds": [],
            "variables": [{"id": "9", "key": "v", "type": "string", "defaultValue": "none"}]}],
        "rollouts": [{"id": "2", "experiments": [{"id": "3", "key": format!("rule_{variation}"),
            "layerId": "4", "status": "Running", "audienceIds": [], "forcedVariations": {},
            "variations": [{"id": "5", "key": variation, "featureEnabled": true,
                            "variables": [{"id": "9", "value": variation}]}],
            "trafficAllocation": [{"entityId": "5", "endOfRange": 10000}]}]}]
    })
    .to_string()
}

#[test]
fn four_threads_deciding_through_100_config_swaps_see_whole_configs() {
    let client = Client::builder()
        .datafile(datafile(0, "red"))
        .without_events()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let client = client.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let user = client.create_user_context(format!("user-{t}"), Attributes::new());
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let d = user.decide("f", &[]);
                    let variation = d.variation_key().unwrap_or("none");
                    // Variation, rule and variable always come from the same config.
                    assert!(d.enabled(), "{:?}", d.reasons());
                    assert_eq!(d.rule_key(), Some(format!("rule_{variation}").as_str()));
                    assert_eq!(
                        d.variables().get("v").and_then(|v| v.as_str()),
                        Some(variation)
                    );
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for revision in 1..=100 {
        let variation = if revision % 2 == 0 { "red" } else { "blue" };
        assert!(client
            .update_datafile(datafile(revision, variation))
            .unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let decided: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(decided > 0);
    assert_eq!(client.config().unwrap().revision(), "100");
    let user = client.create_user_context("after", Attributes::new());
    assert_eq!(user.decide("f", &[]).variation_key(), Some("red"));
}
