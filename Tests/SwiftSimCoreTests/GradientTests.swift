// GradientTests.swift — ssim_cosine_grad_{f16,f32,f64} (Sources/SwiftSimCore/Gradient.swift) against
// the float64 reference: SIMD tails, zero vectors (ŷ/√ε), the inclusive epsilon boundary, NaN/Inf
// rows (every component NaN), overflowing squared norms, NULL outputs, upstream weights, every
// stride layout, and a size-1 reduced axis (its gradient summed over the reduction).

import CSwiftSimABI
import Testing

@testable import SwiftSimCore

@Suite("cosine_grad")
struct GradientTests {
    @Test("SIMD tails: cosine, da and db", arguments: DType.allCases, tailLengths)
    func tails(dtype: DType, d: Int) { gradTails(dtype.type, d: d) }

    @Test("zero vectors: ∂/∂x of a zero x is u·ŷ/√ε, both zero gives 0", arguments: DType.allCases, shortLengths)
    func zeroVectors(dtype: DType, d: Int) { gradZeroVectors(dtype.type, d: d) }

    @Test("epsilon boundary is inclusive: |x|² = ε keeps the radial term", arguments: DType.allCases, [1, 2, 5, 16, 37])
    func epsilonBoundary(dtype: DType, d: Int) { gradEpsilonBoundary(dtype.type, d: d) }

    @Test("epsilon floors each squared norm", arguments: DType.allCases)
    func epsilonClamp(dtype: DType) { gradEpsilonClamp(dtype.type) }

    @Test("NaN or Inf: that row's cosine and every component of da and db NaN", arguments: DType.allCases, shortLengths)
    func nanInfRows(dtype: DType, d: Int) { gradNanInf(dtype.type, d: d) }

    @Test("squared norms beyond the accumulator's range: finite, exact", arguments: DType.allCases)
    func squaredNormOverflow(dtype: DType) { gradOverflow(dtype.type) }

    @Test(
        "NULL outputs (da, db, cos in every combination)", arguments: DType.allCases,
        [
            LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2),
        ])
    func nullOutputs(dtype: DType, spec: LayoutSpec) { gradNullOutputs(dtype.type, spec) }

    @Test("upstream: one shared weight (zero stride), zero and negative weights", arguments: DType.allCases)
    func upstream(dtype: DType) { gradUpstream(dtype.type) }

    @Test("strides: padded, negative, zero, inner stride 2, ndim 2 and 3", arguments: DType.allCases, StrideCase.all)
    func strides(dtype: DType, layout: StrideCase) { gradStrides(dtype.type, layout) }

    @Test("size-1 reduced axis with NaN/Inf: the row NaN in every output", arguments: DType.allCases, [1, 5, 40])
    func sizeOneAxisNanInf(dtype: DType, d: Int) { gradSizeOneNanInf(dtype.type, d: d) }

    @Test("size-1 reduced axis: its gradient is the sum over the reduction", arguments: DType.allCases, [1, 2, 5, 16, 37, 64])
    func sizeOneAxis(dtype: DType, d: Int) { gradSizeOne(dtype.type, d: d) }
}

// MARK: - helpers

/// a, b, u and the three outputs of one row-wise gradient problem.
private struct GradProblem<T: ABIScalar> {
    let a: Operand<T>, b: Operand<T>, u: Operand<T>
    let outs: GradOutputs<T>

    init(
        shape: [Int], dA: Int, dB: Int, spec: LayoutSpec = .contiguous, bSpec: LayoutSpec? = nil,
        uSpec: LayoutSpec = .contiguous, cosSpec: LayoutSpec = .contiguous
    ) {
        let bs = bSpec ?? spec
        a = Operand(shape: shape, length: dA, spec: spec)
        b = Operand(shape: shape, length: dB, spec: bs)
        u = Operand(scalarsOf: shape, spec: uSpec)
        let oa = spec.forOutput, ob = bs.forOutput
        outs = GradOutputs(
            da: Operand(shape: shape, length: dA, spec: oa), db: Operand(shape: shape, length: dB, spec: ob),
            cos: Operand(scalarsOf: shape, spec: cosSpec))
    }

    func fill(_ rng: inout SplitMix64) {
        a.fill(&rng)
        b.fill(&rng)
        u.fill(&rng, scale: 2)
    }

    @discardableResult
    func run(d: Int, eps: Double = 1e-12, threads: Int32 = 1) -> ssim_status {
        callGrad(a, b, u, outs, d: d, eps: eps, threads: threads)
    }

    func check(d: Int, eps: Double = 1e-12, _ title: String, sourceLocation: SourceLocation = #_sourceLocation) {
        checkGrad(a, b, u, outs, d: d, eps: eps, title, sourceLocation: sourceLocation)
    }

    var da: Operand<T> { outs.da! }
    var db: Operand<T> { outs.db! }
    var cos: Operand<T> { outs.cos! }
}

private func poison<T>(_ x: Operand<T>, _ r: Int, _ i: Int, _ v: T) {
    var row = x.row([r])
    row[i] = v
    x.set([r], row)
}

// MARK: - generic bodies

private func gradTails<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(21, d, T.dtype.seed)
    for (name, spec) in [("contiguous", LayoutSpec.contiguous), ("row stride d+5", LayoutSpec(rowPad: 5))] {
        let p = GradProblem<T>(shape: [6], dA: d, dB: d, spec: spec)
        p.fill(&rng)
        p.b.set([2], p.a.row([2]).map { $0 * 2 })  // parallel: gradient ⟂ to the vectors, ≈ 0
        p.b.set([3], p.a.row([3]).map { -$0 })
        p.a.set([4], p.a.row([4]).map { $0 * 8 })
        let before = [p.a.logicalBits(), p.b.logicalBits(), p.u.logicalBits()]
        #expect(p.run(d: d) == SSIM_OK)
        p.check(d: d, name)
        #expect([p.a.logicalBits(), p.b.logicalBits(), p.u.logicalBits()] == before, "inputs are not modified")
    }
}

private func gradZeroVectors<T: ABIScalar>(_: T.Type, d: Int) {
    // 1/√ε must fit the dtype: float16 uses ε = 2^-20 (1/√ε = 1024).
    let eps = T.dtype == .f16 ? 0x1p-20 : 1e-12
    var rng = SplitMix64(22, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let p = GradProblem<T>(shape: [4], dA: d, dB: d, spec: spec)
        p.fill(&rng)
        let zero = [T](repeating: 0, count: d)
        p.a.set([0], zero)
        p.b.set([1], zero)
        p.a.set([2], zero)
        p.b.set([2], zero)
        #expect(p.run(d: d, eps: eps) == SSIM_OK)
        p.check(d: d, eps: eps, "zero vectors \(spec)")
        let tol = Tol.value(T.dtype, d: d)
        // Row 0: da = u · b̂ / √ε, db = 0, c = 0.
        let u0 = p.u.rowD([0])[0], b0 = p.b.rowD([0])
        let nb = Ref.dot(d, { b0[$0] }, { b0[$0] }).squareRoot()
        let want = b0.map { u0 * $0 / nb / eps.squareRoot() }
        let got = p.da.rowD([0])
        let scale = u0.magnitude / eps.squareRoot()
        #expect(
            zip(got, want).allSatisfy { ($0 - $1).magnitude <= tol * Tol.gradFactor * scale },
            "\(spec): da of a zero a is u·b̂/√ε")
        #expect(p.db.rowD([0]).allSatisfy { $0 == 0 }, "\(spec): db with a zero a is 0")
        #expect(p.da.rowD([1]).allSatisfy { $0 == 0 }, "\(spec): da with a zero b is 0")
        #expect(
            p.da.rowD([2]).allSatisfy { $0 == 0 } && p.db.rowD([2]).allSatisfy { $0 == 0 },
            "\(spec): both zero gives 0")
        for r in 0..<3 { #expect(p.cos.rowD([r])[0] == 0, "\(spec) row \(r): cosine 0") }
    }
}

private func gradEpsilonBoundary<T: ABIScalar>(_: T.Type, d: Int) {
    // ε = 2^-20 and x = (2^-10, 0, …): |x|² = ε exactly, representable in every dtype, so the
    // comparison s ≥ ε decides alone. At the boundary the radial term stays (∂c/∂x_0 = 0 for x along
    // e_0); one ulp below, x is clamped and ∂c/∂x_0 = u · 2^10 · ŷ_0.
    let eps = 0x1p-20
    let at = T(0x1p-10), below = T(0x1p-10).nextDown
    var rng = SplitMix64(23, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let p = GradProblem<T>(shape: [4], dA: d, dB: d, spec: spec)
        p.fill(&rng)
        let e0: (T) -> [T] = { v in [v] + [T](repeating: 0, count: d - 1) }
        p.a.set([0], e0(at))
        p.a.set([1], e0(below))
        p.b.set([2], e0(at))
        p.b.set([3], e0(below))
        for r in 0..<2 { poison(p.b, r, 0, 1) }  // ŷ_0 well away from 0
        for r in 2..<4 { poison(p.a, r, 0, 1) }
        #expect(p.run(d: d, eps: eps) == SSIM_OK)
        p.check(d: d, eps: eps, "epsilon boundary \(spec)")
        let tol = Tol.value(T.dtype, d: d) * Tol.gradFactor
        for (r, grad, other) in [(0, p.da, p.b), (2, p.db, p.a)] {
            let u = p.u.rowD([r])[0]
            let g0 = grad.rowD([r])[0]
            #expect(
                g0.magnitude <= tol * u.magnitude * 1024,
                "\(spec) row \(r): |x|² = ε is not clamped (radial term kept): ∂/∂x_0 = 0, got \(g0)")
            let g0below = grad.rowD([r + 1])[0]
            let u1 = p.u.rowD([r + 1])[0], y1 = other.rowD([r + 1])
            let ny1 = Ref.dot(d, { y1[$0] }, { y1[$0] }).squareRoot()
            let want = u1 * 1024 * y1[0] / ny1
            #expect(
                (g0below - want).magnitude <= tol * u1.magnitude * 1024,
                "\(spec) row \(r + 1): |x|² < ε is clamped: ∂/∂x_0 = u·2^10·ŷ_0 = \(want), got \(g0below)")
        }
    }
}

private func gradEpsilonClamp<T: ABIScalar>(_: T.Type) {
    let epsilons: [Double] = T.dtype == .f16 ? [0x1p-20, 1e-3, 0.5] : [1e-12, 1e-14, 0x1p-20, 0.5]
    for eps in epsilons {
        for d in [1, 5, 16, 37] {
            var rng = SplitMix64(24, d, T.dtype.seed)
            let p = GradProblem<T>(shape: [6], dA: d, dB: d)
            p.fill(&rng)
            let below = (eps / Double(d)).squareRoot() * 0.5, above = (eps / Double(d)).squareRoot() * 8
            let scales: [(Double, Double)] = [
                (below, 1), (1, below), (below, below), (below, above), (above, above),
                (below / 16, 1),
            ]
            for (r, (sa, sb)) in scales.enumerated() {
                p.a.set([r], (0..<d).map { _ in T(rng.symmetric() * sa) })
                p.b.set([r], (0..<d).map { _ in T(rng.symmetric() * sb) })
            }
            #expect(p.run(d: d, eps: eps) == SSIM_OK)
            p.check(d: d, eps: eps, "epsilon \(eps)")
        }
    }
}

private func gradNanInf<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(25, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let p = GradProblem<T>(shape: [7], dA: d, dB: d, spec: spec)
        p.fill(&rng)
        poison(p.a, 1, rng.int(d), .nan)
        poison(p.b, 3, d - 1, .infinity)
        poison(p.a, 4, 0, -.infinity)
        let k = rng.int(d)
        poison(p.a, 6, k, .infinity)
        poison(p.b, 6, k, .nan)
        #expect(p.run(d: d) == SSIM_OK)
        for r in [1, 3, 4, 6] {
            #expect(p.cos.rowD([r])[0].isNaN, "\(spec) row \(r): cosine NaN")
            #expect(p.da.rowD([r]).allSatisfy { $0.isNaN }, "\(spec) row \(r): every component of da NaN")
            #expect(p.db.rowD([r]).allSatisfy { $0.isNaN }, "\(spec) row \(r): every component of db NaN")
        }
        for r in [0, 2, 5] {
            #expect(
                p.cos.rowD([r])[0].isFinite && p.da.rowD([r]).allSatisfy { $0.isFinite }
                    && p.db.rowD([r]).allSatisfy { $0.isFinite }, "\(spec) row \(r): clean row stays finite")
        }
        p.check(d: d, "NaN/Inf \(spec)")
    }
}

private func gradOverflow<T: ABIScalar>(_: T.Type) {
    let big: Double = T.dtype == .f16 ? 6e4 : T.dtype == .f32 ? 1e20 : 1e200
    for d in [1, 3, 16, 40, 100] {
        for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
            var rng = SplitMix64(26, d, T.dtype.seed)
            let p = GradProblem<T>(shape: [4], dA: d, dB: d, spec: spec)
            p.fill(&rng)
            p.a.fill(&rng, scale: big)
            p.b.set([0], (0..<d).map { _ in T(rng.symmetric() * big) })  // both big
            p.b.set([2], p.a.row([2]).map { -$0 })  // antiparallel
            #expect(p.run(d: d) == SSIM_OK)
            for r in 0..<4 {
                #expect(
                    p.cos.rowD([r])[0].isFinite && p.da.rowD([r]).allSatisfy { $0.isFinite }
                        && p.db.rowD([r]).allSatisfy { $0.isFinite }, "\(spec) d=\(d) row \(r): finite")
            }
            p.check(d: d, "overflowing norms \(spec)")
        }
    }
}

private func gradNullOutputs<T: ABIScalar>(_: T.Type, _ spec: LayoutSpec) {
    for d in [1, 7, 16, 33, 70] {
        var rng = SplitMix64(27, d, T.dtype.seed)
        let full = GradProblem<T>(shape: [5], dA: d, dB: d, spec: spec)
        full.fill(&rng)
        poison(full.a, 3, 0, .nan)  // a NaN row must not write through NULL either
        #expect(full.run(d: d) == SSIM_OK)
        full.check(d: d, "all outputs \(spec)")
        for mask in 0..<7 {  // which of (da, db, cos) are present; 7 = all, done above
            let part = GradProblem<T>(shape: [5], dA: d, dB: d, spec: spec)
            var outs = part.outs
            if mask & 1 == 0 { outs.da = nil }
            if mask & 2 == 0 { outs.db = nil }
            if mask & 4 == 0 { outs.cos = nil }
            let label = "da:\(outs.da != nil) db:\(outs.db != nil) cos:\(outs.cos != nil)"
            #expect(callGrad(full.a, full.b, full.u, outs, d: d) == SSIM_OK, "\(label)")
            checkGrad(full.a, full.b, full.u, outs, d: d, "NULL outputs \(label) \(spec)")
            if let o = outs.da { #expect(o.logicalBits() == full.da.logicalBits(), "\(label): da as with all outputs") }
            if let o = outs.db { #expect(o.logicalBits() == full.db.logicalBits(), "\(label): db as with all outputs") }
            if let o = outs.cos { #expect(o.logicalBits() == full.cos.logicalBits(), "\(label): cos as with all outputs") }
            // Absent outputs: their buffers stay all sentinel.
            if outs.da == nil { #expect(part.da.logicalBits().allSatisfy { $0 == T.nan.bits }) }
            if outs.db == nil { #expect(part.db.logicalBits().allSatisfy { $0 == T.nan.bits }) }
        }
    }
}

private func gradUpstream<T: ABIScalar>(_: T.Type) {
    for d in [3, 16, 40] {
        var rng = SplitMix64(28, d, T.dtype.seed)
        // One shared weight: u has a zero row stride.
        let shared = GradProblem<T>(shape: [6], dA: d, dB: d, uSpec: LayoutSpec(broadcast: [0]))
        shared.fill(&rng)
        shared.u.set([0], [T(-1.5)])
        #expect(shared.run(d: d) == SSIM_OK)
        shared.check(d: d, "shared weight")
        // Per-row weights including 0 and negative ones.
        let p = GradProblem<T>(shape: [4], dA: d, dB: d)
        p.fill(&rng)
        for (r, w) in [0.0, 1, -1, 0.25].enumerated() { p.u.set([r], [T(w)]) }
        #expect(p.run(d: d) == SSIM_OK)
        p.check(d: d, "weights 0, 1, -1, 0.25")
        #expect(p.da.rowD([0]).allSatisfy { $0 == 0 } && p.db.rowD([0]).allSatisfy { $0 == 0 }, "u = 0 gives 0")
        #expect(p.cos.rowD([0])[0] != 0, "u = 0 still gives the cosine")
    }
}

private func gradStrides<T: ABIScalar>(_: T.Type, _ layout: StrideCase) {
    for d in shortLengths {
        var rng = SplitMix64(29, d, T.dtype.seed)
        let p = GradProblem<T>(
            shape: layout.shape, dA: d, dB: d, spec: layout.a, bSpec: layout.b,
            uSpec: layout.out, cosSpec: layout.out)
        p.fill(&rng)
        let before = [p.a.logicalBits(), p.b.logicalBits()]
        #expect(p.run(d: d) == SSIM_OK)
        p.check(d: d, layout.name)
        #expect([p.a.logicalBits(), p.b.logicalBits()] == before, "inputs are not modified")
    }
}

private func gradSizeOne<T: ABIScalar>(_: T.Type, d: Int) {
    // float16 needs 1/√ε·Σŷ in range: ε = 2^-20.
    let eps = T.dtype == .f16 ? 0x1p-20 : 1e-12
    let firsts: [Double] = [0.7, -1.3, 0, 0x1p-22, -3]  // 2^-44 < ε: row 3 (and the zero row 2) clamped
    var rng = SplitMix64(30, d, T.dtype.seed)
    for broadcastA in [true, false] {
        for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
            let p = GradProblem<T>(shape: [5], dA: broadcastA ? 1 : d, dB: broadcastA ? d : 1, spec: spec)
            p.fill(&rng)
            let (one, full) = broadcastA ? (p.a, p.b) : (p.b, p.a)
            let (gOne, gFull) = broadcastA ? (p.da, p.db) : (p.db, p.da)
            for (r, v) in firsts.enumerated() { one.set([r], [T(v)]) }
            #expect(p.run(d: d, eps: eps) == SSIM_OK)
            p.check(d: d, eps: eps, "size-1 \(broadcastA ? "a" : "b") \(spec)")
            let tol = Tol.value(T.dtype, d: d) * Tol.gradFactor
            for r in 0..<5 {
                let u = p.u.rowD([r])[0], y = full.rowD([r])
                let ny = Ref.dot(d, { y[$0] }, { y[$0] }).squareRoot()
                let sum = y.reduce(0) { $0 + $1 / ny }, spread = max(1, y.reduce(0) { $0 + $1.magnitude / ny })
                let x0 = firsts[r]
                let clamped = x0 * x0 < eps
                let r1 = clamped ? 1 / eps.squareRoot() : 1 / x0.magnitude
                // The length-1 operand: ∂c/∂x_0 = Σ_i ŷ_i · ∂x̂/∂x_0 = r·Σŷ·(1 − [unclamped]·x̂²).
                let want = clamped ? u * r1 * sum : 0
                let got = gOne.rowD([r])[0]
                #expect(
                    (got - want).magnitude <= tol * u.magnitude * r1 * spread,
                    "row \(r) (x0 = \(x0)): gradient of the size-1 operand \(want), got \(got)")
                // The full operand: ∂c/∂y_j = x̂_0 · r_y · (1 − [unclamped]·Σŷ · ŷ_j).
                let xhat = x0 * r1, ry = 1 / ny
                let g = gFull.rowD([r])
                let ok = (0..<d).allSatisfy { j in
                    let w = u * xhat * ry * (1 - sum * y[j] / ny)
                    return (g[j] - w).magnitude <= tol * u.magnitude * ry * spread
                }
                #expect(ok, "row \(r): gradient of the full operand x̂_0·r_y·(1 − Σŷ·ŷ_j)")
            }
        }
    }
}

private func gradSizeOneNanInf<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(31, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let p = GradProblem<T>(shape: [5], dA: 1, dB: d, spec: spec)
        p.fill(&rng)
        p.a.set([1], [.nan])
        p.a.set([2], [-.infinity])
        poison(p.b, 3, d - 1, .infinity)
        #expect(p.run(d: d) == SSIM_OK)
        for r in 1...3 {
            #expect(
                p.cos.rowD([r])[0].isNaN && p.da.rowD([r])[0].isNaN && p.db.rowD([r]).allSatisfy { $0.isNaN },
                "\(spec) row \(r): NaN everywhere")
        }
        p.check(d: d, "size-1 a with NaN/Inf \(spec)")
        let out = Operand<T>(scalarsOf: [5])
        #expect(callCosine(p.a, p.b, out, d: d) == SSIM_OK)
        checkCosine(p.a, p.b, out, d: d, "size-1 a with NaN/Inf \(spec)")
    }
}
