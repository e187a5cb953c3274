//! The Rust quick start: an in-memory database, TTLs, a batch, a snapshot
//! and a prefix scan.
//!
//! `cargo run -p kvdb --example quickstart`

use std::time::Duration;

use kvdb::{Batch, Db, Ttl};

fn main() -> kvdb::Result<()> {
    let db = Db::in_memory()?;

    db.put(b"user:1", b"ada")?;
    db.put_with_ttl(b"session:1", b"token-abc", Duration::from_secs(60))?;
    println!(
        "user:1 = {}",
        String::from_utf8_lossy(&db.get(b"user:1")?.unwrap_or_default())
    );
    if let Some(Ttl::Expires(left)) = db.ttl(b"session:1")? {
        println!("session:1 expires in {} s", left.as_secs_f64().round());
    }

    let mut batch = Batch::new();
    batch.put(b"user:2", b"grace")?;
    batch.put(b"user:3", b"linus")?;
    db.write(&batch)?;

    let snapshot = db.snapshot();
    db.delete(b"user:3")?;
    println!("visits = {}", db.increment(b"visits", 1)?);

    for (key, value) in snapshot.prefix(b"user:") {
        println!(
            "snapshot: {} = {}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        );
    }
    println!("now: {} users", db.prefix(b"user:").count());
    db.close()
}
