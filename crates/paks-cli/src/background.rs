//! Downloads that run on while an install extracts what they have written so far
//! (`paks_types::growing`): the install's layers are read as they arrive, and the
//! downloads' own failures are what the user is told when one broke the install.

use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use paks_remote::RemoteError;

use crate::Failure;
use crate::commands::failure;

/// The runtime the downloads run on, and their tasks.
pub struct Background {
    runtime: Runtime,
    tasks: Vec<JoinHandle<Result<(), RemoteError>>>,
}

impl Background {
    pub fn new() -> Result<Self, Failure> {
        Ok(Self {
            runtime: crate::remote::runtime()?,
            tasks: Vec::new(),
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Run `downloads` while the caller goes on.
    pub fn spawn(
        &mut self,
        downloads: impl Future<Output = Result<(), RemoteError>> + Send + 'static,
    ) {
        self.tasks.push(self.runtime.spawn(downloads));
    }

    /// After the install: on success, the downloads' end (every layer was read to its
    /// verified end, so they ended too); on failure, a download's own error where one
    /// failed (it says more than the extraction that read from it, and gives the hint),
    /// else `result`'s. Downloads still running are cancelled: their temporary files go.
    pub fn finish<T>(self, result: Result<T, Failure>) -> Result<T, Failure> {
        let Self { runtime, tasks } = self;
        match result {
            Ok(value) => {
                for task in tasks {
                    runtime
                        .block_on(task)
                        .map_err(Failure::from)?
                        .map_err(failure)?;
                }
                Ok(value)
            }
            Err(e) => {
                // A failed download ends its task right after it told its reader.
                let grace = Duration::from_millis(200);
                for task in tasks {
                    if let Ok(Ok(Err(download))) =
                        runtime.block_on(async { tokio::time::timeout(grace, task).await })
                    {
                        return Err(failure(download));
                    }
                }
                Err(e)
            }
        }
    }
}
