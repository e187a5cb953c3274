//! A shell session: the database, the open transaction if any, the output
//! format and the timer; and the execution of one command line.

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use kvdb::{CasOutcome, Db, Endian, IndexDef, IndexQuery, IntType, Ttl, Txn};
use serde_json::json;

use crate::bytes::tokenize;
use crate::commands::help;
use crate::output::{Format, IndexRow, Reply};

/// What a command line asks of the loop around the session.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Print the reply and go on.
    Continue,
    /// Leave the shell.
    Exit,
}

/// A failed command: the message the shell prints. The session goes on.
pub(crate) type CmdResult = Result<Reply, String>;

/// The state of one shell.
pub(crate) struct Session {
    db: Db,
    txn: Option<Txn>,
    pub(crate) format: Format,
    pub(crate) timer: bool,
}

impl Session {
    pub(crate) fn new(db: Db, format: Format) -> Self {
        Self {
            db,
            txn: None,
            format,
            timer: false,
        }
    }

    /// True while a transaction is open (the prompt says so).
    pub(crate) fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// Runs one line: `Ok(None)` for a blank line or a comment.
    pub(crate) fn run_line(
        &mut self,
        line: &str,
    ) -> Result<Option<(Reply, Flow, Duration)>, String> {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("--") {
            return Ok(None);
        }
        let tokens = tokenize(trimmed)?;
        let started = Instant::now();
        let (reply, flow) = self.execute(&tokens)?;
        Ok(Some((reply, flow, started.elapsed())))
    }

    fn execute(&mut self, tokens: &[Vec<u8>]) -> Result<(Reply, Flow), String> {
        let (name, args) = tokens.split_first().ok_or("an empty command")?;
        let name = String::from_utf8_lossy(name).to_lowercase();
        let reply = match name.as_str() {
            ".exit" | ".quit" => return Ok((Reply::Done, Flow::Exit)),
            ".help" | "help" => Reply::Text(help()),
            ".format" => {
                let [f] = arity::<1>(args, ".format table|json|raw")?;
                self.format = match f.as_slice() {
                    b"table" => Format::Table,
                    b"json" => Format::Json,
                    b"raw" => Format::Raw,
                    _ => return Err("usage: .format table|json|raw".into()),
                };
                Reply::Done
            }
            ".timer" => {
                let [f] = arity::<1>(args, ".timer on|off")?;
                self.timer = match f.as_slice() {
                    b"on" => true,
                    b"off" => false,
                    _ => return Err("usage: .timer on|off".into()),
                };
                Reply::Done
            }
            _ => self.data_command(&name, args)?,
        };
        Ok((reply, Flow::Continue))
    }

    fn data_command(&mut self, name: &str, args: &[Vec<u8>]) -> CmdResult {
        let e = |e: kvdb::Error| e.to_string();
        match name {
            "get" => {
                let [key] = arity::<1>(args, "get KEY")?;
                let value = match &mut self.txn {
                    Some(txn) => txn.get(key),
                    None => self.db.get(key),
                };
                Ok(Reply::Value(value.map_err(e)?))
            }
            "mget" => {
                if args.is_empty() {
                    return Err("usage: mget KEY...".into());
                }
                let values = match &mut self.txn {
                    Some(txn) => txn.get_many(args),
                    None => self.db.get_many(args),
                }
                .map_err(e)?;
                Ok(Reply::Lookups(args.iter().cloned().zip(values).collect()))
            }
            "put" | "putnx" => {
                let (key, value, ttl) = match args {
                    [k, v] => (k, v, None),
                    [k, v, t] => (k, v, Some(parse_ttl(t)?)),
                    _ => return Err(format!("usage: {name} KEY VALUE [TTL]")),
                };
                if name == "putnx" {
                    self.no_txn("putnx")?;
                    let stored = match ttl {
                        Some(ttl) => self.db.put_if_absent_with_ttl(key, value, ttl),
                        None => self.db.put_if_absent(key, value),
                    };
                    return Ok(Reply::Bool(stored.map_err(e)?));
                }
                match (&mut self.txn, ttl) {
                    (Some(txn), Some(ttl)) => txn.put_with_ttl(key, value, ttl),
                    (Some(txn), None) => txn.put(key, value),
                    (None, Some(ttl)) => self.db.put_with_ttl(key, value, ttl),
                    (None, None) => self.db.put(key, value),
                }
                .map_err(e)?;
                Ok(Reply::Done)
            }
            "del" => {
                let [key] = arity::<1>(args, "del KEY")?;
                let deleted = match &mut self.txn {
                    Some(txn) => txn.delete(key),
                    None => self.db.delete(key),
                };
                Ok(Reply::Bool(deleted.map_err(e)?))
            }
            "exists" => {
                let [key] = arity::<1>(args, "exists KEY")?;
                let found = match &mut self.txn {
                    Some(txn) => txn.exists(key),
                    None => self.db.exists(key),
                };
                Ok(Reply::Bool(found.map_err(e)?))
            }
            "ttl" => {
                let [key] = arity::<1>(args, "ttl KEY")?;
                self.no_txn("ttl")?;
                Ok(match self.db.ttl(key).map_err(e)? {
                    None => Reply::Value(None),
                    Some(Ttl::Persistent) => Reply::Text("persistent".into()),
                    Some(Ttl::Expires(left)) => Reply::Text(format!("{} ms", left.as_millis())),
                })
            }
            "expire" => {
                let [key, ttl] = arity::<2>(args, "expire KEY TTL")?;
                self.no_txn("expire")?;
                Ok(Reply::Bool(
                    self.db.expire(key, parse_ttl(ttl)?).map_err(e)?,
                ))
            }
            "persist" => {
                let [key] = arity::<1>(args, "persist KEY")?;
                self.no_txn("persist")?;
                Ok(Reply::Bool(self.db.persist(key).map_err(e)?))
            }
            "incr" => {
                self.no_txn("incr")?;
                let (key, delta) = match args {
                    [k] => (k, 1),
                    [k, d] => (k, parse_int(d)?),
                    _ => return Err("usage: incr KEY [DELTA]".into()),
                };
                Ok(Reply::Int(self.db.increment(key, delta).map_err(e)?))
            }
            "cas" => {
                let [key, expected, new] = arity::<3>(args, "cas KEY EXPECTED NEW")?;
                self.no_txn("cas")?;
                let outcome = self.db.compare_and_swap(key, expected, new).map_err(e)?;
                Ok(Reply::Text(
                    match outcome {
                        CasOutcome::Swapped => "swapped",
                        CasOutcome::Mismatch => "mismatch",
                        CasOutcome::NotFound => "absent",
                    }
                    .into(),
                ))
            }
            "scan" | "count" => {
                let opts = ScanOptions::parse(args, name == "scan")?;
                let pairs = self.scan(&opts);
                if name == "count" {
                    return Ok(Reply::Int(pairs.len() as i64));
                }
                Ok(Reply::Pairs(pairs))
            }
            "begin" => {
                arity::<0>(args, "begin")?;
                if self.txn.is_some() {
                    return Err("a transaction is already open: commit or rollback first".into());
                }
                self.txn = Some(self.db.begin().map_err(e)?);
                Ok(Reply::Text("transaction open".into()))
            }
            "commit" => {
                arity::<0>(args, "commit")?;
                let txn = self.txn.take().ok_or("no transaction is open")?;
                let seq = txn.commit().map_err(e)?;
                Ok(Reply::Text(format!("committed at sequence {seq}")))
            }
            "rollback" => match args {
                [] => {
                    self.txn.take().ok_or("no transaction is open")?.rollback();
                    Ok(Reply::Text("rolled back".into()))
                }
                [to] if to == b"to" => {
                    let txn = self.txn.as_mut().ok_or("no transaction is open")?;
                    txn.rollback_to_savepoint()
                        .map_err(|_| "no savepoint to roll back to")?;
                    Ok(Reply::Text("rolled back to the savepoint".into()))
                }
                _ => Err("usage: rollback [to]".into()),
            },
            "savepoint" => {
                arity::<0>(args, "savepoint")?;
                self.txn
                    .as_mut()
                    .ok_or("no transaction is open")?
                    .savepoint();
                Ok(Reply::Done)
            }
            "checkpoint" => {
                arity::<0>(args, "checkpoint")?;
                let r = self.db.checkpoint().map_err(e)?;
                Ok(Reply::Text(if r.wrote_snapshot {
                    format!(
                        "snapshot at sequence {}: {} entries, {} bytes; {} log segment(s) removed",
                        r.seq, r.entries, r.snapshot_bytes, r.wal_segments_removed
                    )
                } else {
                    "nothing to write (in memory, or already checkpointed)".into()
                }))
            }
            "sync" => {
                arity::<0>(args, "sync")?;
                self.db.sync().map_err(e)?;
                Ok(Reply::Done)
            }
            "backup" => {
                let [dir] = arity::<1>(args, "backup DIR")?;
                let dir = String::from_utf8_lossy(dir).into_owned();
                let r = self.db.backup_to(Path::new(&dir)).map_err(e)?;
                Ok(Reply::Text(format!(
                    "backed up {} entries at sequence {} to {dir} ({} bytes, {:.2} s)",
                    r.entries,
                    r.seq,
                    r.bytes,
                    r.duration.as_secs_f64()
                )))
            }
            "stats" => {
                arity::<0>(args, "stats")?;
                Ok(Reply::Fields(stats_fields(&self.db)))
            }
            "index" => self.index_command(args),
            _ => Err(format!("unknown command {name:?} (type .help)")),
        }
    }

    /// Commands with no transactional form refuse to run inside one, so
    /// that nothing bypasses the transaction silently.
    fn no_txn(&self, what: &str) -> Result<(), String> {
        if self.txn.is_some() {
            return Err(format!(
                "{what} does not run inside a transaction: commit or rollback first"
            ));
        }
        Ok(())
    }

    fn scan(&self, o: &ScanOptions) -> Vec<(Vec<u8>, Vec<u8>)> {
        // The prefix's range, narrowed by from (included) and to (excluded).
        let (mut lower, mut upper): (Bound<Vec<u8>>, Bound<Vec<u8>>) = match &o.prefix {
            Some(p) => {
                let (lo, hi) = kvdb::prefix_bounds(p);
                (lo.map(Vec::from), hi.map(Vec::from))
            }
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        if let Some(from) = &o.from
            && !matches!(&lower, Bound::Included(lo) if lo > from)
        {
            lower = Bound::Included(from.clone());
        }
        if let Some(to) = &o.to
            && !matches!(&upper, Bound::Excluded(hi) if hi < to)
        {
            upper = Bound::Excluded(to.clone());
        }
        let range = (lower, upper);
        let pairs: Box<dyn Iterator<Item = (Vec<u8>, Vec<u8>)>> = match (&self.txn, o.reverse) {
            (Some(txn), false) => Box::new(txn.range(range)),
            (Some(txn), true) => Box::new(txn.range_desc(range)),
            (None, false) => Box::new(self.db.range(range)),
            (None, true) => Box::new(self.db.range(range).rev()),
        };
        pairs.take(o.limit.unwrap_or(usize::MAX)).collect()
    }

    fn index_command(&mut self, args: &[Vec<u8>]) -> CmdResult {
        let e = |e: kvdb::Error| e.to_string();
        let (sub, rest) = args
            .split_first()
            .ok_or("usage: index list|create|drop|get|scan ...")?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match sub.as_slice() {
            b"list" => {
                let names: Vec<String> = self
                    .db
                    .indexes()
                    .into_iter()
                    .map(|i| i.def.name().to_string())
                    .collect();
                Ok(Reply::Text(if names.is_empty() {
                    "(no indexes)".into()
                } else {
                    names.join("\n")
                }))
            }
            b"create" => {
                let def = parse_index_def(rest)?;
                self.db.create_index(def).map_err(e)?;
                Ok(Reply::Done)
            }
            b"drop" => {
                let [name] = arity::<1>(rest, "index drop NAME")?;
                self.db.drop_index(&text(name)).map_err(e)?;
                Ok(Reply::Done)
            }
            b"get" => {
                let [name, ikey] = arity::<2>(rest, "index get NAME IKEY")?;
                let first = self
                    .query(&text(name), IndexQuery::Equal(ikey), false)?
                    .into_iter()
                    .next();
                Ok(Reply::Value(first.map(|(_, k, _)| k)))
            }
            b"scan" => {
                let (name, rest) = rest.split_first().ok_or("usage: index scan NAME ...")?;
                let mut query = IndexQuery::All;
                let (mut limit, mut reverse) = (usize::MAX, false);
                let mut i = 0;
                while i < rest.len() {
                    match (rest[i].as_slice(), rest.get(i + 1), rest.get(i + 2)) {
                        (b"equal", Some(k), _) => {
                            query = IndexQuery::Equal(k);
                            i += 2;
                        }
                        (b"prefix", Some(p), _) => {
                            query = IndexQuery::Prefix(p);
                            i += 2;
                        }
                        (b"range", Some(lo), Some(hi)) => {
                            query = IndexQuery::Range(Bound::Included(lo), Bound::Excluded(hi));
                            i += 3;
                        }
                        (b"limit", Some(n), _) => {
                            limit = parse_count(n)?;
                            i += 2;
                        }
                        (b"reverse", _, _) => {
                            reverse = true;
                            i += 1;
                        }
                        _ => {
                            return Err(
                                "usage: index scan NAME [equal K | prefix P | range LO HI] [limit N] [reverse]".into(),
                            );
                        }
                    }
                }
                let mut rows = self.query(&text(name), query, reverse)?;
                rows.truncate(limit);
                Ok(Reply::IndexRows(rows))
            }
            _ => Err("usage: index list|create|drop|get|scan ...".into()),
        }
    }

    fn query(
        &mut self,
        name: &str,
        query: IndexQuery<'_>,
        reverse: bool,
    ) -> Result<Vec<IndexRow>, String> {
        let rows: Vec<_> = match &self.txn {
            Some(txn) => {
                let it = txn.index(name, query).map_err(|e| e.to_string())?;
                let rows: Vec<_> = it.map(|r| (r.index_key, r.key, r.value)).collect();
                if reverse {
                    rows.into_iter().rev().collect()
                } else {
                    rows
                }
            }
            None => {
                let it = self.db.index(name, query).map_err(|e| e.to_string())?;
                if reverse {
                    it.rev().map(|r| (r.index_key, r.key, r.value)).collect()
                } else {
                    it.map(|r| (r.index_key, r.key, r.value)).collect()
                }
            }
        };
        Ok(rows)
    }
}

/// The options of `scan` and `count`.
struct ScanOptions {
    prefix: Option<Vec<u8>>,
    from: Option<Vec<u8>>,
    to: Option<Vec<u8>>,
    limit: Option<usize>,
    reverse: bool,
}

impl ScanOptions {
    fn parse(args: &[Vec<u8>], scan: bool) -> Result<Self, String> {
        let usage = if scan {
            "usage: scan [prefix P] [from K] [to K] [limit N] [reverse]"
        } else {
            "usage: count [prefix P] [from K] [to K]"
        };
        let mut o = ScanOptions {
            prefix: None,
            from: None,
            to: None,
            limit: None,
            reverse: false,
        };
        let mut i = 0;
        while i < args.len() {
            let value = args.get(i + 1);
            match (args[i].as_slice(), value) {
                (b"prefix", Some(v)) => o.prefix = Some(v.clone()),
                (b"from", Some(v)) => o.from = Some(v.clone()),
                (b"to", Some(v)) => o.to = Some(v.clone()),
                (b"limit", Some(v)) if scan => o.limit = Some(parse_count(v)?),
                (b"reverse", _) if scan => {
                    o.reverse = true;
                    i += 1;
                    continue;
                }
                _ => return Err(usage.into()),
            }
            i += 2;
        }
        Ok(o)
    }
}

fn parse_index_def(args: &[Vec<u8>]) -> Result<IndexDef, String> {
    const USAGE: &str = "usage: index create NAME (key DELIM FIELD | json FIELD | bytes OFFSET LEN | int OFFSET TYPE) [unique]";
    let (unique, args) = match args.split_last() {
        Some((last, rest)) if last == b"unique" => (true, rest),
        _ => (false, args),
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let e = |e: kvdb::IndexError| e.to_string();
    let def = match args {
        [name, kind, delim, field] if kind == b"key" => {
            let [d] = delim.as_slice() else {
                return Err("the key delimiter is one byte".into());
            };
            IndexDef::key_field(text(name), *d, parse_count(field)?).map_err(e)?
        }
        [name, kind, field] if kind == b"json" => {
            IndexDef::json_field(text(name), text(field)).map_err(e)?
        }
        [name, kind, offset, len] if kind == b"bytes" => {
            IndexDef::value_bytes(text(name), parse_count(offset)?, parse_count(len)?).map_err(e)?
        }
        [name, kind, offset, ty] if kind == b"int" => {
            let ty = match ty.as_slice() {
                b"u32le" => IntType::U32(Endian::Little),
                b"u32be" => IntType::U32(Endian::Big),
                b"i32le" => IntType::I32(Endian::Little),
                b"i32be" => IntType::I32(Endian::Big),
                b"u64le" => IntType::U64(Endian::Little),
                b"u64be" => IntType::U64(Endian::Big),
                b"i64le" => IntType::I64(Endian::Little),
                b"i64be" => IntType::I64(Endian::Big),
                _ => {
                    return Err(
                        "TYPE is one of u32le u32be i32le i32be u64le u64be i64le i64be".into(),
                    );
                }
            };
            IndexDef::value_int(text(name), parse_count(offset)?, ty).map_err(e)?
        }
        _ => return Err(USAGE.into()),
    };
    Ok(if unique { def.unique() } else { def })
}

fn stats_fields(db: &Db) -> Vec<(String, serde_json::Value)> {
    let s = db.stats();
    let mut fields = vec![
        ("live_keys".to_string(), json!(s.live_keys)),
        ("keys_held".into(), json!(s.keys_held)),
        ("versions".into(), json!(s.versions)),
        ("bytes".into(), json!(s.bytes)),
        ("index_entries".into(), json!(s.index_entries)),
        ("expired_reclaimed".into(), json!(s.expired_reclaimed)),
        ("versions_reclaimed".into(), json!(s.versions_reclaimed)),
        ("gets".into(), json!(s.gets)),
        ("puts".into(), json!(s.puts)),
        ("deletes".into(), json!(s.deletes)),
        ("batches".into(), json!(s.batches)),
        ("open_views".into(), json!(s.open_views)),
        ("sequence".into(), json!(s.visible_seq)),
    ];
    let memory = db.memory_usage();
    fields.push(("memory_used".into(), json!(memory.used)));
    fields.push(("memory_limit".into(), json!(memory.limit)));
    fields.push(("eviction".into(), json!(memory.policy.name())));
    fields.push(("evicted_keys".into(), json!(memory.evicted_keys)));
    match db.durability_stats() {
        Some(d) => {
            fields.push(("directory".into(), json!(d.dir.display().to_string())));
            fields.push(("wal_bytes".into(), json!(d.wal_bytes)));
            fields.push(("wal_segments".into(), json!(d.wal_segments)));
            fields.push(("checkpoints".into(), json!(d.checkpoints)));
            fields.push(("last_checkpoint_seq".into(), json!(d.last_checkpoint_seq)));
        }
        None => fields.push(("directory".into(), json!("(in memory)"))),
    }
    fields
}

/// Exactly `N` arguments, or the usage as the error.
fn arity<'a, const N: usize>(args: &'a [Vec<u8>], usage: &str) -> Result<[&'a Vec<u8>; N], String> {
    if args.len() != N {
        return Err(format!("usage: {usage}"));
    }
    Ok(std::array::from_fn(|i| &args[i]))
}

fn parse_int(b: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{:?} is not an integer", String::from_utf8_lossy(b)))
}

fn parse_count(b: &[u8]) -> Result<usize, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "{:?} is not a non-negative number",
                String::from_utf8_lossy(b)
            )
        })
}

/// `500ms`, `10s`, `5m`, `2h`, `1d`; a bare number is seconds.
pub(crate) fn parse_ttl(b: &[u8]) -> Result<Duration, String> {
    let text = std::str::from_utf8(b).map_err(|_| "a TTL is a number with a unit".to_string())?;
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a TTL (500ms, 10s, 5m, 2h, 1d)"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("{text:?} is not a TTL (500ms, 10s, 5m, 2h, 1d)")),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("the TTL {text:?} is not positive"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("the TTL {text:?} is too long"))
}
