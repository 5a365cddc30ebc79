//! An experiment's `audienceConditions` as the config view shows them: audience names with
//! upper-case operators, `"a" OR ("b" AND "c")`, written exactly as the official Python SDK
//! writes them (quirks included, so that the strings compare equal).

use super::json::{dumps, Json};
use std::collections::HashMap;

/// One element of a condition list. A bare string stands for the list of its characters, as
/// it does when Python indexes it.
#[derive(Clone, Copy)]
enum Item<'a> {
    Str(&'a str),
    List(&'a [Json]),
    Other(&'a Json),
}

impl<'a> Item<'a> {
    fn of(value: &'a Json) -> Item<'a> {
        match value {
            Json::Str(s) => Item::Str(s),
            Json::List(items) => Item::List(items),
            other => Item::Other(other),
        }
    }

    fn operator(self) -> Option<&'a str> {
        match self {
            Item::Str(s @ ("and" | "or" | "not")) => Some(s),
            _ => None,
        }
    }
}

/// The audiences string of a rule whose `audienceConditions` is `conditions` (absent or null:
/// the empty string; `audienceIds` are not shown).
pub(super) fn audiences_string(
    conditions: Option<&Json>,
    names: &HashMap<String, String>,
) -> String {
    match conditions {
        None | Some(Json::Null) => String::new(),
        Some(Json::Str(s)) => {
            let chars: Vec<Item<'_>> = s
                .char_indices()
                .filter_map(|(i, c)| s.get(i..i + c.len_utf8()).map(Item::Str))
                .collect();
            stringify(&chars, names)
        }
        Some(Json::List(items)) => {
            let items: Vec<Item<'_>> = items.iter().map(Item::of).collect();
            stringify(&items, names)
        }
        // An object, number or boolean: the Python SDK fails on these; show nothing.
        Some(_) => String::new(),
    }
}

/// An audience's name, or the id itself when no audience has that id. `None` for a null leaf,
/// which the Python SDK leaves out.
fn name_of(item: Item<'_>, names: &HashMap<String, String>) -> Option<String> {
    match item {
        Item::Str(id) => Some(names.get(id).cloned().unwrap_or_else(|| id.to_owned())),
        Item::Other(Json::Null) => None,
        Item::Other(other) => Some(dumps(other)),
        Item::List(items) => Some(list_string(items, names)),
    }
}

fn list_string(items: &[Json], names: &HashMap<String, String>) -> String {
    let items: Vec<Item<'_>> = items.iter().map(Item::of).collect();
    stringify(&items, names)
}

fn quoted(name: Option<String>) -> String {
    format!("\"{}\"", name.unwrap_or_default())
}

fn stringify(items: &[Item<'_>], names: &HashMap<String, String>) -> String {
    let length = items.len();
    let (first, second) = match items {
        [] => return String::new(),
        [first] => (*first, None),
        [first, second, ..] => (*first, Some(*second)),
    };
    if length == 1 && first.operator().is_none() {
        return quoted(name_of(first, names));
    }
    if let (2, Some(op), Some(second)) = (length, first.operator(), second) {
        if !matches!(second, Item::List(_)) && second.operator().is_none() {
            let name = quoted(name_of(second, names));
            return if op == "not" {
                format!("NOT {name}")
            } else {
                name
            };
        }
    }
    let mut out = String::new();
    if length > 1 {
        let mut operand = "OR".to_owned();
        for (i, item) in items.iter().enumerate() {
            if let Some(op) = item.operator() {
                operand = op.to_uppercase();
            } else if let Item::List(inner) = item {
                let inner = list_string(inner, names);
                if i + 1 < length {
                    out.push_str(&format!("({inner}) "));
                } else {
                    out.push_str(&format!("{operand} ({inner})"));
                }
            } else if let Some(name) = name_of(*item, names) {
                if i + 1 < length - 1 {
                    out.push_str(&format!("\"{name}\" {operand} "));
                } else if i + 1 == length {
                    out.push_str(&format!("{operand} \"{name}\""));
                } else {
                    out.push_str(&format!("\"{name}\" "));
                }
            }
        }
    }
    out
}
