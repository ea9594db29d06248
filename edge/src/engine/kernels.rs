//! tract's x86 matrix-product kernels: which ones this CPU should use, and cleaning up after
//! them ([`run`]).
//!
//! tract picks its x86 kernels with a cost model per vendor. On AMD Zen 4 (family 19h with
//! AVX-512), which runs each 512-bit FMA as two 256-bit halves, the AMD model picks AVX-512
//! kernels that ran our generators 17–20 % slower than tract's AVX2+FMA kernels on the same
//! machine ([benchmarks](../../../docs/benchmarks.md#tracts-kernel-choice-on-zen-4)). There the
//! engine takes AVX-512 out of tract's pool. It does so as tract's process-wide *config* value,
//! which the environment overrides: `TRACT_CPU_ISA=+avx512f` keeps tract's own choice.

use std::sync::{Arc, Once};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval;

/// The `TRACT_CPU_ISA` edit for a CPU, if it needs one.
fn isa_edit(vendor: &[u8; 12], family: u32, avx512f: bool) -> Option<&'static str> {
    (vendor == b"AuthenticAMD" && family == 0x19 && avx512f).then_some("-avx512f")
}

#[cfg(target_arch = "x86_64")]
fn this_cpu() -> ([u8; 12], u32, bool) {
    use std::arch::x86_64::__cpuid;
    // CPUID exists on every x86_64 CPU, and leaves 0 and 1 on all of them (safe since Rust 1.87).
    let (id, sig) = (__cpuid(0), __cpuid(1));
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&id.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&id.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&id.ecx.to_le_bytes());
    // The family: base 0xF plus the extended family (CPUID 1, EAX bits 8–11 and 20–27).
    let base = (sig.eax >> 8) & 0xF;
    let family = if base == 0xF { base + ((sig.eax >> 20) & 0xFF) } else { base };
    (vendor, family, std::arch::is_x86_feature_detected!("avx512f"))
}

#[cfg(not(target_arch = "x86_64"))]
fn this_cpu() -> ([u8; 12], u32, bool) {
    ([0; 12], 0, false)
}

/// Applies the choice once per process, before tract probes the CPU (it caches what it finds), so
/// every loader of a tract model calls this first.
pub fn choose() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (vendor, family, avx512f) = this_cpu();
        if let Some(edit) = isa_edit(&vendor, family, avx512f) {
            match tract_onnx::tract_core::knobs::set_config_global("TRACT_CPU_ISA", edit) {
                Ok(()) => tracing::debug!("tract: AMD Zen 4, AVX-512 kernels left out ({edit})"),
                Err(e) => tracing::warn!("tract: cannot leave out AVX-512 kernels: {e:#}"),
            }
        }
    });
}

/// Clears the upper halves of the vector registers after tract has run a node.
///
/// tract-linalg 0.23's x86 assembly kernels return without `vzeroupper`, which the x86-64
/// calling convention expects of AVX code, and code compiled for baseline x86-64 (SSE: ours,
/// most of tract's own ops, std) then ran 4.5× slower on this project's Zen 4 machine until
/// something cleared them ([benchmarks](../../../docs/benchmarks.md#dirty-vector-registers-after-tracts-kernels)).
/// [`run`] calls this after every node; it is one instruction.
#[inline]
pub fn clear_upper_registers() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        #[target_feature(enable = "avx")]
        fn vzeroupper() {
            // SAFETY: none needed since Rust 1.87 inside an `avx` function; AVX is detected.
            std::arch::x86_64::_mm256_zeroupper()
        }
        // SAFETY: the CPU has AVX, checked above.
        unsafe { vzeroupper() }
    }
}

/// Runs a tract plan as `plan.run` does, clearing the vector registers' upper halves after
/// every node ([`clear_upper_registers`]). Every caller of a tract plan in this project runs it
/// through here.
pub fn run(plan: &Arc<TypedRunnableModel>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    plan.spawn()?.run_plan_with_eval(inputs, |ctx, state, node, inputs| {
        let out = eval(ctx, state, node, inputs);
        clear_upper_registers();
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zen4_leaves_out_avx512() {
        assert_eq!(isa_edit(b"AuthenticAMD", 0x19, true), Some("-avx512f"), "Zen 4");
        assert_eq!(isa_edit(b"AuthenticAMD", 0x19, false), None, "Zen 3: no AVX-512 anyway");
        assert_eq!(isa_edit(b"AuthenticAMD", 0x1A, true), None, "Zen 5: full-width AVX-512");
        assert_eq!(isa_edit(b"GenuineIntel", 0x6, true), None, "Intel: tract's own choice");
    }

    /// Whether the upper halves of the vector registers are in use (XGETBV 1, XINUSE bit 2),
    /// when the CPU can tell.
    #[cfg(target_arch = "x86_64")]
    fn upper_registers_in_use() -> Option<bool> {
        use std::arch::x86_64::{__cpuid_count, _xgetbv};
        // CPUID leaf 0xD, sub-leaf 1, EAX bit 2: XGETBV with ECX = 1 is supported.
        if __cpuid_count(0xD, 1).eax & 4 == 0 || !std::arch::is_x86_feature_detected!("xsave") {
            return None;
        }
        #[target_feature(enable = "xsave")]
        fn xinuse() -> u64 {
            // SAFETY: XSAVE is enabled for this function and detected above.
            unsafe { _xgetbv(1) }
        }
        // SAFETY: the CPU has XSAVE, checked above.
        Some(unsafe { xinuse() } & 4 != 0)
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_run_leaves_the_upper_registers_clear() {
        use tract_onnx::tract_core::ops::einsum::EinSum;
        if upper_registers_in_use().is_none() {
            return; // this CPU cannot say
        }
        choose();
        let mut model = TypedModel::default();
        let a = model.add_source("a", f32::fact([64, 576])).unwrap();
        let b = model.add_source("b", f32::fact([576, 480])).unwrap();
        let mm = EinSum::new("ik,kj->ij".parse().unwrap(), f32::datum_type());
        let c = model.wire_node("mm", mm, &[a, b]).unwrap();
        model.select_output_outlets(&c).unwrap();
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        let inputs = || {
            tvec![
                Tensor::zero::<f32>(&[64, 576]).unwrap().into_tvalue(),
                Tensor::zero::<f32>(&[576, 480]).unwrap().into_tvalue()
            ]
        };
        plan.run(inputs()).unwrap();
        let after_tract = upper_registers_in_use();
        run(&plan, inputs()).unwrap();
        assert_eq!(upper_registers_in_use(), Some(false), "after tract's own run: {after_tract:?}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn reads_this_cpus_vendor_and_family() {
        let (vendor, family, _) = this_cpu();
        assert!(vendor.iter().all(|b| b.is_ascii_graphic()), "vendor {vendor:?}");
        assert!(family >= 6, "family {family:#x}");
    }
}
