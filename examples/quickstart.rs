//! Loads the sample datafile, prints the decisions for a few users, tracks a conversion, and
//! writes the resulting event batches to a JSON-lines file instead of sending them (the
//! sample datafile's project is not a real one).
//!
//! Run with `cargo run --example quickstart`.

use decisive::{Attributes, Client, DecideOption, DecisionContext, FileDispatcher, ForcedDecision};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/datafiles/quickstart.json");
    let events_file = std::env::temp_dir().join("decisive-quickstart-events.jsonl");
    // Start each run with an empty file.
    std::fs::write(&events_file, "")?;
    // A real service leaves out `event_dispatcher`: events then go over HTTP to Optimizely.
    let client = Client::builder()
        .datafile_path(path)
        .event_dispatcher(FileDispatcher::new(&events_file)?)
        .build()?;
    let config = client.config().ok_or("the client has no config")?;
    println!("datafile revision {}", config.revision());

    let users: [(&str, &[(&str, &str)]); 4] = [
        (
            "alice",
            &[("country", "US"), ("app_version", "2.4.1"), ("plan", "pro")],
        ),
        ("bob", &[("country", "US"), ("app_version", "1.9.0")]),
        (
            "carol",
            &[
                ("country", "CA"),
                ("app_version", "3.0.0-beta"),
                ("plan", "free"),
            ],
        ),
        ("qa-tester", &[("country", "DE")]),
    ];

    for (user_id, attrs) in users {
        let attributes: Attributes = attrs.iter().map(|(k, v)| (*k, *v)).collect();
        let user = client.create_user_context(user_id, attributes);
        println!("\n{user_id}:");
        // Each decision queues an impression (sendFlagDecisions is on in this datafile).
        for decision in user.decide_all(&[]).iter() {
            println!(
                "  {:<18} enabled={:<5} variation={:<10} rule={:<28} variables={}",
                decision.flag_key(),
                decision.enabled(),
                decision.variation_key().unwrap_or("-"),
                decision.rule_key().unwrap_or("-"),
                decision.variables().to_json()
            );
        }
    }

    // A forced decision overrides bucketing for one user context.
    let mut user = client.create_user_context("bob", Attributes::new());
    user.set_forced_decision(
        DecisionContext::new("checkout_redesign", None),
        ForcedDecision::new("treatment"),
    );
    let decision = user.decide("checkout_redesign", &[DecideOption::IncludeReasons]);
    println!(
        "\nbob, forced: variation={:?} reasons={:?}",
        decision.variation_key(),
        decision.reasons()
    );

    // A conversion, with a revenue tag (in cents).
    let mut tags = serde_json::Map::new();
    tags.insert("revenue".into(), 4200.into());
    user.track_event("purchase", Some(&tags))?;

    // Deliver what is queued, then report what the event thread did.
    client.flush_events_blocking(Duration::from_secs(5));
    let stats = client.event_stats().ok_or("the client sends events")?;
    let batches = std::fs::read_to_string(&events_file)?.lines().count();
    println!(
        "\nevents: {} queued, {} dispatched in {batches} batches to {}",
        stats.queued,
        stats.dispatched,
        events_file.display()
    );
    client.close();
    Ok(())
}
