//! The staging lock: one session-level advisory lock per staging schema, held on a
//! connection of its own from a package's first staging load until its follow-ups are done.
//!
//! Two pipelines that merge into one table share `<dataset>_staging.<table>`: without the
//! lock, one could empty or fill the staging tables between the other's staging loads and
//! its follow-up, and that run's rows were lost (both reported success). The lock spans
//! several transactions on several connections (sessions, jobs, the follow-up), so it is a
//! session lock on a connection that does nothing else; the follow-up checks in its own
//! transaction, just before it commits, that the lock is still held by that connection
//! (`pg_locks`), and fails transiently otherwise: the pipeline then takes the lock again and
//! loads staging again.

use dest_core::{Error, Result, StagingLock};
use tokio_postgres::Client;

use crate::client::{db_err, Pool};
use crate::sql::staging_lock::{BACKEND_PID, HELD, LOCK, TRY_LOCK, UNLOCK};

/// The first key of the two-key advisory lock (`dlts`); the second is `hashtext(staging)`.
/// Two-key locks never collide with the one-key `pg_advisory_xact_lock(hashtext(..))` of
/// migrations.
const LOCK_CLASS: i32 = 0x646c_7473;

#[derive(Default)]
struct State {
    /// The connection holding the lock and its backend pid.
    holder: Option<(Client, i32)>,
    /// Whether a lock was taken and not released: follow-ups check it.
    expected: bool,
}

/// The staging lock of one client (clones of the client share it).
#[derive(Default)]
pub(crate) struct StagingLocks {
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for StagingLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagingLocks").finish_non_exhaustive()
    }
}

impl StagingLocks {
    /// Takes the lock on `staging` unless this client holds it already.
    pub(crate) async fn lock(&self, pool: &Pool, staging: &str, wait: bool) -> Result<StagingLock> {
        let mut state = self.state.lock().await;
        if let Some((conn, _)) = &state.holder {
            if !conn.is_closed() {
                return Ok(StagingLock::Held);
            }
            state.holder = None;
        }
        let ctx = format!("locking the staging schema `{staging}`");
        // a connection of its own: it is not returned to the pool while it holds the lock
        let conn = pool.get().await?;
        let pid: i32 = conn
            .query_one(BACKEND_PID, &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| db_err(&ctx, e))?;
        let got: bool = conn
            .query_one(TRY_LOCK, &[&LOCK_CLASS, &staging])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| db_err(&ctx, e))?;
        if !got {
            if !wait {
                pool.put(conn);
                return Ok(StagingLock::Busy);
            }
            tracing::info!(
                "waiting for another loader's staged load into `{staging}` to finish \
                 (two loads into one staging schema take turns)"
            );
            conn.execute(LOCK, &[&LOCK_CLASS, &staging])
                .await
                .map_err(|e| db_err(&ctx, e))?;
        }
        state.holder = Some((conn, pid));
        state.expected = true;
        Ok(StagingLock::Acquired)
    }

    /// Releases the lock (the connection goes back to the pool).
    pub(crate) async fn unlock(&self, pool: &Pool, staging: &str) -> Result<()> {
        let mut state = self.state.lock().await;
        state.expected = false;
        if let Some((conn, _)) = state.holder.take() {
            conn.execute(UNLOCK, &[&LOCK_CLASS, &staging])
                .await
                .map_err(|e| db_err(format!("unlocking the staging schema `{staging}`"), e))?;
            pool.put(conn);
        }
        Ok(())
    }

    /// Inside a follow-up's transaction, just before it commits: fails transiently when a
    /// lock was taken but is not held by its connection any more (that connection died, and
    /// another loader may have used staging meanwhile).
    pub(crate) async fn verify(&self, tx: &Client, staging: &str, ctx: &str) -> Result<()> {
        let pid = {
            let state = self.state.lock().await;
            if !state.expected {
                return Ok(());
            }
            state.holder.as_ref().map(|(_, pid)| *pid)
        };
        let held = match pid {
            None => false,
            Some(pid) => tx
                .query_one(HELD, &[&pid, &i64::from(LOCK_CLASS), &staging])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(|e| db_err(ctx, e))?,
        };
        if held {
            Ok(())
        } else {
            Err(Error::Transient(format!(
                "{ctx}: the lock on staging schema `{staging}` was lost (its connection \
                 closed), so another loader may have used staging; staging is loaded again"
            )))
        }
    }
}
