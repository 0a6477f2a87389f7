// PairsAboveTests.swift — ssim_pairs_above_* (PairsAbove.swift) against a filter of the pairwise matrix:
// the same pairs in (row, column) order and the same bits, for every band, pass split, capacity and
// thread count.

import CSwiftSimABI
import XCTest

@testable import SwiftSimCore

/// What one call of pairsAbove returned.
struct PairsResult<T> {
    var status: ssim_status
    var rows: [Int64]
    var cols: [Int64]
    var scores: [T]
    var written: Int64
    var found: Int64
    var nextRow: Int64
}

/// Calls pairsAbove on contiguous rows (y = x itself when `sameBuffer`).
func pairsCall<T: SimScalar>(
    _ x: [T], _ y: [T], n: Int, m: Int, d: Int, threshold: Double, diagonal: Int64 = .min, firstRow: Int = 0,
    capacity: Int? = nil, threads: Int32 = 1, sameBuffer: Bool = false, epsilon: Double = 1e-12
) -> PairsResult<T> {
    let cap = capacity ?? n * m
    var rows = [Int64](repeating: -7, count: cap), cols = [Int64](repeating: -7, count: cap)
    var scores = [T](repeating: 7, count: cap)
    var written: Int64 = -1, found: Int64 = -1, next: Int64 = -1
    let size = Int64(MemoryLayout<T>.stride)
    let st = x.withUnsafeBufferPointer { px in
        y.withUnsafeBufferPointer { py in
            pairsAbove(
                px.baseAddress, sameBuffer ? px.baseAddress : py.baseAddress, n: Int64(n), m: Int64(m), d: Int64(d),
                xRowStride: Int64(d) * size, xElemStride: size, yRowStride: Int64(d) * size, yElemStride: size, threshold: threshold,
                diagonal: diagonal, firstRow: Int64(firstRow), epsilon: epsilon, capacity: Int64(cap), rows: &rows, cols: &cols,
                scores: &scores, written: &written, found: &found, nextRow: &next, threads: threads, interrupt: nil)
        }
    }
    let w = Int(max(written, 0))
    return PairsResult(
        status: st, rows: Array(rows[0..<w]), cols: Array(cols[0..<w]), scores: Array(scores[0..<w]), written: written,
        found: found, nextRow: next)
}

/// The reference: the pairwise matrix filtered in row-major order (the threshold rounded to T).
func filteredPairwise<T: SimScalar>(
    _ full: [T], n: Int, m: Int, threshold: Double, diagonal: Int64 = .min, firstRow: Int = 0
) -> (rows: [Int64], cols: [Int64], scores: [T]) {
    let t = T(threshold)
    var r: [Int64] = [], c: [Int64] = [], s: [T] = []
    for i in firstRow..<n {
        for j in 0..<m where Int64(j) - Int64(i) >= diagonal && full[i * m + j] >= t {
            r.append(Int64(i))
            c.append(Int64(j))
            s.append(full[i * m + j])
        }
    }
    return (r, c, s)
}

final class PairsAboveTests: XCTestCase {
    func check<T: ABIScalar>(_: T.Type) {
        var g = Lcg(state: 21)
        for (n, m, d) in [(1, 1, 1), (13, 33, 17), (25, 65, 257), (40, 40, 5)] {
            var x = g.matrix(n, d), y = g.matrix(m, d)
            for e in 0..<d { y[(m / 2) * d + e] = x[(n / 2) * d + e] }  // an exact duplicate
            if n > 3 {
                for e in 0..<d { x[3 * d + e] = .nan }  // a NaN row: never in a pair
            }
            let xt = x.map { T(Double($0)) }, yt = y.map { T(Double($0)) }
            let full = pairwise(xt, yt, n: n, m: m, d: d).1
            for threshold in [-2.0, -0.1, 0.3, 0.95, 1.0] {
                let want = filteredPairwise(full, n: n, m: m, threshold: threshold)
                for threads in [Int32(1), 3] {
                    let got = pairsCall(xt, yt, n: n, m: m, d: d, threshold: threshold, threads: threads)
                    XCTAssertEqual(got.status, SSIM_OK)
                    XCTAssertEqual(got.rows, want.rows, "\(T.self) \(n)x\(m)x\(d) t=\(threshold)")
                    XCTAssertEqual(got.cols, want.cols)
                    XCTAssertEqual(got.scores.map { $0.bits }, want.scores.map { $0.bits })
                    XCTAssertEqual(got.found, got.written)
                    XCTAssertEqual(got.nextRow, Int64(n))
                }
            }
            // y = x, only i < j: the upper triangle of the symmetric matrix.
            let sym = pairwise(xt, xt, n: n, m: n, d: d, sameBuffer: true).1
            let want = filteredPairwise(sym, n: n, m: n, threshold: 0.2, diagonal: 1)
            let got = pairsCall(xt, xt, n: n, m: n, d: d, threshold: 0.2, diagonal: 1, threads: 2, sameBuffer: true)
            XCTAssertEqual(got.rows, want.rows)
            XCTAssertEqual(got.cols, want.cols)
            XCTAssertEqual(got.scores.map { $0.bits }, want.scores.map { $0.bits })
        }
    }

    func testFloat() { check(Float.self) }
    func testDouble() { check(Double.self) }
    func testFloat16() { check(Float16.self) }

    func testBandsAndFirstRows() {
        var g = Lcg(state: 22)
        let n = 50, m = 70, d = 4
        let x = g.matrix(n, d), y = g.matrix(m, d)
        let full = pairwise(x, y, n: n, m: m, d: d).1
        for diagonal: Int64 in [.min, -100, -49, -48, -3, 0, 1, 13, 69, 70, .max] {
            for first in [0, 1, 12, 49, 50] {
                let want = filteredPairwise(full, n: n, m: m, threshold: -0.5, diagonal: diagonal, firstRow: first)
                let got = pairsCall(x, y, n: n, m: m, d: d, threshold: -0.5, diagonal: diagonal, firstRow: first, threads: 2)
                XCTAssertEqual(got.status, SSIM_OK)
                XCTAssertEqual(got.rows, want.rows, "diagonal \(diagonal) first \(first)")
                XCTAssertEqual(got.cols, want.cols)
                XCTAssertEqual(got.scores, want.scores)
                XCTAssertEqual(got.nextRow, Int64(n))
            }
        }
    }

    /// More rows than one pass of x, and (with long rows) more than one pass of y.
    func testSeveralPasses() {
        var g = Lcg(state: 23)
        for (n, m, d, threshold) in [(4300, 90, 3, 0.9), (5, 2100, 2048, 0.02)] {
            let x = g.matrix(n, d), y = g.matrix(m, d)
            let full = pairwise(x, y, n: n, m: m, d: d, threads: 2).1
            let want = filteredPairwise(full, n: n, m: m, threshold: threshold)
            XCTAssertFalse(want.rows.isEmpty)
            let got = pairsCall(x, y, n: n, m: m, d: d, threshold: threshold, threads: 2)
            XCTAssertEqual(got.status, SSIM_OK)
            XCTAssertEqual(got.rows, want.rows, "\(n)x\(m)x\(d)")
            XCTAssertEqual(got.cols, want.cols)
            XCTAssertEqual(got.scores, want.scores)
        }
    }

    /// A capacity too small stops at a pass boundary with every pair of the rows before it; resuming
    /// there gives the rest.
    func testCapacityExceededAndResume() {
        var g = Lcg(state: 24)
        let n = 9000, m = 7, d = 3
        let x = g.matrix(n, d), y = g.matrix(m, d)
        let full = pairwise(x, y, n: n, m: m, d: d).1
        let want = filteredPairwise(full, n: n, m: m, threshold: 0.5)
        let pass = AllPairsBlocking(Double.self, d: d, xRows: min(n, pairsPassRows), yRows: m).xPass
        let perPass = want.rows.filter { $0 < pass }.count
        XCTAssertGreaterThan(perPass, 10)
        let cap = perPass + 5  // the first pass fits, the second does not
        let a = pairsCall(x, y, n: n, m: m, d: d, threshold: 0.5, capacity: cap, threads: 2)
        XCTAssertEqual(a.status, SSIM_CAPACITY_EXCEEDED)
        XCTAssertGreaterThan(a.found, Int64(cap))
        XCTAssertEqual(a.nextRow, Int64(pass))
        XCTAssertEqual(a.rows, Array(want.rows.prefix(Int(a.written))))
        XCTAssertTrue(a.rows.allSatisfy { $0 < a.nextRow })
        XCTAssertEqual(Int(a.written), want.rows.filter { $0 < a.nextRow }.count)
        let b = pairsCall(x, y, n: n, m: m, d: d, threshold: 0.5, firstRow: Int(a.nextRow), threads: 2)
        XCTAssertEqual(b.status, SSIM_OK)
        XCTAssertEqual(a.rows + b.rows, want.rows)
        XCTAssertEqual(a.cols + b.cols, want.cols)
        XCTAssertEqual(a.scores + b.scores, want.scores)
        // Capacity 0 (no buffers at all): fine while nothing is found.
        let none = pairsCall(x, y, n: n, m: m, d: d, threshold: 2, capacity: 0)
        XCTAssertEqual(none.status, SSIM_OK)
        XCTAssertEqual(none.written, 0)
        let some = pairsCall(x, y, n: n, m: m, d: d, threshold: 0.5, capacity: 0)
        XCTAssertEqual(some.status, SSIM_CAPACITY_EXCEEDED)
        XCTAssertEqual(some.nextRow, 0)
    }

    func testThreadCountDoesNotChangeABit() {
        var g = Lcg(state: 25)
        let n = 300, m = 500, d = 64
        let x = g.matrix(n, d).map { Float($0) }, y = g.matrix(m, d).map { Float($0) }
        let one = pairsCall(x, y, n: n, m: m, d: d, threshold: 0.25, threads: 1)
        XCTAssertGreaterThan(one.rows.count, 100)
        for threads in [Int32(2), 3, 4] {
            let r = pairsCall(x, y, n: n, m: m, d: d, threshold: 0.25, threads: threads)
            XCTAssertEqual(r.rows, one.rows)
            XCTAssertEqual(r.cols, one.cols)
            XCTAssertEqual(r.scores, one.scores)
        }
    }

    func testZeroLengthRowsAndSpecialValues() {
        // d = 0: every cosine is 0 (ε > 0), or NaN (ε = 0: never a pair).
        let e: [Float] = []
        let a = pairsCall(e, e, n: 3, m: 2, d: 0, threshold: 0)
        XCTAssertEqual(a.status, SSIM_OK)
        XCTAssertEqual(a.rows, [0, 0, 1, 1, 2, 2])
        XCTAssertEqual(a.scores, [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(pairsCall(e, e, n: 3, m: 2, d: 0, threshold: -1, epsilon: 0).written, 0)
        // A threshold beyond the dtype's range rounds to infinity: nothing reaches it.
        let h: [Float16] = [1, 0, 1, 0]
        XCTAssertEqual(pairsCall(h, h, n: 2, m: 2, d: 2, threshold: 1e6).written, 0)
        XCTAssertEqual(pairsCall(h, h, n: 2, m: 2, d: 2, threshold: -.infinity).written, 4)
        XCTAssertEqual(pairsCall(h, h, n: 2, m: 2, d: 2, threshold: 1.0002).written, 4)  // rounds to 1 in float16
        XCTAssertEqual(pairsCall(h.map { Float($0) }, h.map { Float($0) }, n: 2, m: 2, d: 2, threshold: 1.0002).written, 0)
    }

    func testArgumentChecks() {
        let x: [Float] = [1, 0, 0, 1]
        XCTAssertEqual(pairsCall(x, x, n: 2, m: 2, d: 2, threshold: .nan).status, SSIM_ERR_BAD_THRESHOLD)
        XCTAssertEqual(pairsCall(x, x, n: 2, m: 2, d: 2, threshold: 0, epsilon: -1).status, SSIM_ERR_BAD_EPSILON)
        XCTAssertEqual(pairsCall(x, x, n: 2, m: 2, d: 2, threshold: 0, epsilon: .nan).status, SSIM_ERR_BAD_EPSILON)
        XCTAssertEqual(pairsCall(x, x, n: 2, m: 2, d: 2, threshold: 0, firstRow: 3).status, SSIM_ERR_BAD_SHAPE)
        XCTAssertEqual(pairsCall(x, x, n: 2, m: 2, d: 2, threshold: 0, firstRow: 2).status, SSIM_OK)
        XCTAssertEqual(pairsCall(x, x, n: 0, m: 2, d: 2, threshold: 0).status, SSIM_OK)
        var w: Int64 = 0, f: Int64 = 0, r: Int64 = 0
        func call(_ x: UnsafePointer<Float>?, n: Int64, m: Int64, d: Int64, capacity: Int64, nextRow: UnsafeMutablePointer<Int64>?)
            -> ssim_status
        {
            pairsAbove(
                x, x, n: n, m: m, d: d, xRowStride: 8, xElemStride: 4, yRowStride: 8, yElemStride: 4, threshold: 0, diagonal: .min,
                firstRow: 0, epsilon: 1e-12, capacity: capacity, rows: nil, cols: nil, scores: nil, written: &w, found: &f,
                nextRow: nextRow, threads: 1, interrupt: nil)
        }
        XCTAssertEqual(call(x, n: 2, m: 2, d: 2, capacity: 0, nextRow: nil), SSIM_ERR_NULL_POINTER)
        XCTAssertEqual(call(nil, n: 2, m: 2, d: 2, capacity: 0, nextRow: &r), SSIM_ERR_NULL_POINTER)
        XCTAssertEqual(call(x, n: 2, m: 2, d: 2, capacity: 1, nextRow: &r), SSIM_ERR_NULL_POINTER)
        XCTAssertEqual(call(x, n: -1, m: 2, d: 2, capacity: 0, nextRow: &r), SSIM_ERR_BAD_SHAPE)
        XCTAssertEqual(call(x, n: 2, m: 2, d: 2, capacity: -1, nextRow: &r), SSIM_ERR_BAD_SHAPE)
        XCTAssertEqual(call(x, n: 1 << 40, m: 1 << 40, d: 2, capacity: 0, nextRow: &r), SSIM_ERR_BAD_SHAPE)
    }

    func testInterruptFlagStopsTheCall() {
        var g = Lcg(state: 26)
        let n = 400, m = 3000, d = 32
        let x = g.matrix(n, d).map { Float($0) }, y = g.matrix(m, d).map { Float($0) }
        var rows = [Int64](repeating: 0, count: 10), cols = rows, scores = [Float](repeating: 0, count: 10)
        var w: Int64 = 0, f: Int64 = 0, r: Int64 = 0
        var flag: Int32 = 1
        let st = pairsAbove(
            x, y, n: Int64(n), m: Int64(m), d: Int64(d), xRowStride: Int64(d * 4), xElemStride: 4, yRowStride: Int64(d * 4),
            yElemStride: 4, threshold: 0.99, diagonal: .min, firstRow: 0, epsilon: 1e-12, capacity: 10, rows: &rows, cols: &cols,
            scores: &scores, written: &w, found: &f, nextRow: &r, threads: 2, interrupt: &flag)
        XCTAssertEqual(st, SSIM_INTERRUPTED)
    }
}
