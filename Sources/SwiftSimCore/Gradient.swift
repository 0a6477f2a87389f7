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

import CSwiftSimABI

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
    let eps = EpsilonFloor<T.Acc>(epsilon)
    let pa = UnsafeRawPointer(a), pb = UnsafeRawPointer(b), pu = UnsafeRawPointer(u)
    let pda = da.map(UnsafeMutableRawPointer.init), pdb = db.map(UnsafeMutableRawPointer.init)
    let pc = cosOut.map(UnsafeMutableRawPointer.init)
    let sa = layout.inner(0), sb = layout.inner(1), sda = layout.inner(3), sdb = layout.inner(4)
    let size = MemoryLayout<T>.stride
    let staged =
        RowPair<T>.needsSlots(strideA: sa, strideB: sb, lengthA: nA, lengthB: nB, d: n)
        || (pda != nil && sda != size) || (pdb != nil && sdb != size)
    let blocks = rowBlocks(layout.rows, elementsPerRow: 2 * n, threads: threads)
    guard let stage = StagingArea<T>(slots: 4, areas: blocks, needed: staged) else { return SSIM_ERR_NO_MEMORY }
    defer { stage.free() }
    parallelRows(layout.rows, blocks: blocks) { block, range in
        let slots = (stage.slot(block, 0), stage.slot(block, 1))
        layout.forEachRow(in: range) { off in
            let ra = pa + off[0], rb = pb + off[1]
            let w = T.widen(pu.load(fromByteOffset: off[2], as: T.self))
            let oa = pda.map { $0 + off[3] }, ob = pdb.map { $0 + off[4] }
            let pair = RowPair<T>(ra, strideA: sa, lengthA: nA, rb, strideB: sb, lengthB: nB, d: n, slots: slots)
            // Short rows are staged once for both passes; longer ones chunk by chunk in each pass.
            let once = n <= stageChunk && !pair.broadcastA && !pair.broadcastB
            let ca = once ? pair.readerA.chunk(0, n) : nil, cb = once ? pair.readerB.chunk(0, n) : nil
            let (s, sum) = once ? (dotNorms(ca!, cb!, n, T.self), 0) : pair.sums()
            if s.aa.isFinite && s.bb.isFinite {
                let ua = UnitScale(squaredNorm: s.aa, epsilon: eps), ub = UnitScale(squaredNorm: s.bb, epsilon: eps)
                let c = s.ab * ua.r * ub.r
                pc?.storeBytes(of: T.narrow(c), toByteOffset: off[5], as: T.self)
                let g = GradCoefficients(w: w, c: c, ua, ub)
                // A broadcast operand's one gradient element: the sum over the reduction, in Acc.
                if pair.broadcastA, let oa {
                    let a0 = T.widen(ra.load(as: T.self))
                    oa.storeBytes(of: T.narrow(w * ua.r * (sum * ub.r - g.ca * (a0 * ua.r))), as: T.self)
                }
                if pair.broadcastB, let ob {
                    let b0 = T.widen(rb.load(as: T.self))
                    ob.storeBytes(of: T.narrow(w * ub.r * (sum * ua.r - g.cb * (b0 * ub.r))), as: T.self)
                }
                let wa = pair.broadcastA ? nil : oa.map { RowWriter<T>(base: $0, stride: sda, slot: stage.slot(block, 2)) }
                let wb = pair.broadcastB ? nil : ob.map { RowWriter<T>(base: $0, stride: sdb, slot: stage.slot(block, 3)) }
                if wa == nil && wb == nil { return }
                if once {
                    g.apply(ca!, cb!, wa?.chunk(0), wb?.chunk(0), n, T.self)
                    wa?.commit(0, n)
                    wb?.commit(0, n)
                    return
                }
                let xa = pair.readerA, xb = pair.readerB
                forEachChunk(n) { i, m in
                    g.apply(xa.chunk(i, m), xb.chunk(i, m), wa?.chunk(i), wb?.chunk(i), m, T.self)
                    wa?.commit(i, m)
                    wb?.commit(i, m)
                }
                return
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
    return SSIM_OK
}

/// The per-row constants of the gradient's second pass, and the choice of formula.
///   da = α·b − β·a,  db = α·a − δ·b,  α = u·r_a·r_b, β = u·[|a|²≥ε]·c·r_a², δ = u·[|b|²≥ε]·c·r_b²
/// is one multiply and one FMA per output. When α, β or δ is subnormal (or overflows) while the
/// gradient itself is normal (|x| ≈ 1e17 with a small upstream weight: β·a would keep only a few
/// bits), the row takes the normalised form  da = (u·r_a)·(b̂ − [|a|²≥ε]·c·â),  db likewise, whose
/// factors are all of unit scale.
struct GradCoefficients<A: BinaryFloatingPoint> {
    let alpha: A, beta: A, delta: A
    /// For the normalised form: r_a, r_b, u·r_a, u·r_b, [|a|²≥ε]·c, [|b|²≥ε]·c.
    let ra: A, rb: A, wra: A, wrb: A, ca: A, cb: A
    let normalised: Bool

    @inline(__always) init(w: A, c: A, _ ua: UnitScale<A>, _ ub: UnitScale<A>) {
        ra = ua.r
        rb = ub.r
        ca = ua.clamped ? 0 : c
        cb = ub.clamped ? 0 : c
        wra = w * ra
        wrb = w * rb
        alpha = w * ra * rb
        beta = w * ca * ra * ra
        delta = w * cb * rb * rb
        func fine(_ x: A) -> Bool { x == 0 || x.isNormal }
        normalised = !(fine(alpha) && fine(beta) && fine(delta))
    }

    /// Writes the gradient of `d` contiguous elements (either output may be absent).
    @inline(__always) func apply<T: SimScalar>(
        _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ da: UnsafeMutableRawPointer?, _ db: UnsafeMutableRawPointer?,
        _ d: Int, _: T.Type
    ) where T.Acc == A {
        if normalised {
            gradRowNormalised(a, b, da, db, d, self, T.self)
        } else {
            gradRow(a, b, da, db, d, alpha: alpha, beta: beta, delta: delta, T.self)
        }
    }
}

/// da = (u·r_a)·(b̂ − c_a·â) and db = (u·r_b)·(â − c_b·b̂), â = r_a·a, b̂ = r_b·b, over `d` contiguous
/// elements (the normalised form of `GradCoefficients`).
@inline(never)
func gradRowNormalised<T: SimScalar>(
    _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ da: UnsafeMutableRawPointer?, _ db: UnsafeMutableRawPointer?,
    _ d: Int, _ g: GradCoefficients<T.Acc>, _: T.Type
) {
    let size = MemoryLayout<T>.stride
    let ta = a.assumingMemoryBound(to: T.self), tb = b.assumingMemoryBound(to: T.self)
    for i in 0..<d {
        let x = T.widen(ta[i]) * g.ra, y = T.widen(tb[i]) * g.rb
        da?.storeBytes(of: T.narrow(g.wra * y.madd(x, -g.ca)), toByteOffset: i &* size, as: T.self)
        db?.storeBytes(of: T.narrow(g.wrb * x.madd(y, -g.cb)), toByteOffset: i &* size, as: T.self)
    }
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
