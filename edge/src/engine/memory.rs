//! Keeping freed tensor memory in the process, so a frame does not fault its pages in again.
//!
//! tract allocates every intermediate tensor of a run and frees it after its last reader: at
//! 640×480 a dozen maps of about 5 MB a frame. glibc serves blocks above its mmap threshold
//! (128 KiB, rising with what it sees freed up to 32 MiB) with fresh mappings and hands a free
//! heap top above 128 KiB back to the kernel, so frame after frame the kernel maps, zeroes and
//! faults in the same pages again: a 4.9 MB `DepthToSpace` copy took 2.8 ms with them and
//! 0.6–0.7 ms without (`docs/benchmarks.md`, "Direct convolutions and freed memory").
//! onnxruntime keeps its own arena for the same reason. The engine raises both thresholds once
//! per process, so freed blocks are reused; the process then keeps its peak, which a mirror
//! reaches on every frame anyway.

/// Blocks up to this size come from the heap and are reused (above it: a frame bigger than any
/// the generators make, still mapped and unmapped).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 64 << 20;
/// Free memory at the heap's top kept before any is returned to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 256 << 20;

/// Whether the environment already tunes glibc's allocator (it then wins).
fn tuned_by_environment(vars: impl Iterator<Item = (String, String)>) -> bool {
    vars.into_iter()
        .any(|(k, v)| k.starts_with("MALLOC_") || (k == "GLIBC_TUNABLES" && v.contains("glibc.malloc.")))
}

/// Applies the thresholds once per process, unless the environment sets its own (glibc's
/// `GLIBC_TUNABLES=glibc.malloc.…` or `MALLOC_…_` variables). Other C libraries: nothing to do.
pub fn retain_freed() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if tuned_by_environment(std::env::vars()) {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallopt only changes glibc's allocator parameters; it is thread-safe.
            let ok = unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                    && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            };
            if !ok {
                tracing::warn!(
                    "glibc refused the allocator thresholds; frames may fault their memory in again"
                );
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins() {
        let env = |pairs: &[(&str, &str)]| {
            tuned_by_environment(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        };
        assert!(!env(&[("PATH", "/usr/bin"), ("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F")]));
        assert!(env(&[("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")]));
        assert!(env(&[("MALLOC_TRIM_THRESHOLD_", "0")]));
    }

    /// A block the size of a 640×480 feature map comes from the heap, not a mapping of its own.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_feature_map_is_not_mapped_on_its_own() {
        if tuned_by_environment(std::env::vars()) {
            return;
        }
        retain_freed();
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        let mapped = || unsafe { libc::mallinfo2() }.hblkhd;
        let before = mapped();
        let map = std::hint::black_box(vec![1f32; 16 * 240 * 320]);
        // Other tests free blocks mapped before the thresholds changed meanwhile: only a rise
        // by the block's size says it was mapped.
        let bytes = map.len() * 4;
        assert!(mapped() < before + bytes, "a {} MB block was mapped", bytes >> 20);
    }
}
