// CosineTests.swift — ssim_cosine_{f16,f32,f64} (Sources/SwiftSimCore/Cosine.swift) against the
// float64 reference of Reference.swift: SIMD tails, zero vectors, the epsilon floor, NaN/Inf rows,
// squared-norm overflow, every stride layout, and a size-1 reduced axis.

import CSwiftSimABI
import Testing

@testable import SwiftSimCore

@Suite("cosine")
struct CosineTests {
    @Test("SIMD tails: random rows, parallel and antiparallel pairs", arguments: DType.allCases, tailLengths)
    func tails(dtype: DType, d: Int) { cosineTails(dtype.type, d: d) }

    @Test("zero vectors give exactly 0", arguments: DType.allCases, shortLengths)
    func zeroVectors(dtype: DType, d: Int) { cosineZeroVectors(dtype.type, d: d) }

    @Test("epsilon floors each squared norm", arguments: DType.allCases)
    func epsilonClamp(dtype: DType) { cosineEpsilonClamp(dtype.type) }

    @Test("NaN or Inf makes that row NaN, other rows unaffected", arguments: DType.allCases, shortLengths)
    func nanInfRows(dtype: DType, d: Int) { cosineNanInf(dtype.type, d: d) }

    @Test("squared norms beyond the accumulator's range: finite, the exact cosine", arguments: DType.allCases)
    func squaredNormOverflow(dtype: DType) { cosineOverflow(dtype.type) }

    @Test("float32 rows near the largest finite value")
    func float32NearMax() {
        var rng = SplitMix64(77)
        for d in [1, 2, 17, 40] {
            let a = Operand<Float>(shape: [3], length: d), b = Operand<Float>(shape: [3], length: d)
            let out = Operand<Float>(scalarsOf: [3])
            a.fill(&rng, scale: 3e38)
            b.fill(&rng)
            b.set([1], a.row([1]))  // an overflowing row against itself: 1
            a.set([2], (0..<d).map { _ in Float.greatestFiniteMagnitude })
            b.set([2], (0..<d).map { _ in -Float.greatestFiniteMagnitude })
            #expect(callCosine(a, b, out, d: d) == SSIM_OK)
            checkCosine(a, b, out, d: d, "near FLT_MAX")
        }
    }

    @Test("strides: padded, negative, zero, inner stride 2, ndim 2 and 3", arguments: DType.allCases, StrideCase.all)
    func strides(dtype: DType, layout: StrideCase) { cosineStrides(dtype.type, layout) }

    @Test("size-1 reduced axis: cosine = sign(a0)·Σb̂", arguments: DType.allCases, [1, 2, 5, 16, 37, 64])
    func sizeOneAxis(dtype: DType, d: Int) { cosineSizeOne(dtype.type, d: d) }

    @Test("float16 accumulates in float32: tiny and large float16 rows", arguments: [1, 7, 16, 40, 300])
    func float16AccumulatesInFloat(d: Int) {
        var rng = SplitMix64(16, d)
        let shape = [6]
        let a = Operand<Float16>(shape: shape, length: d), b = Operand<Float16>(shape: shape, length: d)
        let out = Operand<Float16>(scalarsOf: shape)
        a.fill(&rng)
        b.fill(&rng)
        // Squares of 1e-4 underflow binary16; squares of 1000 summed overflow it.
        for (r, scale) in [(0, 1e-4), (1, 1000.0), (2, 60000.0)] {
            a.set([r], (0..<d).map { _ in Float16(rng.symmetric() * scale) })
            b.set([r], (0..<d).map { _ in Float16(rng.symmetric() * scale) })
        }
        b.set([3], a.row([0]))  // tiny against random
        a.set([4], a.row([2]))
        b.set([4], a.row([2]))  // large against itself: 1
        #expect(callCosine(a, b, out, d: d) == SSIM_OK)
        checkCosine(a, b, out, d: d, "float16 tiny/large")
        #expect((Double(out.row([4])[0]) - 1).magnitude <= 5e-3)
    }

    @Test(
        "threads <= 0 (calling thread) and more threads than rows give the same result",
        arguments: [Int32(0), -3, Int32.max])
    func nonPositiveThreads(threads: Int32) {
        var rng = SplitMix64(5)
        let a = Operand<Float>(shape: [400], length: 300), b = Operand<Float>(shape: [400], length: 300)
        a.fill(&rng)
        b.fill(&rng)
        let one = Operand<Float>(scalarsOf: [400]), other = Operand<Float>(scalarsOf: [400])
        #expect(callCosine(a, b, one, d: 300, threads: 1) == SSIM_OK)
        #expect(callCosine(a, b, other, d: 300, threads: threads) == SSIM_OK)
        #expect(one.logicalBits() == other.logicalBits())
        checkCosine(a, b, other, d: 300, "threads \(threads)")
    }
}

// MARK: - generic bodies

private func cosineTails<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(1, d, T.dtype.seed)
    for (name, spec) in [("contiguous", LayoutSpec.contiguous), ("row stride d+5", LayoutSpec(rowPad: 5))] {
        let shape = [6]
        let a = Operand<T>(shape: shape, length: d, spec: spec), b = Operand<T>(shape: shape, length: d, spec: spec)
        let out = Operand<T>(scalarsOf: shape)
        a.fill(&rng)
        b.fill(&rng)
        b.set([2], a.row([2]).map { $0 * 2 })  // parallel: 1
        b.set([3], a.row([3]).map { -$0 })  // antiparallel: −1
        a.set([4], a.row([4]).map { $0 * 8 })  // a longer vector
        #expect(callCosine(a, b, out, d: d) == SSIM_OK)
        checkCosine(a, b, out, d: d, name)
        if d > 0 {
            let tol = Tol.value(T.dtype, d: d)
            #expect((Double(out.row([2])[0]) - 1).magnitude <= tol, "parallel rows give 1")
            #expect((Double(out.row([3])[0]) + 1).magnitude <= tol, "antiparallel rows give -1")
        } else {
            #expect(out.rowD([0])[0] == 0, "d = 0: empty rows give 0")
        }
    }
}

private func cosineZeroVectors<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(2, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let shape = [4]
        let a = Operand<T>(shape: shape, length: d, spec: spec), b = Operand<T>(shape: shape, length: d, spec: spec)
        let out = Operand<T>(scalarsOf: shape)
        a.fill(&rng)
        b.fill(&rng)
        let zero = [T](repeating: 0, count: d)
        a.set([0], zero)
        b.set([1], zero)
        a.set([2], zero)
        b.set([2], zero)
        #expect(callCosine(a, b, out, d: d) == SSIM_OK)
        for r in 0..<3 { #expect(out.rowD([r])[0] == 0, "\(spec) row \(r): a zero vector gives 0") }
        checkCosine(a, b, out, d: d, "zero vectors \(spec)")
    }
}

private func cosineEpsilonClamp<T: ABIScalar>(_: T.Type) {
    // float16 cannot hold vectors below sqrt(1e-12); its epsilons stay in its range.
    let epsilons: [Double] = T.dtype == .f16 ? [0x1p-20, 1e-3, 0.5] : [1e-12, 1e-14, 0x1p-20, 0.5]
    for eps in epsilons {
        for d in [1, 5, 16, 37] {
            var rng = SplitMix64(3, d, T.dtype.seed)
            let shape = [6]
            let a = Operand<T>(shape: shape, length: d), b = Operand<T>(shape: shape, length: d)
            let out = Operand<T>(scalarsOf: shape)
            let below = (eps / Double(d)).squareRoot() * 0.5, above = (eps / Double(d)).squareRoot() * 8
            // rows: a below, b below, both below, a below b above, both above, a below b normal
            let scales: [(Double, Double)] = [
                (below, 1), (1, below), (below, below), (below, above), (above, above),
                (below / 16, 1),
            ]
            for (r, (sa, sb)) in scales.enumerated() {
                a.set([r], (0..<d).map { _ in T(rng.symmetric() * sa) })
                b.set([r], (0..<d).map { _ in T(rng.symmetric() * sb) })
            }
            #expect(callCosine(a, b, out, d: d, eps: eps) == SSIM_OK)
            checkCosine(a, b, out, d: d, eps: eps, "epsilon \(eps)")
        }
    }
}

private func cosineNanInf<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(4, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let shape = [8]
        let a = Operand<T>(shape: shape, length: d, spec: spec), b = Operand<T>(shape: shape, length: d, spec: spec)
        let out = Operand<T>(scalarsOf: shape)
        a.fill(&rng)
        b.fill(&rng)
        func poison(_ x: Operand<T>, _ r: Int, _ i: Int, _ v: T) { var row = x.row([r]); row[i] = v; x.set([r], row) }
        poison(a, 1, rng.int(d), .nan)
        poison(b, 3, d - 1, .infinity)
        poison(a, 4, 0, -.infinity)
        let k = rng.int(d)
        poison(a, 6, k, .infinity)
        poison(b, 6, k, .nan)
        poison(b, 7, d / 2, .infinity)
        poison(a, 7, d / 2, 0)  // Inf · 0 in the product: still NaN, not a number
        #expect(callCosine(a, b, out, d: d) == SSIM_OK)
        for r in [1, 3, 4, 6, 7] { #expect(out.rowD([r])[0].isNaN, "\(spec) row \(r) holds NaN/Inf: NaN") }
        for r in [0, 2, 5] { #expect(out.rowD([r])[0].isFinite, "\(spec) row \(r) is clean: finite") }
        checkCosine(a, b, out, d: d, "NaN/Inf \(spec)")
    }
}

private func cosineOverflow<T: ABIScalar>(_: T.Type) {
    // The largest scale each dtype holds whose squares overflow the accumulator (float16 cannot
    // overflow float32; its largest values check that the sums are not kept in binary16).
    let big: Double = T.dtype == .f16 ? 6e4 : T.dtype == .f32 ? 1e20 : 1e200
    for d in [1, 3, 16, 40, 100] {
        for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
            var rng = SplitMix64(6, d, T.dtype.seed)
            let shape = [5]
            let a = Operand<T>(shape: shape, length: d, spec: spec), b = Operand<T>(shape: shape, length: d, spec: spec)
            let out = Operand<T>(scalarsOf: shape)
            a.fill(&rng, scale: big)
            b.fill(&rng, scale: big)
            b.set([1], (0..<d).map { _ in T(rng.symmetric()) })  // big against normal
            b.set([2], a.row([2]))  // big against itself: 1
            b.set([3], a.row([3]).map { -$0 })  // antiparallel: −1
            let tiny = Double(T.leastNormalMagnitude).squareRoot()
            b.set([4], (0..<d).map { _ in T(rng.symmetric() * tiny) })  // big against clamped
            #expect(callCosine(a, b, out, d: d) == SSIM_OK)
            for r in 0..<5 { #expect(out.rowD([r])[0].isFinite, "\(spec) d=\(d) row \(r): finite") }
            checkCosine(a, b, out, d: d, "overflowing norms \(spec)")
            let tol = Tol.value(T.dtype, d: d)
            #expect((out.rowD([2])[0] - 1).magnitude <= tol, "\(spec) d=\(d): a huge row against itself gives 1")
            #expect((out.rowD([3])[0] + 1).magnitude <= tol, "\(spec) d=\(d): a huge row against its negation gives -1")
        }
    }
}

private func cosineStrides<T: ABIScalar>(_: T.Type, _ layout: StrideCase) {
    for d in shortLengths {
        var rng = SplitMix64(7, d, T.dtype.seed)
        let a = Operand<T>(shape: layout.shape, length: d, spec: layout.a)
        let b = Operand<T>(shape: layout.shape, length: d, spec: layout.b)
        let out = Operand<T>(scalarsOf: layout.shape, spec: layout.out)
        a.fill(&rng)
        b.fill(&rng)
        #expect(callCosine(a, b, out, d: d) == SSIM_OK)
        checkCosine(a, b, out, d: d, layout.name)
    }
}

private func cosineSizeOne<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(8, d, T.dtype.seed)
    let shape = [5]
    let firsts: [Double] = [0.7, -1.3, 0, 0x1p-22, -3]  // 2^-44 < 1e-12: that row's a is clamped
    for broadcastA in [true, false] {
        for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
            let a = Operand<T>(shape: shape, length: broadcastA ? 1 : d, spec: spec)
            let b = Operand<T>(shape: shape, length: broadcastA ? d : 1, spec: spec)
            let out = Operand<T>(scalarsOf: shape)
            let (one, full) = broadcastA ? (a, b) : (b, a)
            full.fill(&rng)
            for (r, v) in firsts.enumerated() { one.set([r], [T(v)]) }
            #expect(callCosine(a, b, out, d: d) == SSIM_OK)
            checkCosine(a, b, out, d: d, "size-1 \(broadcastA ? "a" : "b") \(spec)")
            // The header's closed form: sign(a0) · Σ b̂ (a0 unclamped).
            let tol = Tol.value(T.dtype, d: d) * max(1, Double(d).squareRoot())
            for r in [0, 1, 4] {
                let y = full.rowD([r])
                let norm = Ref.dot(d, { y[$0] }, { y[$0] }).squareRoot()
                let want = (firsts[r] > 0 ? 1 : -1) * y.reduce(0, +) / norm
                let got = out.rowD([r])[0]
                #expect((got - want).magnitude <= tol, "row \(r): sign(a0)·Σb̂ = \(want), got \(got)")
            }
            #expect(out.rowD([2])[0] == 0, "a0 = 0 gives 0")
        }
    }
}
