//! `decisive`: decides Optimizely Feature Experimentation flags from a datafile on the command
//! line.
//!
//! Two subcommands:
//!
//! - `decide` decides flags for one user and prints one pretty-printed JSON object:
//!   `{"user_id", "decisions": {flag: {"variation_key", "enabled", "rule_key", "variables",
//!   "reasons"}}}`.
//! - `replay` runs a file of test cases (the format of `tests/fixtures/compat/*/cases.jsonl`)
//!   and prints one compact JSON result per case, so that a datafile can be checked against a
//!   list of users by a diff.
//!
//! ```text
//! decisive decide --datafile datafiles/quickstart.json --user user-123 \
//!     --attr country=US --attr app_version=2.4.1 --flag checkout_redesign \
//!     --option INCLUDE_REASONS
//! decisive replay --datafile datafile.json --cases cases.jsonl --output results.jsonl
//! ```
//!
//! A datafile that cannot be loaded, a case file that cannot be read and a line that is not a
//! case print `error: ...` on stderr and exit with code 1; usage errors exit with code 2.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::{Args, Parser, Subcommand};
use decisive::replay::{self, Case};
use decisive::{AttributeValue, Attributes, Client, DecideOption, Decision};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Decides Optimizely Feature Experimentation flags locally, from a project datafile.
#[derive(Debug, Parser)]
#[command(name = "decisive", version)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Decide flags for one user and print the decisions as one JSON object.
    ///
    /// Output: {"user_id": ..., "decisions": {flag_key: {"enabled", "reasons", "rule_key",
    /// "variables", "variation_key"}}}. Flags appear in the order of --flag (with no --flag:
    /// every flag of the datafile, in datafile order); a repeated --flag appears once, and with
    /// ENABLED_FLAGS_ONLY disabled flags are left out. The fields of each decision are sorted by
    /// name; "reasons" lists why (with INCLUDE_REASONS) and any errors.
    Decide(DecideArgs),
    /// Run every case of a JSON-lines case file and print one JSON result per case.
    ///
    /// Each non-blank line is a case: {"id", "user_id", "attributes", "op": "decide" |
    /// "decide_all" | "track", "flag_key", "options", "forced", "segments", "event_key",
    /// "tags"}. Each result is {"id", "decisions"} on one line, keys sorted. A line that is not
    /// a valid case stops the run with an error naming its line number (the results before it
    /// are written).
    Replay(ReplayArgs),
}

/// Arguments of `decisive decide`.
#[derive(Debug, Args)]
struct DecideArgs {
    /// The project datafile (JSON).
    #[arg(long, value_name = "FILE")]
    datafile: PathBuf,
    /// The user id.
    #[arg(long, value_name = "ID")]
    user: String,
    /// A user attribute, KEY=VALUE; repeatable. VALUE is read as JSON when it is a JSON scalar
    /// (age=30 is a number, beta=true a boolean, x=null null, v='"1.0"' the string "1.0"),
    /// otherwise it is taken as a plain string (country=US is the string "US").
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = parse_attr)]
    attrs: Vec<(String, AttributeValue)>,
    /// A flag to decide; repeatable. Without --flag every flag of the datafile is decided.
    #[arg(long = "flag", value_name = "KEY")]
    flags: Vec<String>,
    /// A decide option; repeatable: DISABLE_DECISION_EVENT, ENABLED_FLAGS_ONLY,
    /// IGNORE_USER_PROFILE_SERVICE, INCLUDE_REASONS or EXCLUDE_VARIABLES.
    #[arg(long = "option", value_name = "NAME", value_parser = parse_option)]
    options: Vec<DecideOption>,
}

/// Arguments of `decisive replay`.
#[derive(Debug, Args)]
struct ReplayArgs {
    /// The project datafile (JSON).
    #[arg(long, value_name = "FILE")]
    datafile: PathBuf,
    /// The cases, one JSON object per line.
    #[arg(long, value_name = "CASES.jsonl")]
    cases: PathBuf,
    /// Write the results to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Parses `KEY=VALUE` into an attribute, typing VALUE as a JSON scalar when it is one.
fn parse_attr(arg: &str) -> Result<(String, AttributeValue), String> {
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, found {arg:?} (no `=`)"))?;
    if key.is_empty() {
        return Err(format!("expected KEY=VALUE, found {arg:?} (empty key)"));
    }
    let value = match serde_json::from_str::<Value>(raw) {
        Ok(v) if !v.is_array() && !v.is_object() => AttributeValue::from_json(v),
        _ => AttributeValue::String(raw.to_owned()),
    };
    Ok((key.to_owned(), value))
}

/// Parses an official decide option name.
fn parse_option(name: &str) -> Result<DecideOption, String> {
    DecideOption::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = DecideOption::ALL.iter().map(|o| o.name()).collect();
        format!(
            "unknown decide option {name:?} (expected one of {})",
            known.join(", ")
        )
    })
}

/// Why the tool failed after parsing its arguments; printed as `error: <message>`.
#[derive(Debug)]
enum Failure {
    /// A message for stderr (exit code 1).
    Message(String),
    /// The reader of the output went away (e.g. `| head`): stop quietly.
    BrokenPipe,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Message(format!("cannot write the output: {e}"))
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Message(message)
    }
}

/// Serializes `(key, value)` pairs as a JSON object, keeping their order.
struct Ordered<'a>(&'a [(&'a str, Value)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The output of `decisive decide`.
#[derive(serde::Serialize)]
struct DecideOutput<'a> {
    /// The user id.
    user_id: &'a str,
    /// The decisions, in flag order.
    decisions: Ordered<'a>,
}

/// Loads the datafile at `path`.
fn load(path: &Path) -> Result<Client, Failure> {
    Client::builder()
        .datafile_path(path)
        .without_events()
        .build()
        .map_err(|e| Failure::Message(e.to_string()))
}

/// A decision as printed by `decide`: [`replay::decision_json`] plus `reasons`.
fn decision_with_reasons(decision: &Decision) -> Value {
    let mut value = replay::decision_json(decision);
    if let Value::Object(map) = &mut value {
        map.insert("reasons".into(), decision.reasons().into());
    }
    value
}

/// Runs `decisive decide`.
fn decide(args: DecideArgs) -> Result<(), Failure> {
    let client = load(&args.datafile)?;
    let attributes: Attributes = args.attrs.into_iter().collect();
    let user = client.create_user_context(args.user.clone(), attributes);
    let decisions = if args.flags.is_empty() {
        user.decide_all(&args.options)
    } else {
        let mut keys: Vec<&str> = Vec::with_capacity(args.flags.len());
        for key in &args.flags {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        user.decide_for_keys(&keys, &args.options)
    };
    let list: Vec<(&str, Value)> = decisions
        .iter()
        .map(|d| (d.flag_key(), decision_with_reasons(d)))
        .collect();
    let output = DecideOutput {
        user_id: &args.user,
        decisions: Ordered(&list),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &output).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Runs `decisive replay`.
fn replay(args: ReplayArgs) -> Result<(), Failure> {
    let client = load(&args.datafile)?;
    let cases = File::open(&args.cases)
        .map_err(|e| format!("cannot read cases {}: {e}", args.cases.display()))?;
    let sink: Box<dyn Write> = match &args.output {
        None => Box::new(io::stdout().lock()),
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| format!("cannot create output {}: {e}", path.display()))?,
        ),
    };
    let mut out = BufWriter::new(sink);
    let result = replay_lines(&client, BufReader::new(cases), &args, &mut out);
    // The results before a bad line are written whatever happened.
    let flushed = out.flush();
    result?;
    flushed?;
    Ok(())
}

/// Replays each case of `cases` into `out`, stopping at the first line that fails.
fn replay_lines(
    client: &Client,
    cases: impl BufRead,
    args: &ReplayArgs,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let at = |number: usize, what: &dyn std::fmt::Display| {
        Failure::Message(format!("{} line {number}: {what}", args.cases.display()))
    };
    for (index, line) in cases.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| at(number, &e))?;
        if line.trim().is_empty() {
            continue;
        }
        let case = Case::parse(&line).map_err(|e| at(number, &e))?;
        let result = replay::run(client, &case).map_err(|e| at(number, &e))?;
        writeln!(out, "{}", replay::to_python_json(&result))?;
    }
    Ok(())
}

/// Parses the arguments, runs the subcommand and maps failures to exit codes.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decide(args) => decide(args),
        Command::Replay(args) => replay(args),
    };
    match result {
        Ok(()) | Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            // Not `eprintln!`, which panics when stderr is closed.
            let _ = writeln!(io::stderr(), "error: {message}");
            ExitCode::FAILURE
        }
    }
}
