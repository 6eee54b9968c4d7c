//! Readers for foreign package formats, so that paks can import their contents.
//!
//! Everything here checks what the format lets it check (digests, signatures) before handing
//! the payload to the caller, and bounds every size it reads from untrusted input.

pub mod apk;
