//! End-to-end acknowledgement of batches.
//!
//! A source hands each batch a [`Delivery`]. The topology splits it into one
//! handle per sink; every sink acknowledges its handle once the batch is durably
//! written. Only when the last handle is acknowledged does the receipt reach the
//! source, which may then advance its checkpoint. A handle dropped without an
//! acknowledgement (a sink gave up, the agent stopped) never sends its receipt,
//! so the checkpoint cannot move past an undelivered batch: at-least-once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

/// One sink's share of a batch's acknowledgement.
#[must_use = "a batch that is never acknowledged holds its checkpoint back"]
pub struct Delivery<R: Send + 'static> {
    shared: Arc<Shared<R>>,
}

struct Shared<R> {
    remaining: AtomicUsize,
    receipt: std::sync::Mutex<Option<R>>,
    notify: UnboundedSender<R>,
}

impl<R: Send + 'static> Delivery<R> {
    /// A delivery that sends `receipt` on `notify` once acknowledged.
    pub fn new(receipt: R, notify: UnboundedSender<R>) -> Self {
        Delivery {
            shared: Arc::new(Shared {
                remaining: AtomicUsize::new(1),
                receipt: std::sync::Mutex::new(Some(receipt)),
                notify,
            }),
        }
    }

    /// Splits this handle into `n` handles that must all be acknowledged.
    /// `n == 0` acknowledges at once: nobody has to deliver the batch.
    pub fn split(self, n: usize) -> Vec<Delivery<R>> {
        if n == 0 {
            self.acknowledge();
            return Vec::new();
        }
        // One handle becomes n: n - 1 more acknowledgements are owed.
        self.shared.remaining.fetch_add(n - 1, Ordering::AcqRel);
        let mut handles = Vec::with_capacity(n);
        for _ in 1..n {
            handles.push(Delivery {
                shared: Arc::clone(&self.shared),
            });
        }
        handles.push(self);
        handles
    }

    /// Marks this share delivered; the last one releases the receipt.
    pub fn acknowledge(self) {
        if self.shared.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let receipt = self
                .shared
                .receipt
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(receipt) = receipt {
                // The receiver is gone only when the agent is shutting down
                // without checkpointing; nothing useful remains to do.
                let _ = self.shared.notify.send(receipt);
            }
        }
    }
}

impl<R: Send + 'static> std::fmt::Debug for Delivery<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("remaining", &self.shared.remaining.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    #[test]
    fn receipt_only_after_every_share_is_acknowledged() {
        let (tx, mut rx) = unbounded_channel();
        let mut shares = Delivery::new(7u64, tx).split(3);
        shares.pop().unwrap().acknowledge();
        shares.pop().unwrap().acknowledge();
        assert!(rx.try_recv().is_err());
        shares.pop().unwrap().acknowledge();
        assert_eq!(rx.try_recv().unwrap(), 7);
    }

    #[test]
    fn dropped_share_never_releases_the_receipt() {
        let (tx, mut rx) = unbounded_channel();
        let mut shares = Delivery::new(7u64, tx).split(2);
        shares.pop().unwrap().acknowledge();
        drop(shares);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn split_into_none_acknowledges() {
        let (tx, mut rx) = unbounded_channel();
        assert!(Delivery::new(1u64, tx).split(0).is_empty());
        assert_eq!(rx.try_recv().unwrap(), 1);
    }
}
