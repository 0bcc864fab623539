//! Progress of a run on stderr: a line per stage with live counters (indicatif) on a
//! terminal; otherwise a plain line every few seconds (nothing for a short run); nothing at
//! all with `--quiet`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

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
    /// Starts showing `progress` in `mode`.
    pub fn start(progress: Arc<Progress>, mode: Mode) -> Display {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = match mode {
            Mode::Quiet => None,
            Mode::Plain => Some(tokio::spawn(async move {
                let mut every = tokio::time::interval(PLAIN_EVERY);
                every.tick().await; // the first tick is immediate: a short run prints nothing
                let mut last = None;
                loop {
                    tokio::select! {
                        _ = every.tick() => {
                            let now = progress.snapshot();
                            if last.as_ref() != Some(&now) {
                                eprintln!("progress: {}", plain_line(&now));
                                last = Some(now);
                            }
                        }
                        _ = stopped.changed() => break,
                    }
                }
            })),
            Mode::Bars => Some(tokio::spawn(async move {
                let bars = Bars::new();
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

/// One line for logs: every stage's counters.
pub fn plain_line(s: &ProgressSnapshot) -> String {
    format!(
        "extract {} item(s) ({}); normalize {} row(s) in {} table(s), {} file(s); load {} row(s), {} job(s)",
        s.items,
        bytes(s.items_bytes),
        s.rows,
        s.tables,
        s.job_files,
        s.loaded_rows,
        s.loaded_jobs
    )
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

/// One spinner per stage.
struct Bars {
    extract: ProgressBar,
    normalize: ProgressBar,
    load: ProgressBar,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix:<10} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = |name: &str| {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(style.clone());
            b.set_prefix(name.to_string());
            b
        };
        Bars {
            extract: bar("extract"),
            normalize: bar("normalize"),
            load: bar("load"),
        }
    }

    fn show(&self, s: &ProgressSnapshot) {
        self.extract
            .set_message(format!("{} item(s), {}", s.items, bytes(s.items_bytes)));
        self.normalize.set_message(format!(
            "{} row(s) in {} table(s), {} file(s)",
            s.rows, s.tables, s.job_files
        ));
        self.load.set_message(format!(
            "{} row(s), {} job(s)",
            s.loaded_rows, s.loaded_jobs
        ));
        for b in [&self.extract, &self.normalize, &self.load] {
            b.tick();
        }
        if matches!(s.stage, Stage::Load | Stage::Done) && !self.extract.is_finished() {
            self.extract.finish();
            self.normalize.finish();
        }
    }

    fn finish(&self) {
        for b in [&self.extract, &self.normalize, &self.load] {
            if !b.is_finished() {
                b.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_name_every_stage() {
        let s = ProgressSnapshot {
            stage: Stage::Extract,
            items: 1200,
            items_bytes: 3_450_000,
            rows: 2400,
            job_files: 3,
            tables: 2,
            loaded_rows: 800,
            loaded_jobs: 1,
        };
        expect_test::expect![[r#"extract 1200 item(s) (3.5 MB); normalize 2400 row(s) in 2 table(s), 3 file(s); load 800 row(s), 1 job(s)"#]]
            .assert_eq(&plain_line(&s));
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1.0 KB");
    }
}
