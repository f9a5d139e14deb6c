//! What the fuzz targets run against, built once per process: a small codebase of real
//! source (the per-language symbol fixtures and a few extra files), an [`Engine`] that has
//! indexed it, a listening socket for whole connections, a pristine store file and a backup
//! of it to corrupt.
//!
//! Everything lives under `<target>/tmp/codesage-fuzz/<pid>` (or the system temp directory
//! outside cargo), removed by the next run once this process is gone. The engine's
//! configuration keeps every call on this machine and small: no LLM provider, no neural
//! model, no watcher, a 4 KiB MCP message limit (so oversized messages are cheap to make) and a
//! 5-second answer deadline.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use codesage_shared::config::{Config, LlmProvider};
use codesage_shared::words::Words;
use codesaged::engine::Engine;
use codesaged::queries::{self, Caller, Encoding, Request};
use codesaged::store::{Layout, Store};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

/// The MCP message limit of the fixture engine.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The shared state of the targets.
pub struct Fixture {
    /// Runs the engine's async work.
    pub runtime: tokio::runtime::Runtime,
    /// The daemon state, with [`Fixture::workspace`] indexed.
    pub engine: Arc<Engine>,
    /// This process's scratch directory.
    pub scratch: PathBuf,
    /// The indexed codebase (four levels below `scratch`, so `..` climbs stay inside it).
    pub workspace: PathBuf,
    /// A second codebase, not indexed until a target asks.
    pub other: PathBuf,
    /// The files of the workspace, relative (`src/ledger.rs`), with their contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// The socket [`Fixture::listener`] listens on.
    pub socket: PathBuf,
    /// Accepts whole connections for the hello target.
    pub listener: interprocess::local_socket::tokio::Listener,
    /// A store file holding every kind of record (roots, files, contents, symbols, segments,
    /// counters, vectors, LLM replies) of the workspace, closed.
    pub store_template: PathBuf,
    /// A valid backup of `store_template`.
    pub backup_template: Vec<u8>,
    /// Numbers the scratch directories of single cases.
    next_case: std::sync::atomic::AtomicU64,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

/// The configuration every engine of the targets uses.
pub fn config(scratch: &Path) -> Config {
    let mut config = Config::default();
    config.llm.provider = LlmProvider::None;
    config.semantic.neural = false;
    config.semantic.model_dir = scratch.join("no-model").display().to_string();
    config.watch.enabled = false;
    config.server.max_message_bytes = MAX_MESSAGE_BYTES;
    config.server.answer_deadline_secs = 5;
    config.index.threads = 2;
    config
}

/// Page cache and content cache of the fixture stores (small, fixed).
const STORE_CACHE_BYTES: usize = 4 << 20;

/// Opens the store in `data_dir` the way the daemon does (with small caches).
pub fn open_store(data_dir: &Path, config: &Config) -> Result<Store, codesaged::store::StoreError> {
    Ok(Store::open_with(
        data_dir,
        STORE_CACHE_BYTES,
        Layout {
            trigram_index: config.index.trigram_index,
            symbols: config.index.symbols,
        },
    )?
    .with_content_cache(STORE_CACHE_BYTES as u64))
}

/// A request as the command line makes it (no deadline, every result).
pub fn cli_caller(base: &Path) -> Caller {
    Caller {
        words: Words::Cli,
        default_roots: vec![base.to_path_buf()],
        base_dir: Some(base.to_path_buf()),
        bounded: false,
        allowed: None,
    }
}

/// A request with `caller` and nothing else.
pub fn request(engine: &Arc<Engine>, caller: Caller, encoding: Encoding) -> Request {
    Request {
        encoding,
        engine: Arc::clone(engine),
        caller,
        progress: None,
        cancel: CancellationToken::new(),
        sampler: None,
    }
}

/// Runs query `name` with `arguments` and returns the answer as JSON, panicking on failure
/// (for building fixtures, not for targets).
pub async fn must_query(
    engine: &Arc<Engine>,
    caller: Caller,
    name: &str,
    arguments: Value,
) -> Value {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    match queries::dispatch(name, arguments, request(engine, caller, Encoding::Value)).await {
        Some(Ok(queries::Encoded::Value(value))) => value,
        Some(Ok(queries::Encoded::Text(text))) => serde_json::from_str(&text).expect("answer"),
        Some(Err(err)) => panic!("{name} failed: {err}"),
        None => panic!("no query {name}"),
    }
}

impl Fixture {
    /// A fresh, empty directory for one case.
    pub fn case_dir(&self) -> PathBuf {
        let case = self
            .next_case
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.scratch.join("cases").join(case.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("case directory");
        dir
    }
}

/// Where scratch directories of all runs live.
fn scratch_base() -> PathBuf {
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    base.join("codesage-fuzz")
}

/// Removes scratch directories of processes that are gone.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The source files of the workspace: every symbol fixture, plus files for the other tools
/// (a copy for clone detection, TODO markers, manifests, a non-source file).
fn workspace_files() -> Vec<(String, Vec<u8>)> {
    // The daemon's tests, or the libFuzzer harness one directory below the daemon.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = [manifest, manifest.parent().unwrap_or(manifest)]
        .iter()
        .map(|dir| dir.join("tests/fixtures/symbols"))
        .find(|dir| dir.is_dir())
        .expect("the symbol fixtures");
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("symbol fixtures")
        .map(|entry| entry.expect("fixture").path())
        .filter(|path| path.extension().is_none_or(|ext| ext != "expected"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        files.push((
            format!("src/{name}"),
            std::fs::read(&path).expect("fixture"),
        ));
    }
    let ledger = files
        .iter()
        .find(|(name, _)| name.ends_with(".rs"))
        .map(|(_, content)| content.clone())
        .unwrap_or_default();
    files.push(("src/copy/ledger_copy.rs".into(), ledger));
    files.push((
        "src/notes.py".into(),
        b"# TODO: handle the empty case\ndef f(a, b):\n    # FIXME(me): overflow\n    return a + b\n"
            .to_vec(),
    ));
    files.push((
        "Cargo.toml".into(),
        b"[package]\nname = \"fuzzed\"\nversion = \"0.1.0\"\n\n[dependencies]\nserde = \"1\"\n"
            .to_vec(),
    ));
    files.push((
        "package.json".into(),
        br#"{"name": "fuzzed", "dependencies": {"left-pad": "1.0.0"}}"#.to_vec(),
    ));
    files.push((
        "README.md".into(),
        b"# Fuzzed\n\nA workspace for the fuzz targets.\n\n## Usage\n\nNone.\n".to_vec(),
    ));
    files
}

fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (name, content) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("directory");
        std::fs::write(&path, content).expect("file");
    }
}

fn build() -> Fixture {
    crate::targets::watch_panics();
    let base = scratch_base();
    remove_stale(&base);
    let scratch = base.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let scratch = scratch.canonicalize().expect("canonical scratch");
    let workspace = scratch.join("a/b/c/workspace");
    let other = scratch.join("a/b/c/other");
    let files = workspace_files();
    write_tree(&workspace, &files);
    write_tree(&other, &files[..3]);

    let config = config(&scratch);
    let store_template = build_store_template(&scratch, &workspace, &config);
    let backup_template = build_backup_template(&scratch, &store_template, &config);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data = scratch.join("data");
    let store = open_store(&data, &config).expect("store");
    let socket = scratch.join("fuzz.sock");
    let engine =
        Engine::new(config, store, socket.clone(), CancellationToken::new()).expect("engine");
    let listener = {
        let _guard = runtime.enter();
        use interprocess::local_socket::ListenerOptions;
        let name = codesage_shared::ipc::socket_name(&socket).expect("socket name");
        ListenerOptions::new()
            .name(name)
            .create_tokio()
            .expect("listener")
    };
    runtime.block_on(async {
        let caller = cli_caller(&workspace);
        let path = workspace.display().to_string();
        must_query(&engine, caller, "index_codebase", json!({ "path": path })).await;
    });
    Fixture {
        runtime,
        engine,
        scratch,
        workspace,
        other,
        files,
        socket,
        listener,
        store_template,
        backup_template,
        next_case: std::sync::atomic::AtomicU64::new(0),
    }
}

/// Indexes `workspace` into a store of its own with the real indexer, adds vectors and LLM
/// replies, closes it and returns the file's path.
fn build_store_template(scratch: &Path, workspace: &Path, config: &Config) -> PathBuf {
    let dir = scratch.join("template");
    let store = open_store(&dir, config).expect("template store");
    let root = store
        .add_root(&workspace.display().to_string(), 1)
        .expect("root");
    codesaged::indexer::index_root(
        &store,
        &root,
        &config.index,
        &codesaged::indexer::Progress::default(),
        &CancellationToken::new(),
    )
    .expect("index the template");
    let vector = codesaged::semantic::vectors::Quantized::new(&[0.5, -0.25, 1.0, 0.0]);
    store
        .put_vectors(&[
            (codesaged::store::vector_key(7, &[1; 16]), vector.encode()),
            (codesaged::store::vector_key(7, &[2; 16]), vector.encode()),
        ])
        .expect("vectors");
    let reply = codesaged::store::CachedReply {
        created_ms: 1,
        provider: "openai".into(),
        model: "m".into(),
        text: "a reply".into(),
        tokens_in: 3,
        tokens_out: 2,
    };
    store
        .put_llm_reply(&[9; 32], &reply, 100, 1000)
        .expect("LLM reply");
    let path = store.path().to_path_buf();
    drop(store);
    path
}

/// A backup of the template store, as `codesage backup` writes it.
fn build_backup_template(scratch: &Path, template: &Path, config: &Config) -> Vec<u8> {
    let dir = scratch.join("backup-source");
    std::fs::create_dir_all(&dir).expect("backup source");
    std::fs::copy(template, dir.join(codesage_shared::paths::STORE_FILE_NAME)).expect("copy");
    let store = open_store(&dir, config).expect("store");
    let target = scratch.join("template.backup");
    codesaged::backup::write(&store, &scratch.join("backup-work"), &target).expect("backup");
    std::fs::read(&target).expect("read the backup")
}

/// Waits for `future` at most `seconds`, panicking with `what` if it takes longer (a hang is
/// a finding like a panic).
pub async fn bounded<F: std::future::Future>(seconds: u64, what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(seconds), future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not finish within {seconds} s"),
    }
}

/// `arguments` as an object (anything else becomes `{"value": arguments}`).
pub fn object(arguments: Value) -> Map<String, Value> {
    match arguments {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            map
        }
    }
}
