//! The RFC studio's deterministic steps on a large draft: the completeness check and the
//! citation check on an RFC of about 50 KB (a real Rust RFC from `domain/testdata/rfc_docs`,
//! repeated section by section until it is that large, with `[S#]` citations sprinkled in), and
//! cleaning a model's section. Prints p50/p95/p99 over many runs.
//!
//! `cargo run -p bench --release --bin rfc_bench -- --runs 500`

use bench::Summary;
use clap::Parser;
use domain::rfc::{citations, quality, templates, writing};
use model::DocLanguage;
use std::collections::HashSet;
use std::time::Instant;

#[derive(Parser, Debug)]
struct Args {
    /// Runs of each step.
    #[arg(long, default_value_t = 500)]
    runs: usize,
    /// Size of the RFC, in bytes.
    #[arg(long, default_value_t = 50_000)]
    bytes: usize,
}

/// The largest real feature RFC in the set, grown to `bytes` by repeating its body lines (with
/// citations after sentences) under its last section.
fn large_rfc(bytes: usize) -> anyhow::Result<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../domain/testdata/rfc_docs/feature");
    let mut largest = String::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        if text.len() > largest.len() {
            largest = text;
        }
    }
    let mut out = largest.clone();
    let mut n = 0;
    while out.len() < bytes {
        n += 1;
        for line in largest.lines().filter(|l| !l.starts_with('#')) {
            out.push_str(line);
            if line.ends_with('.') {
                out.push_str(&format!(" [S{}]", n % 14 + 1));
            }
            out.push('\n');
            if out.len() >= bytes {
                break;
            }
        }
    }
    Ok(out)
}

fn time(runs: usize, mut f: impl FnMut()) -> Option<Summary> {
    let samples = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    Summary::of(samples)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tpl = templates::builtin_template("feature").ok_or_else(|| anyhow::anyhow!("template"))?;
    let md = large_rfc(args.bytes)?;
    let known: HashSet<i32> = (1..=12).collect();
    println!("rfc: {} bytes, {} lines", md.len(), md.lines().count());
    let mut score = 0;
    if let Some(s) = time(args.runs, || {
        score = quality::assess_markdown(tpl, DocLanguage::En, &md, Some(&known)).structure_score;
    }) {
        println!("completeness check: {s} (score {score})");
    }
    let mut dropped = 0;
    if let Some(s) = time(args.runs, || dropped = citations::check(&md, &known).dropped) {
        println!("citation check:     {s} ({dropped} dropped)");
    }
    let section: String = md.chars().take(6_000).collect();
    if let Some(s) = time(args.runs, || {
        std::hint::black_box(writing::clean_section(&section));
    }) {
        println!("clean a 6 KB section: {s}");
    }
    Ok(())
}
