//! A decide allocates nothing beyond what the returned decision holds: counted with a global
//! allocator that tallies allocations made by the test's own thread.

use decisive::{
    Attributes, Client, ClientBuilder, DecideOption, ProcessorOptions, RecordingDispatcher,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Allocations of at least [`LARGE`] bytes.
    static LARGE_ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// What counts as a large allocation: the size of a copy of the bench datafile's text.
const LARGE: usize = 300_000;

fn count(size: usize) {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    if size >= LARGE {
        let _ = LARGE_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[derive(serde::Deserialize)]
struct BenchUser {
    id: String,
    attributes: Attributes,
}

fn setup() -> (Client, Vec<decisive::UserContext>) {
    setup_with(|b| b.without_events())
}

fn setup_with(
    events: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (Client, Vec<decisive::UserContext>) {
    let root = env!("CARGO_MANIFEST_DIR");
    let client =
        events(Client::builder().datafile_path(format!("{root}/datafiles/bench_datafile.json")))
            .build()
            .unwrap();
    let users: Vec<BenchUser> = serde_json::from_slice(
        &std::fs::read(format!("{root}/benches/data/bench_users.json")).unwrap(),
    )
    .unwrap();
    let contexts = users
        .into_iter()
        .take(500)
        .map(|u| client.create_user_context(u.id, u.attributes))
        .collect();
    (client, contexts)
}

#[test]
fn deciding_one_flag_allocates_nothing() {
    let (_client, users) = setup();
    let mut enabled = 0;
    let n = allocations_during(|| {
        for user in &users {
            for flag in ["flag_05", "flag_48", "flag_49"] {
                let d = user.decide(flag, &[DecideOption::DisableDecisionEvent]);
                enabled += usize::from(d.enabled());
            }
        }
    });
    assert_eq!(n, 0, "allocations in {} decides", users.len() * 3);
    assert!(enabled > 0);
}

#[test]
fn deciding_with_events_allocates_nothing_on_the_callers_thread() {
    let recording = RecordingDispatcher::new();
    let mut options = ProcessorOptions::default();
    options.queue_capacity = 10_000;
    let (client, users) = setup_with(|b| {
        b.event_dispatcher(recording.clone())
            .event_processor_options(options)
    });
    let n = allocations_during(|| {
        for user in &users {
            for flag in ["flag_05", "flag_48", "flag_49"] {
                std::hint::black_box(user.decide(flag, &[]));
            }
        }
    });
    assert_eq!(
        n,
        0,
        "allocations in {} decides with events",
        users.len() * 3
    );
    assert!(client.flush_events_blocking(std::time::Duration::from_secs(30)));
    let stats = client.event_stats().unwrap();
    assert!(stats.queued >= users.len() as u64, "{stats:?}");
    assert_eq!((stats.dispatched, stats.dropped), (stats.queued, 0));
    let sent: usize = recording.take_events().iter().map(|e| e.event_count).sum();
    assert_eq!(sent as u64, stats.queued);
}

#[test]
fn deciding_every_flag_allocates_only_the_returned_list() {
    let (client, users) = setup();
    let flags = client.config().unwrap().flag_keys().count();
    let mut decided = 0;
    let n = allocations_during(|| {
        for user in &users {
            decided += user.decide_all(&[DecideOption::DisableDecisionEvent]).len();
        }
    });
    assert_eq!(decided, users.len() * flags);
    assert_eq!(n, users.len(), "one allocation (the list) per decide_all");
}

#[test]
fn reasons_are_allocated_only_when_asked_for() {
    let (_client, users) = setup();
    let user = &users[0];
    let n = allocations_during(|| {
        let d = user.decide("flag_05", &[DecideOption::IncludeReasons]);
        assert!(!d.reasons().is_empty());
    });
    assert!(n > 0);
}

/// Loading the 333 KB bench datafile: the count README gives (run with `--nocapture` to see
/// it), bounded so that a change that adds allocations per entity is noticed.
#[test]
fn loading_the_bench_datafile_allocates_about_one_hundred_sixty_times() {
    let root = env!("CARGO_MANIFEST_DIR");
    let bytes = std::fs::read(format!("{root}/datafiles/bench_datafile.json")).unwrap();
    let mut client = None;
    let count = allocations_during(|| {
        client = Some(
            Client::builder()
                .datafile(&bytes)
                .without_events()
                .build()
                .unwrap(),
        );
    });
    println!("building a client from the bench datafile: {count} allocations");
    assert!(client.is_some());
    assert!((140..190).contains(&count), "{count} allocations");
}

fn large_allocations_during(f: impl FnOnce()) -> usize {
    let before = LARGE_ALLOCATIONS.with(Cell::get);
    f();
    LARGE_ALLOCATIONS.with(Cell::get) - before
}

/// An owned datafile buffer becomes the config's text as it is; a borrowed one is copied once.
#[test]
fn an_owned_datafile_is_not_copied_and_a_borrowed_one_is_copied_once() {
    let root = env!("CARGO_MANIFEST_DIR");
    let bytes = std::fs::read(format!("{root}/datafiles/bench_datafile.json")).unwrap();
    assert!(bytes.len() >= LARGE);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let build = |b: ClientBuilder| b.without_events().build().unwrap();

    let owned = bytes.clone();
    assert_eq!(
        large_allocations_during(|| drop(build(Client::builder().datafile(owned)))),
        0
    );
    let owned = text.clone();
    assert_eq!(
        large_allocations_during(|| drop(build(Client::builder().datafile(owned)))),
        0
    );
    let owned = bytes.clone();
    assert_eq!(
        large_allocations_during(|| drop(Client::from_datafile(owned).unwrap())),
        0
    );
    let owned = text.clone();
    assert_eq!(
        large_allocations_during(|| drop(decisive::ProjectConfig::from_datafile(owned).unwrap())),
        0
    );

    assert_eq!(
        large_allocations_during(|| drop(build(Client::builder().datafile(&bytes)))),
        1
    );
    assert_eq!(
        large_allocations_during(|| drop(build(Client::builder().datafile(text.as_str())))),
        1
    );
    assert_eq!(
        large_allocations_during(|| drop(Client::from_datafile(&text).unwrap())),
        1
    );
}
