//! "Use `--offline`" hints: when a repository cannot be reached at all (nothing listens,
//! no route, the name does not resolve) and its index is cached, the cached copy is what
//! the user can work with.

use std::error::Error;
use std::io::ErrorKind;

/// Whether `error` (or one of its causes) says the server could not be reached, as
/// opposed to answering badly.
pub fn unreachable(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let refused = matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::NetworkDown
                    | ErrorKind::AddrNotAvailable
            );
            // Name resolution failures have no kind of their own; getaddrinfo's words.
            if refused || io.to_string().contains("failed to lookup address") {
                return true;
            }
        }
        if e.to_string().contains("dns error") {
            return true;
        }
        next = e.source();
    }
    false
}

/// The hint for repository `name` whose index could not be fetched because of `error`:
/// `--offline` when a cached index exists, else `None`.
pub fn hint(cached: bool, name: &str, error: &(dyn Error + 'static)) -> Option<String> {
    (cached && unreachable(error)).then(|| {
        format!(
            "repository `{name}` cannot be reached; to work without the network, use `--offline` with the cached indexes (`paks install --offline`, `paks sync --offline`)"
        )
    })
}
