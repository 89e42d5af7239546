//! Read-side queries for views of a vault (the desktop window's grid,
//! detail panel, problem and audit lists), and a reader thread that answers
//! them off the UI thread with its own read connection.
//!
//! The grid is virtualised: it holds the count of matching rows and the
//! pages of rows on screen, fetched by keyset (see [`page`]).

pub mod grid;
pub mod page;
pub mod pager;
pub mod reader;

pub use grid::{GridQuery, GridRow, ObjectDetail, PermissionFilter, SortColumn};
pub use reader::{ReadReply, ReadRequest, ReaderHandle, spawn_reader};
