//! Costs of the event path on the bench workload, one scenario per run, for timing and for
//! instruction counts per thread (`valgrind --tool=callgrind --separate-threads=yes`; the
//! difference between two runs of different lengths is the cost per event).
//!
//! ```text
//! cargo run --release --example event_costs -- <scenario> [events]
//! ```
//!
//! Scenarios:
//! - `decide`: `decide("flag_05")` with its impression queued, in chunks of 500 decides each
//!   followed by `flush_events_blocking` (as `benches/events.rs`, scenario b);
//! - `decide-no-events`: the same decides on a client without events;
//! - `decide-all`: `decide_all()` with its impressions queued (one per flag the datafile sends
//!   events for), a flush after each user (the count is of users);
//! - `decide-then-flush`: the same with batches and queue of 1000, so the event thread is not
//!   woken during a chunk and each flush times the event thread's work for 500 events alone;
//! - `flush`: `flush_events_blocking` with nothing queued (one round trip to the event thread);
//! - `processor`: two producer threads each queueing 500 built conversions, then a flush (as
//!   the processor bench, which builds them beforehand and queues clones);
//! - `processor-made`: the same, each producer making its conversions as it queues them
//!   (`UserEvent::conversion`).

#[path = "../benches/workload/mod.rs"]
mod workload;

use decisive::{BatchEventProcessor, Client, ProcessorOptions};
use std::hint::black_box;
use std::time::{Duration, Instant};
use workload::{
    datafile, purchase, purchase_attributes, purchase_event, queue_from_two_threads, users, Discard,
};

/// Decides between two flushes.
const CHUNK: u64 = 500;

/// How long a flush may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// On-CPU time of a thread of this process so far (Linux `schedstat`), in nanoseconds: time
/// spent waiting for a CPU is left out, so figures stay comparable on a busy machine.
fn cpu_ns(task: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/self/task/{task}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The task id of this process's thread named `name` (a new thread names itself once it
/// runs: waits up to a second for it).
fn task_named(name: &str) -> Option<String> {
    let find = || {
        std::fs::read_dir("/proc/self/task")
            .ok()?
            .find_map(|entry| {
                let id = entry.ok()?.file_name().into_string().ok()?;
                let comm = std::fs::read_to_string(format!("/proc/self/task/{id}/comm")).ok()?;
                (comm.trim_end() == name).then_some(id)
            })
    };
    (0..1000).find_map(|_| {
        find().or_else(|| {
            std::thread::sleep(Duration::from_millis(1));
            None
        })
    })
}

/// On-CPU time of the calling thread so far, in nanoseconds: after a yield, so that the
/// kernel has brought the figure up to date.
fn own_cpu_ns(task: &str) -> u64 {
    std::thread::yield_now();
    cpu_ns(task).unwrap_or(0)
}

/// The task id of the calling thread.
fn this_task() -> Option<String> {
    std::fs::read_link("/proc/thread-self")
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_owned)
}

fn per(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n.max(1) as f64
}

fn decide(scenario: &str, n: u64) {
    let mut builder = Client::builder().datafile(datafile());
    builder = match scenario {
        "decide-no-events" => builder.without_events(),
        "decide-then-flush" => {
            let mut options = ProcessorOptions::default();
            options.batch_size = 1000;
            options.queue_capacity = 1000;
            builder
                .event_dispatcher(Discard::default())
                .event_processor_options(options)
        }
        _ => builder.event_dispatcher(Discard::default()),
    };
    let client = builder.build().expect("client");
    let users = users(&client);
    let me = this_task().unwrap_or_default();
    let worker = task_named("decisive-events").unwrap_or_default();
    let worker_cpu = cpu_ns(&worker).unwrap_or(0);
    let (mut deciding, mut flushing) = (Duration::ZERO, Duration::ZERO);
    let mut deciding_cpu = 0;
    let mut behind = 0;
    let (mut next, mut left) = (0usize, n);
    while left > 0 {
        let chunk = left.min(CHUNK);
        let cpu = own_cpu_ns(&me);
        let t = Instant::now();
        for _ in 0..chunk {
            let user = &users[next % users.len()];
            next += 1;
            black_box(user.decide(black_box("flag_05"), &[]));
        }
        deciding += t.elapsed();
        // How far behind the event thread is when the caller has finished its chunk.
        if let Some(stats) = client.event_stats() {
            behind += stats.queued.saturating_sub(stats.dispatched);
        }
        // The flush follows at once (reading the on-CPU time first would give the event
        // thread time to catch up unmeasured); the caller's on-CPU time thus includes the
        // flush's few system calls.
        let t = Instant::now();
        if client.event_stats().is_some() {
            assert!(client.flush_events_blocking(TIMEOUT), "flush timed out");
        }
        flushing += t.elapsed();
        deciding_cpu += own_cpu_ns(&me).saturating_sub(cpu);
        left -= chunk;
    }
    let worker_cpu = cpu_ns(&worker).unwrap_or(0).saturating_sub(worker_cpu);
    println!(
        "{scenario}: decide {:.1} ns, flush {:.1} ns per decide ({:.1} µs per flush, \
         {:.0} events not yet dispatched when it starts); \
         on-CPU per decide: caller {:.1} ns, event thread {:.1} ns; stats {:?}",
        per(deciding, n),
        per(flushing, n),
        per(flushing, n.div_ceil(CHUNK)) / 1000.0,
        behind as f64 / n.div_ceil(CHUNK) as f64,
        deciding_cpu as f64 / n as f64,
        worker_cpu as f64 / n as f64,
        client.event_stats()
    );
}

/// A client of the bench datafile whose events go to a dispatcher that sends nothing.
fn discarding_client() -> Client {
    Client::builder()
        .datafile(datafile())
        .event_dispatcher(Discard::default())
        .build()
        .expect("client")
}

fn decide_all(n: u64) {
    let client = discarding_client();
    let users = users(&client);
    let start = Instant::now();
    for i in 0..n as usize {
        black_box(users[i % users.len()].decide_all(&[]));
        assert!(client.flush_events_blocking(TIMEOUT), "flush timed out");
    }
    let elapsed = start.elapsed();
    let events = client.event_stats().map_or(0, |s| s.dispatched);
    println!(
        "decide-all: {:.1} µs per user with its flush, {} events ({:.1} per user)",
        per(elapsed, n) / 1000.0,
        events,
        events as f64 / n.max(1) as f64
    );
}

fn flush(n: u64) {
    let client = discarding_client();
    let mut times: Vec<u128> = (0..n.max(1))
        .map(|_| {
            let t = Instant::now();
            assert!(client.flush_events_blocking(TIMEOUT), "flush timed out");
            t.elapsed().as_nanos()
        })
        .collect();
    times.sort_unstable();
    let at = |q: usize| times[(times.len() - 1) * q / 100];
    println!(
        "flush: empty round trip median {} ns (p10 {} ns, p90 {} ns)",
        at(50),
        at(10),
        at(90)
    );
}

fn processor(n: u64) {
    let event = purchase_event();
    let processor = BatchEventProcessor::new(Discard::default(), ProcessorOptions::default())
        .expect("processor");
    let rounds = n.div_ceil(2 * CHUNK);
    let worker = task_named("decisive-events").unwrap_or_default();
    let worker_cpu = cpu_ns(&worker).unwrap_or(0);
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        total += queue_from_two_threads(&processor, &event, CHUNK, TIMEOUT);
    }
    let events = rounds * 2 * CHUNK;
    let worker_cpu = cpu_ns(&worker).unwrap_or(0).saturating_sub(worker_cpu);
    println!(
        "processor: {:.0} events/s; on-CPU per event: event thread {:.1} ns; stats {:?}",
        events as f64 / total.as_secs_f64(),
        worker_cpu as f64 / events as f64,
        processor.stats()
    );
}

fn processor_made(n: u64) {
    let config = workload::config();
    let attributes = purchase_attributes();
    let processor = BatchEventProcessor::new(Discard::default(), ProcessorOptions::default())
        .expect("processor");
    let rounds = n.div_ceil(2 * CHUNK);
    let start = Instant::now();
    for _ in 0..rounds {
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..CHUNK {
                        processor.process(purchase(&config, &attributes));
                    }
                });
            }
        });
        assert!(processor.flush_blocking(TIMEOUT), "flush timed out");
    }
    let events = rounds * 2 * CHUNK;
    println!(
        "processor-made: {:.0} events/s; stats {:?}",
        events as f64 / start.elapsed().as_secs_f64(),
        processor.stats()
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "decide".to_owned());
    let n = args
        .next()
        .map_or(100_000, |s| s.parse().expect("a count of events"));
    match scenario.as_str() {
        "decide" | "decide-no-events" | "decide-then-flush" => decide(&scenario, n),
        "decide-all" => decide_all(n),
        "flush" => flush(n),
        "processor" => processor(n),
        "processor-made" => processor_made(n),
        other => panic!("unknown scenario {other:?}"),
    }
}
