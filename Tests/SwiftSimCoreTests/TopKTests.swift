// TopKTests.swift — ssim_top_k_* against a full sort of the pairwise matrix, and the heap on its own.

import CSwiftSimABI
import XCTest

@testable import SwiftSimCore

/// Calls ssim_top_k_<T> on contiguous rows.
func topKCall<T: SimScalar>(
    _ q: [T], _ c: [T], nq: Int, n: Int, d: Int, k: Int, threads: Int32 = 1, normalized: Bool = false
) -> (ssim_status, [T], [Int64]) {
    var scores = [T](repeating: 0, count: nq * k)
    var indices = [Int64](repeating: -1, count: nq * k)
    let row = Int64(d * MemoryLayout<T>.stride), e = Int64(MemoryLayout<T>.stride)
    let st = topK(
        q, c, &scores, &indices, nq: Int64(nq), n: Int64(n), d: Int64(d), k: Int64(k), qRowStride: row, qElemStride: e,
        cRowStride: row, cElemStride: e, epsilon: 1e-12, assumeNormalized: normalized ? 1 : 0, threads: threads, interrupt: nil)
    return (st, scores, indices)
}

/// The best `k` of one row of scores: higher first, ties by lower index, NaN last.
func referenceRanking<T: BinaryFloatingPoint>(_ row: ArraySlice<T>, k: Int) -> [Int] {
    let base = row.startIndex
    let order = row.indices.sorted { a, b in
        let x = row[a], y = row[b]
        if x.isNaN || y.isNaN { return x.isNaN == y.isNaN ? a < b : y.isNaN }
        return x != y ? x > y : a < b
    }
    return order.prefix(k).map { $0 - base }
}

final class TopKTests: XCTestCase {
    /// top_k equals the stable ranking of the pairwise matrix, bitwise (same kernel, same scores).
    func check<T: SimScalar>(_: T.Type) {
        var g = Lcg(state: 5)
        for (nq, n, d, k) in [(1, 1, 1, 1), (5, 3, 4, 3), (13, 40, 17, 5), (30, 33, 300, 33), (12, 2600, 16, 10)] {
            let q = g.matrix(nq, d).map { T(Double($0)) }, c = g.matrix(n, d).map { T(Double($0)) }
            let full = pairwise(q, c, n: nq, m: n, d: d).1
            for threads in [Int32(1), 3] {
                let (st, scores, idx) = topKCall(q, c, nq: nq, n: n, d: d, k: k, threads: threads)
                XCTAssertEqual(st, SSIM_OK)
                for i in 0..<nq {
                    let want = referenceRanking(full[(i * n)..<((i + 1) * n)], k: k)
                    XCTAssertEqual(idx[(i * k)..<((i + 1) * k)].map { Int($0) }, want, "\(T.self) \(nq)x\(n)x\(d) k=\(k)")
                    for t in 0..<k { XCTAssertEqual(scores[i * k + t], full[i * n + want[t]]) }
                }
            }
        }
    }

    func testFloat() { check(Float.self) }
    func testDouble() { check(Double.self) }
    func testFloat16() { check(Float16.self) }

    func testTiesAcrossBlocksAndThreadsGoToTheLowerIndex() {
        // 8 distinct rows repeated 400 times: every score occurs 400 times, in many corpus blocks.
        var g = Lcg(state: 6)
        let d = 5, base = g.matrix(8, d)
        let c = (0..<400).flatMap { _ in base }.map { Float($0) }
        let q = g.matrix(3, d).map { Float($0) }
        for threads in [Int32(1), 2, 4] {
            let (st, scores, idx) = topKCall(q, c, nq: 3, n: 3200, d: d, k: 1000, threads: threads)
            XCTAssertEqual(st, SSIM_OK)
            for i in 0..<3 {
                for t in 1..<1000 {
                    let a = i * 1000 + t - 1, b = a + 1
                    XCTAssertTrue(scores[a] > scores[b] || (scores[a] == scores[b] && idx[a] < idx[b]))
                }
            }
        }
    }

    func testNaNRanksLast() {
        let c: [Double] = [1, 0, /**/ .nan, 0, /**/ 0, 1, /**/ .infinity, 1, /**/ -1, 0]
        let (st, scores, idx) = topKCall([1.0, 0.5], c, nq: 1, n: 5, d: 2, k: 5)
        XCTAssertEqual(st, SSIM_OK)
        XCTAssertEqual(idx, [0, 2, 4, 1, 3])  // (1, 0), (0, 1), (-1, 0), then the NaN and Inf rows by index
        XCTAssertTrue(scores[3].isNaN && scores[4].isNaN)
        // A NaN query: every score NaN, indices in order.
        let (_, s2, i2) = topKCall([Double.nan, 0], c, nq: 1, n: 5, d: 2, k: 3)
        XCTAssertTrue(s2.allSatisfy { $0.isNaN })
        XCTAssertEqual(i2, [0, 1, 2])
    }

    func testAssumeNormalizedGivesPlainDotProducts() {
        let c: [Float] = [2, 0, /**/ 0, 3, /**/ 1, 1]
        let (st, scores, idx) = topKCall([1, 1], c, nq: 1, n: 3, d: 2, k: 3, normalized: true)
        XCTAssertEqual(st, SSIM_OK)
        XCTAssertEqual(idx, [1, 0, 2])
        XCTAssertEqual(scores, [3, 2, 2])
    }

    func testArgumentChecks() {
        let q: [Float] = [1, 0], c: [Float] = [1, 0, 0, 1]
        XCTAssertEqual(topKCall(q, c, nq: 1, n: 2, d: 2, k: 3).0, SSIM_ERR_BAD_SHAPE)  // k > n
        XCTAssertEqual(topKCall(q, c, nq: 1, n: 2, d: 2, k: 0).0, SSIM_ERR_BAD_SHAPE)  // k < 1
        XCTAssertEqual(topKCall([Float](), c, nq: 0, n: 2, d: 2, k: 1).0, SSIM_OK)  // no queries
        var s: [Float] = [0], i: [Int64] = [0]
        XCTAssertEqual(
            topK(
                q, c, &s, &i, nq: 1, n: 2, d: 2, k: 1, qRowStride: 8, qElemStride: 4, cRowStride: 8, cElemStride: 4,
                epsilon: -1, assumeNormalized: 0, threads: 1, interrupt: nil), SSIM_ERR_BAD_EPSILON)
        XCTAssertEqual(
            topK(
                q, Optional<UnsafePointer<Float>>.none, &s, &i, nq: 1, n: 2, d: 2, k: 1, qRowStride: 8, qElemStride: 4,
                cRowStride: 8, cElemStride: 4, epsilon: 1e-12, assumeNormalized: 0, threads: 1, interrupt: nil), SSIM_ERR_NULL_POINTER)
    }

    func testHeapKeepsTheBestK() {
        // Random candidates (with repeats and NaNs) offered in index order: the heap holds the best k.
        var g = Lcg(state: 7)
        let k = 7, count = 500
        let values = (0..<count).map { i -> Float in i % 37 == 0 ? .nan : Float((g.next() * 8).rounded() / 8) }
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: k)
        let indices = UnsafeMutablePointer<Int64>.allocate(capacity: k)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        let thresholds = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { scores.deallocate(); indices.deallocate(); counts.deallocate(); thresholds.deallocate() }
        counts[0] = 0
        let heap = TopKHeaps(k: k, scores: scores, indices: indices, counts: counts, thresholds: thresholds)
        for (j, v) in values.enumerated() { heap.offer(0, v, Int64(j)) }
        XCTAssertEqual(counts[0], k)
        let kept = (0..<k).map { (scores[$0], indices[$0]) }.sorted { TopKHeaps<Float>.ranksAfter($1.0, $1.1, $0.0, $0.1) }
        XCTAssertEqual(kept.map { Int($0.1) }, referenceRanking(values[...], k: k))
    }

    func testInterruptFlagStopsTheCall() {
        // A raised flag stops the call at the first tile boundary: the status says so.
        let nq = 30, n = 5_000, d = 64
        var g = Lcg(state: 5)
        let q = g.matrix(nq, d).map { Float($0) }, c = g.matrix(n, d).map { Float($0) }
        var scores = [Float](repeating: 0, count: nq * 10), indices = [Int64](repeating: 0, count: nq * 10)
        for raised: Int32 in [1, 0] {
            var flag = raised
            let st = topK(
                q, c, &scores, &indices, nq: Int64(nq), n: Int64(n), d: Int64(d), k: 10, qRowStride: Int64(d * 4),
                qElemStride: 4, cRowStride: Int64(d * 4), cElemStride: 4, epsilon: 1e-12, assumeNormalized: 0, threads: 2,
                interrupt: &flag)
            XCTAssertEqual(st, raised != 0 ? SSIM_INTERRUPTED : SSIM_OK)
        }
        XCTAssertEqual(indices, topKCall(q, c, nq: nq, n: n, d: d, k: 10).2)
    }
}
