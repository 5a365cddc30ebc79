//! Loads the sample datafile and prints the decisions for a few users.
//!
//! Run with `cargo run --example quickstart`.

use decisive::{Attributes, Client, DecideOption, DecisionContext, ForcedDecision};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/datafiles/quickstart.json");
    let client = Client::from_path(path)?;
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
        for decision in user
            .decide_all(&[DecideOption::DisableDecisionEvent])
            .iter()
        {
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
    Ok(())
}
