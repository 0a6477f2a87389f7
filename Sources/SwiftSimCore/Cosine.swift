// Cosine.swift — row-wise cosine similarity.
//
// Computes, per row, c = (a·b) · r_a · r_b with r_x = 1/sqrt(max(|x|², ε)) (TensorFlow's
// l2_normalize rule applied to each input, so a zero vector gives 0). Sums are accumulated in
// `T.Acc` (Float for Float16) as described in Reduce.swift and the product is formed as
// ((a·b) · r_a) · r_b, which cannot overflow. Error: Float ≤ a few ulp(1) · sqrt(d/32); Double
// likewise in its own ulp. Values are not clipped to [-1, 1].
// Special inputs: NaN or ±Inf anywhere in a row → NaN for that row; a squared norm that overflows
// Acc is recomputed with the vector scaled by its largest magnitude (the exact cosine, where
// TensorFlow gives 0); subnormals are used as they are (TensorFlow flushes them, |Δc| < 1e-30).
// A size-1 reduced axis broadcast against d is normalised on its own (TensorFlow's rule), so its
// cosine is sign(a₀) · Σb/|b|, which reaches √d, not 1, for a constant row b.

import CSwiftSimABI

func cosineRows<T: SimScalar>(
    _ a: UnsafePointer<T>?, _ b: UnsafePointer<T>?, _ out: UnsafeMutablePointer<T>?,
    d: Int64, dA: Int64, dB: Int64, ndim: Int32, shape: UnsafePointer<Int64>?, strides: UnsafePointer<Int64>?,
    epsilon: Double, threads: Int32
) -> ssim_status {
    let layout: RowLayout
    switch RowLayout.checked(d: d, dA: dA, dB: dB, epsilon: epsilon, ndim: ndim, shape: shape, strides: strides, operands: 3) {
    case .success(let l): layout = l
    case .failure(let e): return e.status
    }
    if layout.rows == 0 { return SSIM_OK }
    guard let a, let b, let out else { return SSIM_ERR_NULL_POINTER }
    let n = Int(d), nA = Int(dA), nB = Int(dB)
    let eps = EpsilonFloor<T.Acc>(epsilon)
    let pa = UnsafeRawPointer(a), pb = UnsafeRawPointer(b), po = UnsafeMutableRawPointer(out)
    let sa = layout.inner(0), sb = layout.inner(1)
    let blocks = rowBlocks(layout.rows, elementsPerRow: n, threads: threads)
    let staged = RowPair<T>.needsSlots(strideA: sa, strideB: sb, lengthA: nA, lengthB: nB, d: n)
    guard let stage = StagingArea<T>(slots: 2, areas: blocks, needed: staged) else { return SSIM_ERR_NO_MEMORY }
    defer { stage.free() }
    parallelRows(layout.rows, blocks: blocks) { block, range in
        let slots = (stage.slot(block, 0), stage.slot(block, 1))
        layout.forEachRow(in: range) { off in
            let ra = pa + off[0], rb = pb + off[1]
            let (s, _) = RowPair<T>(ra, strideA: sa, lengthA: nA, rb, strideB: sb, lengthB: nB, d: n, slots: slots).sums()
            var c: T.Acc = .nan
            if s.aa.isFinite && s.bb.isFinite {
                c = s.ab * UnitScale(squaredNorm: s.aa, epsilon: eps).r * UnitScale(squaredNorm: s.bb, epsilon: eps).r
            } else if let g = generalCosine(
                StridedRow<T>(base: ra, stride: sa, count: nA), StridedRow<T>(base: rb, stride: sb, count: nB), n, epsilon: eps)
            {
                c = g.c
            }
            po.storeBytes(of: T.narrow(c), toByteOffset: off[2], as: T.self)
        }
    }
    return SSIM_OK
}
