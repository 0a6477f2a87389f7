/*
 * swiftsim.h — the C ABI of the swiftsim kernels, declared once.
 *
 * Implemented by Sources/SwiftSimCore (Swift, `@c @implementation`, so the compiler checks every
 * signature against this file) and called by Sources/CPyBridge (the CPython extension).
 *
 * Conventions (NumPy's inner-loop convention, extended to an outer index space):
 *   - Every operation works on "rows": vectors of `d` elements along the reduced axis. The rows form an
 *     outer index space of `ndim` axes with sizes `shape[0..ndim)`. Operand k's row at outer index
 *     (i_0, ..., i_{ndim-1}) starts at  base_k + sum_j i_j * strides[k * (ndim + 1) + j]  bytes, and its
 *     elements are `strides[k * (ndim + 1) + ndim]` bytes apart (the inner stride). Strides may be zero
 *     (broadcast) or negative. Per-row scalar operands (cosines, upstream) have an inner stride of 0.
 *   - All counts are int64_t, all strides are in bytes, `epsilon` floors the squared norm.
 *   - `threads` <= 1 runs on the calling thread. Results never depend on `threads` (bitwise): one
 *     row is always reduced by one thread, in one fixed order.
 *   - Nothing here traps: bad arguments return a status, never abort the process, whatever the sizes
 *     and strides (size products are checked for overflow; scratch memory is bounded per thread).
 *   - The caller keeps every buffer alive and unchanged in size for the duration of the call.
 *   - Names are ssim_<op>_<dtype>; f16 is IEEE binary16 and bf16 bfloat16 (the upper half of a binary32),
 *     each passed as its bit pattern. bf16 is computed as f16 is: widened to float, accumulated in float,
 *     rounded once (to nearest even) to bf16.
 */
#ifndef SWIFTSIM_H
#define SWIFTSIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result of every exported call. */
typedef enum ssim_status {
    SSIM_OK = 0,
    SSIM_ERR_NULL_POINTER = 1,     /* a required pointer was NULL */
    SSIM_ERR_BAD_SHAPE = 2,        /* negative size, ndim out of range, or d_a/d_b not in {d, 1} */
    SSIM_ERR_BAD_EPSILON = 3,      /* epsilon negative or NaN */
    SSIM_ERR_NO_MEMORY = 4,        /* a workspace allocation failed; nothing was written */
    SSIM_INTERRUPTED = 5,          /* the caller's interrupt flag was set: the call stopped early and
                                      its outputs are unspecified (inputs are never written) */
    SSIM_ERR_BAD_INDEX = 6,        /* an index list out of range, unsorted or inconsistent with its offsets */
    SSIM_ERR_BAD_CANDIDATE = 7,    /* merge_top_k: a candidate index below -1 (the padding mark) */
    SSIM_ERR_BAD_THRESHOLD = 8,    /* pairs_above: the threshold is NaN */
    SSIM_CAPACITY_EXCEEDED = 9,    /* pairs_above: more results than the caller's buffers hold; the
                                      outputs hold the complete rows the call reports (see there) */
} ssim_status;

/** The largest outer rank an operation accepts (NumPy's own limit). */
#define SSIM_MAX_DIMS 64

/** IEEE 754 binary16, as raw bits. */
typedef uint16_t ssim_f16;

/** bfloat16 (1 sign, 8 exponent, 7 significand bits: a binary32's upper half), as raw bits. */
typedef uint16_t ssim_bf16;

/* ---------------------------------------------------------------------------------------------
 * Row-wise cosine similarity.
 *   out[i] = (a_i . b_i) * r(a_i) * r(b_i),  r(x) = 1 / sqrt(max(|x|^2, epsilon))
 * `d_a` and `d_b` are the reduced lengths of a and b and `d` is their broadcast (NumPy's rule: equal,
 * or one of them is 1 and d is the other). A length-1 operand is normalised with its own length and
 * then broadcast along the reduction, as TensorFlow does.
 * Operands (strides order): a, b, out.
 * ------------------------------------------------------------------------------------------- */
ssim_status ssim_cosine_f16(const ssim_f16 *a, const ssim_f16 *b, ssim_f16 *out,
                            int64_t d, int64_t d_a, int64_t d_b,
                            int32_t ndim, const int64_t *shape, const int64_t *strides,
                            double epsilon, int32_t threads);
ssim_status ssim_cosine_bf16(const ssim_bf16 *a, const ssim_bf16 *b, ssim_bf16 *out,
                             int64_t d, int64_t d_a, int64_t d_b,
                             int32_t ndim, const int64_t *shape, const int64_t *strides,
                             double epsilon, int32_t threads);
ssim_status ssim_cosine_f32(const float *a, const float *b, float *out,
                            int64_t d, int64_t d_a, int64_t d_b,
                            int32_t ndim, const int64_t *shape, const int64_t *strides,
                            double epsilon, int32_t threads);
ssim_status ssim_cosine_f64(const double *a, const double *b, double *out,
                            int64_t d, int64_t d_a, int64_t d_b,
                            int32_t ndim, const int64_t *shape, const int64_t *strides,
                            double epsilon, int32_t threads);

/* ---------------------------------------------------------------------------------------------
 * Row-wise l2 normalisation: out_i = x_i * r(x_i). `out` may be `x` itself (in place).
 * Operands (strides order): x, out.
 * ------------------------------------------------------------------------------------------- */
ssim_status ssim_l2_normalize_f16(const ssim_f16 *x, ssim_f16 *out, int64_t d,
                                  int32_t ndim, const int64_t *shape, const int64_t *strides,
                                  double epsilon, int32_t threads);
ssim_status ssim_l2_normalize_bf16(const ssim_bf16 *x, ssim_bf16 *out, int64_t d,
                                   int32_t ndim, const int64_t *shape, const int64_t *strides,
                                   double epsilon, int32_t threads);
ssim_status ssim_l2_normalize_f32(const float *x, float *out, int64_t d,
                                  int32_t ndim, const int64_t *shape, const int64_t *strides,
                                  double epsilon, int32_t threads);
ssim_status ssim_l2_normalize_f64(const double *x, double *out, int64_t d,
                                  int32_t ndim, const int64_t *shape, const int64_t *strides,
                                  double epsilon, int32_t threads);

/* ---------------------------------------------------------------------------------------------
 * Gradient through the l2 normalisation: for each row, dx = r(x) · (g − [|x|^2 >= epsilon] · (x^.g) · x^),
 * the gradient of sum(g * l2_normalize(x)) with respect to x. Operands (strides order): x, g, dx.
 * ------------------------------------------------------------------------------------------- */
ssim_status ssim_l2_normalize_grad_f16(const ssim_f16 *x, const ssim_f16 *g, ssim_f16 *dx, int64_t d,
                                       int32_t ndim, const int64_t *shape, const int64_t *strides,
                                       double epsilon, int32_t threads);
ssim_status ssim_l2_normalize_grad_bf16(const ssim_bf16 *x, const ssim_bf16 *g, ssim_bf16 *dx, int64_t d,
                                        int32_t ndim, const int64_t *shape, const int64_t *strides,
                                        double epsilon, int32_t threads);
ssim_status ssim_l2_normalize_grad_f32(const float *x, const float *g, float *dx, int64_t d,
                                       int32_t ndim, const int64_t *shape, const int64_t *strides,
                                       double epsilon, int32_t threads);
ssim_status ssim_l2_normalize_grad_f64(const double *x, const double *g, double *dx, int64_t d,
                                       int32_t ndim, const int64_t *shape, const int64_t *strides,
                                       double epsilon, int32_t threads);

/* ---------------------------------------------------------------------------------------------
 * Fused cosine value and gradient, one pass per row.
 *   c_i = cosine(a_i, b_i);  cos_out[i] = c_i                       (if cos_out != NULL)
 *   da_i = u_i * r(a_i) * (b^_i - [|a_i|^2 >= epsilon] * c_i * a^_i)  (if da != NULL)
 *   db_i = u_i * r(b_i) * (a^_i - [|b_i|^2 >= epsilon] * c_i * b^_i)  (if db != NULL)
 * `u` holds one upstream weight per row (use a zero stride for one shared weight).
 * `da` has a's reduced length d_a and `db` has d_b; for an operand with reduced length 1 and d > 1
 * the gradient is the sum over the broadcast reduction.
 * Operands (strides order): a, b, u, da, db, cos_out. Strides of NULL outputs are ignored.
 * ------------------------------------------------------------------------------------------- */
ssim_status ssim_cosine_grad_f16(const ssim_f16 *a, const ssim_f16 *b, const ssim_f16 *u,
                                 ssim_f16 *da, ssim_f16 *db, ssim_f16 *cos_out,
                                 int64_t d, int64_t d_a, int64_t d_b,
                                 int32_t ndim, const int64_t *shape, const int64_t *strides,
                                 double epsilon, int32_t threads);
ssim_status ssim_cosine_grad_bf16(const ssim_bf16 *a, const ssim_bf16 *b, const ssim_bf16 *u,
                                  ssim_bf16 *da, ssim_bf16 *db, ssim_bf16 *cos_out,
                                  int64_t d, int64_t d_a, int64_t d_b,
                                  int32_t ndim, const int64_t *shape, const int64_t *strides,
                                  double epsilon, int32_t threads);
ssim_status ssim_cosine_grad_f32(const float *a, const float *b, const float *u,
                                 float *da, float *db, float *cos_out,
                                 int64_t d, int64_t d_a, int64_t d_b,
                                 int32_t ndim, const int64_t *shape, const int64_t *strides,
                                 double epsilon, int32_t threads);
ssim_status ssim_cosine_grad_f64(const double *a, const double *b, const double *u,
                                 double *da, double *db, double *cos_out,
                                 int64_t d, int64_t d_a, int64_t d_b,
                                 int32_t ndim, const int64_t *shape, const int64_t *strides,
                                 double epsilon, int32_t threads);

/** Describes the compiled kernels' accumulators: a static, NUL-terminated string of key=value pairs,
 *  "acc_f16=f32x16 acc_bf16=f32x16 acc_f32=f32x16 acc_f64=f64x8 dot_bf16=widen", where dot_bf16 says how the
 *  all-pairs kernels multiply bfloat16: "widen" (widened to float, FMA chains) or "vdpbf16ps" (AVX512_BF16
 *  pair dot products into float). Never NULL. */
const char *ssim_build_info(void);

/* =============================================================================================
 * All pairs: pairwise cosine similarity and top-k retrieval (GEMM-class kernels).
 *
 * A matrix operand is `rows` vectors of `d` elements: row i, element k of x is at
 *   x + i * row_stride + k * elem_stride   (bytes; any sign, any layout).
 * Every result element is one dot product accumulated over k = 0..d-1 in one fixed order by one
 * thread (through packed panels and a register-tiled FMA micro-kernel), scaled by the product of
 * the two rows' inverse norms:  c_ij = (x_i . y_j) * (r(x_i) * r(y_j)), r(v) = 1/sqrt(max(|v|^2, eps)).
 * The scale product is symmetric, so c_ij and c_ji are bitwise equal, and results never depend on
 * `threads`. A row holding NaN or +-Inf has r = NaN, so its whole row (column) of results is NaN;
 * a finite row whose squared norm overflows is scaled by a power of two first (exact cosine).
 * Threads: parked helper threads are created on first use and reused (a concurrent caller, or one
 * for which no helper thread can be created, runs on its own thread); the most recently released
 * workspace block (<= 64 MiB) is kept for the next call, so repeated calls do not page-fault a fresh
 * buffer each time.
 * Interruption: `interrupt` may be NULL; otherwise the kernels read *interrupt (atomically) at every
 * tile boundary and, once it is nonzero, stop within one tile per thread and return SSIM_INTERRUPTED.
 * A signal handler may set it.
 * ============================================================================================= */

/* ---------------------------------------------------------------------------------------------
 * Pairwise cosine similarity, batched:  out[b][i][j] = cosine(x[b][i], y[b][j]),
 * x[b]: n rows, y[b]: m rows, both of d elements; out[b]: n rows of m contiguous elements.
 * The batch is an outer index space of `ndim` axes with sizes `shape`; for each operand k in
 * (x, y, out), strides[k * (ndim + 1) + j] is its byte stride along batch axis j and
 * strides[k * (ndim + 1) + ndim] its row stride. `x_elem_stride`, `y_elem_stride` step along d.
 * When x and y describe the same rows (same pointer, n == m, equal strides) only the tiles on and
 * above the diagonal are computed and the rest is mirrored.
 * `out` must not overlap x or y. Workspace: the packed panels of x and y (at most ~64 MiB per
 * concurrent batch; larger inputs are processed in blocks) plus a few KiB per thread.
 * ------------------------------------------------------------------------------------------- */
ssim_status ssim_pairwise_cosine_f16(const ssim_f16 *x, const ssim_f16 *y, ssim_f16 *out,
                                     int64_t n, int64_t m, int64_t d,
                                     int64_t x_elem_stride, int64_t y_elem_stride,
                                     int32_t ndim, const int64_t *shape, const int64_t *strides,
                                     double epsilon, int32_t threads,
                                     const int32_t *interrupt);
ssim_status ssim_pairwise_cosine_bf16(const ssim_bf16 *x, const ssim_bf16 *y, ssim_bf16 *out,
                                      int64_t n, int64_t m, int64_t d,
                                      int64_t x_elem_stride, int64_t y_elem_stride,
                                      int32_t ndim, const int64_t *shape, const int64_t *strides,
                                      double epsilon, int32_t threads,
                                      const int32_t *interrupt);
ssim_status ssim_pairwise_cosine_f32(const float *x, const float *y, float *out,
                                     int64_t n, int64_t m, int64_t d,
                                     int64_t x_elem_stride, int64_t y_elem_stride,
                                     int32_t ndim, const int64_t *shape, const int64_t *strides,
                                     double epsilon, int32_t threads,
                                     const int32_t *interrupt);
ssim_status ssim_pairwise_cosine_f64(const double *x, const double *y, double *out,
                                     int64_t n, int64_t m, int64_t d,
                                     int64_t x_elem_stride, int64_t y_elem_stride,
                                     int32_t ndim, const int64_t *shape, const int64_t *strides,
                                     double epsilon, int32_t threads,
                                     const int32_t *interrupt);

/* ---------------------------------------------------------------------------------------------
 * Top-k retrieval: for each of the `nq` query rows, the `k` corpus rows (of `n`) with the highest
 * cosine, best first; equal scores in increasing corpus index; NaN scores (rows holding NaN or Inf)
 * after every number. scores[qi * k + t] (the query's t-th best cosine, in the input dtype) and
 * indices[qi * k + t] (its corpus row) are written C-contiguous. k >= 1 (else SSIM_ERR_BAD_SHAPE);
 * n may be 0. A query with fewer than k candidates (k > n, or rows excluded) gets them all, then
 * index -1 and a NaN score in every remaining position.
 * `exclude` (NULL: none) lists, per query, corpus rows it never returns; they are skipped inside
 * the selection, so k results come back whenever k rows remain. Lists that are out of range,
 * unsorted or inconsistent give SSIM_ERR_BAD_INDEX before anything is computed.
 * Two paths compute the same bits (SSIM_TOP_K_AUTO picks one from nq and d):
 *   - STREAM (few queries): corpus rows are read once, in place: each block of corpus rows has its
 *     norms computed and is transposed, 128 elements at a time, into an L1 slice that the
 *     micro-kernel multiplies with the packed queries; no packed copy of the corpus is made.
 *   - PACKED (many queries): the corpus is packed in blocks of panels, as the pairwise kernel does.
 * Either way each score is the micro-kernel's FMA-chain dot product times (r_q * r_c), bitwise what
 * ssim_pairwise_cosine_* gives for the same rows, then ranked in the input dtype, through a bounded
 * heap per query and thread: workspace O(threads * (queries_per_pass * min(k, n) + block)), never
 * O(nq * n). `assume_normalized` != 0 takes r = 1 for every row (inputs already unit length).
 * ------------------------------------------------------------------------------------------- */

/** Which top-k path runs (the `method` argument): the kernel's choice, or one forced (tests, benchmarks). */
#define SSIM_TOP_K_AUTO 0
#define SSIM_TOP_K_STREAM 1
#define SSIM_TOP_K_PACKED 2

/** Corpus rows the queries of one top-k call must skip. */
typedef struct ssim_top_k_exclusions {
    const int64_t *indptr;  /* NULL (no lists), or nq + 1 offsets into `indices`, indptr[0] = 0,
                               non-decreasing, indptr[nq] = count: query i skips indices[indptr[i] ..
                               indptr[i + 1]), strictly increasing, each in [0, n) */
    const int64_t *indices; /* may be NULL when count is 0 */
    int64_t count;
    int32_t exclude_self;   /* nonzero: query i also skips corpus row i (top_k(x, x, k)) */
} ssim_top_k_exclusions;

ssim_status ssim_top_k_f16(const ssim_f16 *queries, const ssim_f16 *corpus, ssim_f16 *scores, int64_t *indices,
                           int64_t nq, int64_t n, int64_t d, int64_t k,
                           int64_t q_row_stride, int64_t q_elem_stride, int64_t c_row_stride, int64_t c_elem_stride,
                           const ssim_top_k_exclusions *exclude, double epsilon, int32_t assume_normalized,
                           int32_t method, int32_t threads, const int32_t *interrupt);
ssim_status ssim_top_k_bf16(const ssim_bf16 *queries, const ssim_bf16 *corpus, ssim_bf16 *scores, int64_t *indices,
                            int64_t nq, int64_t n, int64_t d, int64_t k,
                            int64_t q_row_stride, int64_t q_elem_stride, int64_t c_row_stride, int64_t c_elem_stride,
                            const ssim_top_k_exclusions *exclude, double epsilon, int32_t assume_normalized,
                            int32_t method, int32_t threads, const int32_t *interrupt);
ssim_status ssim_top_k_f32(const float *queries, const float *corpus, float *scores, int64_t *indices,
                           int64_t nq, int64_t n, int64_t d, int64_t k,
                           int64_t q_row_stride, int64_t q_elem_stride, int64_t c_row_stride, int64_t c_elem_stride,
                           const ssim_top_k_exclusions *exclude, double epsilon, int32_t assume_normalized,
                           int32_t method, int32_t threads, const int32_t *interrupt);
ssim_status ssim_top_k_f64(const double *queries, const double *corpus, double *scores, int64_t *indices,
                           int64_t nq, int64_t n, int64_t d, int64_t k,
                           int64_t q_row_stride, int64_t q_elem_stride, int64_t c_row_stride, int64_t c_elem_stride,
                           const ssim_top_k_exclusions *exclude, double epsilon, int32_t assume_normalized,
                           int32_t method, int32_t threads, const int32_t *interrupt);

/* ---------------------------------------------------------------------------------------------
 * Merge of top-k results computed on shards: for each of the `nq` queries, the `k` best of the
 * candidates of `nparts` parts, in top_k's order (higher score first; equal scores by lower index;
 * NaN scores after every number, among themselves by index), written best first to
 * out_scores[qi * k + t] and out_indices[qi * k + t] (C-contiguous). Part p holds part_k[p] >= 0
 * candidates per query: candidate t of query qi has its score at
 *   scores[p] + qi * strides[4p] + t * strides[4p + 1]    and its index at
 *   indices[p] + qi * strides[4p + 2] + t * strides[4p + 3]   (bytes; any sign).
 * Index -1 marks padding and is skipped; a query with fewer than k candidates is padded with index -1
 * and score NaN after them. An index below -1 gives SSIM_ERR_BAD_CANDIDATE (outputs unspecified). Parts
 * need not be sorted; scores are copied bit for bit, so merging the per-shard top_k results (with
 * global indices) gives exactly the top_k of the whole corpus. k >= 1. Workspace: k candidates per
 * thread.
 * ------------------------------------------------------------------------------------------- */
ssim_status ssim_merge_top_k_f16(int64_t nparts, const ssim_f16 *const *scores, const int64_t *const *indices,
                                 const int64_t *part_k, const int64_t *strides, int64_t nq, int64_t k,
                                 ssim_f16 *out_scores, int64_t *out_indices, int32_t threads,
                                 const int32_t *interrupt);
ssim_status ssim_merge_top_k_bf16(int64_t nparts, const ssim_bf16 *const *scores, const int64_t *const *indices,
                                  const int64_t *part_k, const int64_t *strides, int64_t nq, int64_t k,
                                  ssim_bf16 *out_scores, int64_t *out_indices, int32_t threads,
                                  const int32_t *interrupt);
ssim_status ssim_merge_top_k_f32(int64_t nparts, const float *const *scores, const int64_t *const *indices,
                                 const int64_t *part_k, const int64_t *strides, int64_t nq, int64_t k,
                                 float *out_scores, int64_t *out_indices, int32_t threads,
                                 const int32_t *interrupt);
ssim_status ssim_merge_top_k_f64(int64_t nparts, const double *const *scores, const int64_t *const *indices,
                                 const int64_t *part_k, const int64_t *strides, int64_t nq, int64_t k,
                                 double *out_scores, int64_t *out_indices, int32_t threads,
                                 const int32_t *interrupt);

/* ---------------------------------------------------------------------------------------------
 * Pairs above a threshold: every (i, j), i in [first_row, n) a row of x and j in [0, m) a row of y,
 * with j - i >= diagonal and cosine(x_i, y_j) >= threshold, in increasing (i, j). The cosine is the
 * one ssim_pairwise_cosine_* gives for the pair, bitwise (narrowed to the dtype), and it is compared
 * with `threshold` rounded to the dtype; NaN scores never pass, a NaN threshold gives
 * SSIM_ERR_BAD_THRESHOLD. `diagonal` = 1 with y = x gives the pairs i < j; INT64_MIN gives all pairs.
 * Pair t goes to rows[t], cols[t], scores[t], for t < capacity.
 * x is processed in passes of at most a few thousand rows, each pass's pairs staged (per thread) and
 * then written in order. On SSIM_OK, *written pairs were written and *next_row = n. On
 * SSIM_CAPACITY_EXCEEDED, the first *written pairs are every pair of the rows [first_row, *next_row)
 * (a pass boundary: call again with first_row = *next_row and fresh buffers to go on), and *found
 * (> capacity) is how many pairs the call had found when it stopped. Workspace: the packed panels of
 * one pass of x and of y (at most ~64 MiB), the staged pairs of one pass of x, O(m / 256) bookkeeping.
 * ------------------------------------------------------------------------------------------- */
ssim_status ssim_pairs_above_f16(const ssim_f16 *x, const ssim_f16 *y, int64_t n, int64_t m, int64_t d,
                                 int64_t x_row_stride, int64_t x_elem_stride, int64_t y_row_stride,
                                 int64_t y_elem_stride, double threshold, int64_t diagonal, int64_t first_row,
                                 double epsilon, int64_t capacity, int64_t *rows, int64_t *cols, ssim_f16 *scores,
                                 int64_t *written, int64_t *found, int64_t *next_row, int32_t threads,
                                 const int32_t *interrupt);
ssim_status ssim_pairs_above_bf16(const ssim_bf16 *x, const ssim_bf16 *y, int64_t n, int64_t m, int64_t d,
                                  int64_t x_row_stride, int64_t x_elem_stride, int64_t y_row_stride,
                                  int64_t y_elem_stride, double threshold, int64_t diagonal, int64_t first_row,
                                  double epsilon, int64_t capacity, int64_t *rows, int64_t *cols, ssim_bf16 *scores,
                                  int64_t *written, int64_t *found, int64_t *next_row, int32_t threads,
                                  const int32_t *interrupt);
ssim_status ssim_pairs_above_f32(const float *x, const float *y, int64_t n, int64_t m, int64_t d,
                                 int64_t x_row_stride, int64_t x_elem_stride, int64_t y_row_stride,
                                 int64_t y_elem_stride, double threshold, int64_t diagonal, int64_t first_row,
                                 double epsilon, int64_t capacity, int64_t *rows, int64_t *cols, float *scores,
                                 int64_t *written, int64_t *found, int64_t *next_row, int32_t threads,
                                 const int32_t *interrupt);
ssim_status ssim_pairs_above_f64(const double *x, const double *y, int64_t n, int64_t m, int64_t d,
                                 int64_t x_row_stride, int64_t x_elem_stride, int64_t y_row_stride,
                                 int64_t y_elem_stride, double threshold, int64_t diagonal, int64_t first_row,
                                 double epsilon, int64_t capacity, int64_t *rows, int64_t *cols, double *scores,
                                 int64_t *written, int64_t *found, int64_t *next_row, int32_t threads,
                                 const int32_t *interrupt);

#ifdef __cplusplus
}
#endif

#endif /* SWIFTSIM_H */
