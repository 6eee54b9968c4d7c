//! The upload sessions this server process has open: who opened each (for the
//! per-client cap), when it last received bytes (for expiry), and a lock per session, so
//! that a second writer (or a commit) waits without holding a thread while the first
//! writer's client is slow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::header;

use super::{ApiError, Code};
use crate::limits::Limits;

struct Session {
    client: IpAddr,
    last_active: Instant,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// Open upload sessions, keyed by id (or by a provisional key while one is being opened).
pub struct UploadSessions {
    max: usize,
    per_client: usize,
    expiry: Duration,
    open: Mutex<HashMap<String, Session>>,
    provisional: AtomicU64,
}

/// Room for one session, reserved by [`UploadSessions::admit`]; freed on drop unless
/// [`Reservation::opened`] gave it its id.
pub struct Reservation<'a> {
    sessions: &'a UploadSessions,
    key: Option<String>,
}

impl Reservation<'_> {
    /// The session was created as `id`.
    pub fn opened(mut self, id: &str) {
        if let Some(key) = self.key.take() {
            let mut open = self.sessions.open.lock().expect("not poisoned");
            if let Some(mut session) = open.remove(&key) {
                session.last_active = Instant::now();
                open.insert(id.to_owned(), session);
            }
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.sessions
                .open
                .lock()
                .expect("not poisoned")
                .remove(&key);
        }
    }
}

/// The lock of one session, held while its data is written or committed; marks the
/// session active when released.
pub struct SessionGuard {
    _lock: tokio::sync::OwnedMutexGuard<()>,
    sessions: Arc<UploadSessions>,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.touch(&self.id);
    }
}

fn too_many(message: String) -> ApiError {
    ApiError::new(Code::TooManyRequests, message).with_header(header::RETRY_AFTER, "60")
}

impl UploadSessions {
    pub fn new(limits: &Limits) -> Self {
        Self {
            max: limits.upload_sessions,
            per_client: limits.upload_sessions_per_client,
            expiry: limits.upload_expiry,
            open: Mutex::new(HashMap::new()),
            provisional: AtomicU64::new(0),
        }
    }

    /// Reserves room for a session of `client`, or answers 429 when the registry or the
    /// client has as many open as allowed.
    pub fn admit(&self, client: IpAddr) -> Result<Reservation<'_>, ApiError> {
        let mut open = self.open.lock().expect("not poisoned");
        if open.len() >= self.max {
            return Err(too_many(format!(
                "the registry has {} upload sessions open, its limit; finish or cancel some, or retry later",
                open.len()
            )));
        }
        let mine = open.values().filter(|s| s.client == client).count();
        if mine >= self.per_client {
            return Err(too_many(format!(
                "`{client}` has {mine} upload sessions open, the limit per client; finish or cancel some, or retry later"
            )));
        }
        let key = format!(
            "provisional-{}",
            self.provisional.fetch_add(1, Ordering::Relaxed)
        );
        open.insert(
            key.clone(),
            Session {
                client,
                last_active: Instant::now(),
                lock: Arc::default(),
            },
        );
        Ok(Reservation {
            sessions: self,
            key: Some(key),
        })
    }

    /// Session `id` ended (committed, cancelled, expired).
    pub fn closed(&self, id: &str) {
        self.open.lock().expect("not poisoned").remove(id);
    }

    fn touch(&self, id: &str) {
        if let Some(s) = self.open.lock().expect("not poisoned").get_mut(id) {
            s.last_active = Instant::now();
        }
    }

    /// Takes the lock of session `id`, waiting up to `patience` for the writer holding it.
    /// A session this process does not know (opened before a restart) is adopted, counted
    /// against the unspecified client.
    pub async fn lock(
        self: &Arc<Self>,
        id: &str,
        patience: Duration,
    ) -> Result<SessionGuard, ApiError> {
        let lock = {
            let mut open = self.open.lock().expect("not poisoned");
            let session = open.entry(id.to_owned()).or_insert_with(|| Session {
                client: IpAddr::from([0, 0, 0, 0]),
                last_active: Instant::now(),
                lock: Arc::default(),
            });
            session.last_active = Instant::now();
            session.lock.clone()
        };
        match tokio::time::timeout(patience, lock.lock_owned()).await {
            Ok(guard) => Ok(SessionGuard {
                _lock: guard,
                sessions: self.clone(),
                id: id.to_owned(),
            }),
            Err(_) => Err(ApiError::new(
                Code::BlobUploadInvalid,
                format!("upload `{id}` is busy with another request; retry once it is done"),
            )
            .with_status(axum::http::StatusCode::CONFLICT)),
        }
    }

    /// Sessions idle for longer than the expiry and not being written, each with its lock
    /// taken (so that no writer starts while it is removed).
    pub fn expired(&self) -> Vec<(String, tokio::sync::OwnedMutexGuard<()>)> {
        let open = self.open.lock().expect("not poisoned");
        open.iter()
            .filter(|(id, s)| {
                !id.starts_with("provisional-") && s.last_active.elapsed() >= self.expiry
            })
            .filter_map(|(id, s)| Some((id.clone(), s.lock.clone().try_lock_owned().ok()?)))
            .collect()
    }

    /// Whether this process tracks session `id` (it is not an abandoned one on disk).
    pub fn knows(&self, id: &str) -> bool {
        self.open.lock().expect("not poisoned").contains_key(id)
    }

    /// How long a session may stay idle.
    pub fn expiry(&self) -> Duration {
        self.expiry
    }
}
