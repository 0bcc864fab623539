//! Loads chess.com player profiles and games into PostgreSQL, as dlt's `chess` example
//! does. Made by `dlt-rs init chess postgres`.
//!
//! Players and the API address come from `.dlt/config.toml` (`[sources.chess]`), the
//! credentials from `.dlt/secrets.toml`; environment variables such as
//! `SOURCES__CHESS__BASE_URL` or `DESTINATION__POSTGRES__CREDENTIALS` override both.

use pipeline::Pipeline;
use source_chess::ChessSource;

// Links the PostgreSQL destination into the binary: without a `use`, the linker drops the
// crate and its registration under the name "postgres".
use dest_postgres as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut pipeline = Pipeline::builder("chess")
        .destination("postgres")
        .dataset_name("chess_players_games_data")
        .build()?;
    let chess = ChessSource::from_config(pipeline.config(), Some(pipeline.name()))?;
    // on a new machine, restore the state (the games cursor) from the dataset first
    pipeline.sync_destination().await?;
    let info = pipeline.run(chess.resources(&pipeline)?).await?;
    println!("{info}");
    Ok(())
}
