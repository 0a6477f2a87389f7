// Normalize.swift — row-wise l2 normalisation.
//
// out_i = x_i · r with r = 1/sqrt(max(Σ x², ε)) (TensorFlow's tf.nn.l2_normalize), Σ x² accumulated
// in T.Acc as in Reduce.swift; each output is one rounding of x_i · r (Float16 is scaled in Float
// and rounded once). A zero row stays zero. NaN or ±Inf in a row → the whole row is NaN. A squared
// norm that overflows Acc is recomputed with the row scaled by its largest magnitude (the exact unit
// vector, where TensorFlow gives 0). The row is read completely before it is written, so `out` may
// be `x`.

import CSwiftSimABI

func l2NormalizeRows<T: SimScalar>(
    _ x: UnsafePointer<T>?, _ out: UnsafeMutablePointer<T>?,
    d: Int64, ndim: Int32, shape: UnsafePointer<Int64>?, strides: UnsafePointer<Int64>?,
    epsilon: Double, threads: Int32
) -> ssim_status {
    let layout: RowLayout
    switch RowLayout.checked(d: d, dA: d, dB: d, epsilon: epsilon, ndim: ndim, shape: shape, strides: strides, operands: 2) {
    case .success(let l): layout = l
    case .failure(let e): return e.status
    }
    if layout.rows == 0 || d == 0 { return SSIM_OK }
    guard let x, let out else { return SSIM_ERR_NULL_POINTER }
    let n = Int(d)
    let eps = EpsilonFloor<T.Acc>(epsilon)
    let px = UnsafeRawPointer(x), po = UnsafeMutableRawPointer(out)
    let sx = layout.inner(0), so = layout.inner(1)
    let size = MemoryLayout<T>.stride
    let blocks = rowBlocks(layout.rows, elementsPerRow: n, threads: threads)
    guard let stage = StagingArea<T>(slots: 2, areas: blocks, needed: sx != size || so != size) else {
        return SSIM_ERR_NO_MEMORY
    }
    defer { stage.free() }
    parallelRows(layout.rows, blocks: blocks) { block, range in
        layout.forEachRow(in: range) { off in
            let row = px + off[0], dst = po + off[1]
            let src = RowReader<T>(row, stride: sx, count: n, slot: stage.slot(block, 0))
            let target = RowWriter<T>(base: dst, stride: so, slot: stage.slot(block, 1))
            // A short row is staged once for both passes; a longer one chunk by chunk in each pass.
            let once = n <= stageChunk ? src.chunk(0, n) : nil
            let s = once.map { sumSquares($0, n, T.self) } ?? sumSquares(src, n)
            if s.isFinite {
                let r = UnitScale(squaredNorm: s, epsilon: eps).r
                if let once {
                    scaleRow(once, target.chunk(0), n, r, T.self)
                    target.commit(0, n)
                } else {
                    forEachChunk(n) { i, m in
                        scaleRow(src.chunk(i, m), target.chunk(i), m, r, T.self)
                        target.commit(i, m)
                    }
                }
                return
            }
            let v = StridedRow<T>(base: row, stride: sx, count: n)
            let u = UnitScale(v, squaredNorm: v.sumSquares(), epsilon: eps)
            for i in 0..<n {
                let y = u.valid ? v[i] * u.p * u.q : .nan
                dst.storeBytes(of: T.narrow(y), toByteOffset: i &* so, as: T.self)
            }
        }
    }
    return SSIM_OK
}

/// dst_i = src_i · r over `d` contiguous elements.
@inline(__always)
func scaleRow<T: SimScalar>(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ d: Int, _ r: T.Acc, _: T.Type) {
    let w = T.Vec.scalarCount
    let step = w * MemoryLayout<T>.stride
    let vr = T.Vec(repeating: r)
    var i = 0
    var ps = src, pd = dst
    while i &+ w <= d {
        T.store(T.load(ps) * vr, pd)
        i &+= w; ps += step; pd += step
    }
    let ts = src.assumingMemoryBound(to: T.self), td = dst.assumingMemoryBound(to: T.self)
    while i < d {
        td[i] = T.narrow(T.widen(ts[i]) * r)
        i &+= 1
    }
}

/// The gradient of Σ g·l2_normalize(x) with respect to x, per row (what backpropagation through
/// `tf.nn.l2_normalize` gives):  dx = r·(g − [|x|² ≥ ε]·(x̂·g)·x̂) = α·g − β·x  with α = r and
/// β = [|x|² ≥ ε]·(x·g)·r³, one multiply and one FMA per element after one pass for |x|² and x·g (the
/// same reductions, staging and formula choice as the cosine gradient, Gradient.swift). NaN or ±Inf in x
/// → the row is NaN; an overflowing |x|² takes the scaled path.
func l2NormalizeGradRows<T: SimScalar>(
    _ x: UnsafePointer<T>?, _ g: UnsafePointer<T>?, _ dx: UnsafeMutablePointer<T>?,
    d: Int64, ndim: Int32, shape: UnsafePointer<Int64>?, strides: UnsafePointer<Int64>?,
    epsilon: Double, threads: Int32
) -> ssim_status {
    let layout: RowLayout
    switch RowLayout.checked(d: d, dA: d, dB: d, epsilon: epsilon, ndim: ndim, shape: shape, strides: strides, operands: 3) {
    case .success(let l): layout = l
    case .failure(let e): return e.status
    }
    if layout.rows == 0 || d == 0 { return SSIM_OK }
    guard let x, let g, let dx else { return SSIM_ERR_NULL_POINTER }
    let n = Int(d)
    let eps = EpsilonFloor<T.Acc>(epsilon)
    let px = UnsafeRawPointer(x), pg = UnsafeRawPointer(g), po = UnsafeMutableRawPointer(dx)
    let sx = layout.inner(0), sg = layout.inner(1), so = layout.inner(2)
    let size = MemoryLayout<T>.stride
    let blocks = rowBlocks(layout.rows, elementsPerRow: 2 * n, threads: threads)
    let staged = sx != size || sg != size || so != size
    guard let stage = StagingArea<T>(slots: 3, areas: blocks, needed: staged) else { return SSIM_ERR_NO_MEMORY }
    defer { stage.free() }
    parallelRows(layout.rows, blocks: blocks) { block, range in
        layout.forEachRow(in: range) { off in
            let rx = px + off[0], rg = pg + off[1], dst = po + off[2]
            let pair = RowPair<T>(
                rx, strideA: sx, lengthA: n, rg, strideB: sg, lengthB: n, d: n, slots: (stage.slot(block, 0), stage.slot(block, 1)))
            let out = RowWriter<T>(base: dst, stride: so, slot: stage.slot(block, 2))
            let (s, _) = pair.sums()  // ab = x·g, aa = |x|²
            if s.aa.isFinite && s.ab.isFinite {
                let ux = UnitScale(squaredNorm: s.aa, epsilon: eps)
                // The cosine gradient's coefficients with the partner's scale 1 and its cosine x̂·g.
                let c = GradCoefficients(w: 1, c: s.ab * ux.r, ux, .identity)
                let xa = pair.readerA, xg = pair.readerB
                forEachChunk(n) { i, m in
                    c.apply(xa.chunk(i, m), xg.chunk(i, m), out.chunk(i), nil, m, T.self)
                    out.commit(i, m)
                }
                return
            }
            let v = StridedRow<T>(base: rx, stride: sx, count: n)
            let w = StridedRow<T>(base: rg, stride: sg, count: n)
            let u = UnitScale(v, squaredNorm: v.sumSquares(), epsilon: eps)
            var dot: T.Acc = 0
            for i in 0..<n { dot = dot.madd(v[i] * u.p * u.q, w[i]) }
            let radial: T.Acc = u.clamped ? 0 : dot
            for i in 0..<n {
                let y = u.valid ? u.r * (w[i] - radial * (v[i] * u.p * u.q)) : .nan
                dst.storeBytes(of: T.narrow(y), toByteOffset: i &* so, as: T.self)
            }
        }
    }
    return SSIM_OK
}
