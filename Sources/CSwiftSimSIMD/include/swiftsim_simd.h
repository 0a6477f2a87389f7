/*
 * swiftsim_simd.h — lane shuffles for the Swift kernels (internal; not part of the C ABI).
 *
 * Swift's SIMD lowHalf/evenHalf are written lane by lane, and after inlining the optimiser turns
 * a reduction of several registers into dozens of scalar inserts. Clang's __builtin_shufflevector
 * is one shuffle by construction, on every target, so the lane sums are written here. The summation
 * order is fixed by the code below (halves, then adjacent lanes), whatever instructions it becomes.
 * ext_vector_type(n) float/double import into Swift as SIMDn<Float>/SIMDn<Double>.
 */
#ifndef SWIFTSIM_SIMD_H
#define SWIFTSIM_SIMD_H

#include "swiftsim_target.h"

typedef float ssim_f32x16 __attribute__((ext_vector_type(16)));
typedef float ssim_f32x8 __attribute__((ext_vector_type(8)));
typedef float ssim_f32x4 __attribute__((ext_vector_type(4)));
typedef double ssim_f64x8 __attribute__((ext_vector_type(8)));
typedef double ssim_f64x4 __attribute__((ext_vector_type(4)));

#define SSIM_INLINE static inline __attribute__((always_inline))

/* Lane sums of x, y, z: lanes 0..3 of the result are (Σx, Σy, Σz, Σz). */
SSIM_INLINE ssim_f32x4 ssim_hsum3_f32x16(ssim_f32x16 x, ssim_f32x16 y, ssim_f32x16 z) {
    /* 16 -> 8: [x8 | y8] and [z8 | z8] */
    ssim_f32x16 xy = __builtin_shufflevector(x, y, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                     __builtin_shufflevector(x, y, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    ssim_f32x16 zz = __builtin_shufflevector(z, z, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7) +
                     __builtin_shufflevector(z, z, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    /* 8 -> 4 per operand, adjacent lanes: [x4 y4 z4 z4] */
    ssim_f32x16 p = __builtin_shufflevector(xy, zz, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
                    __builtin_shufflevector(xy, zz, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /* 4 -> 2: [x2 y2 z2 z2] */
    ssim_f32x8 q = __builtin_shufflevector(p, p, 0, 2, 4, 6, 8, 10, 12, 14) +
                   __builtin_shufflevector(p, p, 1, 3, 5, 7, 9, 11, 13, 15);
    /* 2 -> 1: [x y z z] */
    return __builtin_shufflevector(q, q, 0, 2, 4, 6) + __builtin_shufflevector(q, q, 1, 3, 5, 7);
}

/* Lane sums of x, y, z: lanes 0..3 of the result are (Σx, Σy, Σz, Σz). */
SSIM_INLINE ssim_f64x4 ssim_hsum3_f64x8(ssim_f64x8 x, ssim_f64x8 y, ssim_f64x8 z) {
    ssim_f64x8 xy = __builtin_shufflevector(x, y, 0, 1, 2, 3, 8, 9, 10, 11) +
                    __builtin_shufflevector(x, y, 4, 5, 6, 7, 12, 13, 14, 15);
    ssim_f64x8 zz = __builtin_shufflevector(z, z, 0, 1, 2, 3, 0, 1, 2, 3) +
                    __builtin_shufflevector(z, z, 4, 5, 6, 7, 4, 5, 6, 7);
    ssim_f64x8 p = __builtin_shufflevector(xy, zz, 0, 2, 4, 6, 8, 10, 12, 14) +
                   __builtin_shufflevector(xy, zz, 1, 3, 5, 7, 9, 11, 13, 15);
    return __builtin_shufflevector(p, p, 0, 2, 4, 6) + __builtin_shufflevector(p, p, 1, 3, 5, 7);
}

/* The lane sum of one register is lane 0 of ssim_hsum3_*(x, x, x) (taken in Scalar.swift: a call
 * between these inline functions would pass 512-bit vectors, which a C file compiled for the baseline
 * CPU that sees this header through a module may not do). */

#endif
