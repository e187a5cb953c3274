//! What a command answers, and how each output format prints it: `table`
//! (quoted, readable, pasteable back), `json` (one JSON value per reply,
//! binary as `{"hex": ...}`) and `raw` (bytes as they are).

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::bytes::{quote, to_json};

/// The output formats of `.format` and `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Raw,
}

/// A record found through an index: index key, key, value.
pub(crate) type IndexRow = (Vec<u8>, Vec<u8>, Vec<u8>);

/// One command's answer.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Nothing to print (a command that only acts, in raw and json).
    Done,
    /// A value, or absence.
    Value(Option<Vec<u8>>),
    /// Key/value pairs in order.
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
    /// Keys asked for, each with its value or absence, in the order asked.
    Lookups(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// Records found through an index: index key, key, value.
    IndexRows(Vec<IndexRow>),
    /// A number.
    Int(i64),
    /// A yes/no answer.
    Bool(bool),
    /// Named figures (stats).
    Fields(Vec<(String, Value)>),
    /// A line of text.
    Text(String),
}

/// Writes `reply` to `out` in `format`.
pub(crate) fn print(out: &mut dyn Write, format: Format, reply: &Reply) -> io::Result<()> {
    match format {
        Format::Table => table(out, reply),
        Format::Json => writeln!(out, "{}", json_of(reply)),
        Format::Raw => raw(out, reply),
    }
}

fn table(out: &mut dyn Write, reply: &Reply) -> io::Result<()> {
    match reply {
        Reply::Done => writeln!(out, "OK"),
        Reply::Value(Some(v)) => writeln!(out, "{}", quote(v)),
        Reply::Value(None) => writeln!(out, "(absent)"),
        Reply::Pairs(pairs) => {
            let keys: Vec<String> = pairs.iter().map(|(k, _)| quote(k)).collect();
            let width = key_width(&keys);
            for (key, (_, value)) in keys.iter().zip(pairs) {
                writeln!(out, "{key:<width$}  {}", quote(value))?;
            }
            writeln!(out, "({} {})", pairs.len(), plural(pairs.len(), "pair"))
        }
        Reply::Lookups(lookups) => {
            let keys: Vec<String> = lookups.iter().map(|(k, _)| quote(k)).collect();
            let width = key_width(&keys);
            for (key, (_, value)) in keys.iter().zip(lookups) {
                let shown = value.as_deref().map_or_else(|| "(absent)".into(), quote);
                writeln!(out, "{key:<width$}  {shown}")?;
            }
            Ok(())
        }
        Reply::IndexRows(rows) => {
            for (ikey, key, value) in rows {
                writeln!(out, "{}  {}  {}", quote(ikey), quote(key), quote(value))?;
            }
            writeln!(out, "({} {})", rows.len(), plural(rows.len(), "record"))
        }
        Reply::Int(n) => writeln!(out, "{n}"),
        Reply::Bool(b) => writeln!(out, "{b}"),
        Reply::Fields(fields) => {
            let width = fields.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            for (name, value) in fields {
                let shown = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(out, "{name:<width$}  {shown}")?;
            }
            Ok(())
        }
        Reply::Text(text) => writeln!(out, "{text}"),
    }
}

/// The width of a column of quoted keys: the longest, up to 40 characters.
fn key_width(keys: &[String]) -> usize {
    keys.iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(40)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.into()
    } else {
        format!("{word}s")
    }
}

/// The reply as one JSON value.
pub(crate) fn json_of(reply: &Reply) -> Value {
    match reply {
        Reply::Done => json!({"ok": true}),
        Reply::Value(v) => v.as_deref().map_or(Value::Null, to_json),
        Reply::Pairs(pairs) => Value::Array(
            pairs
                .iter()
                .map(|(k, v)| json!({"key": to_json(k), "value": to_json(v)}))
                .collect(),
        ),
        Reply::Lookups(lookups) => Value::Array(
            lookups
                .iter()
                .map(|(k, v)| json!({"key": to_json(k), "value": v.as_deref().map_or(Value::Null, to_json)}))
                .collect(),
        ),
        Reply::IndexRows(rows) => Value::Array(
            rows.iter()
                .map(|(i, k, v)| {
                    json!({"index_key": to_json(i), "key": to_json(k), "value": to_json(v)})
                })
                .collect(),
        ),
        Reply::Int(n) => json!(n),
        Reply::Bool(b) => json!(b),
        Reply::Fields(fields) => Value::Object(fields.iter().cloned().collect()),
        Reply::Text(text) => json!(text),
    }
}

fn raw(out: &mut dyn Write, reply: &Reply) -> io::Result<()> {
    match reply {
        Reply::Done => Ok(()),
        Reply::Value(Some(v)) => {
            out.write_all(v)?;
            writeln!(out)
        }
        Reply::Value(None) => Ok(()),
        Reply::Pairs(pairs) => {
            for (k, v) in pairs {
                out.write_all(k)?;
                out.write_all(b"\t")?;
                out.write_all(v)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Reply::Lookups(lookups) => {
            // One line per key asked for, empty for an absent one.
            for (_, v) in lookups {
                out.write_all(v.as_deref().unwrap_or_default())?;
                writeln!(out)?;
            }
            Ok(())
        }
        Reply::IndexRows(rows) => {
            for (i, k, v) in rows {
                for (n, part) in [i, k, v].into_iter().enumerate() {
                    if n > 0 {
                        out.write_all(b"\t")?;
                    }
                    out.write_all(part)?;
                }
                writeln!(out)?;
            }
            Ok(())
        }
        _ => table(out, reply),
    }
}
