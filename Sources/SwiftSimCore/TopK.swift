// TopK.swift — top-k retrieval: for each query row, the k corpus rows of highest cosine, best first.
//
// The corpus is streamed in blocks of Y panels through the GEMM engine of Gemm.swift (the same packing,
// micro-kernel and scaling as Pairwise.swift, so every score is bitwise the pairwise value, narrowed to
// the input dtype before it is ranked). Each thread keeps, per query, a binary heap of its k best
// (score, index) pairs, worst on top, and a threshold that lets a whole tile row be rejected with two
// vector compares; the heaps are merged at the end. Memory: the packed queries of one pass, one block
// of packed corpus and the heaps per thread — O(threads·(q·k + block)), never O(q·n).
//
// Order: higher score first; equal scores by lower corpus index; NaN after every number (NaNs among
// themselves by index). The order is total, so the result does not depend on how the corpus was split.

import CSwiftSimABI
import CSwiftSimThreads

/// One worker's heaps for the queries of one pass: query q's heap is scores/indices[q·k ..< q·k + k].
struct TopKHeaps<A: BinaryFloatingPoint> {
    let k: Int
    let scores: UnsafeMutablePointer<A>
    let indices: UnsafeMutablePointer<Int64>
    let counts: UnsafeMutablePointer<Int>
    /// When the heap is full, a candidate can enter only if its score is ≥ this (the worst kept score,
    /// or -∞ when the worst kept score is NaN).
    let thresholds: UnsafeMutablePointer<A>

    /// True when (s1, i1) ranks after (s2, i2).
    @inline(__always) static func ranksAfter(_ s1: A, _ i1: Int64, _ s2: A, _ i2: Int64) -> Bool {
        if s1.isNaN { return !s2.isNaN || i1 > i2 }
        if s2.isNaN { return false }
        return s1 < s2 || (s1 == s2 && i1 > i2)
    }

    /// Offers candidate (s, j) to query q's heap.
    @inline(__always) func offer(_ q: Int, _ s: A, _ j: Int64) {
        let h = scores + q &* k, hi = indices + q &* k
        let c = counts[q]
        if c < k {
            var pos = c
            while pos > 0 {
                let parent = (pos &- 1) >> 1
                if !Self.ranksAfter(s, j, h[parent], hi[parent]) { break }
                h[pos] = h[parent]; hi[pos] = hi[parent]
                pos = parent
            }
            h[pos] = s; hi[pos] = j
            counts[q] = c &+ 1
            if c &+ 1 == k { thresholds[q] = h[0].isNaN ? -.infinity : h[0] }
            return
        }
        if !Self.ranksAfter(h[0], hi[0], s, j) { return }
        var pos = 0
        while true {
            let l = 2 &* pos &+ 1
            if l >= k { break }
            var child = l
            if l &+ 1 < k && Self.ranksAfter(h[l &+ 1], hi[l &+ 1], h[l], hi[l]) { child = l &+ 1 }
            if !Self.ranksAfter(h[child], hi[child], s, j) { break }
            h[pos] = h[child]; hi[pos] = hi[child]
            pos = child
        }
        h[pos] = s; hi[pos] = j
        thresholds[q] = h[0].isNaN ? -.infinity : h[0]
    }
}

/// True when a lane of `a` or `b` is ≥ `t` (NaN lanes are not). Written for the concrete register types
/// because the generic SIMD comparison compiles to a loop over lanes; the type test folds away.
@inline(__always)
func anyAtLeast<V: SIMD>(_ a: V, _ b: V, _ t: V.Scalar) -> Bool where V.Scalar: BinaryFloatingPoint {
    if V.self == SIMD16<Float>.self {
        let tv = SIMD16<Float>(repeating: unsafeBitCast(t, to: Float.self))
        return any((unsafeBitCast(a, to: SIMD16<Float>.self) .>= tv) .| (unsafeBitCast(b, to: SIMD16<Float>.self) .>= tv))
    }
    if V.self == SIMD8<Double>.self {
        let tv = SIMD8<Double>(repeating: unsafeBitCast(t, to: Double.self))
        return any((unsafeBitCast(a, to: SIMD8<Double>.self) .>= tv) .| (unsafeBitCast(b, to: SIMD8<Double>.self) .>= tv))
    }
    return any((a .>= V(repeating: t)) .| (b .>= V(repeating: t)))
}

/// Scales one tile (`rows` queries from `firstQuery` × `cols` corpus rows from `firstIndex`) and offers
/// its scores to the heaps, rejecting a whole tile row when no score reaches the query's threshold.
@inline(__always)
func selectTile<T: SimScalar>(
    _ c: UnsafePointer<T.Vec>, rx: UnsafePointer<T.Acc>, ry: UnsafePointer<T.Acc>, rows: Int, cols: Int,
    firstQuery: Int, firstIndex: Int, heaps: TopKHeaps<T.Acc>, _: T.Type
) {
    let w = T.Vec.scalarCount, nrv = gemmNRV
    let scales = PanelScales<T.Vec>(ry)
    let narrows = MemoryLayout<T>.size != MemoryLayout<T.Acc>.size
    for r in 0..<rows {
        let ri = T.Vec(repeating: rx[r])
        var v0 = scales.scaled(c, row: r, 0, ri: ri)
        var v1 = nrv > 1 ? scales.scaled(c, row: r, 1, ri: ri) : v0
        let q = firstQuery &+ r
        if heaps.counts[q] == heaps.k && !anyAtLeast(v0, v1, heaps.thresholds[q]) { continue }
        if narrows {  // rank the values the caller receives (float16), not their float32 originals
            withUnsafeTemporaryAllocation(byteCount: 2 &* w &* MemoryLayout<T>.stride, alignment: 64) { tmp in
                let p = tmp.baseAddress!
                T.store(v0, p)
                T.store(v1, p + w &* MemoryLayout<T>.stride)
                v0 = T.load(p)
                v1 = T.load(p + w &* MemoryLayout<T>.stride)
            }
        }
        for l in 0..<cols { heaps.offer(q, l < w ? v0[l] : v1[l &- w], Int64(firstIndex &+ l)) }
    }
}

/// The exported entry point (see swiftsim.h).
func topK<T: SimScalar>(
    _ queries: UnsafePointer<T>?, _ corpus: UnsafePointer<T>?, _ scores: UnsafeMutablePointer<T>?,
    _ indices: UnsafeMutablePointer<Int64>?, nq: Int64, n: Int64, d: Int64, k: Int64,
    qRowStride: Int64, qElemStride: Int64, cRowStride: Int64, cElemStride: Int64,
    epsilon: Double, assumeNormalized: Int32, threads: Int32, interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    guard nq >= 0, n >= 0, d >= 0, k >= 1, k <= n else { return SSIM_ERR_BAD_SHAPE }
    guard epsilon >= 0 else { return SSIM_ERR_BAD_EPSILON }
    if nq == 0 { return SSIM_OK }
    guard let queries, let corpus, let scores, let indices else { return SSIM_ERR_NULL_POINTER }
    let rq = Int(nq), rn = Int(n), rd = Int(d), rk = Int(k)
    guard let work = checkedProduct(rq, rn, max(rd, 1)) else { return SSIM_ERR_BAD_SHAPE }
    let t = gemmThreads(threads, work: work)
    let normalize = assumeNormalized == 0
    let eps = EpsilonFloor<T.Acc>(epsilon)
    let acc = MemoryLayout<T.Acc>.stride
    let bl = AllPairsBlocking(T.self, d: rd, xRows: rq, yRows: rn)
    let mr = bl.mr, nr = bl.nr
    // Queries per pass: the packed panels (bl.xPass) and every worker's heaps within gemmPackBytes.
    let heapBytes = rk &* (acc &+ 8) &+ 16
    let qPass = max(mr, min(bl.xPass, gemmPackBytes / max(1, t &* heapBytes) / mr &* mr))
    let blockRows = bl.blockPanels &* nr
    let pair = MemoryLayout<(T.Acc, Int64)>.stride
    // The workspace, laid out once (offsets), then allocated: query panels and scales; per worker its
    // heaps, its merge scratch, its tile buffer and one packed corpus block with its scales.
    var plan = WorkspacePlan()
    let perWorker = checkedProduct(blockRows, max(rd, 1), acc)
    guard let panelBytes = checkedProduct(qPass, rd, acc), let heapScoreBytes = checkedProduct(qPass, rk, acc),
        let heapIndexBytes = checkedProduct(qPass, rk, 8), let mergeBytes = checkedProduct(t, rk, pair),
        let blockBytes = perWorker
    else { return SSIM_ERR_BAD_SHAPE }
    let qPanelsAt = plan.reserve(panelBytes), qScalesAt = plan.reserve(qPass &* acc)
    let workerAt = (0..<t).map { _ in
        (
            scores: plan.reserve(heapScoreBytes), indices: plan.reserve(heapIndexBytes), counts: plan.reserve(qPass &* 8),
            thresholds: plan.reserve(qPass &* acc), merge: plan.reserve(mergeBytes),
            tiles: plan.reserve(bl.tileVectors &* MemoryLayout<T.Vec>.stride), cScales: plan.reserve(blockRows &* acc),
            cPanels: plan.reserve(blockBytes)
        )
    }
    guard let total = plan.total else { return SSIM_ERR_BAD_SHAPE }
    let memory = Workspace(bytes: total)
    guard let base = memory.base else { return SSIM_ERR_NO_MEMORY }
    defer { memory.free() }
    let qPanels = (base + qPanelsAt).assumingMemoryBound(to: T.Acc.self)
    let qScales = (base + qScalesAt).assumingMemoryBound(to: T.Acc.self)
    let heaps: [TopKHeaps<T.Acc>] = workerAt.map {
        TopKHeaps(
            k: rk, scores: (base + $0.scores).assumingMemoryBound(to: T.Acc.self),
            indices: (base + $0.indices).assumingMemoryBound(to: Int64.self),
            counts: (base + $0.counts).assumingMemoryBound(to: Int.self),
            thresholds: (base + $0.thresholds).assumingMemoryBound(to: T.Acc.self))
    }
    let corpusRows = RowMatrix(base: UnsafeRawPointer(corpus), rows: rn, rowStride: Int(cRowStride), elemStride: Int(cElemStride))
    let queryRows = RowMatrix(base: UnsafeRawPointer(queries), rows: rq, rowStride: Int(qRowStride), elemStride: Int(qElemStride))
    let po = UnsafeMutableRawPointer(scores), pi = indices
    let blocks = (rn &+ blockRows &- 1) / blockRows

    heaps.withUnsafeBufferPointer { heaps in
        var qs0 = 0
        while qs0 < rq {
            let qRows = min(qPass, rq &- qs0), npq = (qRows &+ mr &- 1) / mr
            let chunk = 4
            forEachTask((npq &+ chunk &- 1) / chunk, threads: t) { _, task in
                let p0 = task &* chunk, p1 = min(npq, p0 &+ chunk)
                packRows(
                    queryRows, first: qs0 &+ p0 &* mr, count: min(qRows, p1 &* mr) &- p0 &* mr, width: mr, d: rd,
                    panels: qPanels + p0 &* mr &* rd, scales: qScales + p0 &* mr, epsilon: eps, normalize: normalize,
                    T.self)
            }
            for h in heaps { h.counts.initialize(repeating: 0, count: qRows) }
            forEachTask(blocks, threads: t) { worker, blk in
                if ssim_flag_is_set(interrupt) { return }
                let at = workerAt[worker]
                let tiles = (base + at.tiles).assumingMemoryBound(to: T.Vec.self)
                let cScales = (base + at.cScales).assumingMemoryBound(to: T.Acc.self)
                let cPanels = (base + at.cPanels).assumingMemoryBound(to: T.Acc.self)
                let c0 = blk &* blockRows, cRows = min(blockRows, rn &- c0), npc = (cRows &+ nr &- 1) / nr
                packRows(
                    corpusRows, first: c0, count: cRows, width: nr, d: rd, panels: cPanels, scales: cScales,
                    epsilon: eps, normalize: normalize, T.self)
                for ip in 0..<npq {
                    if ssim_flag_is_set(interrupt) { return }  // stop at a tile boundary
                    let a = UnsafePointer(qPanels + ip &* mr &* rd)
                    var pc = 0
                    repeat {
                        let kc = min(gemmKC, rd &- pc)
                        for jp in 0..<npc {
                            microKernel(
                                a + pc &* mr, UnsafePointer(cPanels + jp &* nr &* rd + pc &* nr), kc,
                                tiles + jp &* gemmTileVectors, accumulate: pc > 0)
                        }
                        pc &+= gemmKC
                    } while pc < rd
                    let rows = min(mr, qRows &- ip &* mr)
                    for jp in 0..<npc {
                        selectTile(
                            tiles + jp &* gemmTileVectors, rx: qScales + ip &* mr, ry: cScales + jp &* nr, rows: rows,
                            cols: min(nr, cRows &- jp &* nr), firstQuery: ip &* mr, firstIndex: c0 &+ jp &* nr,
                            heaps: heaps[worker], T.self)
                    }
                }
            }
            if ssim_flag_is_set(interrupt) { return }
            // Merge every worker's heap of each query, best first, into the outputs.
            let mergeChunk = 64
            forEachTask((qRows &+ mergeChunk &- 1) / mergeChunk, threads: t) { worker, task in
                let cand = (base + workerAt[worker].merge).bindMemory(to: (T.Acc, Int64).self, capacity: t &* rk)
                for q in (task &* mergeChunk)..<min(qRows, (task &+ 1) &* mergeChunk) {
                    var count = 0
                    for h in heaps {
                        for e in 0..<h.counts[q] {
                            cand[count] = (h.scores[q &* rk &+ e], h.indices[q &* rk &+ e])
                            count &+= 1
                        }
                    }
                    var buf = UnsafeMutableBufferPointer(start: cand, count: count)
                    buf.sort { TopKHeaps<T.Acc>.ranksAfter($1.0, $1.1, $0.0, $0.1) }
                    let row = (qs0 &+ q) &* rk
                    for e in 0..<rk {
                        po.storeBytes(of: T.narrow(buf[e].0), toByteOffset: (row &+ e) &* MemoryLayout<T>.stride, as: T.self)
                        pi[row &+ e] = buf[e].1
                    }
                }
            }
            qs0 &+= qPass
        }
    }
    return ssim_flag_is_set(interrupt) ? SSIM_INTERRUPTED : SSIM_OK
}
