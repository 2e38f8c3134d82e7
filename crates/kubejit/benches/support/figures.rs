//! What the benchmarks share: run counts from the environment, the wall time of one command, and the
//! median / p90 / min line.

use std::process::Command;
use std::time::{Duration, Instant};

/// The run count in `var`, or `default` when it is unset or not a number.
pub fn runs(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Prints one line for `samples`: the label padded to `width`, the run count, median, p90 and min.
pub fn report(what: &str, width: usize, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<width$} runs {:>4}  median {:>8.2} ms  p90 {:>8.2} ms  min {:>8.2} ms",
        samples.len(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.9).as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
    );
}

/// Wall time of one run of `cmd`, which must succeed, measured with a blocking wait: a polling wait
/// (`output_bounded`) would quantize every figure to its poll interval.
pub fn time(mut cmd: Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}
