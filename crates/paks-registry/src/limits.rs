//! The limits `paks serve` puts on what one client, and all clients together, may hold:
//! connections, time between bytes, upload sessions and password checks. A public
//! registry meets every kind of slow or hostile client; each limit bounds one resource.

use std::time::Duration;

/// Every limit of the server, with defaults sized for a site registry (see docs/serve.md).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections per client address; more are closed at once.
    pub connections_per_client: usize,
    /// How long a client may take to send a request's headers (and how long an idle
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// How long a request body may go without a byte arriving; the request then fails
    /// and an upload keeps what arrived (the client can resume it).
    pub body_idle_timeout: Duration,
    /// How long an answer may go without the client taking a byte; the connection is
    /// then dropped.
    pub send_idle_timeout: Duration,
    /// Open upload sessions in the whole registry.
    pub upload_sessions: usize,
    /// Open upload sessions per client address.
    pub upload_sessions_per_client: usize,
    /// An upload session that receives nothing for this long is removed.
    pub upload_expiry: Duration,
    /// Password verifications (argon2, ~19 MiB and tens of ms each) running at once;
    /// more get 429 with `Retry-After`.
    pub password_checks: usize,
    /// Failed logins a client address may make in a burst before it must wait.
    pub login_failures_per_client: u32,
    /// Failed logins a user name may see in a burst (from anywhere) before it must wait.
    pub login_failures_per_user: u32,
    /// How often one more failed login is allowed once the burst is used up.
    pub login_failure_refill: Duration,
    /// How long a verified password is remembered, so argon2 runs once per credential.
    pub verified_password_ttl: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections_per_client: 256,
            header_timeout: Duration::from_secs(20),
            body_idle_timeout: Duration::from_secs(30),
            send_idle_timeout: Duration::from_secs(30),
            upload_sessions: 2000,
            upload_sessions_per_client: 100,
            upload_expiry: Duration::from_hours(1),
            password_checks: 4,
            login_failures_per_client: 10,
            login_failures_per_user: 30,
            login_failure_refill: Duration::from_secs(6),
            verified_password_ttl: Duration::from_mins(5),
        }
    }
}
