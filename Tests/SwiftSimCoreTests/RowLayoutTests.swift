// RowLayoutTests.swift — the outer index space and the sharing of rows among threads
// (Sources/SwiftSimCore/RowLayout.swift, ThreadPool.swift): RowLayout's validation and odometer, parallelRows' blocks,
// results bitwise independent of the thread count, and ndim 2/3 layouts whose strides cannot be
// merged giving bit for bit what the same data gives laid out contiguously.

import CSwiftSimABI
import Foundation
import Testing

@testable import SwiftSimCore

@Suite("parallel and row layout")
struct RowLayoutTests {
    // MARK: RowLayout

    @Test(
        "odometer: every sub-range of rows visits the expected offsets, in order",
        arguments: [
            [], [5], [3, 4], [2, 3, 4], [2, 1, 3, 2, 2], [4, 1], [1, 1, 6], [3, 0, 2],
        ] as [[Int]])
    func odometer(shape: [Int]) {
        let ndim = shape.count, operands = 3
        var rng = SplitMix64(40, ndim, shape.reduce(1, *))
        let strides: [Int64] = (0..<operands * (ndim + 1)).map { _ in Int64(rng.int(2001)) - 1000 }
        let expected: [[Int]] = outerIndices(shape).map { idx in
            (0..<operands).map { k in (0..<ndim).reduce(0) { $0 + idx[$1] * Int(strides[k * (ndim + 1) + $1]) } }
        }
        let rows = expected.count
        let shape64 = shape.map(Int64.init)
        shape64.withUnsafeBufferPointer { sp in
            strides.withUnsafeBufferPointer { tp in
                guard
                    let layout = checkedLayout(
                        ndim: Int32(ndim), shape: sp.baseAddress, strides: tp.baseAddress,
                        operands: operands)
                else { Issue.record("a valid layout was refused"); return }
                #expect(layout.rows == rows)
                for k in 0..<operands { #expect(layout.inner(k) == Int(strides[k * (ndim + 1) + ndim])) }
                var bad: [String] = []
                for lo in 0...rows {
                    for hi in lo...rows {
                        var got: [[Int]] = []
                        layout.forEachRow(in: lo..<hi) { off in got.append((0..<operands).map { off[$0] }) }
                        if got != Array(expected[lo..<hi]) { bad.append("\(lo)..<\(hi): \(got) != \(expected[lo..<hi])") }
                    }
                }
                #expect(bad.isEmpty, "\(bad.prefix(3))")
            }
        }
    }

    @Test("RowLayout refuses what the ABI calls bad shapes")
    func rowLayoutValidation() {
        func layout(_ ndim: Int32, _ shape: [Int64]?, strides: Bool = true) -> RowLayout? {
            let st = [Int64](repeating: 4, count: 6 * 70)
            return st.withUnsafeBufferPointer { tp in
                if let shape {
                    return shape.withUnsafeBufferPointer {
                        checkedLayout(ndim: ndim, shape: $0.baseAddress, strides: strides ? tp.baseAddress : nil, operands: 3)
                    }
                }
                return checkedLayout(ndim: ndim, shape: nil, strides: strides ? tp.baseAddress : nil, operands: 3)
            }
        }
        #expect(layout(-1, [3]) == nil, "ndim -1")
        #expect(layout(65, [Int64](repeating: 1, count: 65)) == nil, "ndim 65")
        #expect(layout(64, [Int64](repeating: 1, count: 64))?.rows == 1, "ndim 64 is the limit")
        #expect(layout(2, [3, -1]) == nil, "negative size")
        #expect(layout(2, [0, -1]) == nil, "negative size beside a zero")
        #expect(layout(2, [1 << 40, 1 << 40]) == nil, "rows overflow")
        #expect(
            layout(3, [1 << 62, 2, 0]) == nil || layout(3, [1 << 62, 2, 0])?.rows == 0,
            "rows overflow before a zero axis: refused or 0 rows, never a trap")
        #expect(layout(1, nil) == nil, "ndim 1 without a shape")
        #expect(layout(1, [3], strides: false) == nil, "no strides")
        #expect(layout(0, nil)?.rows == 1, "ndim 0: one row, the shape is not read")
        #expect(layout(3, [4, 0, 5])?.rows == 0)
    }

    // MARK: parallelRows

    @Test(
        "parallelRows: each row once, in contiguous blocks; one block below the threshold",
        arguments: [Int32(-1), 0, 1, 2, 3, 7, 64])
    func blocks(threads: Int32) {
        let sizes = [
            (0, 100), (1, 1 << 20), (5, 100), (100, 1000), (1000, 1), (7, 20000), (70000, 1),
            (1 << 16, 1), (65535, 1), (3, 1 << 15),
        ]
        for (rows, perRow) in sizes {
            let lock = NSLock()
            var ranges: [Range<Int>] = []
            parallelRows(rows, blocks: rowBlocks(rows, elementsPerRow: perRow, threads: threads)) { _, r in
                lock.lock()
                ranges.append(r)
                lock.unlock()
            }
            ranges.sort { $0.lowerBound < $1.lowerBound }
            var next = 0
            for r in ranges {
                #expect(r.lowerBound == next, "rows \(rows) × \(perRow), threads \(threads): blocks \(ranges)")
                next = r.upperBound
            }
            #expect(next == rows, "rows \(rows): every row covered once")
            let t = min(max(Int(threads), 1), rows)
            let split = t > 1 && rows * perRow >= parallelThreshold
            #expect(ranges.count == (split ? t : 1), "rows \(rows) × \(perRow), threads \(threads): \(ranges.count) blocks")
            if split { #expect(ranges.allSatisfy { !$0.isEmpty }) }
        }
    }

    // MARK: kernels: thread counts

    @Test("results are bitwise identical for threads 1, 2, 3, 7", arguments: DType.allCases, ThreadCase.all)
    func threadDeterminism(dtype: DType, c: ThreadCase) { determinism(dtype.type, c) }

    @Test(
        "long strided rows split among threads (per-thread staging of megabytes)", arguments: DType.allCases)
    func longStridedRows(dtype: DType) { longRows(dtype.type) }

    // MARK: kernels: layouts

    @Test(
        "ndim 2, 3, 5 with non-mergeable strides and any inner stride give the contiguous layout's bits",
        arguments: DType.allCases, EquivalenceCase.all)
    func layoutEquivalence(dtype: DType, c: EquivalenceCase) { equivalence(dtype.type, c) }
}

// MARK: - cases

/// A problem large enough to be split among threads (rows × d above the threshold).
struct ThreadCase: Sendable, CustomStringConvertible {
    var name: String
    var shape: [Int]
    var d: Int
    var a = LayoutSpec.contiguous
    var b = LayoutSpec.contiguous
    var out = LayoutSpec.contiguous
    var sizeOneA = false
    var description: String { name }

    static let all: [ThreadCase] = [
        ThreadCase(name: "260 rows × d 260, contiguous", shape: [260], d: 260),
        ThreadCase(
            name: "[7, 5, 11] × d 175, permuted, negative, padded (odometer split mid-space)",
            shape: [7, 5, 11], d: 175,
            a: LayoutSpec(order: [1, 2, 0], rowPad: 3, negate: [0]), b: LayoutSpec(order: [2, 0, 1], negate: [2]),
            out: LayoutSpec(order: [0, 1, 2], rowPad: 1)),
        ThreadCase(
            name: "263 rows × d 251, inner stride 2 (general path)", shape: [263], d: 251,
            a: LayoutSpec(inner: 2), b: LayoutSpec(negate: [0], inner: 2)),
        ThreadCase(
            name: "[40, 7] × d 240, size-1 a broadcast along the reduction", shape: [40, 7], d: 240,
            a: LayoutSpec(broadcast: [1]), sizeOneA: true),
    ]
}

/// The same data in a non-mergeable ndim 2/3/5 layout (any inner stride) and contiguously (ndim 1).
struct EquivalenceCase: Sendable, CustomStringConvertible {
    var name: String
    var shape: [Int]
    var d: Int
    var a: LayoutSpec
    var b: LayoutSpec
    var out: LayoutSpec
    var threads: Int32 = 1
    var description: String { name }

    static let all: [EquivalenceCase] = [
        EquivalenceCase(
            name: "[6, 7] × d 33: Fortran order padded / negative rows", shape: [6, 7], d: 33,
            a: LayoutSpec(order: [0, 1], rowPad: 2), b: LayoutSpec(negate: [0]),
            out: LayoutSpec(order: [0, 1], rowPad: 1)),
        EquivalenceCase(
            name: "[3, 4, 5] × d 40: permuted and negated / broadcast middle axis", shape: [3, 4, 5], d: 40,
            a: LayoutSpec(order: [1, 2, 0], rowPad: 1, negate: [0, 2]), b: LayoutSpec(broadcast: [1]),
            out: LayoutSpec(order: [2, 1, 0], negate: [1])),
        EquivalenceCase(
            name: "[2, 2, 2, 2, 3] × d 17: ndim 5", shape: [2, 2, 2, 2, 3], d: 17,
            a: LayoutSpec(order: [4, 0, 3, 1, 2], rowPad: 1), b: LayoutSpec(negate: [1, 3]),
            out: LayoutSpec(order: [0, 1, 2, 3, 4])),
        EquivalenceCase(
            name: "[7, 5, 11] × d 175, 3 threads", shape: [7, 5, 11], d: 175,
            a: LayoutSpec(order: [0, 2, 1], negate: [1]), b: LayoutSpec(order: [1, 0, 2], rowPad: 4),
            out: LayoutSpec(order: [2, 0, 1]), threads: 3),
        EquivalenceCase(
            name: "[9, 43] × d 173, 7 threads, inner strides -1 / 3", shape: [9, 43], d: 173,
            a: LayoutSpec(order: [0, 1], negate: [0, 1], inner: -1), b: LayoutSpec(broadcast: [0], inner: 3),
            out: LayoutSpec(order: [0, 1], rowPad: 2), threads: 7),
        // Rows whose elements are not adjacent (inputs and outputs) take the same SIMD path as
        // contiguous rows, so they give the same bits too.
        EquivalenceCase(
            name: "[5, 6] × d 45: inner strides 2 and -2, strided outputs", shape: [5, 6], d: 45,
            a: LayoutSpec(order: [0, 1], inner: 2), b: LayoutSpec(negate: [1], inner: -2),
            out: LayoutSpec(negate: [0])),
        EquivalenceCase(
            name: "[4, 3, 2] × d 70: zero inner stride (constant rows), inner stride 5", shape: [4, 3, 2], d: 70,
            a: LayoutSpec(rowPad: 1, inner: 0), b: LayoutSpec(order: [2, 1, 0], inner: 5),
            out: LayoutSpec(order: [1, 0, 2])),
    ]
}

// MARK: - generic bodies

/// One run of the three kernels; the outputs' logical bits.
private struct KernelOutputs: Equatable {
    var cosine: [UInt64]
    var normalized: [UInt64]
    var da: [UInt64]
    var db: [UInt64]
    var cos: [UInt64]
}

private func determinism<T: ABIScalar>(_: T.Type, _ c: ThreadCase) {
    let rows = c.shape.reduce(1, *)
    #expect(rows * c.d > parallelThreshold, "the case must be large enough to be split")
    var rng = SplitMix64(41, c.d, T.dtype.seed, rows)
    let dA = c.sizeOneA ? 1 : c.d
    let a = Operand<T>(shape: c.shape, length: dA, spec: c.a), b = Operand<T>(shape: c.shape, length: c.d, spec: c.b)
    let u = Operand<T>(scalarsOf: c.shape)
    a.fill(&rng)
    b.fill(&rng)
    u.fill(&rng, scale: 2)
    // A few special rows: NaN, zero, huge.
    let idx = outerIndices(c.shape)
    b.set(idx[rows / 3], b.row(idx[rows / 3]).enumerated().map { $0.offset == 1 ? .nan : $0.element })
    b.set(idx[rows / 2], [T](repeating: 0, count: c.d))
    var runs: [Int32: KernelOutputs] = [:]
    for threads: Int32 in [1, 2, 3, 7] {
        let out = Operand<T>(scalarsOf: c.shape, spec: c.out)
        let norm = Operand<T>(shape: c.shape, length: c.d, spec: c.b.forOutput)
        let g = GradOutputs(
            da: Operand<T>(shape: c.shape, length: dA, spec: c.a.forOutput),
            db: Operand<T>(shape: c.shape, length: c.d, spec: c.b.forOutput),
            cos: Operand<T>(scalarsOf: c.shape, spec: c.out))
        #expect(callCosine(a, b, out, d: c.d, threads: threads) == SSIM_OK)
        #expect(callNormalize(b, norm, threads: threads) == SSIM_OK)
        #expect(callGrad(a, b, u, g, d: c.d, threads: threads) == SSIM_OK)
        if threads == 1 {  // the run the others must reproduce is itself right
            checkCosine(a, b, out, d: c.d, c.name)
            checkNormalize(b, norm, c.name)
            checkGrad(a, b, u, g, d: c.d, c.name)
        }
        runs[threads] = KernelOutputs(
            cosine: out.logicalBits(), normalized: norm.logicalBits(),
            da: g.da!.logicalBits(), db: g.db!.logicalBits(), cos: g.cos!.logicalBits())
    }
    for threads: Int32 in [2, 3, 7] {
        let one = runs[1]!, many = runs[threads]!
        #expect(many.cosine == one.cosine, "cosine, threads \(threads) vs 1")
        #expect(many.normalized == one.normalized, "l2_normalize, threads \(threads) vs 1")
        #expect(many.da == one.da && many.db == one.db && many.cos == one.cos, "cosine_grad, threads \(threads) vs 1")
    }
}

private func equivalence<T: ABIScalar>(_: T.Type, _ c: EquivalenceCase) {
    var rng = SplitMix64(42, c.d, T.dtype.seed, c.shape.count)
    let rows = c.shape.reduce(1, *)
    let idx = outerIndices(c.shape)
    // The strided layout.
    let a = Operand<T>(shape: c.shape, length: c.d, spec: c.a), b = Operand<T>(shape: c.shape, length: c.d, spec: c.b)
    let u = Operand<T>(scalarsOf: c.shape, spec: c.out)
    a.fill(&rng)
    b.fill(&rng)
    u.fill(&rng, scale: 2)
    // The same logical data, contiguous, one outer axis.
    let ca = Operand<T>(shape: [rows], length: c.d), cb = Operand<T>(shape: [rows], length: c.d)
    let cu = Operand<T>(scalarsOf: [rows])
    for (r, i) in idx.enumerated() {
        ca.set([r], a.row(i))
        cb.set([r], b.row(i))
        cu.set([r], u.row(i))
    }
    func run(
        _ a: Operand<T>, _ b: Operand<T>, _ u: Operand<T>, shape: [Int], out: LayoutSpec, aOut: LayoutSpec,
        bOut: LayoutSpec, check: Bool
    ) -> KernelOutputs {
        let cos = Operand<T>(scalarsOf: shape, spec: out)
        let norm = Operand<T>(shape: shape, length: c.d, spec: aOut)
        let g = GradOutputs(
            da: Operand<T>(shape: shape, length: c.d, spec: aOut),
            db: Operand<T>(shape: shape, length: c.d, spec: bOut), cos: Operand<T>(scalarsOf: shape, spec: out))
        #expect(callCosine(a, b, cos, d: c.d, threads: c.threads) == SSIM_OK)
        #expect(callNormalize(a, norm, threads: c.threads) == SSIM_OK)
        #expect(callGrad(a, b, u, g, d: c.d, threads: c.threads) == SSIM_OK)
        if check {
            checkCosine(a, b, cos, d: c.d, c.name)
            checkNormalize(a, norm, c.name)
            checkGrad(a, b, u, g, d: c.d, c.name)
        }
        return KernelOutputs(
            cosine: cos.logicalBits(), normalized: norm.logicalBits(), da: g.da!.logicalBits(),
            db: g.db!.logicalBits(), cos: g.cos!.logicalBits())
    }
    let strided = run(a, b, u, shape: c.shape, out: c.out, aOut: c.b.forOutput, bOut: c.a.forOutput, check: true)
    let flat = run(ca, cb, cu, shape: [rows], out: .contiguous, aOut: .contiguous, bOut: .contiguous, check: false)
    #expect(strided.cosine == flat.cosine, "cosine: strided ndim \(c.shape.count) vs contiguous")
    #expect(strided.normalized == flat.normalized, "l2_normalize: strided vs contiguous")
    #expect(strided.da == flat.da && strided.db == flat.db && strided.cos == flat.cos, "cosine_grad: strided vs contiguous")
}

private func longRows<T: ABIScalar>(_: T.Type) {
    // 4 rows of 40000 elements, every operand strided: each thread stages whole rows (up to 4 rows
    // of 40000 doubles = 1.3 MB for the gradient), more than a worker thread's stack.
    let shape = [4], d = 40_000
    var rng = SplitMix64(43, T.dtype.seed)
    let a = Operand<T>(shape: shape, length: d, spec: LayoutSpec(inner: 2))
    let b = Operand<T>(shape: shape, length: d, spec: LayoutSpec(inner: -1))
    let u = Operand<T>(scalarsOf: shape)
    a.fill(&rng)
    b.fill(&rng)
    u.fill(&rng)
    let out = Operand<T>(scalarsOf: shape), norm = Operand<T>(shape: shape, length: d, spec: LayoutSpec(inner: 3))
    let g = GradOutputs(
        da: Operand<T>(shape: shape, length: d, spec: LayoutSpec(inner: -2)),
        db: Operand<T>(shape: shape, length: d, spec: LayoutSpec(inner: 2)), cos: Operand<T>(scalarsOf: shape))
    #expect(callCosine(a, b, out, d: d, threads: 4) == SSIM_OK)
    #expect(callNormalize(a, norm, threads: 4) == SSIM_OK)
    #expect(callGrad(a, b, u, g, d: d, threads: 4) == SSIM_OK)
    checkCosine(a, b, out, d: d, "long strided rows")
    checkNormalize(a, norm, "long strided rows")
    checkGrad(a, b, u, g, d: d, "long strided rows")
}

/// RowLayout.checked with valid row arguments (d = d_a = d_b = 1, ε = 0): the layout, or nil when refused.
func checkedLayout(ndim: Int32, shape: UnsafePointer<Int64>?, strides: UnsafePointer<Int64>?, operands: Int) -> RowLayout? {
    try? RowLayout.checked(d: 1, dA: 1, dB: 1, epsilon: 0, ndim: ndim, shape: shape, strides: strides, operands: operands).get()
}
