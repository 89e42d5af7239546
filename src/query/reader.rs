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
use crate::query::grid::{self, GridQuery, ObjectDetail};
use crate::query::page::{self, Anchors, Cursor, GridPage, PAGE_ROWS};
use crate::sync::service::Waker;
use crate::vault::Vault;

/// A question for the reader.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadRequest {
    /// How many rows match a grid query. `generation` is echoed back so
    /// that stale answers can be dropped; a newer generation makes the
    /// reader skip older grid requests still waiting.
    Count {
        /// Echoed back.
        generation: u64,
        /// The query.
        query: GridQuery,
    },
    /// Page `page` of a grid query, read after cursor `after`.
    Page {
        /// Echoed back.
        generation: u64,
        /// The query.
        query: GridQuery,
        /// The page number, echoed back.
        page: usize,
        /// Where the page starts (`None`: the first page).
        after: Option<Cursor>,
    },
    /// Walk the query's sort order for page boundaries, in chunks between
    /// other requests; found boundaries arrive as [`ReadReply::Anchors`].
    /// Replaces any walk under way.
    Anchors {
        /// Echoed back.
        generation: u64,
        /// The query.
        query: GridQuery,
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
    /// How many rows match.
    Count {
        /// From the request.
        generation: u64,
        /// The count.
        count: usize,
    },
    /// A page of rows.
    Page {
        /// From the request.
        generation: u64,
        /// From the request.
        page: usize,
        /// The rows and the cursor after them.
        rows: GridPage,
    },
    /// More page boundaries of a walk.
    Anchors {
        /// From the request.
        generation: u64,
        /// The boundaries found since the last reply, in order.
        cursors: Vec<Cursor>,
        /// Rows walked so far.
        rows: usize,
        /// Whether the walk is over (`rows` is then the exact count).
        done: bool,
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
            let mut reader = Reader {
                conn,
                audit,
                replies: reply_tx,
                waker,
                newest_generation: 0,
                walk: None,
            };
            reader.run(&request_rx);
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
    crate::db::stable_plans(&conn)?;
    Ok(conn)
}

/// Rows walked per chunk of an anchor walk: about 10 ms of work, so that
/// page requests wait at most that long behind a walk.
const WALK_CHUNK_ROWS: usize = 50 * PAGE_ROWS;

/// A walk for page boundaries under way.
struct Walk {
    generation: u64,
    query: GridQuery,
    anchors: Anchors,
}

/// The reader thread's state.
struct Reader {
    conn: Connection,
    audit: AuditLog,
    replies: Sender<ReadReply>,
    waker: Option<Waker>,
    /// The newest grid generation asked about: older grid requests are
    /// skipped, their answers would be dropped anyway.
    newest_generation: u64,
    walk: Option<Walk>,
}

impl Reader {
    fn run(&mut self, requests: &Receiver<ReadRequest>) {
        loop {
            // With a walk under way, requests go first and the walk goes on
            // when none is waiting.
            let first = if self.walk.is_some() {
                match requests.try_recv() {
                    Ok(request) => request,
                    Err(crossbeam_channel::TryRecvError::Empty) => {
                        if !self.walk_chunk() {
                            return;
                        }
                        continue;
                    }
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                }
            } else {
                match requests.recv() {
                    Ok(request) => request,
                    Err(_) => return,
                }
            };
            let mut batch = vec![first];
            batch.extend(requests.try_iter());
            for request in &batch {
                if let ReadRequest::Count { generation, .. }
                | ReadRequest::Page { generation, .. }
                | ReadRequest::Anchors { generation, .. } = request
                {
                    self.newest_generation = self.newest_generation.max(*generation);
                }
            }
            for request in batch {
                if !self.handle(request) {
                    return;
                }
            }
        }
    }

    /// Answers one request; `false` when the thread should stop.
    fn handle(&mut self, request: ReadRequest) -> bool {
        let reply = match request {
            ReadRequest::Shutdown => return false,
            ReadRequest::Count { generation, .. }
            | ReadRequest::Page { generation, .. }
            | ReadRequest::Anchors { generation, .. }
                if generation < self.newest_generation =>
            {
                return true;
            }
            ReadRequest::Anchors { generation, query } => {
                self.walk = Some(Walk {
                    generation,
                    query,
                    anchors: Anchors::default(),
                });
                return true;
            }
            request => answer(&self.conn, &self.audit, request)
                .unwrap_or_else(|e| ReadReply::Error(e.to_string())),
        };
        self.send(reply)
    }

    /// Walks one chunk; `false` when the client is gone.
    fn walk_chunk(&mut self) -> bool {
        let Some(walk) = &mut self.walk else {
            return true;
        };
        if walk.generation < self.newest_generation {
            self.walk = None;
            return true;
        }
        let before = walk.anchors.cursors.len();
        let reply =
            match page::walk_anchors(&self.conn, &walk.query, &mut walk.anchors, WALK_CHUNK_ROWS) {
                Ok(()) => ReadReply::Anchors {
                    generation: walk.generation,
                    cursors: walk.anchors.cursors[before..].to_vec(),
                    rows: walk.anchors.rows,
                    done: walk.anchors.done,
                },
                Err(e) => {
                    walk.anchors.done = true;
                    ReadReply::Error(e.to_string())
                }
            };
        if walk.anchors.done {
            self.walk = None;
        }
        self.send(reply)
    }

    fn send(&self, reply: ReadReply) -> bool {
        if self.replies.send(reply).is_err() {
            return false;
        }
        if let Some(waker) = &self.waker {
            waker();
        }
        true
    }
}

fn answer(conn: &Connection, audit: &AuditLog, request: ReadRequest) -> Result<ReadReply> {
    Ok(match request {
        ReadRequest::Count { generation, query } => ReadReply::Count {
            generation,
            count: page::count(conn, &query)?,
        },
        ReadRequest::Page {
            generation,
            query,
            page,
            after,
        } => ReadReply::Page {
            generation,
            page,
            rows: page::page_after(conn, &query, after.as_ref(), PAGE_ROWS)?,
        },
        ReadRequest::Anchors { .. } | ReadRequest::Shutdown => {
            ReadReply::Error("not a question".into())
        }
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
    })
}
