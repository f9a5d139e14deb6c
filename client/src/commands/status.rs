//! `codesage status`: daemon version, uptime, pid, roots, store size and request counts.

use anyhow::{Result, bail};
use codesage_shared::protocol::{ControlEvent, ControlRequest};

use super::{human_bytes, human_count};
use crate::control;
use crate::target::Target;

/// "12 s ago" for a time in ms since the Unix epoch.
fn ago(ms: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64);
    let seconds = now.saturating_sub(ms) / 1000;
    match seconds {
        0..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}

/// Runs the command.
pub fn run(target: &Target, json: bool) -> Result<()> {
    let report = match control::request(target, &ControlRequest::Status, false, |_| {})? {
        ControlEvent::Status(report) => report,
        ControlEvent::Error { message } => bail!(message),
        other => bail!("unexpected answer from the daemon: {other:?}"),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let uptime = report.uptime_secs;
    outln!(
        "codesaged {} (pid {}), up {}h {:02}m {:02}s",
        report.version,
        report.pid,
        uptime / 3600,
        uptime / 60 % 60,
        uptime % 60
    );
    if !report.health.is_empty() {
        outln!("  health     {}", report.health);
        for reason in &report.health_reasons {
            outln!("             - {reason}");
        }
    }
    outln!("  socket     {}", report.socket.display());
    outln!(
        "  store      {} ({})",
        report.store_path.display(),
        human_bytes(report.store_bytes)
    );
    if !report.store_space.is_empty() {
        let mut parts: Vec<String> = report
            .store_space
            .iter()
            .map(|table| {
                let total = table.stored_bytes + table.fragmented_bytes + table.metadata_bytes;
                format!("{} {}", table.name, human_bytes(total))
            })
            .collect();
        let used: u64 = report
            .store_space
            .iter()
            .map(|table| table.stored_bytes + table.fragmented_bytes + table.metadata_bytes)
            .sum();
        parts.push(format!(
            "free {}",
            human_bytes(report.store_bytes.saturating_sub(used))
        ));
        outln!("             {}", parts.join(" · "));
    }
    let memory = &report.memory;
    outln!(
        "  memory     {} resident{}; caches share a budget of {} (memory.budget_mb)",
        human_bytes(report.rss_bytes),
        memory
            .heap_bytes
            .map(|heap| format!(", {} on the heap", human_bytes(heap)))
            .unwrap_or_default(),
        human_bytes(memory.cache_budget_bytes)
    );
    // The parts below 1% of resident memory would only be noise here (`--json` has all).
    let shown: Vec<String> = memory
        .parts
        .iter()
        .filter(|part| part.bytes > 0 && part.bytes * 100 >= report.rss_bytes)
        .map(|part| match part.limit_bytes {
            Some(limit) => format!(
                "{} {} of {}",
                part.name,
                human_bytes(part.bytes),
                human_bytes(limit)
            ),
            None => format!("{} {}", part.name, human_bytes(part.bytes)),
        })
        .collect();
    for line in shown.chunks(3) {
        outln!("             {}", line.join(" · "));
    }
    outln!(
        "  requests   {} served, {} errors, {} connections open",
        human_count(report.requests_served),
        human_count(report.request_errors),
        report.connections_active
    );
    if let Some(cache) = &report.content_cache {
        outln!(
            "  cache      {} of {} decompressed contents, {:.0}% hits ({} hits, {} misses)",
            human_bytes(cache.bytes),
            human_bytes(cache.capacity),
            cache.hit_rate * 100.0,
            human_count(cache.hits),
            human_count(cache.misses)
        );
    }
    outln!(
        "  semantic   model {}; {} chunks embedded, {} vectors reused from the store since start",
        if report.embedding_model.is_empty() {
            "unknown"
        } else {
            &report.embedding_model
        },
        human_count(report.chunks_embedded),
        human_count(report.vectors_reused)
    );
    let llm = &report.llm;
    outln!(
        "  llm        provider {}; reply cache {} entries, {:.0}% hits ({} hits, {} misses)",
        if llm.provider.is_empty() {
            "unknown"
        } else {
            &llm.provider
        },
        human_count(llm.cache.entries),
        llm.cache.hit_rate * 100.0,
        human_count(llm.cache.hits),
        human_count(llm.cache.misses)
    );
    for (name, provider) in &llm.providers {
        outln!(
            "             {name}: {} calls, {} failed, {} retries, {} tokens in / {} out, breaker {}",
            human_count(provider.calls),
            human_count(provider.failures),
            human_count(provider.retries),
            human_count(provider.tokens_in),
            human_count(provider.tokens_out),
            provider.breaker
        );
        if let Some(error) = &provider.last_error {
            outln!("             last error: {error}");
        }
    }
    if report.roots.is_empty() {
        outln!("  roots      none (index one with `codesage index PATH`)");
    }
    for root in &report.roots {
        outln!(
            "  root       {} — {}, {} files, {}",
            root.path.display(),
            root.state,
            human_count(root.files),
            human_bytes(root.bytes)
        );
        if let Some(error) = &root.error {
            outln!("             error: {error}");
        }
        if let Some(semantic) = &root.semantic {
            outln!(
                "             semantic: embedded: {} of {} chunks",
                human_count(semantic.embedded),
                human_count(semantic.chunks)
            );
        }
        if let Some(watch) = &root.watch {
            let latency =
                |value: Option<f64>| value.map_or("-".to_string(), |ms| format!("{ms:.1} ms"));
            let last_update = if watch.last_update_ms == 0 {
                "no change since start".to_string()
            } else {
                format!("last update {}", ago(watch.last_update_ms))
            };
            outln!(
                "             {}: {} dirs watched, {} changes applied in {} batches, {} pending, \
                 {} rescans, {last_update}",
                watch.mode,
                watch.watched_dirs,
                human_count(watch.events_applied),
                human_count(watch.batches),
                watch.pending,
                watch.rescans,
            );
            outln!(
                "             write-to-searchable: last {}, p50 {}, p95 {}",
                latency(watch.last_latency_ms),
                latency(watch.latency_p50_ms),
                latency(watch.latency_p95_ms)
            );
            if let Some(error) = &watch.error {
                outln!("             watcher: {error}");
            }
        }
    }
    Ok(())
}
