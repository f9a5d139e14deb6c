//! `codesage config show|init|check`: the effective configuration with the source of every
//! value (secrets masked), a commented template per profile, and a check that names the
//! offending key, file and line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use codesage_shared::config::{self, LoadedConfig, Profile};
use codesage_shared::paths;

/// The configuration file a command works on: `--file`, else the usual one.
fn config_file(file: Option<&Path>) -> Result<PathBuf> {
    match file {
        Some(file) => std::path::absolute(file).context("cannot resolve the file path"),
        None => paths::config_file(None)
            .context("no configuration file location (no home directory); give one with --file"),
    }
}

/// `codesage config show`.
pub fn show(file: Option<&Path>, profile: Option<Profile>, json: bool) -> Result<()> {
    config::load_dotenv(paths::config_dir().as_deref());
    let file = config_file(file)?;
    if let Some(profile) = profile {
        // The profile is chosen like everywhere else, through its variable.
        let name = serde_json::to_value(profile)?;
        // SAFETY: single-threaded at this point (no thread has been started).
        unsafe { std::env::set_var("CODESAGE_PROFILE", name.as_str().unwrap_or("production")) };
    }
    let loaded = LoadedConfig::load(Some(&file))?;
    let values = loaded.values();
    if json {
        outln!("{}", serde_json::to_string_pretty(&values)?);
        return Ok(());
    }
    outln!(
        "# effective configuration (file: {})",
        match loaded.file() {
            Some(file) => file.display().to_string(),
            None => format!("{} does not exist; defaults apply", file.display()),
        }
    );
    let width = values
        .iter()
        .map(|value| value.key.len())
        .max()
        .unwrap_or(0);
    for value in values {
        outln!(
            "{:width$} = {:<30}  # {}",
            value.key,
            value.value.to_string(),
            value.source
        );
    }
    Ok(())
}

/// `codesage config init`: writes the template (or prints it with `--stdout`).
pub fn init(
    file: Option<&Path>,
    profile: Option<Profile>,
    force: bool,
    stdout: bool,
) -> Result<()> {
    let text = config::template(profile.unwrap_or_default());
    if stdout {
        out!("{text}");
        return Ok(());
    }
    let file = config_file(file)?;
    if file.exists() && !force {
        bail!(
            "{} exists; keep it, or overwrite it with --force (print the template with --stdout)",
            file.display()
        );
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    codesaged::audit::record_local(None, "config_init", &file.display().to_string());
    outln!(
        "wrote {} (every key commented out at its default; uncomment to change one, then run \
         `codesage config check`; a running daemon reads it at its next start)",
        file.display()
    );
    Ok(())
}

/// `codesage config check`: exit 0 when the configuration loads, 1 with the reason when not.
pub fn check(file: Option<&Path>) -> Result<bool> {
    config::load_dotenv(paths::config_dir().as_deref());
    let file = config_file(file)?;
    match LoadedConfig::load(Some(&file)) {
        Ok(loaded) => {
            outln!(
                "configuration ok ({}; profile {})",
                match loaded.file() {
                    Some(file) => file.display().to_string(),
                    None => "no file, defaults".to_string(),
                },
                serde_json::to_value(loaded.config.profile)?
                    .as_str()
                    .unwrap_or_default()
            );
            Ok(true)
        }
        Err(err) => {
            eprintln!("codesage: {err}");
            Ok(false)
        }
    }
}
