//! End-to-end acknowledgement of batches.
//!
//! A source hands each batch a [`Delivery`] holding what to do once the batch is
//! delivered (for log files: let the checkpoint advance). The topology splits it
//! into one handle per sink; every sink acknowledges its handle once the batch is
//! durably written. Only the last acknowledgement runs the source's callback. A
//! handle dropped without an acknowledgement (a sink gave up, the agent stopped)
//! never runs it, so a checkpoint cannot move past an undelivered batch: this is
//! what makes log delivery at-least-once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type OnDelivered = Box<dyn FnOnce() + Send>;

/// One sink's share of a batch's acknowledgement.
#[must_use = "a batch that is never acknowledged holds its checkpoint back"]
pub struct Delivery {
    shared: Arc<Shared>,
}

struct Shared {
    remaining: AtomicUsize,
    on_delivered: Mutex<Option<OnDelivered>>,
}

impl Delivery {
    /// A delivery that runs `on_delivered` once every share is acknowledged.
    pub fn new(on_delivered: impl FnOnce() + Send + 'static) -> Self {
        Delivery {
            shared: Arc::new(Shared {
                remaining: AtomicUsize::new(1),
                on_delivered: Mutex::new(Some(Box::new(on_delivered))),
            }),
        }
    }

    /// Splits this handle into `n` handles that must all be acknowledged.
    /// `n == 0` acknowledges at once: no sink has to deliver the batch.
    pub fn split(self, n: usize) -> Vec<Delivery> {
        if n == 0 {
            self.acknowledge();
            return Vec::new();
        }
        // One handle becomes n: n - 1 more acknowledgements are owed. Done
        // before the clones exist, so no share can see the count reach zero early.
        self.shared.remaining.fetch_add(n - 1, Ordering::AcqRel);
        let mut handles: Vec<Delivery> = (1..n)
            .map(|_| Delivery {
                shared: Arc::clone(&self.shared),
            })
            .collect();
        handles.push(self);
        handles
    }

    /// Marks this share delivered; the last one runs the source's callback.
    pub fn acknowledge(self) {
        if self.shared.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let callback = self
                .shared
                .on_delivered
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(callback) = callback {
                callback();
            }
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("remaining", &self.shared.remaining.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn tracked() -> (Delivery, std::sync::mpsc::Receiver<()>) {
        let (tx, rx) = channel();
        (
            Delivery::new(move || {
                let _ = tx.send(());
            }),
            rx,
        )
    }

    #[test]
    fn delivered_only_after_every_share_is_acknowledged() {
        let (delivery, rx) = tracked();
        let mut shares = delivery.split(3);
        shares.pop().unwrap().acknowledge();
        shares.pop().unwrap().acknowledge();
        assert!(rx.try_recv().is_err());
        shares.pop().unwrap().acknowledge();
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn dropped_share_never_delivers() {
        let (delivery, rx) = tracked();
        let mut shares = delivery.split(2);
        shares.pop().unwrap().acknowledge();
        drop(shares);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn split_into_none_delivers_at_once() {
        let (delivery, rx) = tracked();
        assert!(delivery.split(0).is_empty());
        assert!(rx.try_recv().is_ok());
    }
}
