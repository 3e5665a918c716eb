//! The global allocator of the binary: a bump arena in `.bss`, for a process that mostly lives
//! a few milliseconds before it execs.
//!
//! musl's allocator (mallocng) maps and unmaps pages as size classes fill and empty: ~40 `mmap`,
//! `munmap` and `brk` calls per bootstrap, most of the system calls before the app's `execve`
//! (BENCHMARKS.md). [`Arena`] hands out memory from one static, zero-initialised array instead:
//! it costs no bytes in the file (`.bss`), only the pages actually used become resident, and
//! allocating is an atomic bump, with no system call at all.
//!
//! Memory is never returned to the system, and freed memory is reused only when it is the last
//! block handed out (a stack discipline, which is how temporary buffers and growing vectors
//! mostly behave). So that a long-lived process (the PID-1 supervisor) or a large allocation
//! (an `SSL_CERT_FILE` bundle of up to 16 MiB) can never exhaust it, an allocation that does not
//! fit, or is larger than a quarter of the arena, goes to the system allocator, which then also
//! frees and reallocates it: at most the arena's size is ever held back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A bump allocator over `N` bytes of static memory, falling back to [`System`].
///
/// Thread-safe (one atomic offset). Meant to be the `#[global_allocator]` of the binary (see
/// `main.rs`).
pub struct Arena<const N: usize> {
    mem: UnsafeCell<Pages<N>>,
    /// Offset of the first free byte in `mem`.
    top: AtomicUsize,
}

/// The arena's memory, page-aligned so that page-aligned layouts cost no padding.
#[repr(C, align(4096))]
struct Pages<const N: usize>([u8; N]);

// SAFETY: the bytes of `mem` are only reached through the pointers `alloc` hands out, and every
// byte range is handed out to one owner at a time: `top` moves with compare-and-swap, so two
// threads never get overlapping ranges, and a range is only handed out again after its owner
// freed it (which moved `top` back below it).
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Arena<N> {
    /// Allocations larger than this go straight to the system allocator.
    const MAX_BUMP: usize = N / 4;

    /// An empty arena (a `const fn`, for a `static`: the array lands in `.bss`).
    pub const fn new() -> Self {
        Self {
            mem: UnsafeCell::new(Pages([0; N])),
            top: AtomicUsize::new(0),
        }
    }

    /// Bytes of the arena handed out so far (its high-water mark is what became resident).
    pub fn used(&self) -> usize {
        self.top.load(Ordering::Relaxed)
    }

    fn base(&self) -> *mut u8 {
        self.mem.get().cast::<u8>()
    }

    /// The offset of `ptr` in the arena, if it points into it.
    fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
        let off = (ptr as usize).wrapping_sub(self.base() as usize);
        (off < N).then_some(off)
    }

    /// Bump `top` past `size` bytes aligned to `align`; `None` when they do not fit.
    fn bump(&self, size: usize, align: usize) -> Option<*mut u8> {
        let base = self.base() as usize;
        let mut top = self.top.load(Ordering::Acquire);
        loop {
            let start = (base + top).checked_next_multiple_of(align)? - base;
            let end = start.checked_add(size)?;
            if end > N {
                return None;
            }
            match self
                .top
                .compare_exchange_weak(top, end, Ordering::AcqRel, Ordering::Acquire)
            {
                // `start + size <= N`: the pointer stays inside `mem`.
                Ok(_) => return Some(self.base().wrapping_add(start)),
                Err(now) => top = now,
            }
        }
    }
}

// SAFETY: `alloc` returns either a range of `mem` that no other live allocation overlaps (see
// the `Sync` impl), aligned as asked and `layout.size()` long, or what `System` returns;
// `dealloc` and `realloc` tell the two apart by address and hand `System`'s blocks back to it.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() <= Self::MAX_BUMP
            && let Some(p) = self.bump(layout.size(), layout.align())
        {
            return p;
        }
        // SAFETY: the caller's contract (a non-zero size) is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset_of(ptr) {
            // Only the last block handed out is taken back (the alignment padding before it is
            // not); anything else stays allocated until the process ends or execs.
            Some(off) => {
                let _ = self.top.compare_exchange(
                    off + layout.size(),
                    off,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            // SAFETY: not in the arena, so `System` allocated it, with this layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(off) = self.offset_of(ptr) else {
            // SAFETY: `System` allocated it with this layout; the caller's contract holds.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        // The last block grows or shrinks in place while it fits.
        if let Some(new_end) = off.checked_add(new_size).filter(|&e| e <= N) {
            let end = off + layout.size();
            if self
                .top
                .compare_exchange(end, new_end, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return ptr;
            }
        }
        if new_size <= layout.size() {
            // Shrinking elsewhere: the block stays where it is (its tail is not reused).
            return ptr;
        }
        // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does not
        // overflow `isize`, which is what `from_size_align_unchecked` needs.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_size > layout.size() > 0`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct and at least `layout.size()` long.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn bumps_aligned_and_takes_back_only_the_last_block() {
        let a = Box::new(Arena::<4096>::new());
        unsafe {
            let p = a.alloc(layout(3, 1));
            let q = a.alloc(layout(8, 8));
            assert!(a.offset_of(p).is_some() && a.offset_of(q).is_some());
            assert_eq!(q as usize % 8, 0);
            assert_eq!(a.used(), 16);
            // Not the last block: stays.
            a.dealloc(p, layout(3, 1));
            assert_eq!(a.used(), 16);
            // The last block: taken back, and handed out again.
            a.dealloc(q, layout(8, 8));
            assert_eq!(a.used(), 8);
            assert_eq!(a.alloc(layout(8, 8)), q);
        }
    }

    #[test]
    fn realloc_grows_the_last_block_in_place_and_moves_others() {
        let a = Box::new(Arena::<4096>::new());
        unsafe {
            let p = a.alloc(layout(4, 4));
            p.copy_from_nonoverlapping([1u8, 2, 3, 4].as_ptr(), 4);
            let p2 = a.realloc(p, layout(4, 4), 64);
            assert_eq!(p2, p);
            assert_eq!(a.used(), 64);
            let q = a.alloc(layout(1, 1));
            let p3 = a.realloc(p2, layout(64, 4), 128);
            assert_ne!(p3, p2);
            assert_eq!(std::slice::from_raw_parts(p3, 4), &[1, 2, 3, 4]);
            // Shrinking a block that is not the last keeps it where it is.
            assert_eq!(a.realloc(q, layout(1, 1), 1), q);
        }
    }

    #[test]
    fn large_or_overflowing_allocations_go_to_the_system_and_back() {
        let a = Box::new(Arena::<4096>::new());
        unsafe {
            // Over a quarter of the arena: the system's.
            let big = a.alloc(layout(2048, 8));
            assert!(!big.is_null() && a.offset_of(big).is_none());
            big.write_bytes(7, 2048);
            let big2 = a.realloc(big, layout(2048, 8), 100_000);
            assert!(a.offset_of(big2).is_none());
            assert_eq!(big2.add(2047).read(), 7);
            a.dealloc(big2, layout(100_000, 8));
            // Fill the arena, then the next one spills over.
            let mut kept = Vec::new();
            loop {
                let p = a.alloc(layout(1000, 8));
                if a.offset_of(p).is_none() {
                    a.dealloc(p, layout(1000, 8));
                    break;
                }
                kept.push(p);
            }
            assert_eq!(kept.len(), 4);
            // A block growing past the end of the arena moves to the system.
            let last = *kept.last().unwrap();
            last.write(9);
            let moved = a.realloc(last, layout(1000, 8), 5000);
            assert!(a.offset_of(moved).is_none());
            assert_eq!(moved.read(), 9);
            a.dealloc(moved, layout(5000, 8));
        }
    }

    #[test]
    fn threads_never_get_overlapping_blocks() {
        let a: &'static Arena<{ 1 << 16 }> = Box::leak(Box::new(Arena::new()));
        let blocks: Vec<Vec<(usize, usize)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    s.spawn(move || {
                        (0..200)
                            .map(|i| {
                                let size = 1 + (i * 7 + t) % 40;
                                let p = unsafe { a.alloc(layout(size, 8)) };
                                (p as usize, size)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<(usize, usize)> = blocks.into_iter().flatten().collect();
        all.sort_unstable();
        for w in all.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {w:?}");
        }
    }
}
