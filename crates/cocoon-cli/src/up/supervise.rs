//! Restart policy of `cocoon up`: a node that exits is started again after a
//! delay that doubles with each quick exit (1 s, 2 s, 4 s … at most 30 s) and
//! starts over at 1 s once the node ran for a minute.

use std::time::Duration;

/// First restart delay.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Longest restart delay.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A node that ran this long counts as healthy: its next exit waits [`FIRST_DELAY`].
pub const STABLE_RUN: Duration = Duration::from_secs(60);

/// The restart delays of one node.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    restarts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST_DELAY,
            restarts: 0,
        }
    }
}

impl Backoff {
    /// The delay before restarting a node that exited after running `ran`.
    pub fn after_exit(&mut self, ran: Duration) -> Duration {
        if ran >= STABLE_RUN {
            self.next = FIRST_DELAY;
        }
        let delay = self.next;
        self.next = (delay * 2).min(MAX_DELAY);
        self.restarts = self.restarts.saturating_add(1);
        delay
    }

    /// How many restarts were scheduled so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_exits_double_the_delay_up_to_the_cap() {
        let mut b = Backoff::default();
        let quick = Duration::from_secs(2);
        let delays: Vec<u64> = (0..7).map(|_| b.after_exit(quick).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.restarts(), 7);
    }

    #[test]
    fn a_stable_run_starts_over() {
        let mut b = Backoff::default();
        for _ in 0..4 {
            b.after_exit(Duration::ZERO);
        }
        assert_eq!(b.after_exit(STABLE_RUN), FIRST_DELAY);
        assert_eq!(b.after_exit(Duration::ZERO), Duration::from_secs(2));
    }
}
