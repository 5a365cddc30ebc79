//! Event benchmarks on the shared workload, scenario (b): `decide("flag_05")` with the
//! impression going through the batch processor to a dispatcher that does nothing, and the
//! processor alone fed by two producer threads.
//!
//! Run with `cargo bench --bench events`.

mod workload;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use decisive::{BatchEventProcessor, Client, ProcessorOptions, UserContext};
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use workload::{datafile, purchase_event, queue_from_two_threads, users, Discard};

/// How many decides run between two flushes: below the default queue capacity (1000), so
/// the caller never outruns the queue and no event is dropped.
const CHUNK: u64 = 500;

/// How long a flush may take before the bench gives up on it.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `iters` decides in chunks of [`CHUNK`], flushing after each chunk; returns the time
/// spent in the decides alone and the time including the flushes.
fn decide_in_chunks(
    client: &Client,
    users: &[UserContext],
    next: &mut usize,
    iters: u64,
) -> (Duration, Duration) {
    let mut deciding = Duration::ZERO;
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let t = Instant::now();
        for _ in 0..n {
            let user = &users[*next % users.len()];
            *next += 1;
            black_box(user.decide(black_box("flag_05"), &[]));
        }
        deciding += t.elapsed();
        assert!(
            client.flush_events_blocking(FLUSH_TIMEOUT),
            "flush timed out"
        );
        left -= n;
    }
    (deciding, start.elapsed())
}

fn scenario_b(c: &mut Criterion) {
    let discard = Discard::default();
    let client = Client::builder()
        .datafile(datafile())
        .event_dispatcher(discard.clone())
        .build()
        .expect("client");
    let users = users(&client);

    let mut group = c.benchmark_group("events");
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    // (b) the caller's cost: the decides only (the flushes between chunks are not timed).
    group.bench_function("b_decide_with_event_caller", |b| {
        b.iter_custom(|iters| decide_in_chunks(&client, &users, &mut next, iters).0)
    });
    // (b) until every event has reached the dispatcher: decides and flushes.
    group.bench_function("b_decide_with_event_to_dispatcher", |b| {
        b.iter_custom(|iters| decide_in_chunks(&client, &users, &mut next, iters).1)
    });
    group.finish();
    let stats = client.event_stats().expect("events on");
    assert_eq!(stats.dropped, 0, "no event may be dropped");
    assert_eq!(stats.dispatched, discard.events.load(Ordering::Relaxed));
    assert_eq!(stats.dispatched, stats.queued);
}

fn processor_two_producers(c: &mut Criterion) {
    let event = purchase_event();
    let discard = Discard::default();
    let processor =
        BatchEventProcessor::new(discard.clone(), ProcessorOptions::default()).expect("processor");

    let mut group = c.benchmark_group("events");
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(2 * CHUNK));
    // Two threads each queue CHUNK events (built beforehand), then wait until all of them have
    // reached the dispatcher: events per second the processor sustains.
    group.bench_function("processor_2_producers_to_dispatcher", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += queue_from_two_threads(&processor, &event, CHUNK, FLUSH_TIMEOUT);
            }
            total
        })
    });
    group.finish();
    let stats = processor.stats();
    assert_eq!(stats.dropped, 0, "no event may be dropped");
    assert_eq!(stats.dispatched, discard.events.load(Ordering::Relaxed));
}

fn track_event_two_threads(c: &mut Criterion) {
    let discard = Discard::default();
    let client = Client::builder()
        .datafile(datafile())
        .event_dispatcher(discard.clone())
        .build()
        .expect("client");
    let users = users(&client);
    let (left, right) = users.split_at(users.len() / 2);

    let mut group = c.benchmark_group("events");
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(2 * CHUNK));
    // Two threads each track CHUNK conversions, then wait until all of them have reached the
    // dispatcher: events per second through the whole pipeline, from two callers.
    let mut next = 0usize;
    group.bench_function("track_event_2_threads_to_dispatcher", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::thread::scope(|s| {
                    for half in [left, right] {
                        let first = next;
                        s.spawn(move || {
                            for i in 0..CHUNK as usize {
                                let user = &half[(first + i) % half.len()];
                                let _ = black_box(user.track_event("purchase", None));
                            }
                        });
                    }
                });
                next += CHUNK as usize;
                assert!(
                    client.flush_events_blocking(FLUSH_TIMEOUT),
                    "flush timed out"
                );
            }
            start.elapsed()
        })
    });
    group.finish();
    let stats = client.event_stats().expect("events on");
    assert_eq!(stats.dropped, 0, "no event may be dropped");
    assert_eq!(stats.dispatched, discard.events.load(Ordering::Relaxed));
}

criterion_group!(
    benches,
    scenario_b,
    processor_two_producers,
    track_event_two_threads
);
criterion_main!(benches);
