// Gradient.swift — the cosine and its gradient with respect to both inputs, fused.
//
// Per row, with x̂ = r_x·x and c = â·b̂ (Cosine.swift):
//     ∂c/∂a = r_a · (b̂ − [|a|² ≥ ε] · c · â),   ∂c/∂b = r_b · (â − [|b|² ≥ ε] · c · b̂)
// and the outputs are u·∂c/∂a, u·∂c/∂b for the row's upstream weight u. Below the floor r is the
// constant 1/√ε, so the radial term vanishes (what TensorFlow's GradientTape gives: a zero vector's
// gradient is b̂/√ε, finite). The first pass reads both rows for the three sums, the second reads them
// again (from L1 for rows of a few KB) and writes da = α·b − β·a and db = α·a − δ·b, with
// α = u·r_a·r_b, β = u·[|a|²≥ε]·c·r_a², δ = u·[|b|²≥ε]·c·r_b²: one multiply and one FMA per output.
// NaN or ±Inf anywhere in a row → the row's cosine and every gradient component of both inputs is
// NaN. An overflowing squared norm uses the scaled path of Reduce.swift. For an input with reduced
// length 1 broadcast along the reduction, its single gradient element is the sum over the reduction.

import CSwiftSim

func cosineGradRows<T: SimScalar>(
    _ a: UnsafePointer<T>?, _ b: UnsafePointer<T>?, _ u: UnsafePointer<T>?,
    _ da: UnsafeMutablePointer<T>?, _ db: UnsafeMutablePointer<T>?, _ cosOut: UnsafeMutablePointer<T>?,
    d: Int64, dA: Int64, dB: Int64, ndim: Int32, shape: UnsafePointer<Int64>?, strides: UnsafePointer<Int64>?,
    epsilon: Double, threads: Int32
) -> ssim_status {
    let layout: RowLayout
    switch RowLayout.checked(d: d, dA: dA, dB: dB, epsilon: epsilon, ndim: ndim, shape: shape, strides: strides, operands: 6) {
    case .success(let l): layout = l
    case .failure(let e): return e.status
    }
    if layout.rows == 0 { return SSIM_OK }
    guard let a, let b, let u else { return SSIM_ERR_NULL_POINTER }
    let n = Int(d), nA = Int(dA), nB = Int(dB)
    let eps = T.Acc(epsilon)
    let pa = UnsafeRawPointer(a), pb = UnsafeRawPointer(b), pu = UnsafeRawPointer(u)
    let pda = da.map(UnsafeMutableRawPointer.init), pdb = db.map(UnsafeMutableRawPointer.init)
    let pc = cosOut.map(UnsafeMutableRawPointer.init)
    let sa = layout.inner(0), sb = layout.inner(1), sda = layout.inner(3), sdb = layout.inner(4)
    let size = MemoryLayout<T>.stride
    let sameLength = dA == d && dB == d
    let staged = sameLength && (sa != size || sb != size || (pda != nil && sda != size) || (pdb != nil && sdb != size))
    parallelRows(layout.rows, elementsPerRow: 2 * n, threads: threads) { range in
        withStaging(T.self, slots: 4, n: n, needed: staged) { stage in
            layout.forEachRow(in: range) { off in
                let ra = pa + off[0], rb = pb + off[1]
                let w = T.widen(pu.load(fromByteOffset: off[2], as: T.self))
                let oa = pda.map { $0 + off[3] }, ob = pdb.map { $0 + off[4] }
                if sameLength {
                    let ca = stage.contiguous(ra, stride: sa, slot: 0), cb = stage.contiguous(rb, stride: sb, slot: 1)
                    let s = dotNorms(ca, cb, n, T.self)
                    if s.aa.isFinite && s.bb.isFinite {
                        let ua = UnitScale(squaredNorm: s.aa, epsilon: eps), ub = UnitScale(squaredNorm: s.bb, epsilon: eps)
                        let c = s.ab * ua.r * ub.r
                        pc?.storeBytes(of: T.narrow(c), toByteOffset: off[5], as: T.self)
                        let alpha = w * ua.r * ub.r
                        let beta = ua.clamped ? 0 : w * c * ua.r * ua.r
                        let delta = ub.clamped ? 0 : w * c * ub.r * ub.r
                        let ta = oa.map { stage.target($0, stride: sda, slot: 2) }
                        let tb = ob.map { stage.target($0, stride: sdb, slot: 3) }
                        gradRow(ca, cb, ta, tb, n, alpha: alpha, beta: beta, delta: delta, T.self)
                        if let oa { stage.scatter(oa, stride: sda, slot: 2) }
                        if let ob { stage.scatter(ob, stride: sdb, slot: 3) }
                        return
                    }
                }
                let x = StridedRow<T>(base: ra, stride: sa, count: nA)
                let y = StridedRow<T>(base: rb, stride: sb, count: nB)
                guard let g = generalCosine(x, y, n, epsilon: eps) else {
                    pc?.storeBytes(of: T.nan, toByteOffset: off[5], as: T.self)
                    if let oa { for i in 0..<nA { oa.storeBytes(of: T.nan, toByteOffset: i &* sda, as: T.self) } }
                    if let ob { for i in 0..<nB { ob.storeBytes(of: T.nan, toByteOffset: i &* sdb, as: T.self) } }
                    return
                }
                pc?.storeBytes(of: T.narrow(g.c), toByteOffset: off[5], as: T.self)
                if let oa { generalGrad(x, y, g.sa, g.sb, c: g.c, w: w, n: n, out: oa, stride: sda) }
                if let ob { generalGrad(y, x, g.sb, g.sa, c: g.c, w: w, n: n, out: ob, stride: sdb) }
            }
        }
    }
    return SSIM_OK
}

/// da = α·b − β·a and db = α·a − δ·b over `d` contiguous elements (either output may be absent).
@inline(__always)
func gradRow<T: SimScalar>(
    _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ da: UnsafeMutableRawPointer?, _ db: UnsafeMutableRawPointer?,
    _ d: Int, alpha: T.Acc, beta: T.Acc, delta: T.Acc, _: T.Type
) {
    let w = T.Vec.scalarCount
    let step = w * MemoryLayout<T>.stride
    let va = T.Vec(repeating: alpha), vb = T.Vec(repeating: -beta), vd = T.Vec(repeating: -delta)
    var i = 0
    var off = 0
    while i &+ w <= d {
        let x = T.load(a + off), y = T.load(b + off)
        if let da { T.store((y * va).madd(x, vb), da + off) }
        if let db { T.store((x * va).madd(y, vd), db + off) }
        i &+= w; off &+= step
    }
    let ta = a.assumingMemoryBound(to: T.self), tb = b.assumingMemoryBound(to: T.self)
    while i < d {
        let x = T.widen(ta[i]), y = T.widen(tb[i])
        da?.storeBytes(of: T.narrow((y * alpha).madd(x, -beta)), toByteOffset: i &* MemoryLayout<T>.stride, as: T.self)
        db?.storeBytes(of: T.narrow((x * alpha).madd(y, -delta)), toByteOffset: i &* MemoryLayout<T>.stride, as: T.self)
        i &+= 1
    }
}

/// u · ∂c/∂x = u · r_x · (ŷ − [unclamped] · c · x̂) for the general row, element by element.
/// When x has reduced length 1 (broadcast along d > 1) its one element is the sum over the reduction.
func generalGrad<T: SimScalar>(
    _ x: StridedRow<T>, _ y: StridedRow<T>, _ sx: UnitScale<T.Acc>, _ sy: UnitScale<T.Acc>,
    c: T.Acc, w: T.Acc, n: Int, out: UnsafeMutableRawPointer, stride: Int
) {
    let k: T.Acc = sx.clamped ? 0 : c
    let scale = w * sx.r
    if x.count == n {
        for i in 0..<n {
            let g = scale * (y[i] * sy.p * sy.q - k * (x[i] * sx.p * sx.q))
            out.storeBytes(of: T.narrow(g), toByteOffset: i &* stride, as: T.self)
        }
    } else {
        var sumY: T.Acc = 0
        for i in 0..<n { sumY += y[i] * sy.p * sy.q }
        let g = scale * (sumY - k * (x[0] * sx.p * sx.q))
        out.storeBytes(of: T.narrow(g), toByteOffset: 0, as: T.self)
    }
}
