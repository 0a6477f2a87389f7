// TopKTests.swift — ssim_top_k_* against a full sort of the pairwise matrix (both paths), exclusions,
// padding, the transposes of the streaming path, and the heap on its own.

import CSwiftSimABI
import CSwiftSimSIMD
import XCTest

@testable import SwiftSimCore

let topKMethods: [(String, Int32)] = [("stream", SSIM_TOP_K_STREAM), ("packed", SSIM_TOP_K_PACKED)]

/// Calls ssim_top_k_<T> on contiguous rows (the corpus with element stride `cElem` elements, a view into
/// a copy whose other elements are garbage, when cElem > 1). `exclude`: per query, its excluded rows.
func topKCall<T: SimScalar>(
    _ q: [T], _ c: [T], nq: Int, n: Int, d: Int, k: Int, threads: Int32 = 1, normalized: Bool = false,
    method: Int32 = SSIM_TOP_K_AUTO, exclude: [[Int]]? = nil, excludeSelf: Bool = false, cElem: Int = 1, epsilon: Double = 1e-12
) -> (ssim_status, [T], [Int64]) {
    var scores = [T](repeating: 0, count: nq * k)
    var indices = [Int64](repeating: -7, count: nq * k)
    let size = MemoryLayout<T>.stride
    var corpus = c
    if cElem > 1 {  // every element of c at index i·cElem, garbage (NaN) between
        corpus = [T](repeating: .nan, count: max(1, c.count * cElem))
        for i in 0..<c.count { corpus[i * cElem] = c[i] }
    }
    let indptr = exclude.map { lists in [Int64(0)] + lists.reduce(into: [Int64]()) { $0.append(($0.last ?? 0) + Int64($1.count)) } }
    let flat = (exclude ?? []).flatMap { $0.map { Int64($0) } }
    let st = flat.withUnsafeBufferPointer { pf in
        (indptr ?? []).withUnsafeBufferPointer { pp in
            var e = ssim_top_k_exclusions(
                indptr: exclude == nil ? nil : pp.baseAddress, indices: pf.baseAddress, count: Int64(flat.count),
                exclude_self: excludeSelf ? 1 : 0)
            return withUnsafePointer(to: &e) { pe in
                topK(
                    q, corpus, &scores, &indices, nq: Int64(nq), n: Int64(n), d: Int64(d), k: Int64(k), qRowStride: Int64(d * size),
                    qElemStride: Int64(size), cRowStride: Int64(d * size * cElem), cElemStride: Int64(size * cElem),
                    exclude: exclude == nil && !excludeSelf ? nil : pe, epsilon: epsilon, assumeNormalized: normalized ? 1 : 0,
                    method: method, threads: threads, interrupt: nil)
            }
        }
    }
    return (st, scores, indices)
}

/// The best `k` of one row of scores: higher first, ties by lower index, NaN last; `skip` left out.
func referenceRanking<T: BinaryFloatingPoint>(_ row: ArraySlice<T>, k: Int, skip: Set<Int> = []) -> [Int] {
    let base = row.startIndex
    let order = row.indices.filter { !skip.contains($0 - base) }.sorted { a, b in
        let x = row[a], y = row[b]
        if x.isNaN || y.isNaN { return x.isNaN == y.isNaN ? a < b : y.isNaN }
        return x != y ? x > y : a < b
    }
    return order.prefix(k).map { $0 - base }
}

final class TopKTests: XCTestCase {
    /// top_k equals the stable ranking of the pairwise matrix, bitwise (same scores), on both paths, for
    /// any thread count; positions past n are padded.
    func check<T: SimScalar>(_: T.Type) {
        var g = Lcg(state: 5)
        let shapes = [
            (1, 1, 1, 1), (5, 3, 4, 3), (13, 40, 17, 5), (30, 33, 300, 33), (12, 2600, 16, 10), (1, 100, 129, 7),
            (3, 70, 48, 80), (9, 65, 256, 4), (21, 31, 5, 31),
        ]
        for (nq, n, d, k) in shapes {
            let q = g.matrix(nq, d).map { T(Double($0)) }, c = g.matrix(n, d).map { T(Double($0)) }
            let full = pairwise(q, c, n: nq, m: n, d: d).1
            for (name, method) in topKMethods {
                for threads in [Int32(1), 3] {
                    let (st, scores, idx) = topKCall(q, c, nq: nq, n: n, d: d, k: k, threads: threads, method: method)
                    XCTAssertEqual(st, SSIM_OK)
                    for i in 0..<nq {
                        let want = referenceRanking(full[(i * n)..<((i + 1) * n)], k: k)
                        let label = "\(T.self) \(name) \(nq)x\(n)x\(d) k=\(k)"
                        XCTAssertEqual(idx[(i * k)..<(i * k + want.count)].map { Int($0) }, want, label)
                        for t in 0..<want.count { XCTAssertEqual(scores[i * k + t], full[i * n + want[t]], label) }
                        for t in want.count..<k { XCTAssertTrue(idx[i * k + t] == -1 && scores[i * k + t].isNaN, label) }
                    }
                }
            }
        }
    }

    func testFloat() { check(Float.self) }
    func testDouble() { check(Double.self) }
    func testFloat16() { check(Float16.self) }

    /// Rows with power-of-two factors (squared norms that overflow, or scales beyond √max under a tiny ε),
    /// zero rows, NaN rows and a strided corpus, for one query (wide groups) and 7 (narrow): the streaming
    /// path's rare branches and element-by-element transposes give the pairwise bits too.
    func testScaledStridedAndSpecialRowsOnBothPaths() {
        var g = Lcg(state: 11)
        let n = 150, d = 150
        var c = g.matrix(n, d).map { Float($0) }
        for k in 0..<d {
            c[4 * d + k] *= 1e37
            c[70 * d + k] *= 3e36
            c[7 * d + k] *= 1e-30
            c[101 * d + k] *= 1e-25
            c[9 * d + k] = 0
        }
        c[20 * d + 3] = .nan
        c[33 * d + 8] = .infinity
        c[66 * d + 8] = -.infinity
        for nq in [1, 7] {
            var q = g.matrix(nq, d).map { Float($0) }
            for k in 0..<d { q[(nq - 1) * d + k] *= 1e-25 }
            for epsilon in [1e-12, 1e-50] {
                let full = pairwise(q, c, n: nq, m: n, d: d, epsilon: epsilon).1
                for (name, method) in topKMethods {
                    for cElem in [1, 2] {
                        let (st, scores, idx) = topKCall(
                            q, c, nq: nq, n: n, d: d, k: n, threads: 2, method: method, cElem: cElem, epsilon: epsilon)
                        XCTAssertEqual(st, SSIM_OK)
                        for i in 0..<nq {
                            let want = referenceRanking(full[(i * n)..<((i + 1) * n)], k: n)
                            let label = "\(name) \(nq) queries, stride \(cElem), epsilon \(epsilon)"
                            XCTAssertEqual(idx[(i * n)..<((i + 1) * n)].map { Int($0) }, want, label)
                            for t in 0..<n {
                                let a = scores[i * n + t], b = full[i * n + want[t]]
                                XCTAssertTrue(a == b || (a.isNaN && b.isNaN), "\(label): query \(i) rank \(t)")
                            }
                        }
                    }
                }
            }
        }
    }

    func testTiesAcrossBlocksAndThreadsGoToTheLowerIndex() {
        // 8 distinct rows repeated 400 times: every score occurs 400 times, in many corpus blocks.
        var g = Lcg(state: 6)
        let d = 5, base = g.matrix(8, d)
        let c = (0..<400).flatMap { _ in base }.map { Float($0) }
        let q = g.matrix(3, d).map { Float($0) }
        for (_, method) in topKMethods {
            for threads in [Int32(1), 2, 4] {
                let (st, scores, idx) = topKCall(q, c, nq: 3, n: 3200, d: d, k: 1000, threads: threads, method: method)
                XCTAssertEqual(st, SSIM_OK)
                for i in 0..<3 {
                    for t in 1..<1000 {
                        let a = i * 1000 + t - 1, b = a + 1
                        XCTAssertTrue(scores[a] > scores[b] || (scores[a] == scores[b] && idx[a] < idx[b]))
                    }
                }
            }
        }
    }

    func testNaNRanksLastThenPadding() {
        let c: [Double] = [1, 0, /**/ .nan, 0, /**/ 0, 1, /**/ .infinity, 1, /**/ -1, 0]
        for (_, method) in topKMethods {
            let (st, scores, idx) = topKCall([1.0, 0.5], c, nq: 1, n: 5, d: 2, k: 7, method: method)
            XCTAssertEqual(st, SSIM_OK)
            XCTAssertEqual(idx, [0, 2, 4, 1, 3, -1, -1])  // numbers, then the NaN and Inf rows by index, then padding
            XCTAssertTrue(scores[3...].allSatisfy { $0.isNaN })
            // A NaN query: every score NaN, indices in order.
            let (_, s2, i2) = topKCall([Double.nan, 0], c, nq: 1, n: 5, d: 2, k: 3, method: method)
            XCTAssertTrue(s2.allSatisfy { $0.isNaN })
            XCTAssertEqual(i2, [0, 1, 2])
        }
    }

    func testExclusionsAreSkippedInsideTheSelection() {
        var g = Lcg(state: 8)
        let nq = 14, n = 300, d = 40, k = 6
        let q = g.matrix(nq, d).map { Float($0) }, c = g.matrix(n, d).map { Float($0) }
        let full = pairwise(q, c, n: nq, m: n, d: d).1
        // Query 0: nothing; 1: every row but 4 (fewer than k remain); 2: the would-be best rows; others random.
        var lists: [[Int]] = (0..<nq).map { i in (0..<n).filter { ($0 * 7 + i) % 5 == 0 } }
        lists[0] = []
        lists[1] = (0..<n).filter { ![3, 64, 65, 299].contains($0) }
        lists[2] = Array(referenceRanking(full[(2 * n)..<(3 * n)], k: 10)).sorted()
        for (name, method) in topKMethods {
            for excludeSelf in [false, true] {
                for threads in [Int32(1), 2] {
                    let (st, scores, idx) = topKCall(
                        q, c, nq: nq, n: n, d: d, k: k, threads: threads, method: method, exclude: lists, excludeSelf: excludeSelf)
                    XCTAssertEqual(st, SSIM_OK)
                    for i in 0..<nq {
                        let skip = Set(lists[i] + (excludeSelf ? [i] : []))
                        let want = referenceRanking(full[(i * n)..<((i + 1) * n)], k: k, skip: skip)
                        let label = "\(name) self=\(excludeSelf) query \(i)"
                        XCTAssertEqual(idx[(i * k)..<(i * k + want.count)].map { Int($0) }, want, label)
                        for t in 0..<want.count { XCTAssertEqual(scores[i * k + t], full[i * n + want[t]], label) }
                        for t in want.count..<k { XCTAssertTrue(idx[i * k + t] == -1 && scores[i * k + t].isNaN, label) }
                    }
                }
            }
        }
    }

    func testBadExclusionsAreRefused() {
        let q: [Float] = [1, 0, 0, 1], c: [Float] = [1, 0, 0, 1, 1, 1]
        for bad in [[[0, 3], []], [[2, 1], []], [[1, 1], []], [[-1], []]] {
            XCTAssertEqual(topKCall(q, c, nq: 2, n: 3, d: 2, k: 2, exclude: bad).0, SSIM_ERR_BAD_INDEX, "\(bad)")
        }
        var s = [Float](repeating: 0, count: 4), i = [Int64](repeating: 0, count: 4)
        for (ptr, count) in [([Int64(0), 2, 1], Int64(2)), ([1, 1, 2], 2), ([0, 1, 2], 3)] {
            let flat: [Int64] = [0, 1, 2]
            var e = ssim_top_k_exclusions(indptr: nil, indices: nil, count: count, exclude_self: 0)
            let st = ptr.withUnsafeBufferPointer { pp in
                flat.withUnsafeBufferPointer { pf in
                    e.indptr = pp.baseAddress
                    e.indices = pf.baseAddress
                    return topK(
                        q, c, &s, &i, nq: 2, n: 3, d: 2, k: 2, qRowStride: 8, qElemStride: 4, cRowStride: 8, cElemStride: 4,
                        exclude: &e, epsilon: 1e-12, assumeNormalized: 0, method: 0, threads: 1, interrupt: nil)
                }
            }
            XCTAssertEqual(st, SSIM_ERR_BAD_INDEX, "\(ptr) \(count)")
        }
    }

    func testAssumeNormalizedGivesPlainDotProducts() {
        let c: [Float] = [2, 0, /**/ 0, 3, /**/ 1, 1]
        for (_, method) in topKMethods {
            let (st, scores, idx) = topKCall([1, 1], c, nq: 1, n: 3, d: 2, k: 3, normalized: true, method: method)
            XCTAssertEqual(st, SSIM_OK)
            XCTAssertEqual(idx, [1, 0, 2])
            XCTAssertEqual(scores, [3, 2, 2])
        }
    }

    func testArgumentChecks() {
        let q: [Float] = [1, 0], c: [Float] = [1, 0, 0, 1]
        XCTAssertEqual(topKCall(q, c, nq: 1, n: 2, d: 2, k: 0).0, SSIM_ERR_BAD_SHAPE)  // k < 1
        XCTAssertEqual(topKCall(q, c, nq: 1, n: 2, d: 2, k: 1, method: 3).0, SSIM_ERR_BAD_SHAPE)  // no such method
        XCTAssertEqual(topKCall([Float](), c, nq: 0, n: 2, d: 2, k: 1).0, SSIM_OK)  // no queries
        let (st, s0, i0) = topKCall(q, [Float](), nq: 1, n: 0, d: 2, k: 2)  // an empty corpus: padding only
        XCTAssertEqual(st, SSIM_OK)
        XCTAssertEqual(i0, [-1, -1])
        XCTAssertTrue(s0.allSatisfy { $0.isNaN })
        var s: [Float] = [0], i: [Int64] = [0]
        XCTAssertEqual(
            topK(
                q, c, &s, &i, nq: 1, n: 2, d: 2, k: 1, qRowStride: 8, qElemStride: 4, cRowStride: 8, cElemStride: 4, exclude: nil,
                epsilon: -1, assumeNormalized: 0, method: 0, threads: 1, interrupt: nil), SSIM_ERR_BAD_EPSILON)
        XCTAssertEqual(
            topK(
                q, Optional<UnsafePointer<Float>>.none, &s, &i, nq: 1, n: 2, d: 2, k: 1, qRowStride: 8, qElemStride: 4,
                cRowStride: 8, cElemStride: 4, exclude: nil, epsilon: 1e-12, assumeNormalized: 0, method: 0, threads: 1,
                interrupt: nil), SSIM_ERR_NULL_POINTER)
        XCTAssertEqual(
            topK(
                q, c, &s, &i, nq: 1 << 40, n: 1 << 40, d: 1 << 40, k: 1, qRowStride: 8, qElemStride: 4, cRowStride: 8,
                cElemStride: 4, exclude: nil, epsilon: 1e-12, assumeNormalized: 0, method: 0, threads: 1, interrupt: nil),
            SSIM_ERR_BAD_SHAPE)  // q·n·d overflows
    }

    func testTransposes() {
        let f = (0..<256).map { Float($0) }
        var out = [Float](repeating: -1, count: 16 * 32)
        out.withUnsafeMutableBufferPointer { o in ssim_transpose16_f32(f, 64, o.baseAddress! + 16, 32, 0) }
        for k in 0..<16 {
            for r in 0..<16 {
                XCTAssertEqual(out[k * 32 + 16 + r], f[r * 16 + k])
                XCTAssertEqual(out[k * 32 + r], -1)
            }
        }
        let x = (0..<64).map { Double($0) }
        var o8 = [Double](repeating: -1, count: 64)
        ssim_transpose8_f64(x, 64, &o8, 8, 64)
        for k in 0..<8 { for r in 0..<8 { XCTAssertEqual(o8[k * 8 + r], x[r * 8 + k]) } }
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
        for (_, method) in topKMethods {
            for raised: Int32 in [1, 0] {
                var flag = raised
                let st = topK(
                    q, c, &scores, &indices, nq: Int64(nq), n: Int64(n), d: Int64(d), k: 10, qRowStride: Int64(d * 4),
                    qElemStride: 4, cRowStride: Int64(d * 4), cElemStride: 4, exclude: nil, epsilon: 1e-12, assumeNormalized: 0,
                    method: method, threads: 2, interrupt: &flag)
                XCTAssertEqual(st, raised != 0 ? SSIM_INTERRUPTED : SSIM_OK)
            }
            XCTAssertEqual(indices, topKCall(q, c, nq: nq, n: n, d: d, k: 10).2)
        }
    }
}
