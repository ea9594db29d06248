//! A one-slot, "latest frame wins" hand-off between two threads.
//!
//! A live mirror must show *now*, not a queue of the past: when the consumer is slower than the
//! producer, the slot overwrites the waiting item and counts it as dropped, so latency stays at
//! one frame whatever the speed difference.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What [`LatestSlot::take_timeout`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken<T> {
    Item(T),
    TimedOut,
    Closed,
}

/// Shared between exactly one producer and one consumer (more would still be safe, but the
/// "latest" semantics are per slot).
#[derive(Debug, Default)]
pub struct LatestSlot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

#[derive(Debug)]
struct State<T> {
    item: Option<T>,
    closed: bool,
    dropped: u64,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State { item: None, closed: false, dropped: 0 }
    }
}

impl<T> LatestSlot<T> {
    pub fn new() -> LatestSlot<T> {
        LatestSlot { state: Mutex::new(State::default()), ready: Condvar::new() }
    }

    /// Puts an item, replacing (and counting as dropped) any item not yet taken.
    /// Returns false once the slot is closed.
    pub fn put(&self, item: T) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.closed {
            return false;
        }
        if state.item.replace(item).is_some() {
            state.dropped += 1;
        }
        self.ready.notify_one();
        true
    }

    /// Waits for an item; `None` once the slot is closed and empty.
    pub fn take(&self) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(item) = state.item.take() {
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits up to `timeout` for an item, so the consumer can do something else meanwhile
    /// (the output thread redraws a "camera disconnected" screen).
    pub fn take_timeout(&self, timeout: Duration) -> Taken<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(item) = state.item.take() {
                return Taken::Item(item);
            }
            if state.closed {
                return Taken::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Taken::TimedOut;
            }
            state = self.ready.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Wakes every waiter; later `put`s are refused, a waiting item can still be taken.
    pub fn close(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        self.ready.notify_all();
    }

    /// Items overwritten before anyone took them.
    pub fn dropped(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn latest_wins_and_drops_are_counted() {
        let slot = LatestSlot::new();
        assert!(slot.put(1));
        assert!(slot.put(2));
        assert!(slot.put(3));
        assert_eq!(slot.take(), Some(3));
        assert_eq!(slot.dropped(), 2);
    }

    #[test]
    fn take_timeout_times_out_then_takes() {
        let slot = LatestSlot::new();
        assert_eq!(slot.take_timeout(Duration::from_millis(5)), Taken::TimedOut);
        slot.put(7);
        assert_eq!(slot.take_timeout(Duration::from_millis(5)), Taken::Item(7));
        slot.close();
        assert_eq!(slot.take_timeout(Duration::from_millis(5)), Taken::<i32>::Closed);
    }

    #[test]
    fn close_wakes_a_waiting_consumer() {
        let slot = Arc::new(LatestSlot::<u32>::new());
        let consumer = {
            let slot = slot.clone();
            std::thread::spawn(move || slot.take())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        slot.close();
        assert_eq!(consumer.join().unwrap(), None);
        assert!(!slot.put(1));
    }
}
