//! `codesage service install|uninstall|status`: run the daemon as a systemd user service
//! (Linux) or a launchd agent (macOS), from the templates in `systemd/` and `launchd/` with
//! the real binary path and this installation's data directory and socket filled in.
//! Installing twice changes nothing; `--dry-run` prints the file and the commands instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::target::Target;

const SYSTEMD_TEMPLATE: &str = include_str!("../../../systemd/codesaged.service");
const LAUNCHD_TEMPLATE: &str = include_str!("../../../launchd/dev.codesage.codesaged.plist");
const SYSTEMD_UNIT: &str = "codesaged.service";
const LAUNCHD_LABEL: &str = "dev.codesage.codesaged";

/// Which service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    /// systemd user units (Linux).
    Systemd,
    /// launchd agents (macOS).
    Launchd,
}

impl Platform {
    /// This machine's service manager.
    pub fn current() -> Platform {
        if cfg!(target_os = "macos") {
            Platform::Launchd
        } else {
            Platform::Systemd
        }
    }
}

/// What the service runs: `codesaged` beside this binary, else this binary's hidden
/// `daemon` command.
fn daemon_command() -> Result<Vec<String>> {
    let me = std::env::current_exe().context("cannot find this program's path")?;
    let me = me.canonicalize().unwrap_or(me);
    let beside = me.with_file_name(if cfg!(windows) {
        "codesaged.exe"
    } else {
        "codesaged"
    });
    Ok(if beside.is_file() {
        vec![beside.display().to_string()]
    } else {
        vec![me.display().to_string(), "daemon".to_string()]
    })
}

/// Variables the service needs to serve the same socket and store as this command.
fn environment(target: &Target) -> Vec<(String, String)> {
    let mut variables = Vec::new();
    if let Some(data_dir) = &target.data_dir {
        let absolute = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone());
        variables.push(("CODESAGE_DATA_DIR".into(), absolute.display().to_string()));
    }
    for name in [
        "CODESAGE_DATA_DIR",
        "CODESAGE_SOCKET",
        "CODESAGE_CONFIG",
        "CODESAGE_LOG_DIR",
    ] {
        if let Ok(value) = std::env::var(name)
            && !variables.iter().any(|(known, _)| known == name)
        {
            variables.push((name.into(), value));
        }
    }
    variables
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set; cannot tell where user services live")
}

/// The service file's path and its content.
pub fn render(platform: Platform, target: &Target) -> Result<(PathBuf, String)> {
    let command = daemon_command()?;
    let variables = environment(target);
    let home = home()?;
    Ok(match platform {
        Platform::Systemd => {
            let exec = command
                .iter()
                .map(|part| systemd_quote(part))
                .collect::<Vec<_>>()
                .join(" ");
            let environment = variables
                .iter()
                .map(|(name, value)| {
                    format!("Environment={}", systemd_quote(&format!("{name}={value}")))
                })
                .collect::<Vec<_>>()
                .join("\n");
            let text = SYSTEMD_TEMPLATE
                .replace("@EXEC@", &exec)
                .replace("@ENVIRONMENT@", &environment);
            let dir = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".config"))
                .join("systemd/user");
            (dir.join(SYSTEMD_UNIT), text)
        }
        Platform::Launchd => {
            let arguments = command
                .iter()
                .map(|part| format!("        <string>{}</string>", xml_escape(part)))
                .collect::<Vec<_>>()
                .join("\n");
            let environment = variables
                .iter()
                .map(|(name, value)| {
                    format!(
                        "        <key>{}</key>\n        <string>{}</string>",
                        xml_escape(name),
                        xml_escape(value)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let log_dir = home.join("Library/Logs");
            let text = LAUNCHD_TEMPLATE
                .replace("@PROGRAM_ARGUMENTS@", &arguments)
                .replace("@ENVIRONMENT@", &environment)
                .replace("@LOG_DIR@", &xml_escape(&log_dir.display().to_string()));
            (
                home.join("Library/LaunchAgents")
                    .join(format!("{LAUNCHD_LABEL}.plist")),
                text,
            )
        }
    })
}

/// Quotes a systemd command-line or assignment word (double quotes, `\` and `"` escaped,
/// `%` doubled so it is not a specifier).
fn systemd_quote(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
        || escaped != word
    {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn uid() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions.
        unsafe { libc::getuid() }.to_string()
    }
    #[cfg(not(unix))]
    {
        "0".to_string()
    }
}

/// The commands that enable and start (or stop and disable) the service.
fn commands(platform: Platform, file: &Path, install: bool) -> Vec<Vec<String>> {
    let words = |parts: &[&str]| {
        parts
            .iter()
            .map(|part| part.to_string())
            .collect::<Vec<_>>()
    };
    match (platform, install) {
        (Platform::Systemd, true) => vec![
            words(&["systemctl", "--user", "daemon-reload"]),
            words(&["systemctl", "--user", "enable", "--now", SYSTEMD_UNIT]),
        ],
        (Platform::Systemd, false) => vec![
            words(&["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT]),
            words(&["systemctl", "--user", "daemon-reload"]),
        ],
        (Platform::Launchd, true) => vec![vec![
            "launchctl".into(),
            "bootstrap".into(),
            format!("gui/{}", uid()),
            file.display().to_string(),
        ]],
        (Platform::Launchd, false) => vec![vec![
            "launchctl".into(),
            "bootout".into(),
            format!("gui/{}/{LAUNCHD_LABEL}", uid()),
        ]],
    }
}

fn run_all(commands: &[Vec<String>], tolerate_failure: bool) -> Result<()> {
    for command in commands {
        let status = Command::new(&command[0])
            .args(&command[1..])
            .status()
            .with_context(|| format!("cannot run {}", command.join(" ")))?;
        if !status.success() && !tolerate_failure {
            bail!("`{}` failed ({status})", command.join(" "));
        }
    }
    Ok(())
}

/// `codesage service install`.
pub fn install(target: &Target, platform: Option<Platform>, dry_run: bool) -> Result<()> {
    let platform = platform.unwrap_or_else(Platform::current);
    let (file, text) = render(platform, target)?;
    let commands = commands(platform, &file, true);
    if dry_run {
        // The file alone on stdout (to save or validate it); what would happen on stderr.
        eprintln!("# would write {}:", file.display());
        out!("{text}");
        eprintln!("# then run:");
        for command in &commands {
            eprintln!("{}", command.join(" "));
        }
        return Ok(());
    }
    let unchanged = std::fs::read_to_string(&file).is_ok_and(|current| current == text);
    if !unchanged {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    // A daemon started on demand holds the socket; the service's daemon would find it
    // running and exit, so hand over to the service.
    let _ = super::stop::run(target);
    // Bootstrapping an already loaded agent fails; loading is what we want either way.
    run_all(&commands, platform == Platform::Launchd && unchanged)?;
    codesaged::audit::record_local(
        target.data_dir.as_deref(),
        "service_install",
        &file.display().to_string(),
    );
    outln!(
        "{} {} and started the service",
        if unchanged { "kept" } else { "wrote" },
        file.display()
    );
    Ok(())
}

/// `codesage service uninstall`.
pub fn uninstall(target: &Target, platform: Option<Platform>, dry_run: bool) -> Result<()> {
    let platform = platform.unwrap_or_else(Platform::current);
    let (file, _) = render(platform, target)?;
    let commands = commands(platform, &file, false);
    if dry_run {
        outln!("# would run:");
        for command in &commands {
            outln!("{}", command.join(" "));
        }
        outln!("# then remove {}", file.display());
        return Ok(());
    }
    if !file.exists() {
        outln!("no service installed ({} does not exist)", file.display());
        return Ok(());
    }
    run_all(&commands, true)?;
    std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
    codesaged::audit::record_local(
        target.data_dir.as_deref(),
        "service_uninstall",
        &file.display().to_string(),
    );
    outln!("stopped the service and removed {}", file.display());
    Ok(())
}

/// `codesage service status`.
pub fn status(target: &Target, platform: Option<Platform>) -> Result<bool> {
    let platform = platform.unwrap_or_else(Platform::current);
    let (file, text) = render(platform, target)?;
    match std::fs::read_to_string(&file) {
        Err(_) => {
            outln!(
                "not installed ({} does not exist); run `codesage service install`",
                file.display()
            );
            return Ok(false);
        }
        Ok(current) if current != text => outln!(
            "installed at {}, but it differs from what `codesage service install` would write \
             now (another binary path or data directory?); run it again to update",
            file.display()
        ),
        Ok(_) => outln!("installed at {}", file.display()),
    }
    let query = match platform {
        Platform::Systemd => vec!["systemctl", "--user", "is-active", SYSTEMD_UNIT],
        Platform::Launchd => vec!["launchctl", "list", LAUNCHD_LABEL],
    };
    match Command::new(query[0]).args(&query[1..]).output() {
        Ok(output) => {
            let said = String::from_utf8_lossy(&output.stdout);
            outln!(
                "{}: {}",
                query.join(" "),
                said.lines().next().unwrap_or(if output.status.success() {
                    "ok"
                } else {
                    "not running"
                })
            );
            Ok(output.status.success())
        }
        Err(err) => {
            outln!("cannot ask {}: {err}", query[0]);
            Ok(false)
        }
    }
}
