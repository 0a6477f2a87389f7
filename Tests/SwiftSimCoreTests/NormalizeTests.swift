// NormalizeTests.swift — ssim_l2_normalize_{f16,f32,f64} (Sources/SwiftSimCore/Normalize.swift)
// against the float64 reference: SIMD tails, zero rows, the epsilon floor, NaN/Inf rows, overflowing
// squared norms, every stride layout, in-place use, and inputs left untouched.

import CSwiftSimABI
import Testing

@testable import SwiftSimCore

@Suite("l2_normalize")
struct NormalizeTests {
    @Test("SIMD tails: random rows, a zero row, a long row", arguments: DType.allCases, tailLengths)
    func tails(dtype: DType, d: Int) { normalizeTails(dtype.type, d: d) }

    @Test("zero rows stay zero; rows under the floor are x/√ε", arguments: DType.allCases, shortLengths)
    func zeroAndClamped(dtype: DType, d: Int) { normalizeZeroAndClamped(dtype.type, d: d) }

    @Test("NaN or Inf makes the whole row NaN, other rows unaffected", arguments: DType.allCases, shortLengths)
    func nanInfRows(dtype: DType, d: Int) { normalizeNanInf(dtype.type, d: d) }

    @Test("squared norms beyond the accumulator's range: the exact unit vector", arguments: DType.allCases)
    func squaredNormOverflow(dtype: DType) { normalizeOverflow(dtype.type) }

    @Test("strides: padded, negative, zero, inner stride 2, ndim 2 and 3", arguments: DType.allCases, StrideCase.all)
    func strides(dtype: DType, layout: StrideCase) { normalizeStrides(dtype.type, layout) }

    @Test(
        "in place (out == x)", arguments: DType.allCases,
        [
            LayoutSpec.contiguous, LayoutSpec(name: "padded", rowPad: 3),
            LayoutSpec(name: "negative rows", negate: [0]), LayoutSpec(name: "inner stride 2", inner: 2),
        ])
    func inPlace(dtype: DType, spec: LayoutSpec) { normalizeInPlace(dtype.type, spec) }
}

// MARK: - generic bodies

private func normalizeTails<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(11, d, T.dtype.seed)
    for (name, spec) in [("contiguous", LayoutSpec.contiguous), ("row stride d+5", LayoutSpec(rowPad: 5))] {
        let shape = [5]
        let x = Operand<T>(shape: shape, length: d, spec: spec), out = Operand<T>(shape: shape, length: d, spec: spec)
        x.fill(&rng)
        x.set([1], [T](repeating: 0, count: d))
        x.set([3], x.row([3]).map { $0 * 64 })
        let before = x.logicalBits()
        #expect(callNormalize(x, out) == SSIM_OK)
        checkNormalize(x, out, name)
        #expect(x.logicalBits() == before, "the input is not modified")
        #expect(x.strayWrites() == 0)
        #expect(out.rowD([1]).allSatisfy { $0 == 0 }, "a zero row stays zero")
    }
}

private func normalizeZeroAndClamped<T: ABIScalar>(_: T.Type, d: Int) {
    let eps = T.dtype == .f16 ? 0x1p-20 : 1e-12
    var rng = SplitMix64(12, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let shape = [4]
        let x = Operand<T>(shape: shape, length: d, spec: spec), out = Operand<T>(shape: shape, length: d, spec: spec)
        x.fill(&rng)
        let below = (eps / Double(d)).squareRoot() * 0.5
        x.set([0], [T](repeating: 0, count: d))
        x.set([2], (0..<d).map { _ in T(rng.symmetric() * below) })
        #expect(callNormalize(x, out, eps: eps) == SSIM_OK)
        checkNormalize(x, out, eps: eps, "zero and clamped \(spec)")
        #expect(out.rowD([0]).allSatisfy { $0 == 0 }, "\(spec): a zero row stays zero")
        // Below the floor: out = x / √ε exactly up to rounding, a vector shorter than 1.
        let want = x.rowD([2]).map { $0 / eps.squareRoot() }
        let got = out.rowD([2])
        let tol = Tol.value(T.dtype, d: d)
        #expect(zip(got, want).allSatisfy { ($0 - $1).magnitude <= tol }, "\(spec): clamped row is x/√ε")
    }
}

private func normalizeNanInf<T: ABIScalar>(_: T.Type, d: Int) {
    var rng = SplitMix64(13, d, T.dtype.seed)
    for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
        let shape = [6]
        let x = Operand<T>(shape: shape, length: d, spec: spec), out = Operand<T>(shape: shape, length: d, spec: spec)
        x.fill(&rng)
        func poison(_ r: Int, _ i: Int, _ v: T) { var row = x.row([r]); row[i] = v; x.set([r], row) }
        poison(1, rng.int(d), .nan)
        poison(2, d - 1, .infinity)
        poison(4, 0, -.infinity)
        #expect(callNormalize(x, out) == SSIM_OK)
        for r in [1, 2, 4] { #expect(out.rowD([r]).allSatisfy { $0.isNaN }, "\(spec) row \(r): every element NaN") }
        for r in [0, 3, 5] { #expect(out.rowD([r]).allSatisfy { $0.isFinite }, "\(spec) row \(r): finite") }
        checkNormalize(x, out, "NaN/Inf \(spec)")
    }
}

private func normalizeOverflow<T: ABIScalar>(_: T.Type) {
    let big: Double = T.dtype == .f16 ? 6e4 : T.dtype == .f32 ? 1e20 : 1e200
    for d in [1, 3, 16, 40, 100] {
        for spec in [LayoutSpec.contiguous, LayoutSpec(name: "inner stride 2", inner: 2)] {
            var rng = SplitMix64(14, d, T.dtype.seed)
            let shape = [4]
            let x = Operand<T>(shape: shape, length: d, spec: spec), out = Operand<T>(shape: shape, length: d, spec: spec)
            x.fill(&rng, scale: big)
            x.set([2], (0..<d).map { _ in T(big) })  // all equal: 1/√d each
            #expect(callNormalize(x, out) == SSIM_OK)
            for r in 0..<4 { #expect(out.rowD([r]).allSatisfy { $0.isFinite }, "\(spec) d=\(d) row \(r): finite") }
            checkNormalize(x, out, "overflowing norms \(spec)")
            let want = 1 / Double(d).squareRoot(), tol = Tol.value(T.dtype, d: d)
            #expect(out.rowD([2]).allSatisfy { ($0 - want).magnitude <= tol }, "\(spec) d=\(d): equal elements give 1/√d")
        }
    }
}

private func normalizeStrides<T: ABIScalar>(_: T.Type, _ layout: StrideCase) {
    let outSpec = layout.b.forOutput
    for d in shortLengths {
        var rng = SplitMix64(15, d, T.dtype.seed)
        let x = Operand<T>(shape: layout.shape, length: d, spec: layout.a)
        let out = Operand<T>(shape: layout.shape, length: d, spec: outSpec)
        x.fill(&rng)
        let before = x.logicalBits()
        #expect(callNormalize(x, out) == SSIM_OK)
        checkNormalize(x, out, layout.name)
        #expect(x.logicalBits() == before, "the input is not modified")
    }
}

private func normalizeInPlace<T: ABIScalar>(_: T.Type, _ spec: LayoutSpec) {
    for d in [1, 7, 16, 33, 100] {
        var rng = SplitMix64(16, d, T.dtype.seed)
        let shape = [6]
        let x = Operand<T>(shape: shape, length: d, spec: spec)
        x.fill(&rng)
        x.set([2], [T](repeating: 0, count: d))
        x.set([4], x.row([4]).map { $0 * 1000 })
        let input = outerIndices(shape).map { x.rowD($0) }
        // The reference run, out of place, must agree with the in-place one bit for bit.
        let apart = Operand<T>(shape: shape, length: d, spec: spec)
        #expect(callNormalize(x, apart) == SSIM_OK)
        #expect(callNormalize(x, x) == SSIM_OK)
        checkNormalize(x, x, input: input, "in place \(spec)")
        #expect(x.logicalBits() == apart.logicalBits(), "\(spec) d=\(d): in place equals out of place")
    }
}
