//! The shared benchmark workload: the 333 KB datafile and the 10,000 users of
//! `benches/data/bench_users.json`, as user contexts of a client.

use decisive::{Attributes, Client, UserContext};
use serde::Deserialize;

#[derive(Deserialize)]
struct BenchUser {
    id: String,
    attributes: Attributes,
}

/// The bench datafile's bytes.
pub fn datafile() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datafiles/bench_datafile.json"
    ))
    .expect("bench datafile")
}

/// A user context of `client` for each bench user, in file order.
pub fn users(client: &Client) -> Vec<UserContext> {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/bench_users.json"
    ))
    .expect("bench users");
    let users: Vec<BenchUser> = serde_json::from_slice(&text).expect("bench users parse");
    users
        .into_iter()
        .map(|u| client.create_user_context(u.id, u.attributes))
        .collect()
}
