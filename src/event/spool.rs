//! The durable event spool: each batch is written to a file of its own in the spool directory
//! before it is sent, and removed once it was delivered or finally rejected. A batch that
//! could not be delivered (its retries ran out, or the process stopped) stays, and the event
//! thread of this or a later process with the same directory sends it again.
//!
//! A batch file is `{sequence:020}.batch`: one header line `decisive-spool 2 {crc32 of the
//! body, 8 hex digits} {event count} {batch id} {url}` and the body, exactly the bytes sent.
//! (Files of format 1, without the batch id, are read too; their batches get a new id.) It is
//! written as `.tmp`, synced (per [`SpoolSync`]) and renamed, so a crash leaves either a
//! whole batch or a `.tmp` file, which is discarded; a file that does not check out (torn by a
//! crash below the file system, or damaged) is skipped, counted and logged, never fatal. The
//! directory is bounded by `max_bytes`: when a new batch would pass it, the oldest batches are
//! dropped first, counted and logged. Event uuids are kept, so a batch sent again after a
//! crash is recognisable as the same events.

use super::payload::LogEvent;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The first word of a batch file.
const MAGIC: &str = "decisive-spool";
/// The format version written.
const VERSION: &str = "2";
/// The format version before batch ids, still read.
const VERSION_WITHOUT_ID: &str = "1";
/// The spool size limit unless configured.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// When batch files are flushed to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpoolSync {
    /// Every batch file is synced before it is sent (nothing is lost on a power failure).
    EveryBatch,
    /// Batch files are synced at most this often (a crash of the machine may lose the
    /// batches of the last interval; a crash of the process loses nothing).
    Interval(Duration),
}

/// Settings of the durable spool (see [`ProcessorOptions::spool`](crate::ProcessorOptions)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolOptions {
    /// The directory (created if missing). One processor at a time should use it.
    pub dir: PathBuf,
    /// The most bytes the spool keeps; the oldest batches are dropped first (default 64 MiB).
    pub max_bytes: u64,
    /// When batch files are synced (default every batch).
    pub sync: SpoolSync,
}

impl SpoolOptions {
    /// A spool in `dir` with the defaults.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolOptions {
        SpoolOptions {
            dir: dir.into(),
            max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            sync: SpoolSync::EveryBatch,
        }
    }
}

/// A batch in the spool.
#[derive(Debug)]
struct Entry {
    /// Its file.
    path: PathBuf,
    /// The file's size.
    bytes: u64,
    /// How many events it holds.
    events: u64,
}

/// The spool directory and what is in it.
#[derive(Debug)]
pub(crate) struct Spool {
    /// The directory's lock file, locked while the spool is open.
    _lock: fs::File,
    options: SpoolOptions,
    /// The next batch's sequence number.
    next: u64,
    /// The batches kept, by sequence number (oldest first).
    entries: BTreeMap<u64, Entry>,
    /// The bytes of all kept batches.
    total: u64,
    /// Files written but not yet synced (interval sync).
    unsynced: Vec<PathBuf>,
    /// When files were last synced.
    last_sync: Instant,
}

/// What opening a spool found.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Whole batches a previous run left, oldest first, with their sequence numbers.
    pub batches: Vec<(u64, LogEvent)>,
    /// Files that did not check out and were removed.
    pub skipped: u64,
    /// The events those files said they held, where their header could still be read.
    pub skipped_events: u64,
}

/// The file in a spool directory whose lock marks the directory as in use.
pub(crate) const LOCK_FILE: &str = "spool.lock";

/// Opens and locks `dir`'s lock file: one spool per directory at a time, across processes.
/// The system releases the lock when the file is closed or its process ends, however it ends,
/// so a crash leaves no stale lock behind.
fn lock_dir(dir: &Path) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "the directory is in use by another event spool",
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

impl Spool {
    /// Opens (creating) the spool directory and reads the batches a previous run left. A
    /// directory another spool has open, in this process or another, is refused (an error of
    /// kind [`io::ErrorKind::WouldBlock`]) before anything in it is read or removed.
    pub(crate) fn open(options: SpoolOptions) -> io::Result<(Spool, Recovered)> {
        fs::create_dir_all(&options.dir)?;
        let lock = lock_dir(&options.dir)?;
        let mut recovered = Recovered::default();
        let mut entries = BTreeMap::new();
        let mut total = 0;
        let mut names: Vec<PathBuf> = fs::read_dir(&options.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        for path in names {
            let ext = path.extension().and_then(|e| e.to_str());
            let seq = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            match (ext, seq) {
                (Some("tmp"), _) => {
                    log::warn!(target: "decisive", "removing the unfinished spool file {}", path.display());
                    let _ = fs::remove_file(&path);
                    recovered.skipped += 1;
                }
                (Some("batch"), Some(seq)) => match read_batch(&path) {
                    Ok(event) => {
                        let bytes = fs::metadata(&path).map_or(0, |m| m.len());
                        total += bytes;
                        entries.insert(
                            seq,
                            Entry {
                                path: path.clone(),
                                bytes,
                                events: event.event_count as u64,
                            },
                        );
                        recovered.batches.push((seq, event));
                    }
                    Err((why, events)) => {
                        log::warn!(
                            target: "decisive",
                            "skipping the spool file {} ({} events): {why}",
                            path.display(),
                            events.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
                        );
                        let _ = fs::remove_file(&path);
                        recovered.skipped += 1;
                        recovered.skipped_events += events.unwrap_or(0);
                    }
                },
                _ => {}
            }
        }
        let next = entries.keys().next_back().map_or(0, |last| last + 1);
        let spool = Spool {
            _lock: lock,
            options,
            next,
            entries,
            total,
            unsynced: Vec::new(),
            last_sync: Instant::now(),
        };
        Ok((spool, recovered))
    }

    /// Writes `event` to the spool; returns its sequence number and how many events of older
    /// batches were dropped to stay within `max_bytes`.
    pub(crate) fn store(&mut self, event: &LogEvent) -> io::Result<(u64, u64)> {
        if !is_batch_id(&event.batch_id) {
            return Err(io::Error::other(format!(
                "the batch id {:?} cannot be stored",
                event.batch_id
            )));
        }
        let header = format!(
            "{MAGIC} {VERSION} {:08x} {} {} {}\n",
            crc32(event.body.as_bytes()),
            event.event_count,
            event.batch_id,
            event.url
        );
        let bytes = (header.len() + event.body.len()) as u64;
        if bytes > self.options.max_bytes {
            return Err(io::Error::other(format!(
                "a batch of {bytes} bytes is larger than the whole spool ({} bytes)",
                self.options.max_bytes
            )));
        }
        let mut evicted = 0;
        while self.total + bytes > self.options.max_bytes {
            let Some((&oldest, _)) = self.entries.iter().next() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                log::warn!(
                    target: "decisive",
                    "event spool full ({} bytes): dropping the oldest batch of {} events",
                    self.options.max_bytes,
                    entry.events
                );
                let _ = fs::remove_file(&entry.path);
                self.total = self.total.saturating_sub(entry.bytes);
                evicted += entry.events;
            }
        }
        let seq = self.next;
        self.next += 1;
        let path = self.options.dir.join(format!("{seq:020}.batch"));
        let tmp = path.with_extension("tmp");
        {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(header.as_bytes())?;
            file.write_all(event.body.as_bytes())?;
            if self.options.sync == SpoolSync::EveryBatch {
                file.sync_all()?;
            }
        }
        fs::rename(&tmp, &path)?;
        match self.options.sync {
            SpoolSync::EveryBatch => sync_dir(&self.options.dir),
            SpoolSync::Interval(every) => {
                self.unsynced.push(path.clone());
                if self.last_sync.elapsed() >= every {
                    self.sync();
                }
            }
        }
        self.total += bytes;
        self.entries.insert(
            seq,
            Entry {
                path,
                bytes,
                events: event.event_count as u64,
            },
        );
        Ok((seq, evicted))
    }

    /// Syncs the files written since the last sync.
    pub(crate) fn sync(&mut self) {
        for path in self.unsynced.drain(..) {
            if let Ok(file) = fs::File::open(&path) {
                let _ = file.sync_all();
            }
        }
        sync_dir(&self.options.dir);
        self.last_sync = Instant::now();
    }

    /// Removes batch `seq` (delivered or finally rejected).
    pub(crate) fn remove(&mut self, seq: u64) {
        if let Some(entry) = self.entries.remove(&seq) {
            if let Err(e) = fs::remove_file(&entry.path) {
                log::warn!(target: "decisive", "cannot remove the spool file {}: {e}", entry.path.display());
            }
            self.total = self.total.saturating_sub(entry.bytes);
        }
    }

    /// Whether batch `seq` is still kept.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.entries.contains_key(&seq)
    }
}

/// Makes the directory's entries (renames, removals) durable, where the platform allows.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads and checks a batch file; on failure, why, and the event count its header gives
/// when it can be read.
fn read_batch(path: &Path) -> Result<LogEvent, (String, Option<u64>)> {
    let bytes = fs::read(path).map_err(|e| (e.to_string(), None))?;
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| ("no header line".to_owned(), None))?;
    let (header, body) = bytes.split_at(newline);
    let body = body.get(1..).unwrap_or_default();
    let header =
        std::str::from_utf8(header).map_err(|_| ("a header that is not text".to_owned(), None))?;
    let mut fields = header.split(' ');
    if fields.next() != Some(MAGIC) {
        return Err(("not a spool file".into(), None));
    }
    let with_id = match fields.next() {
        Some(VERSION) => true,
        Some(VERSION_WITHOUT_ID) => false,
        _ => return Err(("an unknown spool format version".into(), None)),
    };
    let crc = fields.next().and_then(|c| u32::from_str_radix(c, 16).ok());
    let count: Option<usize> = fields.next().and_then(|c| c.parse().ok());
    let events = count.map(|c| c as u64);
    let (Some(crc), Some(count)) = (crc, count) else {
        return Err(("a damaged header".into(), events));
    };
    let batch_id = if with_id {
        match fields.next() {
            Some(id) if is_batch_id(id) => id.to_owned(),
            _ => return Err(("a damaged batch id".into(), events)),
        }
    } else {
        super::uuid::new_uuid()
    };
    let url = fields.next().ok_or_else(|| ("no url".to_owned(), events))?;
    if crc32(body) != crc {
        return Err((
            "the checksum does not match (a torn or damaged file)".into(),
            events,
        ));
    }
    let body = String::from_utf8(body.to_vec())
        .map_err(|_| ("a body that is not UTF-8".to_owned(), events))?;
    let url = match url {
        u if u == super::payload::US_ENDPOINT => super::payload::US_ENDPOINT,
        u if u == super::payload::EU_ENDPOINT => super::payload::EU_ENDPOINT,
        _ => return Err((format!("an unknown endpoint {url}"), events)),
    };
    Ok(LogEvent {
        url,
        method: super::payload::HTTP_METHOD,
        headers: super::payload::HTTP_HEADERS,
        body,
        event_count: count,
        batch_id,
    })
}

/// Whether `id` can be a batch id the spool wrote: a non-empty run of ASCII letters, digits
/// and dashes (a UUID, or an id a custom-built batch was given).
fn is_batch_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("decisive-spool-unit-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn event(n: usize) -> LogEvent {
        LogEvent {
            url: super::super::payload::US_ENDPOINT,
            method: "POST",
            headers: [("Content-Type", "application/json")],
            body: format!("{{\"visitors\":[{}]}}", vec!["{}"; n].join(",")),
            event_count: n,
            batch_id: format!("batch-{n}"),
        }
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn batches_survive_a_reopen_in_order_and_removed_ones_do_not() {
        let d = dir("reopen");
        let (mut spool, recovered) = Spool::open(SpoolOptions::new(&d)).unwrap();
        assert!(recovered.batches.is_empty());
        let (a, _) = spool.store(&event(1)).unwrap();
        let (b, _) = spool.store(&event(2)).unwrap();
        let (c, _) = spool.store(&event(3)).unwrap();
        spool.remove(b);
        drop(spool);
        let (mut spool, recovered) = Spool::open(SpoolOptions::new(&d)).unwrap();
        let got: Vec<(u64, LogEvent)> = recovered.batches;
        assert_eq!(got, vec![(a, event(1)), (c, event(3))]);
        assert_eq!(recovered.skipped, 0);
        let (next, _) = spool.store(&event(4)).unwrap();
        assert!(next > c, "sequence numbers keep growing");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_batch_keeps_its_id_across_a_reopen_and_an_older_file_gets_a_new_one() {
        let d = dir("ids");
        let (mut spool, _) = Spool::open(SpoolOptions::new(&d)).unwrap();
        let mut sent = event(2);
        sent.batch_id = "0f8fad5b-d9cb-469f-a165-70867728950e".into();
        let (a, _) = spool.store(&sent).unwrap();
        let mut odd = event(1);
        odd.batch_id = "two words".into();
        assert!(spool.store(&odd).is_err(), "an id the header cannot hold");
        drop(spool);
        // A file of the format before batch ids.
        let body = "{\"visitors\":[{}]}";
        let old = format!(
            "decisive-spool 1 {:08x} 1 {}\n{body}",
            crc32(body.as_bytes()),
            super::super::payload::US_ENDPOINT
        );
        fs::write(d.join(format!("{:020}.batch", a + 1)), old).unwrap();
        let (_spool, recovered) = Spool::open(SpoolOptions::new(&d)).unwrap();
        assert_eq!(recovered.skipped, 0);
        assert_eq!(recovered.batches.len(), 2);
        assert_eq!(recovered.batches[0], (a, sent));
        let (seq, older) = &recovered.batches[1];
        assert_eq!(
            (*seq, older.body.as_str(), older.event_count),
            (a + 1, body, 1)
        );
        assert_eq!(older.batch_id.len(), 36, "a new uuid: {}", older.batch_id);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn torn_damaged_and_unfinished_files_are_skipped_and_counted() {
        let d = dir("torn");
        let (mut spool, _) = Spool::open(SpoolOptions::new(&d)).unwrap();
        let (a, _) = spool.store(&event(2)).unwrap();
        let (b, _) = spool.store(&event(3)).unwrap();
        drop(spool);
        // Cut the second file short, as a crash mid-write below the file system would.
        let torn = d.join(format!("{b:020}.batch"));
        let bytes = fs::read(&torn).unwrap();
        fs::write(&torn, &bytes[..bytes.len() - 3]).unwrap();
        fs::write(d.join("00000000000000000099.tmp"), b"half").unwrap();
        fs::write(d.join("00000000000000000098.batch"), b"garbage").unwrap();
        let (_, recovered) = Spool::open(SpoolOptions::new(&d)).unwrap();
        assert_eq!(recovered.batches, vec![(a, event(2))]);
        assert_eq!(recovered.skipped, 3);
        assert_eq!(
            recovered.skipped_events, 3,
            "the torn file's header still says 3"
        );
        let left: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != LOCK_FILE)
            .collect();
        assert_eq!(left.len(), 1, "the bad files are gone");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_batch_larger_than_the_whole_spool_is_not_spooled() {
        let d = dir("huge");
        let mut options = SpoolOptions::new(&d);
        options.max_bytes = 50;
        let (mut spool, _) = Spool::open(options).unwrap();
        assert!(spool.store(&event(40)).is_err());
        assert_eq!(spool.total, 0);
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [LOCK_FILE], "nothing but the lock file");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_is_one_spools_at_a_time() {
        let d = dir("locked");
        let (mut first, _) = Spool::open(SpoolOptions::new(&d)).unwrap();
        first.store(&event(1)).unwrap();
        let Err(refused) = Spool::open(SpoolOptions::new(&d)) else {
            panic!("a second spool on the directory was opened")
        };
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock);
        // Refused before reading: the first spool's batch is still there, unread.
        assert_eq!(first.entries.len(), 1);
        drop(first);
        let (_, recovered) = Spool::open(SpoolOptions::new(&d)).unwrap();
        assert_eq!(recovered.batches.len(), 1);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn the_oldest_batches_go_first_when_the_spool_is_full() {
        let d = dir("full");
        let mut options = SpoolOptions::new(&d);
        options.max_bytes = 300;
        let (mut spool, _) = Spool::open(options.clone()).unwrap();
        let mut evicted = 0;
        let mut seqs = Vec::new();
        for n in [5, 6, 7, 8] {
            let (seq, e) = spool.store(&event(n)).unwrap();
            evicted += e;
            seqs.push(seq);
        }
        assert!(spool.total <= 300);
        drop(spool);
        let (_, recovered) = Spool::open(options).unwrap();
        let kept: u64 = recovered
            .batches
            .iter()
            .map(|(_, e)| e.event_count as u64)
            .sum();
        assert_eq!(kept + evicted, 5 + 6 + 7 + 8);
        assert!(evicted >= 5, "the oldest went first");
        assert_eq!(
            recovered.batches.last().map(|(s, _)| *s),
            seqs.last().copied()
        );
        let _ = fs::remove_dir_all(&d);
    }
}
