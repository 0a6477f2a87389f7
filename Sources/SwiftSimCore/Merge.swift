// Merge.swift — the merge of top-k results computed on shards: for each query, the k best of every
// shard's candidates, in top_k's order.
//
// A shard's result lists, for each query, candidates (score, global index). The merge keeps, per query,
// the k candidates that rank first in the total order of TopK.swift — higher score first; equal scores
// by lower index; NaN scores after every number, among themselves by index — and writes them best
// first. Entries with index -1 are padding (a shard that had fewer than k rows): they are never
// candidates, and the output is padded the same way, index -1 and score NaN after every real
// candidate, when a query has fewer than k. Because the order is total and each score is copied bit
// for bit, merging the per-shard top_k results (indices made global) gives exactly the top_k of the
// whole corpus, whatever the shards and whatever order their candidates come in (the parts need not be
// sorted). A real index that occurs twice is kept twice.
//
// Work: per query, each candidate is offered to a bounded heap of k (worst on top; fewer when the parts
// hold fewer candidates): one comparison rejects a candidate once k better ones are held, so sorted
// parts cost about one comparison per candidate plus O(k log k); queries are spread over threads, each
// with its own heap.

import CSwiftSimABI
import CSwiftSimThreads

/// The order of retrieval results (TopK.swift's), on the stored dtype.
@inline(__always)
func mergeRanksAfter<T: BinaryFloatingPoint>(_ s1: T, _ i1: Int64, _ s2: T, _ i2: Int64) -> Bool {
    if s1.isNaN { return !s2.isNaN || i1 > i2 }
    if s2.isNaN { return false }
    return s1 < s2 || (s1 == s2 && i1 > i2)
}

/// A binary heap of at most `k` candidates, the worst on top, in caller-provided memory.
struct MergeHeap<T: BinaryFloatingPoint> {
    let k: Int
    let scores: UnsafeMutablePointer<T>
    let indices: UnsafeMutablePointer<Int64>
    var count = 0

    /// Offers candidate (s, j).
    @inline(__always) mutating func offer(_ s: T, _ j: Int64) {
        if count == k {
            if !mergeRanksAfter(scores[0], indices[0], s, j) { return }
            var pos = 0
            while true {
                let l = 2 &* pos &+ 1
                if l >= k { break }
                var child = l
                if l &+ 1 < k && mergeRanksAfter(scores[l &+ 1], indices[l &+ 1], scores[l], indices[l]) { child = l &+ 1 }
                if !mergeRanksAfter(scores[child], indices[child], s, j) { break }
                scores[pos] = scores[child]; indices[pos] = indices[child]
                pos = child
            }
            scores[pos] = s; indices[pos] = j
            return
        }
        var pos = count
        while pos > 0 {
            let parent = (pos &- 1) >> 1
            if !mergeRanksAfter(s, j, scores[parent], indices[parent]) { break }
            scores[pos] = scores[parent]; indices[pos] = indices[parent]
            pos = parent
        }
        scores[pos] = s; indices[pos] = j
        count &+= 1
    }

    /// Empties the heap into `outScores[0..<width]` / `outIndices[0..<width]` (width >= k), best first,
    /// padded with (NaN, -1). Heap sort in place: the worst is moved to the end, one at a time.
    @inline(__always) mutating func drain(
        into outScores: UnsafeMutableRawPointer, _ outIndices: UnsafeMutablePointer<Int64>, width: Int
    ) {
        let size = MemoryLayout<T>.stride
        for e in count..<width {
            outScores.storeBytes(of: T.nan, toByteOffset: e &* size, as: T.self)
            outIndices[e] = -1
        }
        while count > 0 {
            let last = count &- 1
            outScores.storeBytes(of: scores[0], toByteOffset: last &* size, as: T.self)
            outIndices[last] = indices[0]
            let s = scores[last], j = indices[last]
            count = last
            var pos = 0
            while true {
                let l = 2 &* pos &+ 1
                if l >= count { break }
                var child = l
                if l &+ 1 < count && mergeRanksAfter(scores[l &+ 1], indices[l &+ 1], scores[l], indices[l]) { child = l &+ 1 }
                if !mergeRanksAfter(scores[child], indices[child], s, j) { break }
                scores[pos] = scores[child]; indices[pos] = indices[child]
                pos = child
            }
            if count > 0 { scores[pos] = s; indices[pos] = j }
        }
    }
}

/// The exported entry point (see swiftsim.h). `scores` and `indices` point to `parts` pointers each;
/// `strides` holds 4 byte strides per part (score row, score element, index row, index element).
func mergeTopK<T: SimScalar>(
    parts: Int64, scores: UnsafeRawPointer?, indices: UnsafeRawPointer?, partK: UnsafePointer<Int64>?,
    strides: UnsafePointer<Int64>?, nq: Int64, k: Int64, outScores: UnsafeMutableRawPointer?,
    outIndices: UnsafeMutablePointer<Int64>?, threads: Int32, interrupt: UnsafePointer<Int32>?, _: T.Type
) -> ssim_status {
    guard parts >= 0, nq >= 0, k >= 1 else { return SSIM_ERR_BAD_SHAPE }
    if parts > 0 && (partK == nil || strides == nil || scores == nil || indices == nil) { return SSIM_ERR_NULL_POINTER }
    let np = Int(parts), rq = Int(nq), rk = Int(k)
    var candidates = 0
    for p in 0..<np {
        guard let kp = partK?[p], kp >= 0 else { return SSIM_ERR_BAD_SHAPE }
        let (c, o) = candidates.addingReportingOverflow(Int(kp))
        if o { return SSIM_ERR_BAD_SHAPE }
        candidates = c
    }
    if rq == 0 { return SSIM_OK }
    guard let outScores, let outIndices else { return SSIM_ERR_NULL_POINTER }
    guard let total = checkedProduct(rq, rk), checkedProduct(total, MemoryLayout<T>.stride) != nil else { return SSIM_ERR_BAD_SHAPE }
    if candidates == 0 {  // nothing to merge (no parts, or parts of k = 0): all padding
        for e in 0..<total {
            outScores.storeBytes(of: T.nan, toByteOffset: e &* MemoryLayout<T>.stride, as: T.self)
            outIndices[e] = -1
        }
        return SSIM_OK
    }
    guard let work = checkedProduct(rq, candidates) else { return SSIM_ERR_BAD_SHAPE }
    for p in 0..<np where partK![p] > 0 {
        if scores!.load(fromByteOffset: p &* 8, as: UnsafeRawPointer?.self) == nil
            || indices!.load(fromByteOffset: p &* 8, as: UnsafeRawPointer?.self) == nil
        {
            return SSIM_ERR_NULL_POINTER
        }
    }
    let t = work < parallelThreshold ? 1 : max(1, min(Int(threads), rq))
    let kh = min(rk, candidates)  // no query has more candidates than that: the heap's size
    var plan = WorkspacePlan()
    guard let heapScoreBytes = checkedProduct(kh, MemoryLayout<T>.stride), let heapIndexBytes = checkedProduct(kh, 8) else {
        return SSIM_ERR_BAD_SHAPE
    }
    // Per worker: its heap, and a flag set when it meets an index below -1 (the padding mark).
    let at = (0..<t).map { _ in
        (scores: plan.reserve(heapScoreBytes), indices: plan.reserve(heapIndexBytes), bad: plan.reserve(8))
    }
    guard let bytes = plan.total else { return SSIM_ERR_BAD_SHAPE }
    let memory = Workspace(bytes: bytes)
    guard let base = memory.base else { return SSIM_ERR_NO_MEMORY }
    defer { memory.free() }
    for a in at { (base + a.bad).storeBytes(of: false, as: Bool.self) }
    let size = MemoryLayout<T>.stride, strides = strides!, ps = scores!, pi = indices!, pk = partK!
    let chunk = max(1, min(256, (rq &+ 4 &* t &- 1) / (4 &* t)))
    forEachTask((rq &+ chunk &- 1) / chunk, threads: t) { worker, task in
        let bad = base + at[worker].bad
        if ssim_flag_is_set(interrupt) || bad.load(as: Bool.self) { return }
        var heap = MergeHeap<T>(
            k: kh, scores: (base + at[worker].scores).assumingMemoryBound(to: T.self),
            indices: (base + at[worker].indices).assumingMemoryBound(to: Int64.self))
        for q in (task &* chunk)..<min(rq, (task &+ 1) &* chunk) {
            for p in 0..<np {
                let kp = Int(pk[p])
                if kp == 0 { continue }
                let st = strides + 4 &* p
                let srow = ps.load(fromByteOffset: p &* 8, as: UnsafeRawPointer.self) + q &* Int(st[0])
                let irow = pi.load(fromByteOffset: p &* 8, as: UnsafeRawPointer.self) + q &* Int(st[2])
                let se = Int(st[1]), ie = Int(st[3])
                for e in 0..<kp {
                    let j = irow.load(fromByteOffset: e &* ie, as: Int64.self)
                    if j < 0 {
                        if j == -1 { continue }  // padding
                        bad.storeBytes(of: true, as: Bool.self)
                        return
                    }
                    heap.offer(srow.load(fromByteOffset: e &* se, as: T.self), j)
                }
            }
            heap.drain(into: outScores + q &* rk &* size, outIndices + q &* rk, width: rk)
        }
    }
    for a in at where (base + a.bad).load(as: Bool.self) { return SSIM_ERR_BAD_CANDIDATE }
    return ssim_flag_is_set(interrupt) ? SSIM_INTERRUPTED : SSIM_OK
}
