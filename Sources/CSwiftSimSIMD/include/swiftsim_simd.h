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
#if SSIM_TARGET_HAS_AVX512BF16
#include <immintrin.h>
#endif

typedef float ssim_f32x16 __attribute__((ext_vector_type(16)));
typedef float ssim_f32x8 __attribute__((ext_vector_type(8)));
typedef float ssim_f32x4 __attribute__((ext_vector_type(4)));
typedef double ssim_f64x8 __attribute__((ext_vector_type(8)));
typedef double ssim_f64x4 __attribute__((ext_vector_type(4)));

#define SSIM_INLINE static inline __attribute__((always_inline))

/* acc + x · y as the Swift kernels' `madd` computes it (Scalar.swift): one fused multiply-add where the
 * target has FMA, a multiply then an add where it does not. */
#if SSIM_TARGET_HAS_FMA
#define SSIM_MADD(acc, x, y) __builtin_elementwise_fma((x), (y), (acc))
#else
#define SSIM_MADD(acc, x, y) ((acc) + (x) * (y))
#endif

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

/* The 16 × 16 square of floats whose row r is at in + r * in_stride bytes (any alignment), transposed in
 * registers: t[k] holds element k of the 16 rows (lane r = row r). With `ahead` nonzero, also asks for
 * the bytes `ahead` past each row's 64 into L2 (a prefetch never faults): the streaming kernel prefetches
 * its next rows this way while it works on the current ones. Four stages of 16 two-source shuffles
 * (unpack within 128-bit lanes, then 128-bit lane shuffles). */
SSIM_INLINE void ssim_square16_f32(const float *in, long in_stride, long ahead, ssim_f32x16 t[16]) {
    ssim_f32x16 rows[16], r[16];
    for (int i = 0; i < 16; i++) __builtin_memcpy(&rows[i], (const char *)in + i * in_stride, sizeof rows[i]);
    if (ahead)
        for (int i = 0; i < 16; i++) __builtin_prefetch((const char *)in + i * in_stride + ahead, 0, 2);
    for (int i = 0; i < 16; i += 2) {
        r[i] = __builtin_shufflevector(rows[i], rows[i + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
        r[i + 1] =
            __builtin_shufflevector(rows[i], rows[i + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
    }
    for (int i = 0; i < 16; i += 4) {
        for (int j = 0; j < 2; j++) {
            rows[i + 2 * j] =
                __builtin_shufflevector(r[i + j], r[i + j + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
            rows[i + 2 * j + 1] =
                __builtin_shufflevector(r[i + j], r[i + j + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
        }
    }
    for (int i = 0; i < 16; i += 8) {
        for (int j = 0; j < 4; j++) {
            r[i + j] = __builtin_shufflevector(rows[i + j], rows[i + j + 4], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24,
                                               25, 26, 27);
            r[i + j + 4] = __builtin_shufflevector(rows[i + j], rows[i + j + 4], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22,
                                                   23, 28, 29, 30, 31);
        }
    }
    for (int j = 0; j < 8; j++) {
        t[j] = __builtin_shufflevector(r[j], r[j + 8], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        t[j + 8] = __builtin_shufflevector(r[j], r[j + 8], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    }
}

/* ssim_square16_f32 for 8 rows of 8 doubles: t[k] holds element k of the 8 rows. */
SSIM_INLINE void ssim_square8_f64(const double *in, long in_stride, long ahead, ssim_f64x8 t[8]) {
    ssim_f64x8 rows[8], r[8];
    for (int i = 0; i < 8; i++) __builtin_memcpy(&rows[i], (const char *)in + i * in_stride, sizeof rows[i]);
    if (ahead)
        for (int i = 0; i < 8; i++) __builtin_prefetch((const char *)in + i * in_stride + ahead, 0, 2);
    for (int i = 0; i < 8; i += 2) {
        r[i] = __builtin_shufflevector(rows[i], rows[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
        r[i + 1] = __builtin_shufflevector(rows[i], rows[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        rows[i] = __builtin_shufflevector(r[i], r[i + 2], 0, 1, 4, 5, 8, 9, 12, 13);
        rows[i + 1] = __builtin_shufflevector(r[i + 1], r[i + 3], 0, 1, 4, 5, 8, 9, 12, 13);
        rows[i + 2] = __builtin_shufflevector(r[i], r[i + 2], 2, 3, 6, 7, 10, 11, 14, 15);
        rows[i + 3] = __builtin_shufflevector(r[i + 1], r[i + 3], 2, 3, 6, 7, 10, 11, 14, 15);
    }
    for (int j = 0; j < 4; j++) {
        t[j] = __builtin_shufflevector(rows[j], rows[j + 4], 0, 1, 4, 5, 8, 9, 12, 13);
        t[j + 4] = __builtin_shufflevector(rows[j], rows[j + 4], 2, 3, 6, 7, 10, 11, 14, 15);
    }
}

/* The square transposed into memory: out[k * out_stride + r] = row r's element k (out_stride in floats, a
 * multiple of 16; out 64-byte aligned). The top-k streaming kernel (TopK.swift) turns 16 corpus rows into
 * one register per k this way, so that each lane's dot product is an FMA chain in k order; bfloat16 rows
 * go through it as 32-bit words of pairs (any alignment, like the square's). */
SSIM_INLINE void ssim_transpose16_f32(const void *in, long in_stride, float *out, long out_stride, long ahead) {
    ssim_f32x16 t[16];
    ssim_square16_f32((const float *)in, in_stride, ahead, t);
    for (int k = 0; k < 16; k++) *(ssim_f32x16 *)(out + k * out_stride) = t[k];
}

/* ssim_transpose16_f32 for 8 rows of 8 doubles. */
SSIM_INLINE void ssim_transpose8_f64(const double *in, long in_stride, double *out, long out_stride, long ahead) {
    ssim_f64x8 t[8];
    ssim_square8_f64(in, in_stride, ahead, t);
    for (int k = 0; k < 8; k++) *(ssim_f64x8 *)(out + k * out_stride) = t[k];
}

/* Makes `x` count as used, at no cost: a value computed only for the memory reads it makes (a row's first,
 * sequential read, say) is then not optimised away. */
SSIM_INLINE void ssim_keep(double x) {
    unsigned long long bits;
    __builtin_memcpy(&bits, &x, sizeof bits);
    __asm__ volatile("" : : "r"(bits));
}

/* Asks for `bytes` bytes from p of `rows` rows (`stride` bytes apart) into L1, one request per 64 bytes (a
 * prefetch never faults). */
SSIM_INLINE void ssim_prefetch_l1(const void *p, long stride, int rows, long bytes) {
    for (int r = 0; r < rows; r++)
        for (long b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)p + r * stride + b, 0, 3);
}

typedef int ssim_i32x16 __attribute__((ext_vector_type(16)));
typedef long ssim_i64x8 __attribute__((ext_vector_type(8)));

/* Inverse norms of 16 rows from their squared norms s[0..16): r = clamped where !(s >= floor), else
 * 1 / sqrt(s), each correctly rounded (the bits of the one-row rule, UnitScale in Reduce.swift), into
 * r[0..16). Returns the mask of lanes this rule does not settle (s not finite, or r > limit), which the
 * caller recomputes one at a time. */
SSIM_INLINE unsigned ssim_inverse_norms_f32x16(const float *s, float floor, float clamped, float limit, float *r) {
    ssim_f32x16 v;
    __builtin_memcpy(&v, s, sizeof v);
    ssim_f32x16 p = 1.0f / __builtin_elementwise_sqrt(v);
    ssim_i32x16 below = ~(v >= floor), c = (ssim_i32x16)((ssim_f32x16){} + clamped);
    p = (ssim_f32x16)(((ssim_i32x16)p & ~below) | (c & below));
    ssim_i32x16 rare = ~(__builtin_elementwise_abs(v) <= __FLT_MAX__) | (p > limit);
    __builtin_memcpy(r, &p, sizeof p);
    unsigned m = 0;
    for (int i = 0; i < 16; i++) m |= (unsigned)(rare[i] & 1) << i;
    return m;
}

/* ssim_inverse_norms_f32x16 for 8 doubles. */
SSIM_INLINE unsigned ssim_inverse_norms_f64x8(const double *s, double floor, double clamped, double limit, double *r) {
    ssim_f64x8 v;
    __builtin_memcpy(&v, s, sizeof v);
    ssim_f64x8 p = 1.0 / __builtin_elementwise_sqrt(v);
    ssim_i64x8 below = ~(v >= floor), c = (ssim_i64x8)((ssim_f64x8){} + clamped);
    p = (ssim_f64x8)(((ssim_i64x8)p & ~below) | (c & below));
    ssim_i64x8 rare = ~(__builtin_elementwise_abs(v) <= __DBL_MAX__) | (p > limit);
    __builtin_memcpy(r, &p, sizeof p);
    unsigned m = 0;
    for (int i = 0; i < 8; i++) m |= (unsigned)(rare[i] & 1) << i;
    return m;
}

typedef unsigned int ssim_u32x16 __attribute__((ext_vector_type(16)));
typedef unsigned short ssim_u16x16 __attribute__((ext_vector_type(16)));

/* 16 bfloat16 values at p (any alignment), widened to float: each one's bits shifted left by 16 (exact). */
SSIM_INLINE ssim_f32x16 ssim_load_bf16x16(const void *p) {
    ssim_u16x16 h;
    __builtin_memcpy(&h, p, sizeof h);
    return (ssim_f32x16)(__builtin_convertvector(h, ssim_u32x16) << 16);
}

/* 32 bfloat16 values at p (any alignment) as two registers from one 64-byte load, with no widening
 * shuffle: the even elements (each word's low half, shifted up) and the odd ones (its high half, masked). */
SSIM_INLINE ssim_f32x16 ssim_load_bf16x32_even(const void *p) {
    ssim_u32x16 w;
    __builtin_memcpy(&w, p, sizeof w);
    return (ssim_f32x16)(w << 16);
}
SSIM_INLINE ssim_f32x16 ssim_load_bf16x32_odd(const void *p) {
    ssim_u32x16 w;
    __builtin_memcpy(&w, p, sizeof w);
    return (ssim_f32x16)(w & 0xFFFF0000u);
}

/* v narrowed to 16 bfloat16 values at p (any alignment): round to nearest, ties to even (adding 0x7FFF
 * plus the kept part's lowest bit carries into it exactly when the dropped half is above, or at and
 * odd), overflow to infinity, subnormals kept; a NaN becomes the quiet NaN of its upper bits. */
#define SSIM_BF16_BITS(v)                                                                                    \
    __extension__({ /* a macro: a call between these inline functions would pass a 512-bit vector */       \
        ssim_u32x16 b_ = (ssim_u32x16)(v), nan_ = (ssim_u32x16)((v) != (v));                                \
        ((b_ + 0x7FFFu + ((b_ >> 16) & 1u)) >> 16 & ~nan_) | (((b_ >> 16) | 0x40u) & nan_);                \
    })
SSIM_INLINE void ssim_store_bf16x16(ssim_f32x16 v, void *p) {
    ssim_u16x16 h = __builtin_convertvector(SSIM_BF16_BITS(v), ssim_u16x16);
    __builtin_memcpy(p, &h, sizeof h);
}
/* v narrowed to bfloat16 as ssim_store_bf16x16 narrows it, and widened back, in registers. */
SSIM_INLINE ssim_f32x16 ssim_round_bf16x16(ssim_f32x16 v) { return (ssim_f32x16)(SSIM_BF16_BITS(v) << 16); }

/* acc + the pair dot products of a and b: each 32-bit lane of a and b holds two bfloat16 values (element
 * 2i in its low half, 2i + 1 in its high half), and lane i of the result is
 *   (acc_i + a_{2i+1}·b_{2i+1}) + a_{2i}·b_{2i},
 * each product exact in float32 and each addition rounded to nearest even: vdpbf16ps (AVX512_BF16), which
 * also treats subnormal inputs and results as zero. Other targets get the same sums without that
 * flush (the kernels only call this where SSIM_TARGET_HAS_AVX512BF16 is 1). A macro, so that the helpers
 * below use it without a call that passes 512-bit vectors (see the end of this header); b goes first and
 * a last: only the last source can be a memory operand, so a splat `a` (the callers' broadcast word)
 * folds into the instruction ({1to16}) instead of taking a register, and as the products are exact, the
 * order of the two sources does not change a bit. */
#if SSIM_TARGET_HAS_AVX512BF16
#define SSIM_DPBF16(acc, a, b) ((ssim_f32x16)_mm512_dpbf16_ps((__m512)(acc), (__m512bh)(b), (__m512bh)(a)))
#else
#define SSIM_DPBF16(acc, a, b)                                                                               \
    __extension__({                                                                                          \
        ssim_u32x16 ua_ = (ssim_u32x16)(a), ub_ = (ssim_u32x16)(b);                                          \
        ((acc) + (ssim_f32x16)(ua_ & 0xFFFF0000u) * (ssim_f32x16)(ub_ & 0xFFFF0000u)) +                      \
            (ssim_f32x16)(ua_ << 16) * (ssim_f32x16)(ub_ << 16);                                             \
    })
#endif
SSIM_INLINE ssim_f32x16 ssim_dpbf16_f32x16(ssim_f32x16 acc, ssim_f32x16 a, ssim_f32x16 b) { return SSIM_DPBF16(acc, a, b); }

/* The dot products of `squares` squares side by side along the rows (each 64 bytes on from the last) with
 * `nq` ≤ 8 queries, in registers: each square transposed by `square` into t[0 .. n), then for each j < nq,
 * acc[j] = STEP(acc[j], q[k * q_stride + j] broadcast, t[k]) for k = 0, 1, ... in order over the squares
 * (lane r: row r's sum, the micro-kernels' chain, step for step). `nq` is a narrow tile's width (1, 2, 4,
 * 6 or 8): each has its own body (name##_body with a constant nq), whose inner loops unroll fully, so the
 * squares and the sums stay in registers. name##x2 does the same for one or two queries (nq ≤ 2) and two
 * sets of rows at once, the second `second` bytes after the first (acc[nq .. 2·nq) its sums): each step's
 * chains of the two sets are interleaved, twice the chains in flight, each chain's steps unchanged (for
 * 16-lane squares the two transposed squares take every register, and some spill). The
 * streaming top-k kernel runs these in place of a transpose into memory and a multiply from it:
 *   ssim_square_dots16_f32       16 rows × 16 floats per square, STEP SSIM_MADD;
 *   ssim_square_dots8_f64        8 rows × 8 doubles, SSIM_MADD;
 *   ssim_square_pairdots16_bf16  16 rows × 32 bfloat16 read as 32-bit words (elements 2k and 2k + 1 of
 *                                the square in word k, low half first: the words packPairs makes), q holding
 *                                words of query pairs, STEP SSIM_DPBF16 (the bfloat16-pairs
 *                                micro-kernel's chain). */
#define SSIM_SQUARE_DOTS(name, elem, vec, n, square, STEP)                                                   \
    SSIM_INLINE void name##_body(const void *in, long in_stride, long second, long ahead, const elem *q,      \
                                 long q_stride, int nq, int regs, long squares, vec *acc) {                  \
        vec t[2][n], a[2][8];                                                                                \
        _Pragma("clang loop unroll(full)") for (int g = 0; g < regs; g++)                                    \
            _Pragma("clang loop unroll(full)") for (int j = 0; j < nq; j++)                                  \
                a[g][j] = acc[g * nq + j]; /* in registers: acc may alias q for all one knows */             \
        for (long s = 0; s < squares; s++, in = (const char *)in + 64, q += n * q_stride) {                  \
            _Pragma("clang loop unroll(full)") for (int g = 0; g < regs; g++)                                \
                square((const elem *)((const char *)in + g * second), in_stride, ahead, t[g]);               \
            _Pragma("clang loop unroll(full)") for (int k = 0; k < n; k++)                                   \
                _Pragma("clang loop unroll(full)") for (int j = 0; j < nq; j++)                              \
                    _Pragma("clang loop unroll(full)") for (int g = 0; g < regs; g++)                        \
                        a[g][j] = STEP(a[g][j], (vec)(q[k * q_stride + j]), t[g][k]);                        \
        }                                                                                                    \
        _Pragma("clang loop unroll(full)") for (int g = 0; g < regs; g++)                                    \
            _Pragma("clang loop unroll(full)") for (int j = 0; j < nq; j++) acc[g * nq + j] = a[g][j];       \
    }                                                                                                        \
    SSIM_INLINE void name(const void *in, long in_stride, long ahead, const elem *q, long q_stride, int nq,      \
                          long squares, vec *acc) {                                                          \
        switch (nq) {                                                                                        \
        case 1: name##_body(in, in_stride, 0, ahead, q, q_stride, 1, 1, squares, acc); break;                \
        case 2: name##_body(in, in_stride, 0, ahead, q, q_stride, 2, 1, squares, acc); break;                \
        case 4: name##_body(in, in_stride, 0, ahead, q, q_stride, 4, 1, squares, acc); break;                \
        case 6: name##_body(in, in_stride, 0, ahead, q, q_stride, 6, 1, squares, acc); break;                \
        default: name##_body(in, in_stride, 0, ahead, q, q_stride, 8, 1, squares, acc); break;               \
        }                                                                                                    \
    }                                                                                                        \
    SSIM_INLINE void name##x2(const void *in, long in_stride, long second, long ahead, const elem *q,          \
                              long q_stride, int nq, long squares, vec *acc) {                               \
        if (nq == 1) name##_body(in, in_stride, second, ahead, q, q_stride, 1, 2, squares, acc);             \
        else name##_body(in, in_stride, second, ahead, q, q_stride, 2, 2, squares, acc);                     \
    }
SSIM_SQUARE_DOTS(ssim_square_dots16_f32, float, ssim_f32x16, 16, ssim_square16_f32, SSIM_MADD)
SSIM_SQUARE_DOTS(ssim_square_dots8_f64, double, ssim_f64x8, 8, ssim_square8_f64, SSIM_MADD)
SSIM_SQUARE_DOTS(ssim_square_pairdots16_bf16, float, ssim_f32x16, 16, ssim_square16_f32, SSIM_DPBF16)

/* A tile of nq (1, 2, 4 or 8) rows × 2 registers of bfloat16 pairs: the bfloat16-pairs micro-kernel's
 * chains (from zero, one SSIM_DPBF16 per pair step, then stored to c[j * 2 + v] or, `accumulate`,
 * added to it) for fewer query rows. q: words of query pairs, nq per step; b: two registers of corpus
 * words per step (64-byte aligned). The top-k kernel's last query panel runs through it. */
SSIM_INLINE void ssim_pairs_tile_body(const float *q, int nq, const void *b, long steps, ssim_f32x16 *c,
                                      int accumulate) {
    ssim_f32x16 a[8][2];
    _Pragma("clang loop unroll(full)") for (int j = 0; j < nq; j++) a[j][0] = a[j][1] = (ssim_f32x16){};
    for (long s = 0; s < steps; s++, q += nq, b = (const char *)b + 128) {
        ssim_f32x16 b0 = ((const ssim_f32x16 *)b)[0], b1 = ((const ssim_f32x16 *)b)[1];
        _Pragma("clang loop unroll(full)") for (int j = 0; j < nq; j++) {
            ssim_f32x16 x = (ssim_f32x16)(q[j]); /* a splat: the bits of the word, unchanged */
            a[j][0] = SSIM_DPBF16(a[j][0], x, b0);
            a[j][1] = SSIM_DPBF16(a[j][1], x, b1);
        }
    }
    _Pragma("clang loop unroll(full)") for (int j = 0; j < nq; j++) {
        c[2 * j] = accumulate ? c[2 * j] + a[j][0] : a[j][0];
        c[2 * j + 1] = accumulate ? c[2 * j + 1] + a[j][1] : a[j][1];
    }
}
SSIM_INLINE void ssim_pairs_tile(const float *q, int nq, const void *b, long steps, ssim_f32x16 *c, int accumulate) {
    switch (nq) {
    case 1: ssim_pairs_tile_body(q, 1, b, steps, c, accumulate); break;
    case 2: ssim_pairs_tile_body(q, 2, b, steps, c, accumulate); break;
    case 4: ssim_pairs_tile_body(q, 4, b, steps, c, accumulate); break;
    default: ssim_pairs_tile_body(q, 8, b, steps, c, accumulate); break;
    }
}

/* The lane sum of one register is lane 0 of ssim_hsum3_*(x, x, x) (taken in Scalar.swift: a call
 * between these inline functions would pass 512-bit vectors, which a C file compiled for the baseline
 * CPU that sees this header through a module may not do). */

#endif
