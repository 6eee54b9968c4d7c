//! How library crates tell the user what they are doing, without printing.

/// Progress and messages from long operations. The CLI implements it with progress bars
/// on a terminal and silence in pipes; tests and scripts use [`NoReporter`].
pub trait Reporter: Send + Sync {
    /// `count` tasks of `total` bytes in all are about to run (for an overall display).
    fn plan(&self, _verb: &str, _count: u64, _total: u64) {}
    /// A task of `total` bytes (or units) starts; returns a handle for the calls below.
    fn start(&self, _label: &str, _total: u64) -> usize {
        0
    }
    /// `n` more bytes (or units) of task `task` are done.
    fn advance(&self, _task: usize, _n: u64) {}
    /// Task `task` is finished.
    fn finish(&self, _task: usize) {}
    /// Something the user should know that is not an error.
    fn warn(&self, _message: &str) {}
    /// A step worth a line in verbose output.
    fn info(&self, _message: &str) {}
}

/// A reporter that says nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {}
