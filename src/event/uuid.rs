//! Random version-4 UUIDs and millisecond timestamps for user events, without a dependency.
//!
//! The generator is SplitMix64 over a counter, seeded once per process from the standard
//! library's randomly keyed hasher, the clock and the process id; each thread draws from its
//! own range of the counter (2^40 values), so drawing touches no shared state. Distinct
//! counter values give distinct outputs, so UUIDs of one process never repeat until a thread
//! has drawn 2^39 of them. It is not a source of secrets (one UUID reveals the generator's
//! state).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The per-process seed.
static SEED: OnceLock<u64> = OnceLock::new();

/// How many 64-bit words have been drawn.
static DRAWN: AtomicU64 = AtomicU64::new(0);

/// The process's seed, made on first use.
fn seed() -> u64 {
    *SEED.get_or_init(|| {
        let mut hasher = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.write_usize(std::ptr::addr_of!(DRAWN) as usize);
        hasher.finish()
    })
}

/// SplitMix64's output function for state `z`.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How many threads have drawn: each gets its own range of the counter.
static THREADS: AtomicU64 = AtomicU64::new(0);

/// Draws each thread may make before its range meets the next thread's (2^40).
const THREAD_RANGE_SHIFT: u32 = 40;

thread_local! {
    /// This thread's next counter value; starts at its range on first use.
    static NEXT: Cell<Option<u64>> = const { Cell::new(None) };
}

/// A uuid drawn but not yet computed: the counter value its bits come from. Drawing is a
/// thread-local increment; the mixing into 128 bits ([`UuidDraw::bytes`]) is left to whoever
/// writes the uuid (the event thread, for events the decide path queues).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UuidDraw(u64);

/// Draws the next counter value of this thread's range (no shared state is touched after a
/// thread's first draw).
pub(crate) fn draw() -> UuidDraw {
    let n = NEXT
        .try_with(|next| {
            let n = next
                .get()
                .unwrap_or_else(|| THREADS.fetch_add(1, Ordering::Relaxed) << THREAD_RANGE_SHIFT);
            next.set(Some(n.wrapping_add(2)));
            n
        })
        // During thread teardown: the shared counter, at the top of the range.
        .unwrap_or_else(|_| DRAWN.fetch_add(2, Ordering::Relaxed) | (u64::MAX << 60));
    UuidDraw(n)
}

impl UuidDraw {
    /// The 16 bytes of the version-4 UUID of this draw: two consecutive SplitMix64 outputs
    /// (the first in bytes 0..8), with the version and variant bits set.
    pub(crate) fn bytes(self) -> [u8; 16] {
        // Byte `i` of the big-endian form holds bits `120 - 8i ..= 127 - 8i`.
        const VERSION_NIBBLE: u32 = 120 - 8 * 6 + 4;
        const VARIANT_BITS: u32 = 120 - 8 * 8 + 6;
        let (base, n) = (seed(), self.0);
        let hi = mix(base.wrapping_add(n.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)));
        let lo = mix(base.wrapping_add(n.wrapping_add(2).wrapping_mul(GOLDEN_GAMMA)));
        let bits = (u128::from(hi) << 64) | u128::from(lo);
        // Version 4 in the high nibble of byte 6; variant 10xx in the high bits of byte 8.
        let bits = (bits & !(0xF << VERSION_NIBBLE)) | (0x4 << VERSION_NIBBLE);
        let bits = (bits & !(0x3 << VARIANT_BITS)) | (0x2 << VARIANT_BITS);
        bits.to_be_bytes()
    }
}

/// A new random UUID, version 4 (RFC 9562), as 36 lowercase characters `8-4-4-4-12`.
pub(crate) fn new_uuid() -> String {
    format_uuid(&new_uuid_bytes())
}

/// The 16 bytes of a new random version-4 UUID.
pub(crate) fn new_uuid_bytes() -> [u8; 16] {
    draw().bytes()
}

/// Formats 16 bytes as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex.
pub(crate) fn format_uuid(bytes: &[u8; 16]) -> String {
    UuidText::new(bytes).bare().to_owned()
}

/// A uuid's text, `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"` with its quotes, made all at once
/// (each half's 16 digits in one word operation) in a word-aligned buffer, so that the UTF-8
/// check of reading it as text takes its ASCII fast path.
#[repr(align(8))]
pub(crate) struct UuidText([u8; 40]);

impl UuidText {
    /// The text of the uuid `bytes`.
    #[inline]
    pub(crate) fn new(bytes: &[u8; 16]) -> UuidText {
        let bits = u128::from_be_bytes(*bytes);
        let hi = hex_digits((bits >> 64) as u64);
        let lo = hex_digits(bits as u64);
        let mut text = UuidText([b'"'; 40]);
        let t = &mut text.0;
        let mut put = |at: usize, from: &[u8; 16], range: std::ops::Range<usize>| {
            if let (Some(dst), Some(src)) = (t.get_mut(at..at + range.len()), from.get(range)) {
                dst.copy_from_slice(src);
            }
        };
        put(1, &hi, 0..8);
        put(10, &hi, 8..12);
        put(15, &hi, 12..16);
        put(20, &lo, 0..4);
        put(25, &lo, 4..16);
        for at in [9, 14, 19, 24] {
            if let Some(dash) = t.get_mut(at) {
                *dash = b'-';
            }
        }
        text
    }

    /// The text between quotes, as a JSON string.
    #[inline]
    pub(crate) fn quoted(&self) -> &str {
        self.slice(0..38)
    }

    /// The text alone.
    pub(crate) fn bare(&self) -> &str {
        self.slice(1..37)
    }

    fn slice(&self, range: std::ops::Range<usize>) -> &str {
        // Only ASCII was written.
        self.0
            .get(range)
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or_default()
    }
}

/// The 16 lowercase hex digits of `x`, most significant first, without a table or a loop:
/// each nibble is moved to a byte of its own, then made a digit, all lanes at once.
fn hex_digits(x: u64) -> [u8; 16] {
    // Every byte of a lane mask below repeats per lane of the named width.
    let x = u128::from(x);
    // 32-bit halves to the low half of each 64-bit lane.
    let x = (x & 0xFFFF_FFFF) | ((x >> 32) << 64);
    // 16-bit quarters to the low half of each 32-bit lane.
    let x = (x & 0x0000_0000_0000_FFFF_0000_0000_0000_FFFF)
        | ((x & 0x0000_0000_FFFF_0000_0000_0000_FFFF_0000) << 16);
    // Bytes to the low half of each 16-bit lane.
    let x = (x & 0x0000_00FF_0000_00FF_0000_00FF_0000_00FF)
        | ((x & 0x0000_FF00_0000_FF00_0000_FF00_0000_FF00) << 8);
    // Nibbles to the low half of each byte.
    let x = (x & 0x000F_000F_000F_000F_000F_000F_000F_000F)
        | ((x & 0x00F0_00F0_00F0_00F0_00F0_00F0_00F0_00F0) << 4);
    // Each byte now holds 0..=15: '0' + n, and 'a' - 10 + n (39 more) from 10 up, which is
    // where n + 6 reaches 16.
    const ONES: u128 = 0x0101_0101_0101_0101_0101_0101_0101_0101;
    let letters = ((x + ONES * 6) >> 4) & ONES;
    (x + ONES * u128::from(b'0') + letters * 39).to_be_bytes()
}

/// A reading of the system clock, for an event's timestamp: taken where the event is made
/// (one clock read), turned into milliseconds ([`Moment::millis`]) where the event is written,
/// so that the caller's thread does not pay for the conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moment(SystemTime);

impl Moment {
    /// Now.
    #[inline]
    pub(crate) fn now() -> Moment {
        Moment(SystemTime::now())
    }

    /// Milliseconds since the Unix epoch, rounded to the nearest millisecond (as the Python
    /// SDK computes `int(round(time.time() * 1000))`); 0 for a clock set before 1970.
    pub(crate) fn millis(self) -> u64 {
        self.0.duration_since(UNIX_EPOCH).map_or(0, |d| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add((u64::from(d.subsec_nanos()) + 500_000) / 1_000_000)
        })
    }
}

/// The clock readings that round to one millisecond (see [`Moment::millis`]): telling that a
/// reading lies in the span of the last one converted is two comparisons, where converting
/// it is a subtraction and divisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MillisecondSpan {
    /// The first reading of the span.
    start: SystemTime,
    /// The first reading after it.
    end: SystemTime,
    /// What each of its readings gives.
    millis: u64,
}

impl MillisecondSpan {
    /// The span of the millisecond `moment` rounds to; `None` before the epoch and where the
    /// milliseconds would not fit.
    pub(crate) fn of(moment: Moment) -> Option<MillisecondSpan> {
        const NANOS_PER_MILLI: u128 = 1_000_000;
        const NANOS_PER_SEC: u128 = 1_000_000_000;
        moment.0.duration_since(UNIX_EPOCH).ok()?;
        let millis = moment.millis();
        // Readings from `millis` - 0.5 ms (the epoch for 0) to `millis` + 0.5 ms, excluded.
        let center = u128::from(millis).checked_mul(NANOS_PER_MILLI)?;
        let at = |nanos: u128| -> Option<SystemTime> {
            let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
            let sub = u32::try_from(nanos % NANOS_PER_SEC).ok()?;
            UNIX_EPOCH.checked_add(Duration::new(secs, sub))
        };
        let span = MillisecondSpan {
            start: at(center.saturating_sub(NANOS_PER_MILLI / 2))?,
            end: at(center.checked_add(NANOS_PER_MILLI / 2)?)?,
            millis,
        };
        // A reading whose milliseconds saturated lies outside its span: none then.
        span.millis_of(moment).map(|_| span)
    }

    /// The milliseconds of `moment` when it lies in this span.
    #[inline]
    pub(crate) fn millis_of(&self, moment: Moment) -> Option<u64> {
        (self.start <= moment.0 && moment.0 < self.end).then_some(self.millis)
    }

    /// The milliseconds this span's readings give.
    pub(crate) fn millis(&self) -> u64 {
        self.millis
    }
}

/// Milliseconds since the Unix epoch now (see [`Moment::millis`]).
pub(crate) fn now_millis() -> u64 {
    Moment::now().millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading `nanos` after the epoch.
    fn at(nanos: u64) -> Moment {
        Moment(UNIX_EPOCH + Duration::from_nanos(nanos))
    }

    #[test]
    fn a_readings_span_gives_what_converting_it_gives() {
        let now = Moment::now();
        let base = now
            .0
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut state = 0x1234_5678_9ABC_DEF0_u64;
        let mut nanos: Vec<u64> = vec![0, 1, 499_999, 500_000, 500_001, 1_499_999, 1_500_000];
        for _ in 0..2_000 {
            state = mix(state.wrapping_add(GOLDEN_GAMMA));
            // Around the rounding boundaries near now, and anywhere up to 2^63 ns.
            let boundary = (base / 1_000_000 + state % 64) * 1_000_000 + 500_000;
            nanos.push(boundary - 2 + (state >> 32) % 4);
            nanos.push(state >> 1);
        }
        let mut span: Option<MillisecondSpan> = None;
        for n in nanos {
            let moment = at(n);
            let want = moment.millis();
            if let Some(got) = span.and_then(|s| s.millis_of(moment)) {
                assert_eq!(got, want, "{n} ns in the span of an earlier reading");
            }
            span = MillisecondSpan::of(moment);
            let got = span.map(|s| s.millis());
            assert_eq!(got, Some(want), "{n} ns");
            // Its neighbours lie in it exactly when they give the same milliseconds.
            for next in [n.saturating_sub(1), n.saturating_add(1)] {
                let inside = span.and_then(|s| s.millis_of(at(next))).is_some();
                assert_eq!(inside, at(next).millis() == want, "{next} ns beside {n} ns");
            }
        }
        assert_eq!(
            MillisecondSpan::of(Moment(UNIX_EPOCH - Duration::from_secs(1))),
            None
        );
    }
}
