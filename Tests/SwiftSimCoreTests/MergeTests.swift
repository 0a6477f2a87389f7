// MergeTests.swift — ssim_merge_top_k_* (Merge.swift): the merge of per-shard top-k results is the top-k
// of the whole corpus, bit for bit; unsorted parts, padding, and the argument checks.

import CSwiftSimABI
import XCTest

@testable import SwiftSimCore

/// One part for `mergeCall`: `k` candidates per query, C-contiguous (q, k).
struct MergePart<T> {
    var scores: [T]
    var indices: [Int64]
    var k: Int
}

/// Calls the generic merge on contiguous parts; returns (status, scores, indices) of shape (nq, k).
func mergeCall<T: SimScalar>(_ parts: [MergePart<T>], nq: Int, k: Int, threads: Int32 = 1) -> (ssim_status, [T], [Int64]) {
    var outS = [T](repeating: 7, count: nq * k), outI = [Int64](repeating: 7, count: nq * k)
    let size = Int64(MemoryLayout<T>.stride)
    let partK = parts.map { Int64($0.k) }
    let strides = parts.flatMap { p -> [Int64] in [Int64(p.k) * size, size, Int64(p.k) * 8, 8] }
    // Each part copied into memory of its own, whose addresses the pointer arrays hold.
    let sp = parts.map { p -> UnsafeMutablePointer<T> in
        let b = UnsafeMutablePointer<T>.allocate(capacity: max(1, p.scores.count))
        b.initialize(from: p.scores, count: p.scores.count)
        return b
    }
    let ip = parts.map { p -> UnsafeMutablePointer<Int64> in
        let b = UnsafeMutablePointer<Int64>.allocate(capacity: max(1, p.indices.count))
        b.initialize(from: p.indices, count: p.indices.count)
        return b
    }
    defer { for b in sp { b.deallocate() }; for b in ip { b.deallocate() } }
    let st = sp.withUnsafeBytes { s in
        ip.withUnsafeBytes { i in
            outS.withUnsafeMutableBytes { os in
                mergeTopK(
                    parts: Int64(parts.count), scores: s.baseAddress, indices: i.baseAddress, partK: partK, strides: strides,
                    nq: Int64(nq), k: Int64(k), outScores: os.baseAddress, outIndices: &outI, threads: threads, interrupt: nil,
                    T.self)
            }
        }
    }
    return (st, outS, outI)
}

final class MergeTests: XCTestCase {
    /// The corpus cut into uneven shards (some smaller than k), each shard's top_k with global indices,
    /// merged: the whole corpus's top_k, bitwise, for any thread count.
    func check<T: ABIScalar>(_: T.Type) {
        var g = Lcg(state: 11)
        let nq = 9, d = 6, k = 12
        var base = g.matrix(40, d)
        for e in 0..<d { base[5 * d + e] = .nan }  // a NaN row
        for e in 0..<d { base[7 * d + e] = 0 }  // a zero row
        let corpus = (base + base[0..<(25 * d)] + base[0..<(15 * d)]).map { T(Double($0)) }  // exact ties across shards
        let n = corpus.count / d
        var q = g.matrix(nq, d).map { T(Double($0)) }
        for e in 0..<d { q[2 * d + e] = corpus[3 * d + e] }  // a query equal to rows 3, 43 and 68
        let whole = topKCall(q, corpus, nq: nq, n: n, d: d, k: k)
        XCTAssertEqual(whole.0, SSIM_OK)
        for cuts in [[0, 3, 10, 11, 50, n], [0, n], [0, 40, 65, n], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, n]] {
            var parts: [MergePart<T>] = []
            for (a, b) in zip(cuts, cuts.dropFirst()) {
                let kk = min(k, b - a)
                let r = topKCall(q, Array(corpus[(a * d)..<(b * d)]), nq: nq, n: b - a, d: d, k: kk)
                XCTAssertEqual(r.0, SSIM_OK)
                parts.append(MergePart(scores: r.1, indices: r.2.map { $0 + Int64(a) }, k: kk))
            }
            for threads in [Int32(1), 3] {
                let (st, s, i) = mergeCall(Array(parts.reversed()), nq: nq, k: k, threads: threads)  // part order does not matter
                XCTAssertEqual(st, SSIM_OK)
                XCTAssertEqual(i, whole.2, "\(T.self) \(cuts)")
                XCTAssertEqual(s.map { $0.bits }, whole.1.map { $0.bits })
            }
        }
    }

    func testFloat() { check(Float.self) }
    func testDouble() { check(Double.self) }
    func testFloat16() { check(Float16.self) }

    func testUnsortedPartsPaddingAndNaN() {
        let nan = Double.nan
        let a = MergePart<Double>(scores: [0.5, nan, 0.9, 0.5], indices: [8, 2, 4, 1], k: 4)
        let b = MergePart<Double>(scores: [0.9, nan, nan, -1], indices: [3, -1, 0, 6], k: 4)
        let (st, s, i) = mergeCall([a, b], nq: 1, k: 9)
        XCTAssertEqual(st, SSIM_OK)
        // 0.9 (3, 4), 0.5 (1, 8), -1 (6), NaN by index (0, 2), then padding for the two missing.
        XCTAssertEqual(i, [3, 4, 1, 8, 6, 0, 2, -1, -1])
        XCTAssertEqual(Array(s[0..<5]), [0.9, 0.9, 0.5, 0.5, -1])
        XCTAssertTrue(s[5...].allSatisfy { $0.isNaN })
        let (_, wide, wideI) = mergeCall([a, b], nq: 1, k: 100_000)  // the heap holds only the 8 there are
        XCTAssertEqual(Array(wideI[0..<7]), [3, 4, 1, 8, 6, 0, 2])
        XCTAssertTrue(wideI[7...].allSatisfy { $0 == -1 } && wide[7...].allSatisfy { $0.isNaN })
        let (_, s2, i2) = mergeCall([a, b], nq: 1, k: 3)
        XCTAssertEqual(i2, [3, 4, 1])
        XCTAssertEqual(s2, [0.9, 0.9, 0.5])
    }

    func testManyQueriesOnThreadsGiveTheSameBits() {
        var g = Lcg(state: 12)
        let nq = 3000, k = 10
        let parts = (0..<4).map { p -> MergePart<Float> in
            let kk = [10, 3, 10, 7][p]
            let s = (0..<(nq * kk)).map { _ in Float((g.next() * 16).rounded() / 16) }  // many exact ties
            return MergePart(scores: s, indices: (0..<(nq * kk)).map { Int64($0 % 997 + p * 1000) }, k: kk)
        }
        let one = mergeCall(parts, nq: nq, k: k, threads: 1)
        for threads in [Int32(2), 4] {
            let r = mergeCall(parts, nq: nq, k: k, threads: threads)
            XCTAssertEqual(r.0, SSIM_OK)
            XCTAssertEqual(r.1, one.1)
            XCTAssertEqual(r.2, one.2)
        }
        for q in [0, 1234, nq - 1] {  // against a full sort of the query's candidates
            var all: [(Float, Int64)] = []
            for p in parts { for e in 0..<p.k { all.append((p.scores[q * p.k + e], p.indices[q * p.k + e])) } }
            all.sort { mergeRanksAfter($1.0, $1.1, $0.0, $0.1) }
            XCTAssertEqual(Array(one.2[(q * k)..<((q + 1) * k)]), all.prefix(k).map { $0.1 })
        }
    }

    func testArgumentChecks() {
        let p = MergePart<Float>(scores: [1, 0.5], indices: [0, 1], k: 2)
        XCTAssertEqual(mergeCall([p], nq: 1, k: 0).0, SSIM_ERR_BAD_SHAPE)
        XCTAssertEqual(mergeCall([MergePart<Float>(scores: [1], indices: [-2], k: 1)], nq: 1, k: 1).0, SSIM_ERR_BAD_CANDIDATE)
        XCTAssertEqual(mergeCall([p], nq: 0, k: 3).0, SSIM_OK)
        // No parts, or parts without candidates: every entry is padding.
        for parts in [[], [MergePart<Float>(scores: [], indices: [], k: 0)]] {
            let (st, s, i) = mergeCall(parts, nq: 2, k: 2)
            XCTAssertEqual(st, SSIM_OK)
            XCTAssertEqual(i, [-1, -1, -1, -1])
            XCTAssertTrue(s.allSatisfy { $0.isNaN })
        }
        var outS: [Float] = [0], outI: [Int64] = [0]
        let negative: [Int64] = [-1], strides: [Int64] = [4, 4, 8, 8]
        XCTAssertEqual(
            mergeTopK(
                parts: 1, scores: nil, indices: nil, partK: negative, strides: strides, nq: 1, k: 1, outScores: &outS,
                outIndices: &outI, threads: 1, interrupt: nil, Float.self), SSIM_ERR_NULL_POINTER)
        let nulls: [UnsafeRawPointer?] = [nil]
        nulls.withUnsafeBytes { np in
            XCTAssertEqual(
                mergeTopK(
                    parts: 1, scores: np.baseAddress, indices: np.baseAddress, partK: negative, strides: strides, nq: 1, k: 1,
                    outScores: &outS, outIndices: &outI, threads: 1, interrupt: nil, Float.self), SSIM_ERR_BAD_SHAPE)
            let one: [Int64] = [1]
            XCTAssertEqual(
                mergeTopK(
                    parts: 1, scores: np.baseAddress, indices: np.baseAddress, partK: one, strides: strides, nq: 1, k: 1,
                    outScores: &outS, outIndices: &outI, threads: 1, interrupt: nil, Float.self), SSIM_ERR_NULL_POINTER)
            let huge: [Int64] = [Int64.max, Int64.max]
            XCTAssertEqual(
                mergeTopK(
                    parts: 2, scores: np.baseAddress, indices: np.baseAddress, partK: huge, strides: strides + strides, nq: 1, k: 1,
                    outScores: &outS, outIndices: &outI, threads: 1, interrupt: nil, Float.self), SSIM_ERR_BAD_SHAPE)
        }
    }
}
