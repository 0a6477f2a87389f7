// PairwiseTests.swift — ssim_pairwise_cosine_* against a naive float64 reference, through the C ABI.
//
// The register tile is 12 rows of x × 32 (Float) or 16 (Double) rows of y on AVX-512 (6 × 16/8 on
// AVX2, 2 × 16/8 on SSE) and d is blocked by 256, so the shapes put tails in every dimension.

import CSwiftSimABI
import XCTest

@testable import SwiftSimCore

/// Deterministic values in [-1, 1).
struct Lcg {
    var state: UInt64
    mutating func next() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }
    mutating func matrix(_ rows: Int, _ d: Int) -> [Double] { (0..<(rows * d)).map { _ in next() } }
}

/// cosine of rows i of x and j of y (float64, TF's epsilon rule on each squared norm).
func referencePairwise(_ x: [Double], _ y: [Double], n: Int, m: Int, d: Int, epsilon: Double = 1e-12) -> [Double] {
    func r(_ v: [Double], _ i: Int) -> Double {
        var s = 0.0
        for k in 0..<d { s += v[i * d + k] * v[i * d + k] }
        return 1 / max(s, epsilon).squareRoot()
    }
    var out = [Double](repeating: 0, count: n * m)
    for i in 0..<n {
        for j in 0..<m {
            var dot = 0.0
            for k in 0..<d { dot += x[i * d + k] * y[j * d + k] }
            out[i * m + j] = dot * r(x, i) * r(y, j)
        }
    }
    return out
}

/// Calls ssim_pairwise_cosine_<T> on one matrix pair of contiguous rows.
func pairwise<T: SimScalar>(
    _ x: [T], _ y: [T], n: Int, m: Int, d: Int, epsilon: Double = 1e-12, threads: Int32 = 1, sameBuffer: Bool = false
) -> (ssim_status, [T]) {
    var out = [T](repeating: 0, count: n * m)
    let size = Int64(MemoryLayout<T>.stride)
    // strides of x, y, out: one row stride each (no batch axes)
    let strides: [Int64] = [Int64(d) * size, Int64(d) * size, Int64(m) * size]
    let st = x.withUnsafeBufferPointer { px in
        y.withUnsafeBufferPointer { py in
            out.withUnsafeMutableBufferPointer { po in
                strides.withUnsafeBufferPointer { ps in
                    pairwiseCosine(
                        px.baseAddress, sameBuffer ? px.baseAddress : py.baseAddress, po.baseAddress, n: Int64(n),
                        m: Int64(m), d: Int64(d), xElemStride: size, yElemStride: size, ndim: 0, shape: nil,
                        strides: ps.baseAddress, epsilon: epsilon, threads: threads, interrupt: nil)
                }
            }
        }
    }
    return (st, out)
}

final class PairwiseTests: XCTestCase {
    static let shapes = [(1, 1, 1), (1, 7, 3), (7, 1, 3), (12, 32, 16), (13, 33, 17), (25, 65, 257), (30, 17, 600)]

    func check<T: SimScalar>(_: T.Type, tolerance: Double) {
        var g = Lcg(state: 1)
        for (n, m, d) in Self.shapes {
            let x = g.matrix(n, d), y = g.matrix(m, d)
            let xt = x.map { T(Double($0)) }, yt = y.map { T(Double($0)) }
            // The reference sees the values as rounded to T.
            let ref = referencePairwise(xt.map { Double($0) }, yt.map { Double($0) }, n: n, m: m, d: d)
            let (st, out) = pairwise(xt, yt, n: n, m: m, d: d)
            XCTAssertEqual(st, SSIM_OK)
            let tol = tolerance * max(1, (Double(d) / 256).squareRoot())
            for e in 0..<(n * m) {
                XCTAssertEqual(Double(out[e]), ref[e], accuracy: tol, "\(T.self) \(n)x\(m)x\(d) element \(e)")
            }
        }
    }

    func testFloatMatchesReference() { check(Float.self, tolerance: 2e-6) }
    func testDoubleMatchesReference() { check(Double.self, tolerance: 1e-12) }
    func testFloat16MatchesReference() { check(Float16.self, tolerance: 5e-3) }

    func testSymmetricPathIsBitwiseTheFullProduct() {
        var g = Lcg(state: 2)
        for (n, d) in [(1, 4), (13, 17), (45, 300), (70, 33)] {
            let x = g.matrix(n, d).map { Float($0) }
            let (s1, sym) = pairwise(x, x, n: n, m: n, d: d, sameBuffer: true)
            let (s2, full) = pairwise(x, Array(x), n: n, m: n, d: d)
            XCTAssertEqual(s1, SSIM_OK)
            XCTAssertEqual(s2, SSIM_OK)
            XCTAssertEqual(sym, full, "n=\(n) d=\(d)")
            for i in 0..<n { for j in 0..<n { XCTAssertEqual(sym[i * n + j], sym[j * n + i]) } }
        }
    }

    func testThreadCountDoesNotChangeABit() {
        var g = Lcg(state: 3)
        let n = 150, m = 230, d = 300
        let x = g.matrix(n, d).map { Float($0) }, y = g.matrix(m, d).map { Float($0) }
        let one = pairwise(x, y, n: n, m: m, d: d, threads: 1).1
        XCTAssertEqual(one, pairwise(x, y, n: n, m: m, d: d, threads: 2).1)
        XCTAssertEqual(one, pairwise(x, y, n: n, m: m, d: d, threads: 5).1)
        let sym1 = pairwise(x, x, n: n, m: n, d: d, threads: 1, sameBuffer: true).1
        XCTAssertEqual(sym1, pairwise(x, x, n: n, m: n, d: d, threads: 3, sameBuffer: true).1)
    }

    func testZeroNaNInfAndOverflowingRows() {
        let d = 3
        let big = Float.greatestFiniteMagnitude / 4
        let x: [Float] = [0, 0, 0, /**/ 1, .nan, 0, /**/ big, big, 0, /**/ 1, 2, 3]
        let y: [Float] = [1, 1, 0, /**/ .infinity, 0, 0, /**/ 3, 0, 4]
        let (st, out) = pairwise(x, y, n: 4, m: 3, d: d)
        XCTAssertEqual(st, SSIM_OK)
        XCTAssertEqual(out[0], 0)  // zero row: 0
        XCTAssertEqual(out[2], 0)
        for j in 0..<3 { XCTAssertTrue(out[3 + j].isNaN) }  // NaN row
        for i in 0..<4 { XCTAssertTrue(out[i * 3 + 1].isNaN) }  // Inf column
        XCTAssertEqual(Double(out[6]), 1, accuracy: 1e-6)  // (big, big, 0)·(1, 1, 0): exact despite overflow
        XCTAssertEqual(Double(out[8]), 3 / (2.0.squareRoot() * 5), accuracy: 1e-6)
        let ref = referencePairwise([1, 2, 3], [1, 1, 0, 3, 0, 4], n: 1, m: 2, d: 3)
        XCTAssertEqual(Double(out[9]), ref[0], accuracy: 2e-6)
        XCTAssertEqual(Double(out[11]), ref[1], accuracy: 2e-6)
    }

    func testBatchWithBroadcastOperandAndStridedElements() {
        // x: 3 matrices of 5 rows, d = 4, elements 2 apart (every other value); y: one 6-row matrix, broadcast.
        var g = Lcg(state: 4)
        let batches = 3, n = 5, m = 6, d = 4
        let xs = g.matrix(batches * n, 2 * d).map { Double($0) }
        let y = g.matrix(m, d)
        var out = [Double](repeating: 0, count: batches * n * m)
        let e = Int64(8)
        let shape: [Int64] = [Int64(batches)]
        // per operand: batch stride, then row stride
        let strides: [Int64] = [Int64(n * 2 * d) * e, Int64(2 * d) * e, 0, Int64(d) * e, Int64(n * m) * e, Int64(m) * e]
        let st = pairwiseCosine(
            xs, y, &out, n: Int64(n), m: Int64(m), d: Int64(d), xElemStride: 2 * e, yElemStride: e, ndim: 1, shape: shape,
            strides: strides, epsilon: 1e-12, threads: 2, interrupt: nil)
        XCTAssertEqual(st, SSIM_OK)
        for b in 0..<batches {
            var xb = [Double]()
            for i in 0..<n { for k in 0..<d { xb.append(xs[(b * n + i) * 2 * d + 2 * k]) } }
            let ref = referencePairwise(xb, y, n: n, m: m, d: d)
            for t in 0..<(n * m) { XCTAssertEqual(out[b * n * m + t], ref[t], accuracy: 1e-12) }
        }
    }

    func testArgumentChecks() {
        let one: [Float] = [1]
        let strides: [Int64] = [4, 4, 4]
        var out: [Float] = [0]
        XCTAssertEqual(
            pairwiseCosine(
                one, one, &out, n: -1, m: 1, d: 1, xElemStride: 4, yElemStride: 4, ndim: 0, shape: nil, strides: strides,
                epsilon: 1e-12, threads: 1, interrupt: nil), SSIM_ERR_BAD_SHAPE)
        XCTAssertEqual(
            pairwiseCosine(
                one, one, &out, n: 1, m: 1, d: 1, xElemStride: 4, yElemStride: 4, ndim: 0, shape: nil, strides: strides,
                epsilon: -1, threads: 1, interrupt: nil), SSIM_ERR_BAD_EPSILON)
        XCTAssertEqual(
            pairwiseCosine(
                Optional<UnsafePointer<Float>>.none, one, &out, n: 1, m: 1, d: 1, xElemStride: 4, yElemStride: 4, ndim: 0,
                shape: nil, strides: strides, epsilon: 1e-12, threads: 1, interrupt: nil), SSIM_ERR_NULL_POINTER)
        XCTAssertEqual(
            pairwiseCosine(
                Optional<UnsafePointer<Float>>.none, nil, nil, n: 0, m: 1, d: 1, xElemStride: 4, yElemStride: 4, ndim: 0,
                shape: nil, strides: strides, epsilon: 1e-12, threads: 1, interrupt: nil), SSIM_OK)
        XCTAssertEqual(
            pairwiseCosine(
                one, one, &out, n: 1, m: 1, d: 1, xElemStride: 4, yElemStride: 4, ndim: 99, shape: nil, strides: strides,
                epsilon: 1e-12, threads: 1, interrupt: nil), SSIM_ERR_BAD_SHAPE)
    }

    func testTileShapeIsOneOfTheRegisterFitShapes() {
        // 12 × 2 registers on AVX-512 (32 zmm), 6 × 1 on AVX2/NEON, 2 × 1 on SSE. (The SSIM_TARGET_*
        // constants are read in SwiftSimCore, which is compiled for the target CPU; this test module is
        // not, so it asks SwiftSimCore rather than reading the macros itself.)
        XCTAssertTrue([[12, 2], [6, 1], [2, 1]].contains([gemmMR, gemmNRV]), "\(gemmMR) x \(gemmNRV)")
        XCTAssertEqual(gemmTileVectors, gemmMR * gemmNRV)
        XCTAssertEqual(gemmNR(Float.self), gemmNRV * 16)
        XCTAssertEqual(gemmNR(Double.self), gemmNRV * 8)
    }

    func testInterruptFlagStopsTheCall() {
        // Set before the call: nothing is computed and the status says so; a cleared flag runs fully.
        let n = 300, d = 64
        var g = Lcg(state: 3)
        let x = g.matrix(n, d).map { Float($0) }
        var out = [Float](repeating: -7, count: n * n)
        let strides: [Int64] = [Int64(d * 4), Int64(d * 4), Int64(n * 4)]
        var flag: Int32 = 1
        let stopped = pairwiseCosine(
            x, x, &out, n: Int64(n), m: Int64(n), d: Int64(d), xElemStride: 4, yElemStride: 4, ndim: 0, shape: nil,
            strides: strides, epsilon: 1e-12, threads: 2, interrupt: &flag)
        XCTAssertEqual(stopped, SSIM_INTERRUPTED)
        XCTAssertTrue(out.allSatisfy { $0 == -7 }, "no tile was computed")
        flag = 0
        let full = pairwiseCosine(
            x, x, &out, n: Int64(n), m: Int64(n), d: Int64(d), xElemStride: 4, yElemStride: 4, ndim: 0, shape: nil,
            strides: strides, epsilon: 1e-12, threads: 2, interrupt: &flag)
        XCTAssertEqual(full, SSIM_OK)
        XCTAssertEqual(out, pairwise(x, x, n: n, m: n, d: d, threads: 1).1)
    }
}
