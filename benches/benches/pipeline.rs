//! Criterion micro-benchmarks of the per-file work on the indexing and search paths, over the
//! repository's own Rust sources (always present, so these run anywhere): analysis of one file
//! (hash, line counts, zstd, trigrams), line counting, trigram extraction, segment building,
//! regex → trigram query compilation, candidate selection, and regex matching of content.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use codesage_shared::config::Config;
use codesage_shared::protocol::SearchParams;
use codesaged::indexer::{self, language, lines};
use codesaged::search::{Query, matcher};
use codesaged::trigram::{RootIndex, Segment, TrigramQuery, index::Doc, trigrams};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn sources() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut out = Vec::new();
    for dir in ["daemon/src", "client/src", "shared/src", "tests"] {
        collect(&root.join(dir), &mut out);
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let content = std::fs::read(&path).unwrap();
            out.push((path, content));
        }
    }
}

fn pipeline(c: &mut Criterion) {
    let files = sources();
    let total: u64 = files.iter().map(|(_, content)| content.len() as u64).sum();
    let config = Config::default();
    let mut group = c.benchmark_group("per_file");
    group.throughput(Throughput::Bytes(total));

    for (name, parse_now) in [
        ("analyze (hash + lines + zstd + trigrams)", false),
        ("analyze + tree-sitter symbols", true),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for (path, content) in &files {
                    let analyzed = indexer::analyze(
                        "x.rs",
                        path,
                        content.len() as u64,
                        0,
                        None,
                        &config.index,
                        parse_now,
                        None,
                    )
                    .unwrap();
                    black_box(analyzed);
                }
            })
        });
    }

    let rust = language::detect("x.rs", b"");
    group.bench_function("line counts", |b| {
        b.iter(|| {
            for (_, content) in &files {
                black_box(lines::count(content, rust));
            }
        })
    });

    for (name, pattern) in [("literal", "CancellationToken"), ("regex", r"fn \w+\(")] {
        let query = Query::compile(
            &SearchParams {
                pattern: pattern.into(),
                case_sensitive: true,
                max_results: Some(0),
                ..SearchParams::default()
            },
            None,
            &config.search,
        )
        .unwrap();
        group.bench_function(format!("match {name}"), |b| {
            b.iter(|| {
                for (_, content) in &files {
                    black_box(query.search_content("x.rs", content));
                }
            })
        });
    }
    // The inner-literal prefilter against the plain matcher on the same regex.
    let inner = Query::compile(
        &SearchParams {
            pattern: r"fn \w+_(?:unchecked|handler)\(".into(),
            case_sensitive: true,
            max_results: Some(0),
            ..SearchParams::default()
        },
        None,
        &config.search,
    )
    .unwrap();
    assert!(inner.has_line_prefilter());
    group.bench_function("match inner literal, plain regex", |b| {
        b.iter(|| {
            for (_, content) in &files {
                matcher::for_each_matching_line(inner.regex(), content, |line| {
                    black_box(line);
                    true
                });
            }
        })
    });
    group.bench_function("match inner literal, line prefilter", |b| {
        b.iter(|| {
            for (_, content) in &files {
                black_box(inner.search_content("x.rs", content));
            }
        })
    });
    group.bench_function("trigram extraction", |b| {
        b.iter(|| {
            for (_, content) in &files {
                black_box(trigrams(content));
            }
        })
    });
    let docs: Vec<(u32, Vec<u32>)> = files
        .iter()
        .enumerate()
        .map(|(id, (_, content))| (id as u32, trigrams(content)))
        .collect();
    group.bench_function("segment build", |b| {
        b.iter(|| black_box(Segment::build(&docs)))
    });
    group.finish();

    let mut index = RootIndex::default();
    for (id, (path, _)) in files.iter().enumerate() {
        index.set_doc(
            id as u32,
            Some(Doc {
                path: path.display().to_string().into(),
                hash: [0; 32],
                content: id as u32,
                language: "Rust".into(),
                definitions: None,
            }),
        );
    }
    index.segments = std::sync::Arc::new(vec![(1, std::sync::Arc::new(Segment::build(&docs)))]);
    let mut queries = c.benchmark_group("query");
    for pattern in [
        "CancellationToken",
        r"fn \w+_handler\(",
        "TODO|FIXME|XXX",
        r"(?i)content-type",
    ] {
        queries.bench_function(format!("compile {pattern}"), |b| {
            b.iter(|| black_box(TrigramQuery::from_regex(pattern, false).unwrap()))
        });
        let query = TrigramQuery::from_regex(pattern, false).unwrap();
        queries.bench_function(format!("candidates {pattern}"), |b| {
            b.iter(|| black_box(index.candidates(&query)))
        });
    }
    queries.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
