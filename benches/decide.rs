//! Decision benchmarks on the shared workload (datafiles/bench_datafile.json, 50 flags, and
//! benches/data/bench_users.json, 10,000 users). User contexts are created before timing and
//! each iteration decides for the next user in turn.
//!
//! Run with `cargo bench --bench decide`.

mod workload;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use decisive::{Client, DecideOption};
use std::hint::black_box;
use std::time::Duration;
use workload::{datafile, users};

fn decide(c: &mut Criterion) {
    let client = Client::builder()
        .datafile(datafile())
        .without_events()
        .build()
        .expect("client");
    let users = users(&client);
    let flags = client.config().expect("config").flag_keys().count() as u64;

    let mut group = c.benchmark_group("decide");
    group.measurement_time(Duration::from_secs(5));

    // (a) one flag, no event.
    // The system clock read an impression takes for its timestamp (scenario (b) pays it on
    // top of (a)).
    group.bench_function("calibration_clock_read", |b| {
        b.iter(|| black_box(std::time::SystemTime::now()))
    });
    let mut i = 0usize;
    group.throughput(Throughput::Elements(1));
    group.bench_function("a_one_flag", |b| {
        b.iter(|| {
            let user = &users[i % users.len()];
            i += 1;
            black_box(user.decide(black_box("flag_05"), &[DecideOption::DisableDecisionEvent]))
        })
    });

    // (c) every flag, no event; throughput counts flags.
    let mut i = 0usize;
    group.throughput(Throughput::Elements(flags));
    group.bench_function("c_decide_all", |b| {
        b.iter(|| {
            let user = &users[i % users.len()];
            i += 1;
            black_box(user.decide_all(&[DecideOption::DisableDecisionEvent]))
        })
    });
    group.bench_function("bucketing_hash_26_byte_key", |b| {
        b.iter(|| {
            black_box(decisive::bucket_value(
                black_box("user-00001-13f7639b"),
                black_box("1000104"),
            ))
        })
    });
    // Calibration: the reference operations whose cost on the machine the peers were measured
    // on is given in the workload's README (murmur3 crate 37 ns, HashMap<String, _> lookup
    // 23 ns), to relate this run's figures to those.
    let map: std::collections::HashMap<String, u32> =
        (0..50).map(|i| (format!("flag_{i:02}"), i)).collect();
    group.bench_function("calibration_hashmap_string_lookup", |b| {
        b.iter(|| black_box(map.get(black_box("flag_05"))))
    });
    group.bench_function("calibration_murmur3_crate_26_byte_key", |b| {
        b.iter(|| {
            let key = black_box("user-00001-13f7639b1000104");
            black_box(murmur3::murmur3_32(&mut std::io::Cursor::new(key.as_bytes()), 1).unwrap())
        })
    });
    let mut i = 0usize;
    group.throughput(Throughput::Elements(1));
    // (a) with the same 16 users over and over: the cost once the users' data is in cache.
    group.bench_function("a_one_flag_16_users_warm", |b| {
        b.iter(|| {
            let user = &users[i % 16];
            i += 1;
            black_box(user.decide(black_box("flag_05"), &[DecideOption::DisableDecisionEvent]))
        })
    });
    group.finish();
}

fn init(c: &mut Criterion) {
    let bytes = datafile();
    let mut group = c.benchmark_group("init");
    group.measurement_time(Duration::from_secs(5));
    // The whole client: the config, and the event thread started.
    group.bench_function("client_from_333kb_datafile", |b| {
        b.iter_batched(
            || bytes.clone(),
            |d| black_box(Client::from_datafile(d).expect("client")),
            BatchSize::SmallInput,
        )
    });
    // The config alone (a client without events).
    group.bench_function("client_without_events_from_333kb_datafile", |b| {
        b.iter_batched(
            || bytes.clone(),
            |d| {
                black_box(
                    Client::builder()
                        .datafile(d)
                        .without_events()
                        .build()
                        .expect("client"),
                )
            },
            BatchSize::SmallInput,
        )
    });
    // Calibration: what starting a thread costs the thread that starts it on this machine
    // (the client with events starts its event thread; each started thread here ends on its
    // own once the batch is over).
    group.bench_function("calibration_thread_start", |b| {
        b.iter_batched(|| (), |()| std::thread::spawn(|| ()), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, decide, init);
criterion_main!(benches);
