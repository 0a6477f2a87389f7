/*
 * swiftsim_target.h — what the Swift kernels are compiled for (internal to the kernels, like
 * swiftsim_simd.h; not part of the C ABI).
 *
 * Swift's #if cannot test CPU features, but the Clang importer compiles this header for the same
 * target CPU as the Swift code (-target-cpu), so these constants tell the kernels, at compile time,
 * the register file they get; branches on them fold away.
 */
#ifndef SWIFTSIM_TARGET_H
#define SWIFTSIM_TARGET_H

/* Width of one SIMD register in bits. */
#if defined(__AVX512F__)
#define SSIM_TARGET_SIMD_BITS 512
#elif defined(__AVX__)
#define SSIM_TARGET_SIMD_BITS 256
#else
#define SSIM_TARGET_SIMD_BITS 128
#endif

/* Number of SIMD registers (x86: 32 with AVX-512, else 16; AArch64: 32). */
#if defined(__AVX512F__) || defined(__aarch64__)
#define SSIM_TARGET_SIMD_REGISTERS 32
#else
#define SSIM_TARGET_SIMD_REGISTERS 16
#endif

/* Rows of X per register tile of the all-pairs micro-kernel (Gemm.swift): 12 × 2 registers of
 * accumulators fill 24 of AVX-512's 32; 6 × 1 suit 16 registers of 256 bits (AVX2) or 32 of 128 bits
 * (NEON); 2 × 1 leave room on SSE. */
#if defined(__AVX512F__)
#define SSIM_TARGET_GEMM_MR 12
#elif defined(__AVX__) || defined(__aarch64__)
#define SSIM_TARGET_GEMM_MR 6
#else
#define SSIM_TARGET_GEMM_MR 2
#endif

/* 1 when fused multiply-add is an instruction (else a call to the software fmaf). */
#if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define SSIM_TARGET_HAS_FMA 1
#else
#define SSIM_TARGET_HAS_FMA 0
#endif

/* 1 when the target has AVX512_BF16's vdpbf16ps (bfloat16 pair dot products into float32): the all-pairs
 * kernels then multiply bfloat16 rows with it (Gemm.swift) instead of widening them to float. */
#if defined(__AVX512BF16__) && defined(__AVX512F__)
#define SSIM_TARGET_HAS_AVX512BF16 1
#else
#define SSIM_TARGET_HAS_AVX512BF16 0
#endif

#endif /* SWIFTSIM_TARGET_H */
