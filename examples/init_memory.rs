//! Resident memory after init, the second figure of the workload's init scenario: the
//! process's resident set before and after building a client from the 333 KB bench datafile,
//! read from Linux's `/proc/self/status` (other systems print what they cannot read), in all
//! and split into anonymous memory (the heap, the stacks) and pages mapped from files (the
//! program's code and constants, mapped in as they are first used); and how long the build
//! took, the first of the process.
//!
//! ```text
//! cargo run --release --example init_memory [-- --without-events]
//! ```

#[path = "../benches/workload/mod.rs"]
mod workload;

use decisive::Client;

/// A `/proc/self/status` field in KiB (`VmRSS`: resident now; `VmHWM`: the peak).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process's minor page faults so far (`/proc/self/stat`, its tenth field): pages
/// mapped in on first touch.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// The resident set in KiB: in all, anonymous, and mapped from files.
struct Resident {
    total: Option<u64>,
    anon: Option<u64>,
    file: Option<u64>,
}

impl Resident {
    fn now() -> Resident {
        Resident {
            total: status_kib("VmRSS"),
            anon: status_kib("RssAnon"),
            file: status_kib("RssFile"),
        }
    }
}

/// How much `after` is over `before`.
fn added(after: Option<u64>, before: Option<u64>) -> Option<u64> {
    after.zip(before).map(|(a, b)| a.saturating_sub(b))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let without_events = std::env::args().any(|a| a == "--without-events");
    // Read before the first figure: the text becomes the config's own, without a copy.
    let datafile = workload::datafile();
    let before = Resident::now();
    let builder = Client::builder().datafile(datafile);
    let builder = if without_events {
        builder.without_events()
    } else {
        builder
    };
    let faults_before = minor_faults();
    let started = std::time::Instant::now();
    let client = builder.build()?;
    let took = started.elapsed();
    let faults = minor_faults()
        .zip(faults_before)
        .map(|(a, b)| a.saturating_sub(b));
    let after = Resident::now();
    let peak = status_kib("VmHWM");
    println!(
        "client built from the bench datafile{}: resident {} (peak {}); {} before the build, \
         which held the datafile's text already; the build added {}",
        if without_events {
            " without events"
        } else {
            ""
        },
        mib(after.total),
        mib(peak),
        mib(before.total),
        mib(added(after.total, before.total)),
    );
    // Anonymous memory (the heap, the stacks) against pages mapped from files (the program's
    // code and constants, mapped in as it first runs them).
    println!(
        "of which anonymous memory {} (added {}) and pages of files {} (added {})",
        mib(after.anon),
        mib(added(after.anon, before.anon)),
        mib(after.file),
        mib(added(after.file, before.file)),
    );
    // The first build of a process: its heap and the code it runs are not yet mapped, which
    // the bench's repeated builds do not show.
    println!(
        "the build took {} µs (the first in this process), with {} page faults",
        took.as_micros(),
        faults.map_or_else(|| "n/a".to_owned(), |f| f.to_string())
    );
    drop(client);
    Ok(())
}
