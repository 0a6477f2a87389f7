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
