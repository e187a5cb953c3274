//! `kvdb`: an interactive shell for kvdb databases (in memory or on a
//! directory), scriptable from stdin or `-c`, and tools for database
//! directories that are not open elsewhere: verify, wal, stats, dump, load,
//! backup and restore.

mod bytes;
mod commands;
mod output;
mod session;
mod shell;
mod tools;

use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kvdb::{Db, EvictionPolicy, Options};

use output::Format;
use session::Session;

#[derive(Parser)]
#[command(name = "kvdb", version, about = "The kvdb shell and database tools")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// An interactive shell on DIR (a database directory, created if missing)
    /// or, with no DIR or `:memory:`, on an in-memory database.
    Shell {
        /// The database directory, or `:memory:`.
        dir: Option<PathBuf>,
        /// Run this command line instead of reading stdin (repeatable).
        #[arg(short = 'c', long = "command")]
        commands: Vec<String>,
        /// Go on after a failed command (the exit status is still 1).
        #[arg(long)]
        keep_going: bool,
        /// How replies are printed.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The most memory the database may hold, in bytes (or with a
        /// suffix K, M or G for KiB, MiB, GiB), as the application that
        /// uses it opens it; 0, the default: none.
        #[arg(long, value_parser = parse_size, default_value = "0")]
        memory_limit: u64,
        /// What a write past the memory limit does, by Redis's
        /// maxmemory-policy names: noeviction (fail), allkeys-lru,
        /// allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu,
        /// volatile-random, volatile-ttl.
        #[arg(long, value_parser = parse_policy, default_value = "noeviction")]
        eviction: EvictionPolicy,
    },
    /// Checks every snapshot file and log record of a database directory;
    /// prints each problem with its file and offset, nothing when sound.
    /// Exit status 0 when sound, 1 when not. Writes nothing.
    Verify { dir: PathBuf },
    /// Lists the log records of a database directory (read only).
    Wal {
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Statistics of a database directory (read only).
    Stats {
        dir: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Every live record of a database directory as JSON lines (read only).
    Dump { dir: PathBuf },
    /// Loads JSON lines from a dump (FILE `-`: stdin) into a database directory.
    Load { dir: PathBuf, file: PathBuf },
    /// Copies a database directory into the new directory DEST (read only on DIR).
    Backup { dir: PathBuf, dest: PathBuf },
    /// Restores a backup into the new database directory DIR.
    Restore { backup: PathBuf, dir: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Shell {
        dir: None,
        commands: Vec::new(),
        keep_going: false,
        format: Format::Table,
        memory_limit: 0,
        eviction: EvictionPolicy::NoEviction,
    });
    let result = match command {
        Command::Shell {
            dir,
            commands,
            keep_going,
            format,
            memory_limit,
            eviction,
        } => {
            let mut options = Options::default();
            options.memory_limit = memory_limit;
            options.eviction = eviction;
            return shell(dir, options, commands, keep_going, format);
        }
        Command::Verify { dir } => match tools::verify(&dir) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Wal { dir, format } => tools::wal(&dir, format),
        Command::Stats { dir, format } => tools::stats(&dir, format),
        Command::Dump { dir } => tools::dump(&dir, &mut std::io::stdout().lock()),
        Command::Load { dir, file } => load(&dir, &file),
        Command::Backup { dir, dest } => tools::backup(&dir, &dest),
        Command::Restore { backup, dir } => tools::restore(&backup, &dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(dir: &std::path::Path, file: &std::path::Path) -> Result<(), String> {
    if file.as_os_str() == "-" {
        return tools::load(dir, Box::new(std::io::stdin().lock()), None);
    }
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let size = f.metadata().ok().map(|m| m.len());
    tools::load(dir, Box::new(BufReader::new(f)), size)
}

fn shell(
    dir: Option<PathBuf>,
    options: Options,
    commands: Vec<String>,
    keep_going: bool,
    format: Format,
) -> ExitCode {
    let in_memory = dir.as_ref().is_none_or(|d| d.as_os_str() == ":memory:");
    let opened = if in_memory {
        Db::in_memory_with(options)
    } else {
        Db::open(
            dir.as_deref().unwrap_or(std::path::Path::new(":memory:")),
            options,
        )
    };
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if in_memory {
        eprintln!(
            "note: an in-memory database: nothing is kept after the shell ends (`backup DIR` saves a copy)"
        );
    }
    let mut session = Session::new(db, format);
    let status = if !commands.is_empty() {
        shell::run_script(&mut session, commands.join("\n").as_bytes(), keep_going)
    } else if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        shell::run_interactive(&mut session)
    } else {
        shell::run_script(&mut session, std::io::stdin().lock(), keep_going)
    };
    if status == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A byte count: digits, optionally followed by K, M or G (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 1u64 << 10),
        Some((at, 'M' | 'm')) => (&text[..at], 1 << 20),
        Some((at, 'G' | 'g')) => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text:?} is not a byte count (digits, then K, M or G if any)"))
}

/// An eviction policy by its Redis name.
fn parse_policy(name: &str) -> Result<EvictionPolicy, String> {
    EvictionPolicy::ALL
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = EvictionPolicy::ALL.iter().map(|p| p.name()).collect();
            format!("{name:?} is not one of {}", names.join(", "))
        })
}
