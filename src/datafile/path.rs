//! Finds the JSON path (`experiments[2].trafficAllocation[0].endOfRange`) of a position in a
//! document, so that a field error names where the field is, not only a line and column.

enum Frame {
    Object { key: Option<String> },
    Array { index: usize },
}

/// The path of the value at 1-based `line`/`column`, extended by the field a "missing field"
/// message names.
pub(super) fn path_at(text: &[u8], line: usize, column: usize, message: &str) -> String {
    let offset = offset_of(text, line, column);
    let stack = frames_before(text, offset);
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None } => {}
            Frame::Array { index } => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    if let Some(field) = missing_field(message) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(field);
    }
    if path.is_empty() {
        path.push('$');
    }
    path
}

/// Removes serde_json's trailing " at line L column C".
pub(super) fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    }
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut current_line = 1;
    let mut line_start = 0;
    for (i, b) in text.iter().enumerate() {
        if current_line == line {
            break;
        }
        if *b == b'\n' {
            current_line += 1;
            line_start = i + 1;
        }
    }
    (line_start + column).min(text.len())
}

/// Walks the document up to `offset`, keeping the open containers and, for each, the key or
/// index being read. A container closed at the very end stays reported through its parent.
fn frames_before(text: &[u8], offset: usize) -> Vec<Frame> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    let end = offset.min(text.len());
    // In an object, a string is a key when no ':' has been seen since the last '{' or ','.
    let mut expecting_key = false;
    while let Some(&byte) = text.get(i).filter(|_| i < end) {
        match byte {
            b'{' => {
                stack.push(Frame::Object { key: None });
                expecting_key = true;
            }
            b'[' => {
                stack.push(Frame::Array { index: 0 });
                expecting_key = false;
            }
            b'}' | b']' => {
                // Keep the frame when the error sits right after its closing bracket: the
                // parent's key or index still names the value that was being read.
                if i + 1 < end {
                    stack.pop();
                }
                expecting_key = false;
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { .. }) => expecting_key = true,
                None => {}
            },
            b':' => expecting_key = false,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while let Some(&c) = text.get(j).filter(|&&c| c != b'"') {
                    if c == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                let stop = j.min(text.len());
                if expecting_key {
                    if let Some(Frame::Object { key }) = stack.last_mut() {
                        let raw = text.get(start..stop).unwrap_or(&[]);
                        *key = Some(String::from_utf8_lossy(raw).into_owned());
                    }
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    // A missing-field error points just past the object's '}'; that object is the last one
    // closed, so drop it from the path only if it was popped above (it was not).
    if end > 0 && matches!(text.get(end - 1), Some(b'}')) {
        stack.pop();
    }
    stack
}
