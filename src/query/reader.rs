//! The reader thread: answers view queries with its own read connection so
//! that a UI frame never waits on SQLite. Requests go in, replies come out,
//! and a waker closure tells the client that replies are waiting.

use std::path::Path;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, unbounded};
use rusqlite::{Connection, OpenFlags};

use crate::audit::{AuditEntry, AuditLog};
use crate::db::problems::Problem;
use crate::db::stats::PermissionStats;
use crate::error::{NexusError, Result};
use crate::query::grid::{self, GridQuery, GridRow, ObjectDetail};
use crate::sync::service::Waker;
use crate::vault::Vault;

/// A question for the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRequest {
    /// The ids matching a grid query; `generation` is echoed back so that
    /// stale answers can be dropped.
    Ids {
        /// Echoed back.
        generation: u64,
        /// The query.
        query: GridQuery,
    },
    /// Rows by id.
    Rows {
        /// Echoed back.
        generation: u64,
        /// The ids.
        ids: Vec<i64>,
    },
    /// One object's detail.
    Detail {
        /// The object key.
        key: String,
    },
    /// The stats.
    Stats,
    /// Every problem.
    Problems,
    /// The whole audit log.
    Audit,
    /// The distinct schema names.
    Schemas,
    /// The open conflicts.
    Conflicts,
    /// Stop the thread.
    Shutdown,
}

/// An answer from the reader.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadReply {
    /// Matching ids.
    Ids {
        /// From the request.
        generation: u64,
        /// The ids, in order.
        ids: Vec<i64>,
    },
    /// Rows.
    Rows {
        /// From the request.
        generation: u64,
        /// The rows.
        rows: Vec<GridRow>,
    },
    /// A detail (`None` if the object is gone).
    Detail {
        /// The object key asked for.
        key: String,
        /// The detail.
        detail: Option<Box<ObjectDetail>>,
    },
    /// The stats.
    Stats(PermissionStats),
    /// Every problem.
    Problems(Vec<Problem>),
    /// The audit log.
    Audit(Vec<AuditEntry>),
    /// Schema names.
    Schemas(Vec<String>),
    /// Open conflicts.
    Conflicts(Vec<crate::sync::conflicts::ConflictRow>),
    /// A query failed.
    Error(String),
}

/// The client's side of the reader thread.
pub struct ReaderHandle {
    requests: Sender<ReadRequest>,
    replies: Receiver<ReadReply>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ReaderHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderHandle").finish_non_exhaustive()
    }
}

impl ReaderHandle {
    /// Asks a question; the answer arrives on [`ReaderHandle::replies`].
    pub fn request(&self, request: ReadRequest) {
        // A reader that stopped has nothing more to say; the UI shows the
        // last state it had.
        let _ = self.requests.send(request);
    }

    /// The replies.
    pub fn replies(&self) -> &Receiver<ReadReply> {
        &self.replies
    }
}

impl Drop for ReaderHandle {
    fn drop(&mut self) {
        let _ = self.requests.send(ReadRequest::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the reader thread (`me-nexus-reader`) on the vault at `root`.
pub fn spawn_reader(vault: &Vault, waker: Option<Waker>) -> Result<ReaderHandle> {
    let conn = open_read_only(&vault.db_path())?;
    let audit = AuditLog::new(vault.audit_path());
    let (request_tx, request_rx) = unbounded::<ReadRequest>();
    let (reply_tx, reply_rx) = unbounded();
    let thread = std::thread::Builder::new()
        .name("me-nexus-reader".into())
        .spawn(move || {
            while let Ok(first) = request_rx.recv() {
                // Answer only the newest of several waiting id queries.
                let mut batch = vec![first];
                batch.extend(request_rx.try_iter());
                let newest_ids = batch
                    .iter()
                    .rposition(|r| matches!(r, ReadRequest::Ids { .. }));
                for (index, request) in batch.into_iter().enumerate() {
                    if matches!(request, ReadRequest::Ids { .. }) && Some(index) != newest_ids {
                        continue;
                    }
                    if request == ReadRequest::Shutdown {
                        return;
                    }
                    let reply = answer(&conn, &audit, request)
                        .unwrap_or_else(|e| ReadReply::Error(e.to_string()));
                    if reply_tx.send(reply).is_err() {
                        return;
                    }
                    if let Some(waker) = &waker {
                        waker();
                    }
                }
            }
        })
        .map_err(|e| NexusError::Sync(format!("cannot start the reader thread: {e}")))?;
    Ok(ReaderHandle {
        requests: request_tx,
        replies: reply_rx,
        thread: Some(thread),
    })
}

fn open_read_only(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(crate::db::BUSY_TIMEOUT)?;
    Ok(conn)
}

fn answer(conn: &Connection, audit: &AuditLog, request: ReadRequest) -> Result<ReadReply> {
    Ok(match request {
        ReadRequest::Ids { generation, query } => ReadReply::Ids {
            generation,
            ids: grid::query_ids(conn, &query)?,
        },
        ReadRequest::Rows { generation, ids } => ReadReply::Rows {
            generation,
            rows: grid::rows_by_ids(conn, &ids)?,
        },
        ReadRequest::Detail { key } => ReadReply::Detail {
            detail: grid::object_detail(conn, audit, &key)?.map(Box::new),
            key,
        },
        ReadRequest::Stats => ReadReply::Stats(crate::db::stats::permission_stats(
            conn,
            chrono::Utc::now().timestamp(),
        )?),
        ReadRequest::Problems => ReadReply::Problems(crate::db::problems::all(conn)?),
        ReadRequest::Audit => ReadReply::Audit(audit.read_all()?),
        ReadRequest::Schemas => ReadReply::Schemas(
            crate::db::schemas::all(conn)?
                .into_iter()
                .map(|s| s.schema_name)
                .collect(),
        ),
        ReadRequest::Conflicts => ReadReply::Conflicts(crate::sync::conflicts::list(conn, false)?),
        ReadRequest::Shutdown => ReadReply::Error("shut down".into()),
    })
}
