//! A global allocator with a byte budget, for the process that test-runs an uploaded model.
//!
//! Rust cannot turn an allocation failure into an error on stable (it aborts), so a model whose
//! test run asks for gigabytes must run in a process of its own that may die. Its memory is
//! bounded here rather than by `setrlimit`, which the service's system-call filter refuses
//! (`~@resources`): over the budget an allocation fails, the process aborts with Rust's
//! "memory allocation of N bytes failed", and the mirror answers 422. Without a budget (the
//! mirror itself) each call costs one relaxed load.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counted against [`set_budget`] once one is set.
pub struct BudgetAlloc;

static BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);
static USED: AtomicUsize = AtomicUsize::new(0);

/// Caps the bytes this process may hold from now on; allocations beyond fail.
pub fn set_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::SeqCst);
}

/// Bytes held since the budget was set.
pub fn used() -> usize {
    USED.load(Ordering::Relaxed)
}

fn take(bytes: usize) -> bool {
    let budget = BUDGET.load(Ordering::Relaxed);
    if budget == usize::MAX {
        return true;
    }
    let before = USED.fetch_add(bytes, Ordering::Relaxed);
    if before.saturating_add(bytes) > budget {
        give(bytes);
        return false;
    }
    true
}

fn give(bytes: usize) {
    if BUDGET.load(Ordering::Relaxed) == usize::MAX {
        return;
    }
    // Memory allocated before the budget was set is returned too: never below zero.
    let _ = USED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(bytes)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds as it does for `System`; the budget only decides whether to call
// it (returning null, which the contract allows, when the budget is spent).
unsafe impl GlobalAlloc for BudgetAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if ptr.is_null() {
            give(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if ptr.is_null() {
            give(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) };
        give(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grow = new_size.saturating_sub(layout.size());
        if !take(grow) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new.is_null() {
            give(grow);
        } else {
            give(layout.size().saturating_sub(new_size));
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_what_would_exceed_it() {
        // The counting itself, without installing the allocator in the test binary.
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        set_budget(usize::MAX);
        assert!(take(usize::MAX / 2), "no budget: anything goes");
        USED.store(0, Ordering::SeqCst);
        set_budget(5 << 19); // 2.5 MB
        let a = BudgetAlloc;
        // SAFETY: a non-zero layout; each pointer is freed with the layout it was made with.
        unsafe {
            let p = a.alloc(layout);
            let q = a.alloc_zeroed(layout);
            assert!(!p.is_null() && !q.is_null());
            assert_eq!(used(), 2 << 20);
            let big = Layout::from_size_align(2 << 20, 8).unwrap();
            assert!(a.alloc(big).is_null(), "4 MB would pass the 2.5 MB budget");
            let r = a.realloc(p, layout, 2 << 20);
            assert!(r.is_null(), "growing by 1 MB to 3 MB held would pass it too");
            a.dealloc(q, layout);
            let r = a.realloc(p, layout, 2 << 20);
            assert!(!r.is_null());
            assert_eq!(used(), 2 << 20);
            a.dealloc(r, big);
        }
        assert_eq!(used(), 0);
        set_budget(usize::MAX);
    }
}
