//! The `ar` container of a `.deb`, read as a stream: `!<arch>\n`, then members of a
//! 60-byte header and their data, padded to an even length.

use std::io::{self, Read};

use crate::ImportError;

/// The archive's first bytes.
pub const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LEN: usize = 60;

/// A member header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHeader {
    /// The name, without padding and without the GNU `/` terminator.
    pub name: String,
    /// The declared data size in bytes.
    pub size: u64,
}

/// Reads and checks the global magic.
pub fn read_magic(r: &mut impl Read) -> Result<(), ImportError> {
    let mut magic = [0u8; 8];
    read_exact_or(
        r,
        &mut magic,
        "!<arch>",
        "the input ends before the `ar` magic",
    )?;
    if &magic != MAGIC {
        return Err(ImportError::Deb {
            member: "!<arch>".into(),
            reason: format!(
                "not an `ar` archive (starts with `{}`)",
                magic.escape_ascii()
            ),
        });
    }
    Ok(())
}

/// Reads the next member header, or `None` at a clean end of input.
pub fn next_header(r: &mut impl Read) -> Result<Option<MemberHeader>, ImportError> {
    let mut h = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(ImportError::Deb {
                    member: "(header)".into(),
                    reason: format!("truncated member header ({got} of {HEADER_LEN} bytes)"),
                });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ImportError::io("the .deb", e)),
        }
    }
    let name = String::from_utf8_lossy(&h[..16]);
    let name = name.trim_end_matches(' ');
    let name = name.strip_suffix('/').unwrap_or(name).to_owned();
    let bad = |reason: String| ImportError::Deb {
        member: name.escape_debug().to_string(),
        reason,
    };
    if &h[58..60] != b"`\n" {
        return Err(bad(
            "the member header does not end with the `ar` terminator (a previous member may be longer than declared)"
                .into(),
        ));
    }
    let size_text = std::str::from_utf8(&h[48..58])
        .unwrap_or("")
        .trim_end_matches(' ');
    let size = size_text
        .parse::<u64>()
        .ok()
        .filter(|_| !size_text.is_empty() && size_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad(format!("invalid size `{}`", h[48..58].escape_ascii())))?;
    Ok(Some(MemberHeader { name, size }))
}

/// Skips the padding byte after a member of odd size.
pub fn skip_padding(r: &mut impl Read, header: &MemberHeader) -> Result<(), ImportError> {
    if header.size % 2 == 1 {
        let mut pad = [0u8; 1];
        read_exact_or(r, &mut pad, &header.name, "the input ends in the padding")?;
    }
    Ok(())
}

/// `read_exact`, with an early end of input reported as a truncated `member`.
pub fn read_exact_or(
    r: &mut impl Read,
    buf: &mut [u8],
    member: &str,
    truncated: &str,
) -> Result<(), ImportError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ImportError::Deb {
                member: member.to_owned(),
                reason: truncated.to_owned(),
            }
        } else {
            ImportError::io("the .deb", e)
        }
    })
}
