//! One module per control command.

pub mod config;
pub mod doctor;
pub mod dups;
pub mod forget;
pub mod index;
pub mod logs;
pub mod model;
pub mod ops;
pub mod read;
pub mod refs;
pub mod review;
pub mod search;
pub mod semantic;
pub mod service;
pub mod status;
pub mod stop;
pub mod symbols;
pub mod tool;

/// A `--root` argument made canonical (symlinks resolved), with an error that names it.
pub fn canonical_root(
    root: Option<std::path::PathBuf>,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    use anyhow::Context;
    root.map(|root| {
        root.canonicalize()
            .with_context(|| format!("cannot search {}", root.display()))
    })
    .transpose()
}

/// The exit status of a command that looks something up: 0 when it found something, 1 when
/// it found nothing (like grep and ripgrep; errors exit 2).
pub fn found(found: bool) -> std::process::ExitCode {
    if found {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}

/// Formats a byte count for people (`12.3 MiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a count with thousands separators (`12,345`).
pub fn human_count(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_count(1234567), "1,234,567");
        assert_eq!(human_count(12), "12");
    }
}
