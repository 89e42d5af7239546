//! Read-side queries for views of a vault (the desktop window's grid,
//! detail panel, problem and audit lists), and a reader thread that answers
//! them off the UI thread with its own read connection.
//!
//! The grid is virtualised: a query returns only the ordered row ids that
//! match the filter (8 bytes per object), and rows are fetched in pages for
//! the part of the grid on screen.

pub mod grid;
pub mod reader;

pub use grid::{GridQuery, GridRow, ObjectDetail, PermissionFilter, SortColumn};
pub use reader::{ReadReply, ReadRequest, ReaderHandle, spawn_reader};
