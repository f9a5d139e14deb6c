//! `codesage status`: daemon version, uptime, pid, roots, store size and request counts.

use anyhow::{Result, bail};
use codesage_shared::protocol::{ControlEvent, ControlRequest};

use super::{human_bytes, human_count};
use crate::control;
use crate::target::Target;

/// Runs the command.
pub fn run(target: &Target, json: bool) -> Result<()> {
    let report = match control::request(target, &ControlRequest::Status, false, |_| {})? {
        ControlEvent::Status(report) => report,
        ControlEvent::Error { message } => bail!(message),
        other => bail!("unexpected answer from the daemon: {other:?}"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let uptime = report.uptime_secs;
    println!(
        "codesaged {} (pid {}), up {}h {:02}m {:02}s",
        report.version,
        report.pid,
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60
    );
    println!("  socket     {}", report.socket.display());
    println!(
        "  store      {} ({})",
        report.store_path.display(),
        human_bytes(report.store_bytes)
    );
    println!("  memory     {} resident", human_bytes(report.rss_bytes));
    println!(
        "  requests   {} served, {} errors, {} connections open",
        human_count(report.requests_served),
        human_count(report.request_errors),
        report.connections_active
    );
    if report.roots.is_empty() {
        println!("  roots      none (index one with `codesage index PATH`)");
    }
    for root in &report.roots {
        println!(
            "  root       {} — {}, {} files, {}",
            root.path.display(),
            root.state,
            human_count(root.files),
            human_bytes(root.bytes)
        );
        if let Some(error) = &root.error {
            println!("             error: {error}");
        }
    }
    Ok(())
}
