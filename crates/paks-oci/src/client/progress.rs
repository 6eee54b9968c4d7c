//! Progress reporting for transfers.

use std::sync::atomic::{AtomicU64, Ordering};

/// Calls `progress` with the growth of a high-water mark, so that a transfer that
/// restarts or re-sends reports every byte once, and the sum is the size.
pub(super) struct Progress<'a> {
    pub(super) callback: &'a (dyn Fn(u64) + Send + Sync),
    pub(super) reported: u64,
}

impl Progress<'_> {
    pub(super) fn reach(&mut self, n: u64) {
        if n > self.reported {
            (self.callback)(n - self.reported);
            self.reported = n;
        }
    }
}

/// Run `fut`, reporting `sent`'s growth every 100 ms and at the end.
pub(super) async fn with_progress<F: Future>(
    fut: F,
    sent: &AtomicU64,
    progress: &mut Progress<'_>,
) -> F::Output {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            out = &mut fut => {
                progress.reach(sent.load(Ordering::Relaxed));
                return out;
            }
            _ = tick.tick() => progress.reach(sent.load(Ordering::Relaxed)),
        }
    }
}
