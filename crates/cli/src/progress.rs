//! Progress of a run on stderr: a line per stage with live counters (indicatif) on a
//! terminal; otherwise a plain line every few seconds (nothing for a short run); nothing at
//! all with `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::{Progress, ProgressSnapshot, Stage};

/// How often the terminal display redraws.
const TICK: Duration = Duration::from_millis(120);
/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (`--quiet`).
    Quiet,
    /// Plain lines (stderr is not a terminal).
    Plain,
    /// Live bars (stderr is a terminal).
    Bars,
}

impl Mode {
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        }
    }
}

/// A running display; [`Display::finish`] stops it.
pub struct Display {
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Display {
    /// Starts showing `progress` of pipeline `name` in `mode`.
    pub fn start(progress: Arc<Progress>, mode: Mode, name: &str) -> Display {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let name = name.to_string();
        let task = match mode {
            Mode::Quiet => None,
            Mode::Plain => Some(tokio::spawn(async move {
                let started = Instant::now();
                let mut every = tokio::time::interval(PLAIN_EVERY);
                every.tick().await; // the first tick is immediate: a short run prints nothing
                let mut last = None;
                loop {
                    tokio::select! {
                        _ = every.tick() => {
                            let now = progress.snapshot();
                            if last.as_ref() != Some(&now) {
                                eprintln!("progress: {}", plain_line(&now, started.elapsed(), &name));
                                last = Some(now);
                            }
                        }
                        _ = stopped.changed() => break,
                    }
                }
            })),
            Mode::Bars => Some(tokio::spawn(async move {
                let mut bars = Bars::new(name);
                let mut every = tokio::time::interval(TICK);
                loop {
                    tokio::select! {
                        _ = every.tick() => bars.show(&progress.snapshot()),
                        _ = stopped.changed() => break,
                    }
                }
                bars.show(&progress.snapshot());
                bars.finish();
            })),
        };
        Display { stop, task }
    }

    /// Stops the display (its last state stays on a terminal).
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// `n` per second over `elapsed` (0 before a tenth of a second passed).
fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs < 0.1 {
        0.0
    } else {
        n as f64 / secs
    }
}

/// A count per second, short: `950/s`, `12.3k/s`, `1.2M/s`.
fn rate(n: u64, elapsed: Duration) -> String {
    let r = per_second(n, elapsed);
    if r >= 1e6 {
        format!("{:.1}M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

/// Bytes per second (`12.3 MB/s`).
fn byte_rate(n: u64, elapsed: Duration) -> String {
    format!("{}/s", bytes(per_second(n, elapsed) as u64))
}

/// A duration for people: `4.2s`, `1m 05s`, `2h 03m`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The percentage of the input read and the time left at the rate so far, when the input's
/// size is known and reading has started.
fn percent_and_eta(s: &ProgressSnapshot, elapsed: Duration) -> Option<(f64, Option<Duration>)> {
    let total = s.input_total?;
    let read = s.input_read.min(total);
    let percent = 100.0 * read as f64 / total as f64;
    let speed = per_second(read, elapsed);
    let eta = (speed > 0.0).then(|| Duration::from_secs_f64((total - read) as f64 / speed));
    Some((percent, eta))
}

/// One line for logs: every stage's counters and rates (over `elapsed`, the run so far),
/// the percentage and ETA where the input's size is known.
pub fn plain_line(s: &ProgressSnapshot, elapsed: Duration, name: &str) -> String {
    if s.stage == Stage::WaitingForLock {
        return waiting(s, name);
    }
    let mut extract = format!(
        "extract {} item(s) ({}; {}, {})",
        s.items,
        bytes(s.items_bytes),
        rate(s.items, elapsed),
        byte_rate(s.items_bytes, elapsed)
    );
    if let Some((percent, eta)) = percent_and_eta(s, elapsed).filter(|_| !s.extract_done) {
        extract.push_str(&format!(", {percent:.0}% of the input"));
        if let Some(eta) = eta {
            extract.push_str(&format!(", ETA {}", human(eta)));
        }
    }
    format!(
        "{extract}; normalize {} row(s) in {} table(s), {} file(s) ({}); load {} row(s), {} job(s) ({})",
        s.rows,
        s.tables,
        s.job_files,
        rate(s.rows, elapsed),
        s.loaded_rows,
        s.loaded_jobs,
        rate(s.loaded_rows, elapsed)
    )
}

fn waiting(s: &ProgressSnapshot, name: &str) -> String {
    match s.lock_holder {
        Some(pid) => format!("waiting for the lock of pipeline {name} (held by pid {pid})"),
        None => format!("waiting for the lock of pipeline {name} (held by another process)"),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// One line per stage: a spinner (a bar with percentage and ETA while extract reads input of
/// known size) with counters and rates; a finished stage stops with its final time.
struct Bars {
    name: String,
    spinner: ProgressStyle,
    bar: ProgressStyle,
    done: ProgressStyle,
    extract: ProgressBar,
    normalize: ProgressBar,
    load: ProgressBar,
    /// When each stage began its work, and when extract and normalize ended.
    extract_start: Option<Instant>,
    load_start: Option<Instant>,
    extract_end: Option<Instant>,
    normalize_end: Option<Instant>,
    with_bar: bool,
}

impl Bars {
    fn new(name: String) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = |template: &str| {
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
        };
        let spinner = style("{spinner} {prefix:<10} {wide_msg}");
        let bar = |name: &str| {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(spinner.clone());
            b.set_prefix(name.to_string());
            b
        };
        Bars {
            name,
            bar: style("{spinner} {prefix:<10} [{bar:24}] {percent:>3}% {wide_msg}")
                .progress_chars("=> "),
            done: style("✓ {prefix:<10} {wide_msg}"),
            extract: bar("extract"),
            normalize: bar("normalize"),
            load: bar("load"),
            spinner,
            extract_start: None,
            load_start: None,
            extract_end: None,
            normalize_end: None,
            with_bar: false,
        }
    }

    fn show(&mut self, s: &ProgressSnapshot) {
        let now = Instant::now();
        if s.stage == Stage::WaitingForLock {
            self.extract.set_message(waiting(s, &self.name));
            self.extract.tick();
            return;
        }
        if matches!(s.stage, Stage::Idle) {
            self.extract.set_message("starting");
            self.extract.tick();
            return;
        }
        let started = *self.extract_start.get_or_insert(now);
        if s.loaded_jobs > 0 || s.stage == Stage::Load {
            self.load_start.get_or_insert(now);
        }
        // extract
        if !self.extract.is_finished() {
            let elapsed = now - started;
            let counts = format!(
                "{} item(s), {} — {}, {}",
                s.items,
                bytes(s.items_bytes),
                rate(s.items, elapsed),
                byte_rate(s.items_bytes, elapsed)
            );
            let past_extract = s.extract_done || matches!(s.stage, Stage::Load | Stage::Done);
            if past_extract {
                let took = now - started;
                self.extract_end = Some(now);
                self.extract.set_style(self.done.clone());
                self.extract.finish_with_message(format!(
                    "{} item(s), {} in {} ({}, {})",
                    s.items,
                    bytes(s.items_bytes),
                    human(took),
                    rate(s.items, took),
                    byte_rate(s.items_bytes, took)
                ));
            } else if let (Some(total), Some((_, eta))) =
                (s.input_total, percent_and_eta(s, elapsed))
            {
                if !self.with_bar {
                    self.with_bar = true;
                    self.extract.set_style(self.bar.clone());
                    self.extract.set_length(total);
                }
                self.extract.set_position(s.input_read.min(total));
                let eta = eta.map_or_else(|| "ETA …".to_string(), |e| format!("ETA {}", human(e)));
                self.extract.set_message(format!(
                    "{} of {} read ({}), {counts}, {eta}",
                    bytes(s.input_read),
                    bytes(total),
                    byte_rate(s.input_read, elapsed)
                ));
            } else {
                self.extract.set_message(counts);
                self.extract.tick();
            }
        }
        // normalize
        if !self.normalize.is_finished() {
            let elapsed = now - started;
            if s.normalize_done || matches!(s.stage, Stage::Load | Stage::Done) {
                self.normalize_end = Some(now);
                self.normalize.set_style(self.done.clone());
                self.normalize.finish_with_message(format!(
                    "{} row(s) in {} table(s), {} file(s) in {} ({})",
                    s.rows,
                    s.tables,
                    s.job_files,
                    human(elapsed),
                    rate(s.rows, elapsed)
                ));
            } else {
                self.normalize.set_message(format!(
                    "{} row(s) in {} table(s), {} file(s) — {}",
                    s.rows,
                    s.tables,
                    s.job_files,
                    rate(s.rows, elapsed)
                ));
                self.normalize.tick();
            }
        }
        // load
        if !self.load.is_finished() {
            let elapsed = self.load_start.map_or(Duration::ZERO, |t| now - t);
            if s.stage == Stage::Done {
                self.load.set_style(self.done.clone());
                self.load.finish_with_message(format!(
                    "{} row(s), {} job(s) in {} ({})",
                    s.loaded_rows,
                    s.loaded_jobs,
                    human(elapsed),
                    rate(s.loaded_rows, elapsed)
                ));
            } else {
                self.load.set_message(format!(
                    "{} row(s), {} job(s) — {}",
                    s.loaded_rows,
                    s.loaded_jobs,
                    rate(s.loaded_rows, elapsed)
                ));
                self.load.tick();
            }
        }
    }

    fn finish(&self) {
        for b in [&self.extract, &self.normalize, &self.load] {
            if !b.is_finished() {
                b.set_style(self.spinner.clone());
                b.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_name_every_stage_with_rates_and_eta() {
        let mut s = ProgressSnapshot {
            stage: Stage::Extract,
            items: 1200,
            items_bytes: 3_450_000,
            rows: 2400,
            job_files: 3,
            tables: 2,
            loaded_rows: 800,
            loaded_jobs: 1,
            input_total: Some(10_000_000),
            input_read: 2_500_000,
            extract_done: false,
            normalize_done: false,
            lock_holder: None,
        };
        let two_s = Duration::from_secs(2);
        expect_test::expect![[r#"extract 1200 item(s) (3.5 MB; 600/s, 1.7 MB/s), 25% of the input, ETA 6.0s; normalize 2400 row(s) in 2 table(s), 3 file(s) (1.2k/s); load 800 row(s), 1 job(s) (400/s)"#]]
            .assert_eq(&plain_line(&s, two_s, "shop"));
        s.stage = Stage::WaitingForLock;
        s.lock_holder = Some(4242);
        assert_eq!(
            plain_line(&s, two_s, "shop"),
            "waiting for the lock of pipeline shop (held by pid 4242)"
        );
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1.0 KB");
        assert_eq!(human(Duration::from_secs(65)), "1m 05s");
    }
}
