//! Redis (Debian's redis-server) on loopback, a private server per run,
//! reached with pipelining: each request group goes out as one pipeline of
//! 64 commands. In memory mode persistence is off; in durable mode the
//! append-only file is synced on every write (`appendfsync always`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Client, Connection};

use super::{Mode, Op, System};

pub(crate) struct Redis {
    server: Child,
    client: Client,
    pool: Mutex<Vec<Connection>>,
    dir: tempfile::TempDir,
}

const PIPELINE: usize = 64;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Redis {
    pub(crate) fn open(mode: Mode, dir: &Path, server: &Path) -> Self {
        let dir = tempfile::tempdir_in(dir).expect("redis directory");
        let port = free_port();
        let mut cmd = Command::new(server);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "no",
        ])
        .args(["--save", "", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        match mode {
            Mode::Memory => cmd.args(["--appendonly", "no"]),
            Mode::Durable => cmd.args(["--appendonly", "yes", "--appendfsync", "always"]),
        };
        let server = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", server.display()));
        let client = Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
        let started = Instant::now();
        loop {
            if let Ok(mut c) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            server,
            client,
            pool: Mutex::new(Vec::new()),
            dir,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let mut con = self
            .pool
            .lock()
            .pop()
            .unwrap_or_else(|| self.client.get_connection().expect("connection"));
        let r = f(&mut con);
        self.pool.lock().push(con);
        r
    }

    fn info_field(&self, field: &str) -> Option<u64> {
        let info: String = self
            .with(|c| redis::cmd("INFO").arg("memory").query(c))
            .ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl System for Redis {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.with(|c| redis::cmd("SET").arg(key).arg(value).query::<()>(c))
            .expect("SET");
    }

    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        let v: Option<Vec<u8>> = self
            .with(|c| redis::cmd("GET").arg(key).query(c))
            .expect("GET");
        match v {
            Some(v) => {
                *out = v;
                true
            }
            None => false,
        }
    }

    /// One MGET for all the keys.
    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<u8>) -> usize {
        let mut mget = redis::cmd("MGET");
        for key in keys {
            mget.arg(*key);
        }
        let values: Vec<Option<Vec<u8>>> = self.with(|c| mget.query(c)).expect("MGET");
        let mut found = 0;
        for value in values.into_iter().flatten() {
            *out = value;
            found += 1;
        }
        found
    }

    fn delete(&self, key: &[u8]) -> bool {
        let n: i64 = self
            .with(|c| redis::cmd("DEL").arg(key).query(c))
            .expect("DEL");
        n > 0
    }

    fn scan(&self, _start: &[u8], _n: usize, _out: &mut Vec<u8>) -> Option<usize> {
        None
    }

    fn pipeline(&self) -> usize {
        PIPELINE
    }

    fn run(&self, ops: &[Op<'_>], out: &mut Vec<u8>) {
        let mut pipe = redis::pipe();
        for op in ops {
            match *op {
                Op::Get(k) => {
                    pipe.cmd("GET").arg(k);
                }
                Op::Put(k, v) => {
                    pipe.cmd("SET").arg(k).arg(v).ignore();
                }
                Op::Delete(k) => {
                    pipe.cmd("DEL").arg(k).ignore();
                }
                Op::ReadModifyWrite(k, v) => {
                    pipe.cmd("GET").arg(k);
                    pipe.cmd("SET").arg(k).arg(v).ignore();
                }
                Op::Scan(..) | Op::ScanSteps(..) | Op::ScanBack(..) => {}
            }
        }
        let replies: Vec<Option<Vec<u8>>> = self.with(|c| pipe.query(c)).expect("pipeline");
        if let Some(Some(v)) = replies.into_iter().last() {
            *out = v;
        }
    }

    fn load_batch(&self, pairs: &[(&[u8], &[u8])]) {
        let mut pipe = redis::pipe();
        for (k, v) in pairs {
            pipe.cmd("SET").arg(*k).arg(*v).ignore();
        }
        self.with(|c| pipe.query::<()>(c)).expect("pipeline");
    }

    fn compact(&self) {
        self.with(|c| redis::cmd("SAVE").query::<()>(c))
            .expect("SAVE");
    }

    fn disk_bytes(&self) -> Option<u64> {
        std::fs::metadata(self.dir.path().join("dump.rdb"))
            .ok()
            .map(|m| m.len())
    }

    fn resident_bytes(&self) -> Option<u64> {
        self.info_field("used_memory_rss")
    }
}
