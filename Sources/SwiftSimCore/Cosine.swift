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

import CSwiftSim

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
    let n = Int(d)
    let eps = T.Acc(epsilon)
    let pa = UnsafeRawPointer(a), pb = UnsafeRawPointer(b), po = UnsafeMutableRawPointer(out)
    let sa = layout.inner(0), sb = layout.inner(1)
    let sameLength = dA == d && dB == d
    let size = MemoryLayout<T>.stride
    parallelRows(layout.rows, elementsPerRow: n, threads: threads) { range in
        withStaging(T.self, slots: 2, n: n, needed: sameLength && (sa != size || sb != size)) { stage in
            layout.forEachRow(in: range) { off in
                let ra = pa + off[0], rb = pb + off[1]
                var c: T.Acc = .nan
                if sameLength {
                    let s = dotNorms(stage.contiguous(ra, stride: sa, slot: 0), stage.contiguous(rb, stride: sb, slot: 1), n, T.self)
                    if s.aa.isFinite && s.bb.isFinite {
                        c = s.ab * UnitScale(squaredNorm: s.aa, epsilon: eps).r * UnitScale(squaredNorm: s.bb, epsilon: eps).r
                        po.storeBytes(of: T.narrow(c), toByteOffset: off[2], as: T.self)
                        return
                    }
                }
                let x = StridedRow<T>(base: ra, stride: sa, count: Int(dA))
                let y = StridedRow<T>(base: rb, stride: sb, count: Int(dB))
                if let g = generalCosine(x, y, n, epsilon: eps) { c = g.c }
                po.storeBytes(of: T.narrow(c), toByteOffset: off[2], as: T.self)
            }
        }
    }
    return SSIM_OK
}
