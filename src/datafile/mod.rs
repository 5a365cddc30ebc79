//! The datafile layer: the JSON document as written, its supported versions, and the errors that
//! say what is wrong with a document that cannot be used.
//!
//! Invariant: [`parse`] either returns a complete [`model::Datafile`] of a supported version or a
//! [`DatafileError`] that names the problem (JSON position, field path, or version). It never
//! panics, whatever the bytes.

pub(crate) mod conditions;
pub(crate) mod fast;
pub(crate) mod model;
mod path;

use serde::Deserialize;
use std::fmt;

/// Datafile versions this SDK reads.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2", "3", "4"];

/// A datafile as a client or config can take it: an owned buffer (`Vec<u8>`, `String`, a
/// boxed or copy-on-write one) becomes the config's text as it is, without a copy; a borrowed
/// one (`&str`, `&[u8]`, `&Vec<u8>`, ...) is copied once.
pub trait IntoDatafileBytes {
    /// The datafile's bytes, owned.
    fn into_datafile_bytes(self) -> Vec<u8>;

    /// The datafile as text: the bytes checked for UTF-8, or, for an owned string, the
    /// string itself (already known to be UTF-8, so not checked again).
    fn into_datafile_text(self) -> Result<String, DatafileError>
    where
        Self: Sized,
    {
        into_text(self.into_datafile_bytes())
    }
}

impl IntoDatafileBytes for Vec<u8> {
    fn into_datafile_bytes(self) -> Vec<u8> {
        self
    }
}

impl IntoDatafileBytes for String {
    fn into_datafile_bytes(self) -> Vec<u8> {
        self.into_bytes()
    }

    fn into_datafile_text(self) -> Result<String, DatafileError> {
        Ok(self)
    }
}

impl IntoDatafileBytes for Box<[u8]> {
    fn into_datafile_bytes(self) -> Vec<u8> {
        self.into_vec()
    }
}

impl IntoDatafileBytes for Box<str> {
    fn into_datafile_bytes(self) -> Vec<u8> {
        self.into_string().into_bytes()
    }

    fn into_datafile_text(self) -> Result<String, DatafileError> {
        Ok(self.into_string())
    }
}

impl IntoDatafileBytes for std::borrow::Cow<'_, [u8]> {
    fn into_datafile_bytes(self) -> Vec<u8> {
        self.into_owned()
    }
}

impl IntoDatafileBytes for std::borrow::Cow<'_, str> {
    fn into_datafile_bytes(self) -> Vec<u8> {
        self.into_owned().into_bytes()
    }

    fn into_datafile_text(self) -> Result<String, DatafileError> {
        Ok(self.into_owned())
    }
}

impl<T: AsRef<[u8]> + ?Sized> IntoDatafileBytes for &T {
    fn into_datafile_bytes(self) -> Vec<u8> {
        self.as_ref().to_vec()
    }
}

/// Why a datafile could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum DatafileError {
    /// The document is empty or only white space.
    Empty,
    /// The document is not valid JSON (or ends early).
    Syntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The underlying JSON error.
        source: serde_json::Error,
    },
    /// The document is not UTF-8 text.
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The document is valid JSON but not an object.
    NotAnObject,
    /// `version` is missing or not a string.
    VersionNotAString,
    /// `version` names a version this SDK does not read.
    UnsupportedVersion(String),
    /// A field is missing or has the wrong type.
    Field {
        /// Where in the document, as `experiments[2].trafficAllocation[0].endOfRange`.
        path: String,
        /// The underlying JSON error.
        source: serde_json::Error,
    },
    /// An audience's conditions cannot be read.
    Conditions {
        /// Where in the document, as `audiences[3].conditions`.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The datafile file could not be read.
    Io {
        /// The path that was read.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

impl fmt::Display for DatafileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatafileError::Empty => f.write_str("datafile is empty"),
            DatafileError::Syntax {
                line,
                column,
                source,
            } => write!(
                f,
                "datafile is not valid JSON at line {line} column {column}: {}",
                path::strip_position(&source.to_string())
            ),
            DatafileError::NotUtf8 { offset } => {
                write!(
                    f,
                    "datafile is not UTF-8 text (invalid byte at offset {offset})"
                )
            }
            DatafileError::NotAnObject => f.write_str("datafile is not a JSON object"),
            DatafileError::VersionNotAString => {
                f.write_str("datafile field `version` is missing or not a string")
            }
            DatafileError::UnsupportedVersion(v) => write!(
                f,
                "unsupported datafile version {v:?} (supported: {})",
                SUPPORTED_VERSIONS.join(", ")
            ),
            DatafileError::Field { path, source } => {
                let message = source.to_string();
                if message.starts_with("missing field") {
                    write!(f, "datafile field `{path}` is missing")
                } else {
                    write!(
                        f,
                        "datafile field `{path}`: {}",
                        path::strip_position(&message)
                    )
                }
            }
            DatafileError::Conditions { path, reason } => {
                write!(f, "datafile field `{path}`: {reason}")
            }
            DatafileError::Io { path, source } => {
                write!(f, "cannot read datafile {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for DatafileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DatafileError::Syntax { source, .. } | DatafileError::Field { source, .. } => {
                Some(source)
            }
            DatafileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Only the version, read before the whole document so that a document of another version is
/// reported as such rather than as whatever field it lacks.
#[derive(serde::Deserialize)]
struct VersionProbe {
    #[serde(default)]
    version: Option<serde_json::Value>,
}

/// Parses and checks a datafile given as bytes.
#[cfg(test)]
pub(crate) fn parse(bytes: &[u8]) -> Result<model::Datafile<'_>, DatafileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DatafileError::Empty);
    }
    // Validating the whole document once lets the parser skip validating each string.
    let text = std::str::from_utf8(bytes).map_err(|e| DatafileError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    parse_text(text)
}

/// The datafile's text: `bytes` themselves, once known to be UTF-8.
pub(crate) fn into_text(bytes: Vec<u8>) -> Result<String, DatafileError> {
    String::from_utf8(bytes).map_err(|e| DatafileError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Parses and checks a datafile already known to be text.
pub(crate) fn parse_text(text: &str) -> Result<model::Datafile<'_>, DatafileError> {
    let bytes = text.as_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DatafileError::Empty);
    }
    // The one-pass reader reads the usual document; whatever it is not sure of (errors
    // included) is read by serde, which gives the same model or names the problem.
    if let Some(datafile) = fast::parse(text) {
        check_version(Some(&serde_json::Value::String(
            datafile.version.to_string(),
        )))?;
        return Ok(datafile);
    }
    serde_parse(bytes, text)
}

/// Reads a datafile with the serde definitions of [`model`].
fn serde_parse<'a>(bytes: &'a [u8], text: &'a str) -> Result<model::Datafile<'a>, DatafileError> {
    match serde_json::from_str::<model::Datafile>(text) {
        Ok(datafile) => {
            check_version(Some(&serde_json::Value::String(
                datafile.version.to_string(),
            )))?;
            Ok(datafile)
        }
        // JSON allows a key twice; the official SDKs' parsers keep the last value, and so does
        // a generic JSON value, which is read again as a datafile.
        Err(err) if err.to_string().starts_with("duplicate field") => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| explain(bytes, e))?;
            let datafile = model::Datafile::deserialize(value).map_err(|e| explain(bytes, e))?;
            check_version(Some(&serde_json::Value::String(
                datafile.version.to_string(),
            )))?;
            Ok(datafile)
        }
        Err(err) => Err(explain(bytes, err)),
    }
}

fn check_version(version: Option<&serde_json::Value>) -> Result<(), DatafileError> {
    match version {
        Some(serde_json::Value::String(v)) if SUPPORTED_VERSIONS.contains(&v.as_str()) => Ok(()),
        Some(serde_json::Value::String(v)) => Err(DatafileError::UnsupportedVersion(v.clone())),
        _ => Err(DatafileError::VersionNotAString),
    }
}

/// Turns a failed typed parse into the most useful error: syntax first, then shape, then
/// version, then the field path.
fn explain(text: &[u8], err: serde_json::Error) -> DatafileError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => DatafileError::Syntax {
            line: err.line(),
            column: err.column(),
            source: err,
        },
        Category::Data => {
            let probe = match serde_json::from_slice::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => VersionProbe {
                    version: map.get("version").cloned(),
                },
                Ok(_) => return DatafileError::NotAnObject,
                // The document is not JSON after all (trailing characters, say): that is what
                // to report, not the field the typed parse stumbled on first.
                Err(syntax) => {
                    return DatafileError::Syntax {
                        line: syntax.line(),
                        column: syntax.column(),
                        source: syntax,
                    }
                }
            };
            if let Err(version_err) = check_version(probe.version.as_ref()) {
                return version_err;
            }
            let path = path::path_at(text, err.line(), err.column(), &err.to_string());
            DatafileError::Field { path, source: err }
        }
    }
}

#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod tests;
