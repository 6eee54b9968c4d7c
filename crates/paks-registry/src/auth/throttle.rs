//! What password checks may cost: a few argon2 verifications at once (each takes ~19 MiB
//! and tens of milliseconds), a budget of failed logins per client address and per user
//! name (token buckets), and the answer for whoever is over either (429, `Retry-After`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::limits::Limits;

/// Beyond this many tracked buckets, the full (forgiven) ones are dropped.
const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    Client(IpAddr),
    User(String),
}

/// Failed logins left for one client or user, refilled over time.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Concurrency and failure bounds on password checks.
pub(super) struct Throttle {
    running: AtomicUsize,
    max_running: usize,
    per_client: u32,
    per_user: u32,
    refill: Duration,
    buckets: Mutex<HashMap<Who, Bucket>>,
    /// argon2 work areas of the slots not in use, kept for the next checks.
    memory: Mutex<Vec<Vec<argon2::Block>>>,
}

/// One running verification, with a work area for argon2; frees its slot on drop.
pub(super) struct Slot<'a> {
    throttle: &'a Throttle,
    memory: Vec<argon2::Block>,
}

impl Slot<'_> {
    /// argon2's work area, reused from check to check.
    pub(super) fn memory(&mut self) -> &mut Vec<argon2::Block> {
        &mut self.memory
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        self.throttle
            .memory
            .lock()
            .expect("not poisoned")
            .push(memory);
        self.throttle.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Throttle {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            running: AtomicUsize::new(0),
            max_running: limits.password_checks.max(1),
            per_client: limits.login_failures_per_client.max(1),
            per_user: limits.login_failures_per_user.max(1),
            refill: limits.login_failure_refill.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
            memory: Mutex::new(Vec::new()),
        }
    }

    /// A slot to run one verification in, or `None` when all are taken.
    pub(super) fn enter(&self) -> Option<Slot<'_>> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_running).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                throttle: self,
                memory: self
                    .memory
                    .lock()
                    .expect("not poisoned")
                    .pop()
                    .unwrap_or_default(),
            })
    }

    fn capacity(&self, who: &Who) -> f64 {
        f64::from(match who {
            Who::Client(_) => self.per_client,
            Who::User(_) => self.per_user,
        })
    }

    /// The bucket of `who` brought up to `now`.
    fn level(&self, buckets: &HashMap<Who, Bucket>, who: &Who, now: Instant) -> f64 {
        let capacity = self.capacity(who);
        buckets.get(who).map_or(capacity, |b| {
            let refilled = now.duration_since(b.updated).as_secs_f64() / self.refill.as_secs_f64();
            (b.tokens + refilled).min(capacity)
        })
    }

    fn keys(client: IpAddr, user: Option<&str>) -> impl Iterator<Item = Who> {
        std::iter::once(Who::Client(client)).chain(user.map(|u| Who::User(u.to_owned())))
    }

    /// How long `client` (and `user`, a user that exists) must wait before trying a
    /// password again, if either used up its failures.
    pub(super) fn wait(&self, client: IpAddr, user: Option<&str>) -> Option<Duration> {
        let buckets = self.buckets.lock().expect("not poisoned");
        let now = Instant::now();
        Self::keys(client, user)
            .filter_map(|who| {
                let level = self.level(&buckets, &who, now);
                (level < 1.0).then(|| self.refill.mul_f64(1.0 - level))
            })
            .max()
    }

    /// Counts a failed login against `client` and `user`.
    pub(super) fn failed(&self, client: IpAddr, user: Option<&str>) {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let now = Instant::now();
        if buckets.len() >= MAX_BUCKETS {
            let full: Vec<Who> = buckets
                .keys()
                .filter(|who| self.level(&buckets, who, now) >= self.capacity(who))
                .cloned()
                .collect();
            for who in full {
                buckets.remove(&who);
            }
        }
        for who in Self::keys(client, user) {
            let tokens = (self.level(&buckets, &who, now) - 1.0).max(0.0);
            buckets.insert(
                who,
                Bucket {
                    tokens,
                    updated: now,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_budgeted_per_client_and_user_and_refill() {
        let limits = Limits {
            login_failures_per_client: 2,
            login_failures_per_user: 3,
            login_failure_refill: Duration::from_millis(200),
            ..Limits::default()
        };
        let t = Throttle::new(&limits);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        assert_eq!(t.wait(a, Some("alice")), None);
        t.failed(a, Some("alice"));
        t.failed(a, Some("alice"));
        // `a` used its two; `b` may still try alice, once more (alice has three).
        assert!(t.wait(a, None).is_some());
        assert_eq!(t.wait(b, Some("alice")), None);
        t.failed(b, Some("alice"));
        let wait = t.wait(b, Some("alice")).expect("alice used her three");
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        assert_eq!(t.wait(b, Some("bob")), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(t.wait(a, Some("alice")), None);
    }

    #[test]
    fn verifications_run_in_a_bounded_pool() {
        let limits = Limits {
            password_checks: 2,
            ..Limits::default()
        };
        let t = Throttle::new(&limits);
        let one = t.enter().unwrap();
        let two = t.enter().unwrap();
        assert!(t.enter().is_none());
        drop(one);
        assert!(t.enter().is_some());
        drop(two);
    }
}
