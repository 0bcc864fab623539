//! Follow-up jobs: moving a chain from staging into the dataset (replace and merge).

use dest_core::{Error, FollowUpJob, Result};

use crate::load::PostgresClient;

/// Runs a follow-up in one transaction.
pub(crate) async fn run(_client: &PostgresClient, job: &FollowUpJob<'_>) -> Result<()> {
    Err(Error::Unsupported {
        destination: "postgres".into(),
        what: format!("follow-up {:?}", job.kind),
        hint: None,
    })
}
