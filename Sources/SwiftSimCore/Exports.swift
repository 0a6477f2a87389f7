// Exports.swift — the C ABI (Sources/CSwiftSimABI/include/swiftsim.h), one line per op and dtype.
// `@c @implementation` makes the compiler check each signature against the header.

import CSwiftSimABI

// MARK: cosine
@c @implementation public func ssim_cosine_f16(
    _ a: UnsafePointer<ssim_f16>?, _ b: UnsafePointer<ssim_f16>?, _ out: UnsafeMutablePointer<ssim_f16>?, _ d: Int64, _ dA: Int64,
    _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineRows(
        f16(a), f16(b), f16(out), d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_cosine_bf16(
    _ a: UnsafePointer<ssim_bf16>?, _ b: UnsafePointer<ssim_bf16>?, _ out: UnsafeMutablePointer<ssim_bf16>?, _ d: Int64, _ dA: Int64,
    _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineRows(
        bf16(a), bf16(b), bf16(out), d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_cosine_f32(
    _ a: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>?, _ d: Int64, _ dA: Int64, _ dB: Int64,
    _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineRows(a, b, out, d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_cosine_f64(
    _ a: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?, _ out: UnsafeMutablePointer<Double>?, _ d: Int64, _ dA: Int64, _ dB: Int64,
    _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineRows(a, b, out, d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}

// MARK: l2 normalize
@c @implementation public func ssim_l2_normalize_f16(
    _ x: UnsafePointer<ssim_f16>?, _ out: UnsafeMutablePointer<ssim_f16>?, _ d: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
    _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeRows(f16(x), f16(out), d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_l2_normalize_bf16(
    _ x: UnsafePointer<ssim_bf16>?, _ out: UnsafeMutablePointer<ssim_bf16>?, _ d: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
    _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeRows(bf16(x), bf16(out), d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_l2_normalize_f32(
    _ x: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>?, _ d: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
    _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeRows(x, out, d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_l2_normalize_f64(
    _ x: UnsafePointer<Double>?, _ out: UnsafeMutablePointer<Double>?, _ d: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
    _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeRows(x, out, d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}

// MARK: l2 normalize gradient
@c @implementation public func ssim_l2_normalize_grad_f16(
    _ x: UnsafePointer<ssim_f16>?, _ g: UnsafePointer<ssim_f16>?, _ dx: UnsafeMutablePointer<ssim_f16>?, _ d: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeGradRows(f16(x), f16(g), f16(dx), d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_l2_normalize_grad_bf16(
    _ x: UnsafePointer<ssim_bf16>?, _ g: UnsafePointer<ssim_bf16>?, _ dx: UnsafeMutablePointer<ssim_bf16>?, _ d: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeGradRows(bf16(x), bf16(g), bf16(dx), d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_l2_normalize_grad_f32(
    _ x: UnsafePointer<Float>?, _ g: UnsafePointer<Float>?, _ dx: UnsafeMutablePointer<Float>?, _ d: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeGradRows(x, g, dx, d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_l2_normalize_grad_f64(
    _ x: UnsafePointer<Double>?, _ g: UnsafePointer<Double>?, _ dx: UnsafeMutablePointer<Double>?, _ d: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    l2NormalizeGradRows(x, g, dx, d: d, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}

// MARK: cosine gradient
@c @implementation public func ssim_cosine_grad_f16(
    _ a: UnsafePointer<ssim_f16>?, _ b: UnsafePointer<ssim_f16>?, _ u: UnsafePointer<ssim_f16>?, _ da: UnsafeMutablePointer<ssim_f16>?,
    _ db: UnsafeMutablePointer<ssim_f16>?, _ cosOut: UnsafeMutablePointer<ssim_f16>?, _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineGradRows(
        f16(a), f16(b), f16(u), f16(da), f16(db), f16(cosOut), d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides,
        epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_cosine_grad_bf16(
    _ a: UnsafePointer<ssim_bf16>?, _ b: UnsafePointer<ssim_bf16>?, _ u: UnsafePointer<ssim_bf16>?, _ da: UnsafeMutablePointer<ssim_bf16>?,
    _ db: UnsafeMutablePointer<ssim_bf16>?, _ cosOut: UnsafeMutablePointer<ssim_bf16>?, _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineGradRows(
        bf16(a), bf16(b), bf16(u), bf16(da), bf16(db), bf16(cosOut), d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides,
        epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_cosine_grad_f32(
    _ a: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?, _ u: UnsafePointer<Float>?, _ da: UnsafeMutablePointer<Float>?,
    _ db: UnsafeMutablePointer<Float>?, _ cosOut: UnsafeMutablePointer<Float>?, _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineGradRows(
        a, b, u, da, db, cosOut, d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}
@c @implementation public func ssim_cosine_grad_f64(
    _ a: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?, _ u: UnsafePointer<Double>?, _ da: UnsafeMutablePointer<Double>?,
    _ db: UnsafeMutablePointer<Double>?, _ cosOut: UnsafeMutablePointer<Double>?, _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32,
    _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
) -> ssim_status {
    cosineGradRows(
        a, b, u, da, db, cosOut, d: d, dA: dA, dB: dB, ndim: ndim, shape: shape, strides: strides, epsilon: epsilon, threads: threads)
}

// MARK: build info
@c @implementation public func ssim_build_info() -> UnsafePointer<CChar>? {
    let s: StaticString =
        pairDotProducts(BFloat16.self)
        ? "acc_f16=f32x16 acc_bf16=f32x16 acc_f32=f32x16 acc_f64=f64x8 dot_bf16=vdpbf16ps\0"
        : "acc_f16=f32x16 acc_bf16=f32x16 acc_f32=f32x16 acc_f64=f64x8 dot_bf16=widen\0"
    return UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The bfloat16 bit patterns of the ABI, seen as BFloat16.
@inline(__always) func bf16(_ p: UnsafePointer<ssim_bf16>?) -> UnsafePointer<BFloat16>? {
    p.map { UnsafeRawPointer($0).assumingMemoryBound(to: BFloat16.self) }
}
@inline(__always) func bf16(_ p: UnsafeMutablePointer<ssim_bf16>?) -> UnsafeMutablePointer<BFloat16>? {
    p.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: BFloat16.self) }
}

/// The binary16 bit patterns of the ABI, seen as Float16.
@inline(__always) func f16(_ p: UnsafePointer<ssim_f16>?) -> UnsafePointer<Float16>? {
    p.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float16.self) }
}
@inline(__always) func f16(_ p: UnsafeMutablePointer<ssim_f16>?) -> UnsafeMutablePointer<Float16>? {
    p.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: Float16.self) }
}

// MARK: pairwise cosine similarity
@c @implementation public func ssim_pairwise_cosine_f16(
    _ x: UnsafePointer<ssim_f16>?, _ y: UnsafePointer<ssim_f16>?, _ out: UnsafeMutablePointer<ssim_f16>?, _ n: Int64, _ m: Int64,
    _ d: Int64, _ xElemStride: Int64, _ yElemStride: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?,
    _ epsilon: Double, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairwiseCosine(
        f16(x), f16(y), f16(out), n: n, m: m, d: d, xElemStride: xElemStride, yElemStride: yElemStride, ndim: ndim, shape: shape,
        strides: strides, epsilon: epsilon, threads: threads, interrupt: interrupt)
}
@c @implementation public func ssim_pairwise_cosine_bf16(
    _ x: UnsafePointer<ssim_bf16>?, _ y: UnsafePointer<ssim_bf16>?, _ out: UnsafeMutablePointer<ssim_bf16>?, _ n: Int64, _ m: Int64,
    _ d: Int64, _ xElemStride: Int64, _ yElemStride: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?,
    _ epsilon: Double, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairwiseCosine(
        bf16(x), bf16(y), bf16(out), n: n, m: m, d: d, xElemStride: xElemStride, yElemStride: yElemStride, ndim: ndim, shape: shape,
        strides: strides, epsilon: epsilon, threads: threads, interrupt: interrupt)
}
@c @implementation public func ssim_pairwise_cosine_f32(
    _ x: UnsafePointer<Float>?, _ y: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>?, _ n: Int64, _ m: Int64, _ d: Int64,
    _ xElemStride: Int64, _ yElemStride: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?,
    _ epsilon: Double, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairwiseCosine(
        x, y, out, n: n, m: m, d: d, xElemStride: xElemStride, yElemStride: yElemStride, ndim: ndim, shape: shape, strides: strides,
        epsilon: epsilon, threads: threads, interrupt: interrupt)
}
@c @implementation public func ssim_pairwise_cosine_f64(
    _ x: UnsafePointer<Double>?, _ y: UnsafePointer<Double>?, _ out: UnsafeMutablePointer<Double>?, _ n: Int64, _ m: Int64, _ d: Int64,
    _ xElemStride: Int64, _ yElemStride: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?,
    _ epsilon: Double, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairwiseCosine(
        x, y, out, n: n, m: m, d: d, xElemStride: xElemStride, yElemStride: yElemStride, ndim: ndim, shape: shape, strides: strides,
        epsilon: epsilon, threads: threads, interrupt: interrupt)
}

// MARK: top-k retrieval
@c @implementation public func ssim_top_k_f16(
    _ queries: UnsafePointer<ssim_f16>?, _ corpus: UnsafePointer<ssim_f16>?, _ scores: UnsafeMutablePointer<ssim_f16>?,
    _ indices: UnsafeMutablePointer<Int64>?, _ nq: Int64, _ n: Int64, _ d: Int64, _ k: Int64, _ qRowStride: Int64, _ qElemStride: Int64,
    _ cRowStride: Int64, _ cElemStride: Int64, _ exclude: UnsafePointer<ssim_top_k_exclusions>?, _ epsilon: Double,
    _ assumeNormalized: Int32, _ method: Int32, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    topK(
        f16(queries), f16(corpus), f16(scores), indices, nq: nq, n: n, d: d, k: k, qRowStride: qRowStride, qElemStride: qElemStride,
        cRowStride: cRowStride, cElemStride: cElemStride, exclude: exclude, epsilon: epsilon, assumeNormalized: assumeNormalized,
        method: method, threads: threads, interrupt: interrupt)
}
@c @implementation public func ssim_top_k_bf16(
    _ queries: UnsafePointer<ssim_bf16>?, _ corpus: UnsafePointer<ssim_bf16>?, _ scores: UnsafeMutablePointer<ssim_bf16>?,
    _ indices: UnsafeMutablePointer<Int64>?, _ nq: Int64, _ n: Int64, _ d: Int64, _ k: Int64, _ qRowStride: Int64, _ qElemStride: Int64,
    _ cRowStride: Int64, _ cElemStride: Int64, _ exclude: UnsafePointer<ssim_top_k_exclusions>?, _ epsilon: Double,
    _ assumeNormalized: Int32, _ method: Int32, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    topK(
        bf16(queries), bf16(corpus), bf16(scores), indices, nq: nq, n: n, d: d, k: k, qRowStride: qRowStride, qElemStride: qElemStride,
        cRowStride: cRowStride, cElemStride: cElemStride, exclude: exclude, epsilon: epsilon, assumeNormalized: assumeNormalized,
        method: method, threads: threads, interrupt: interrupt)
}
@c @implementation public func ssim_top_k_f32(
    _ queries: UnsafePointer<Float>?, _ corpus: UnsafePointer<Float>?, _ scores: UnsafeMutablePointer<Float>?,
    _ indices: UnsafeMutablePointer<Int64>?, _ nq: Int64, _ n: Int64, _ d: Int64, _ k: Int64, _ qRowStride: Int64, _ qElemStride: Int64,
    _ cRowStride: Int64, _ cElemStride: Int64, _ exclude: UnsafePointer<ssim_top_k_exclusions>?, _ epsilon: Double,
    _ assumeNormalized: Int32, _ method: Int32, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    topK(
        queries, corpus, scores, indices, nq: nq, n: n, d: d, k: k, qRowStride: qRowStride, qElemStride: qElemStride,
        cRowStride: cRowStride, cElemStride: cElemStride, exclude: exclude, epsilon: epsilon, assumeNormalized: assumeNormalized,
        method: method, threads: threads, interrupt: interrupt)
}
@c @implementation public func ssim_top_k_f64(
    _ queries: UnsafePointer<Double>?, _ corpus: UnsafePointer<Double>?, _ scores: UnsafeMutablePointer<Double>?,
    _ indices: UnsafeMutablePointer<Int64>?, _ nq: Int64, _ n: Int64, _ d: Int64, _ k: Int64, _ qRowStride: Int64, _ qElemStride: Int64,
    _ cRowStride: Int64, _ cElemStride: Int64, _ exclude: UnsafePointer<ssim_top_k_exclusions>?, _ epsilon: Double,
    _ assumeNormalized: Int32, _ method: Int32, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    topK(
        queries, corpus, scores, indices, nq: nq, n: n, d: d, k: k, qRowStride: qRowStride, qElemStride: qElemStride,
        cRowStride: cRowStride, cElemStride: cElemStride, exclude: exclude, epsilon: epsilon, assumeNormalized: assumeNormalized,
        method: method, threads: threads, interrupt: interrupt)
}

// MARK: merge of sharded top-k results
@c @implementation public func ssim_merge_top_k_f16(
    _ nparts: Int64, _ scores: UnsafePointer<UnsafePointer<ssim_f16>?>?, _ indices: UnsafePointer<UnsafePointer<Int64>?>?,
    _ partK: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ nq: Int64, _ k: Int64, _ outScores: UnsafeMutablePointer<ssim_f16>?,
    _ outIndices: UnsafeMutablePointer<Int64>?, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    mergeTopK(
        parts: nparts, scores: UnsafeRawPointer(scores), indices: UnsafeRawPointer(indices), partK: partK, strides: strides, nq: nq,
        k: k, outScores: UnsafeMutableRawPointer(outScores), outIndices: outIndices, threads: threads, interrupt: interrupt, Float16.self)
}
@c @implementation public func ssim_merge_top_k_bf16(
    _ nparts: Int64, _ scores: UnsafePointer<UnsafePointer<ssim_bf16>?>?, _ indices: UnsafePointer<UnsafePointer<Int64>?>?,
    _ partK: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ nq: Int64, _ k: Int64,
    _ outScores: UnsafeMutablePointer<ssim_bf16>?, _ outIndices: UnsafeMutablePointer<Int64>?, _ threads: Int32,
    _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    mergeTopK(
        parts: nparts, scores: UnsafeRawPointer(scores), indices: UnsafeRawPointer(indices), partK: partK, strides: strides, nq: nq,
        k: k, outScores: UnsafeMutableRawPointer(outScores), outIndices: outIndices, threads: threads, interrupt: interrupt, BFloat16.self)
}
@c @implementation public func ssim_merge_top_k_f32(
    _ nparts: Int64, _ scores: UnsafePointer<UnsafePointer<Float>?>?, _ indices: UnsafePointer<UnsafePointer<Int64>?>?,
    _ partK: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ nq: Int64, _ k: Int64, _ outScores: UnsafeMutablePointer<Float>?,
    _ outIndices: UnsafeMutablePointer<Int64>?, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    mergeTopK(
        parts: nparts, scores: UnsafeRawPointer(scores), indices: UnsafeRawPointer(indices), partK: partK, strides: strides, nq: nq,
        k: k, outScores: UnsafeMutableRawPointer(outScores), outIndices: outIndices, threads: threads, interrupt: interrupt, Float.self)
}
@c @implementation public func ssim_merge_top_k_f64(
    _ nparts: Int64, _ scores: UnsafePointer<UnsafePointer<Double>?>?, _ indices: UnsafePointer<UnsafePointer<Int64>?>?,
    _ partK: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ nq: Int64, _ k: Int64, _ outScores: UnsafeMutablePointer<Double>?,
    _ outIndices: UnsafeMutablePointer<Int64>?, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    mergeTopK(
        parts: nparts, scores: UnsafeRawPointer(scores), indices: UnsafeRawPointer(indices), partK: partK, strides: strides, nq: nq,
        k: k, outScores: UnsafeMutableRawPointer(outScores), outIndices: outIndices, threads: threads, interrupt: interrupt, Double.self)
}

// MARK: pairs above a threshold
@c @implementation public func ssim_pairs_above_f16(
    _ x: UnsafePointer<ssim_f16>?, _ y: UnsafePointer<ssim_f16>?, _ n: Int64, _ m: Int64, _ d: Int64, _ xRowStride: Int64,
    _ xElemStride: Int64, _ yRowStride: Int64, _ yElemStride: Int64, _ threshold: Double, _ diagonal: Int64, _ firstRow: Int64,
    _ epsilon: Double, _ capacity: Int64, _ rows: UnsafeMutablePointer<Int64>?, _ cols: UnsafeMutablePointer<Int64>?,
    _ scores: UnsafeMutablePointer<ssim_f16>?, _ written: UnsafeMutablePointer<Int64>?, _ found: UnsafeMutablePointer<Int64>?,
    _ nextRow: UnsafeMutablePointer<Int64>?, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairsAbove(
        f16(x), f16(y), n: n, m: m, d: d, xRowStride: xRowStride, xElemStride: xElemStride, yRowStride: yRowStride,
        yElemStride: yElemStride, threshold: threshold, diagonal: diagonal, firstRow: firstRow, epsilon: epsilon, capacity: capacity,
        rows: rows, cols: cols, scores: f16(scores), written: written, found: found, nextRow: nextRow, threads: threads,
        interrupt: interrupt)
}
@c @implementation public func ssim_pairs_above_bf16(
    _ x: UnsafePointer<ssim_bf16>?, _ y: UnsafePointer<ssim_bf16>?, _ n: Int64, _ m: Int64, _ d: Int64, _ xRowStride: Int64,
    _ xElemStride: Int64, _ yRowStride: Int64, _ yElemStride: Int64, _ threshold: Double, _ diagonal: Int64, _ firstRow: Int64,
    _ epsilon: Double, _ capacity: Int64, _ rows: UnsafeMutablePointer<Int64>?, _ cols: UnsafeMutablePointer<Int64>?,
    _ scores: UnsafeMutablePointer<ssim_bf16>?, _ written: UnsafeMutablePointer<Int64>?, _ found: UnsafeMutablePointer<Int64>?,
    _ nextRow: UnsafeMutablePointer<Int64>?, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairsAbove(
        bf16(x), bf16(y), n: n, m: m, d: d, xRowStride: xRowStride, xElemStride: xElemStride, yRowStride: yRowStride,
        yElemStride: yElemStride, threshold: threshold, diagonal: diagonal, firstRow: firstRow, epsilon: epsilon, capacity: capacity,
        rows: rows, cols: cols, scores: bf16(scores), written: written, found: found, nextRow: nextRow, threads: threads,
        interrupt: interrupt)
}
@c @implementation public func ssim_pairs_above_f32(
    _ x: UnsafePointer<Float>?, _ y: UnsafePointer<Float>?, _ n: Int64, _ m: Int64, _ d: Int64, _ xRowStride: Int64,
    _ xElemStride: Int64, _ yRowStride: Int64, _ yElemStride: Int64, _ threshold: Double, _ diagonal: Int64, _ firstRow: Int64,
    _ epsilon: Double, _ capacity: Int64, _ rows: UnsafeMutablePointer<Int64>?, _ cols: UnsafeMutablePointer<Int64>?,
    _ scores: UnsafeMutablePointer<Float>?, _ written: UnsafeMutablePointer<Int64>?, _ found: UnsafeMutablePointer<Int64>?,
    _ nextRow: UnsafeMutablePointer<Int64>?, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairsAbove(
        x, y, n: n, m: m, d: d, xRowStride: xRowStride, xElemStride: xElemStride, yRowStride: yRowStride, yElemStride: yElemStride,
        threshold: threshold, diagonal: diagonal, firstRow: firstRow, epsilon: epsilon, capacity: capacity, rows: rows, cols: cols,
        scores: scores, written: written, found: found, nextRow: nextRow, threads: threads, interrupt: interrupt)
}
@c @implementation public func ssim_pairs_above_f64(
    _ x: UnsafePointer<Double>?, _ y: UnsafePointer<Double>?, _ n: Int64, _ m: Int64, _ d: Int64, _ xRowStride: Int64,
    _ xElemStride: Int64, _ yRowStride: Int64, _ yElemStride: Int64, _ threshold: Double, _ diagonal: Int64, _ firstRow: Int64,
    _ epsilon: Double, _ capacity: Int64, _ rows: UnsafeMutablePointer<Int64>?, _ cols: UnsafeMutablePointer<Int64>?,
    _ scores: UnsafeMutablePointer<Double>?, _ written: UnsafeMutablePointer<Int64>?, _ found: UnsafeMutablePointer<Int64>?,
    _ nextRow: UnsafeMutablePointer<Int64>?, _ threads: Int32, _ interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    pairsAbove(
        x, y, n: n, m: m, d: d, xRowStride: xRowStride, xElemStride: xElemStride, yRowStride: yRowStride, yElemStride: yElemStride,
        threshold: threshold, diagonal: diagonal, firstRow: firstRow, epsilon: epsilon, capacity: capacity, rows: rows, cols: cols,
        scores: scores, written: written, found: found, nextRow: nextRow, threads: threads, interrupt: interrupt)
}
