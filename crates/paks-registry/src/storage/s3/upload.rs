//! Upload sessions in the bucket: any replica may append to a session another one opened
//! and commit it. (Being built: every function answers "not built yet".)

use paks_types::Digest;

use super::{S3Storage, not_built};
use crate::names::RepoName;
use crate::storage::{Result, UploadId, UploadInfo, UploadWriter};

impl S3Storage {
    pub(super) fn start_upload_in(&self, _repo: &RepoName) -> Result<UploadId> {
        Err(not_built("start uploads"))
    }

    pub(super) fn upload_size_of(&self, _repo: &RepoName, _id: &str) -> Result<Option<u64>> {
        Err(not_built("stat uploads"))
    }

    pub(super) fn upload_writer_of(
        &self,
        _repo: &RepoName,
        _id: &str,
    ) -> Result<Box<dyn UploadWriter>> {
        Err(not_built("write uploads"))
    }

    pub(super) fn commit_upload_of(
        &self,
        _repo: &RepoName,
        _id: &str,
        _expected: &Digest,
    ) -> Result<u64> {
        Err(not_built("commit uploads"))
    }

    pub(super) fn cancel_upload_of(&self, _repo: &RepoName, _id: &str) -> Result<bool> {
        Err(not_built("cancel uploads"))
    }

    pub(super) fn all_uploads(&self) -> Result<Vec<UploadInfo>> {
        Err(not_built("list uploads"))
    }
}
