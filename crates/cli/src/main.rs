//! The `dlt-rs` binary.

use clap::Parser;

/// mimalloc: the normalizer allocates many small values per row, and glibc's malloc/free
/// took ~20% of its time (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DLT_RS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.log_level()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(interrupted) = e.downcast_ref::<cli::Interrupted>() {
                // exit now: the run's threads (a blocked read of standard input, a
                // normalizer) would hold up the runtime's shutdown; what they leave is
                // what a crash leaves, and the next run recovers from it
                eprintln!("{interrupted}");
                std::process::exit(interrupted.exit_code());
            }
            eprintln!("error: {}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and the causes its message does not already include (the library's errors
/// name their cause; `anyhow`'s context messages do not).
fn report(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}
