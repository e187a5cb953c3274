//! What a results file says about its run: when it ran, the commit it
//! measured, and how loaded the shared machine was at the start and the end.

use std::process::Command;

/// Facts about one benchmark run, taken when it starts.
pub(crate) struct RunInfo {
    date: String,
    commit: String,
    load_at_start: String,
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl RunInfo {
    pub(crate) fn now() -> Self {
        let mut commit = output("git", &["rev-parse", "--short", "HEAD"]);
        if !output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
            commit.push_str(" with uncommitted changes");
        }
        Self {
            date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit,
            load_at_start: load_average(),
        }
    }

    /// One sentence: date, commit, CPUs and load, at the start and now.
    pub(crate) fn describe(&self) -> String {
        format!(
            "Run {}, commit {}, {} CPU(s); load average (1, 5, 15 min) {} at the start, {} at the end",
            self.date,
            self.commit,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.load_at_start,
            load_average()
        )
    }
}

/// `--repeats N` (3 if absent) and, if `with_ffi_lib`, `--ffi-lib PATH`;
/// panics with `usage` on anything else.
pub(crate) fn parse_args(usage: &str, with_ffi_lib: bool) -> (usize, Option<std::path::PathBuf>) {
    let mut repeats = 3;
    let mut ffi_lib = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeats" => {
                repeats = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--repeats N")
            }
            "--ffi-lib" if with_ffi_lib => {
                ffi_lib = Some(args.next().expect("--ffi-lib PATH").into())
            }
            _ => panic!("usage: {usage}"),
        }
    }
    (repeats, ffi_lib)
}
