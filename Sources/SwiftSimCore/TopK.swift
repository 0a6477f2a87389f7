// TopK.swift — top-k retrieval: for each query row, the k corpus rows of highest cosine, best first.
//
// Every score comes from the GEMM engine of Gemm.swift: the same micro-kernel FMA chains (KC = 128 steps
// from zero per K block, the block sums added in order), the same row scales (rowScale, with its
// power-of-two factors) and the same scale product r_q · r_c as Pairwise.swift, so each score is bitwise
// the pairwise value, narrowed to the input dtype before it is ranked. Two paths produce the scores:
//   - Streaming (few queries: `streamPass`). The work is one pass over the corpus. The queries are packed
//     once; the corpus is split by rows over the threads and read in place, NR rows (one tile wide) at a
//     time: their inverse norms are computed first (which pulls the rows into cache), then the rows are
//     transposed, 128 elements at a time, into an L1 slice laid out [k][NR] (16 × 16 in-register
//     transposes, Sources/CSwiftSimSIMD) that every query panel is multiplied with (a narrow tile for
//     the last few queries: Gemm.swift's narrowKernel); with at most eight queries, each transposed
//     square is multiplied in registers instead, with the same chains. bfloat16 multiplied as pairs
//     (vdpbf16ps) is transposed as 32-bit words of pairs, the words packPairs makes, and multiplied by
//     full micro-kernel tiles (or, up to eight queries, in registers). No packed copy of the corpus is
//     made and its norms cost no second read from memory.
//   - Packed (many queries: `packedPass`). Blocks of corpus panels are packed as Pairwise.swift packs Y
//     and every query panel runs over them: the packing is amortised over the queries.
// Selection: each thread keeps, per query, a binary heap of its best (score, index) pairs, worst on top,
// and a threshold that lets a whole tile row be rejected with two vector compares; excluded corpus rows
// are skipped when a tile row is offered, so the heaps hold only rows the caller may get; the heaps are
// merged at the end, and positions left without a candidate get index -1 and a NaN score. Memory: the
// packed queries of one pass, the heaps, and per thread one packed corpus block (packed) or one slice
// (streaming): O(threads·(q·k + block)), never O(q·n).
//
// Order: higher score first; equal scores by lower corpus index; NaN scores after every number (NaNs
// among themselves by index); padding after every candidate. The order is total, so the result depends
// neither on how the corpus was split, nor on the thread count, nor on the path.

import CSwiftSimABI
import CSwiftSimSIMD
import CSwiftSimThreads

/// SSIM_TOP_K_AUTO streams the corpus when there are at most this many queries and their packed panels
/// take at most `topKStreamQueryBytes` (they are re-read from L2 for every slice of the corpus); more
/// queries amortise the packing of the corpus, which then runs at the micro-kernel's full tile.
let topKStreamMaxQueries = 256
let topKStreamQueryBytes = 1 << 20

// MARK: selection

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

/// The corpus rows each query must skip: a strictly increasing list per query (CSR offsets into one
/// index array) and/or the diagonal (query i skips row i).
struct TopKExclusions {
    let indptr: UnsafePointer<Int64>?
    let indices: UnsafePointer<Int64>?
    let diagonal: Bool

    @inline(__always) var any: Bool { indptr != nil || diagonal }

    /// The caller's lists, checked rather than trusted: nil when an offset or an index is out of range or
    /// a list is not strictly increasing (SSIM_ERR_BAD_INDEX). O(nq + count).
    static func checked(_ e: UnsafePointer<ssim_top_k_exclusions>?, nq: Int, n: Int) -> TopKExclusions? {
        guard let e = e?.pointee else { return TopKExclusions(indptr: nil, indices: nil, diagonal: false) }
        let diagonal = e.exclude_self != 0
        guard let indptr = e.indptr else { return TopKExclusions(indptr: nil, indices: nil, diagonal: diagonal) }
        let count = e.count
        guard count >= 0, indptr[0] == 0, indptr[nq] == count else { return nil }
        guard let indices = e.indices else { return count == 0 ? TopKExclusions(indptr: nil, indices: nil, diagonal: diagonal) : nil }
        for q in 0..<nq {
            let lo = indptr[q], hi = indptr[q &+ 1]
            guard lo <= hi, hi <= count else { return nil }
            var previous: Int64 = -1
            for i in Int(lo)..<Int(hi) {
                let v = indices[i]
                guard v > previous, v < Int64(n) else { return nil }
                previous = v
            }
        }
        return TopKExclusions(indptr: indptr, indices: indices, diagonal: diagonal)
    }

    /// Bit l is set when corpus row `first + l` (l < count ≤ 64) is excluded for query `q`: a binary
    /// search for the first listed row ≥ first, then a walk while the rows are below first + count.
    @inline(__always) func skipped(query q: Int, first: Int, count: Int) -> UInt64 {
        var m: UInt64 = 0
        if diagonal && q >= first && q < first &+ count { m = 1 &<< UInt64(q &- first) }
        guard let indptr, let indices else { return m }
        var lo = Int(indptr[q]), hi = Int(indptr[q &+ 1])
        let end = hi
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if indices[mid] < Int64(first) { lo = mid &+ 1 } else { hi = mid }
        }
        let last = Int64(first &+ count)
        while lo < end && indices[lo] < last {
            m |= 1 &<< UInt64(Int(indices[lo]) &- first)
            lo &+= 1
        }
        return m
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

/// Where the tiles of one call go: the heaps of the worker, the exclusions, and the pass's first query.
struct TopKSink<A: BinaryFloatingPoint> {
    let heaps: TopKHeaps<A>
    let exclusions: TopKExclusions
    /// The global index of the pass's query 0 (the exclusions are indexed by global query).
    let queryOffset: Int
}

/// Scales one tile (`rows` queries from pass query `firstQuery` × `cols` corpus rows from `firstIndex`)
/// and offers its scores to the heaps, rejecting a whole tile row when no score reaches the query's
/// threshold and skipping the excluded rows.
@inline(__always)
func selectTile<T: SimScalar>(
    _ c: UnsafePointer<T.Vec>, rx: UnsafePointer<T.Acc>, ry: UnsafePointer<T.Acc>, rows: Int, cols: Int,
    firstQuery: Int, firstIndex: Int, sink: TopKSink<T.Acc>, _: T.Type
) {
    let w = T.Vec.scalarCount, nrv = gemmNRV
    let scales = PanelScales<T.Vec>(ry)
    let heaps = sink.heaps
    for r in 0..<rows {
        let ri = T.Vec(repeating: rx[r])
        var v0 = scales.scaled(c, row: r, 0, ri: ri)
        var v1 = nrv > 1 ? scales.scaled(c, row: r, 1, ri: ri) : v0
        let q = firstQuery &+ r, full = heaps.counts[q] == heaps.k
        if full && !anyAtLeast(v0, v1, heaps.thresholds[q]) { continue }
        // rank the values the caller receives (float16, bfloat16), not their float32 originals
        v0 = T.rounded(v0)
        v1 = T.rounded(v1)
        let skip = sink.exclusions.any ? sink.exclusions.skipped(query: sink.queryOffset &+ q, first: firstIndex, count: cols) : 0
        for l in 0..<cols where (skip >> UInt64(l)) & 1 == 0 {
            let s = l < w ? v0[l] : v1[l &- w]
            // A full heap takes only a score ≥ its threshold (a later index never wins a tie, and a NaN
            // never enters), so the others are not offered; the threshold rises as scores enter.
            if full && !(s >= heaps.thresholds[q]) { continue }
            heaps.offer(q, s, Int64(firstIndex &+ l))
        }
    }
}

// MARK: the call

/// The exported entry point (see swiftsim.h).
func topK<T: SimScalar>(
    _ queries: UnsafePointer<T>?, _ corpus: UnsafePointer<T>?, _ scores: UnsafeMutablePointer<T>?,
    _ indices: UnsafeMutablePointer<Int64>?, nq: Int64, n: Int64, d: Int64, k: Int64,
    qRowStride: Int64, qElemStride: Int64, cRowStride: Int64, cElemStride: Int64,
    exclude: UnsafePointer<ssim_top_k_exclusions>?, epsilon: Double, assumeNormalized: Int32, method: Int32, threads: Int32,
    interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    guard nq >= 0, n >= 0, d >= 0, k >= 1 else { return SSIM_ERR_BAD_SHAPE }
    guard method == SSIM_TOP_K_AUTO || method == SSIM_TOP_K_STREAM || method == SSIM_TOP_K_PACKED else {
        return SSIM_ERR_BAD_SHAPE
    }
    guard epsilon >= 0 else { return SSIM_ERR_BAD_EPSILON }
    if nq == 0 { return SSIM_OK }
    guard let queries, let corpus, let scores, let indices else { return SSIM_ERR_NULL_POINTER }
    let rq = Int(nq), rn = Int(n), rd = Int(d), rk = Int(k)
    guard checkedProduct(rq, rk) != nil, let work = checkedProduct(rq, rn, max(rd, 1)) else { return SSIM_ERR_BAD_SHAPE }
    guard let exclusions = TopKExclusions.checked(exclude, nq: rq, n: rn) else { return SSIM_ERR_BAD_INDEX }
    let po = UnsafeMutableRawPointer(scores)
    let kept = min(rk, rn)  // no query has more candidates than corpus rows
    if kept == 0 {
        for i in 0..<(rq &* rk) {
            po.storeBytes(of: T.nan, toByteOffset: i &* MemoryLayout<T>.stride, as: T.self)
            indices[i] = -1
        }
        return SSIM_OK
    }
    let acc = MemoryLayout<T.Acc>.stride
    let stream: Bool
    switch method {
    case SSIM_TOP_K_STREAM: stream = true
    case SSIM_TOP_K_PACKED: stream = false
    default: stream = rq <= topKStreamMaxQueries && rq &* max(rd, 1) &* acc <= topKStreamQueryBytes
    }
    let call = TopKCall<T>(
        queries: RowMatrix(base: UnsafeRawPointer(queries), rows: rq, rowStride: Int(qRowStride), elemStride: Int(qElemStride)),
        corpus: RowMatrix(base: UnsafeRawPointer(corpus), rows: rn, rowStride: Int(cRowStride), elemStride: Int(cElemStride)),
        d: rd, k: rk, kept: kept, epsilon: EpsilonFloor<T.Acc>(epsilon), normalize: assumeNormalized == 0,
        exclusions: exclusions, threads: gemmThreads(threads, work: work), interrupt: interrupt, scores: po, indices: indices)
    return call.run(stream: stream)
}

/// Whether `rows` rows `rowStride` bytes apart, `bytes` of each from the first, spread their 64-byte lines
/// over the 64 sets of an L1 cache with at most six lines in any set (so that a 48 KiB 12-way or a 32 KiB
/// 8-way L1 holds them beside the other rows in flight): power-of-two strides put the rows' lines in few
/// sets.
func l1SetsHold(rows: Int, rowStride: Int, bytes: Int) -> Bool {
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64) { counts in
        counts.initialize(repeating: 0)
        for r in 0..<rows {
            let start = r &* abs(rowStride)
            for line in (start >> 6)...((start &+ max(bytes, 1) &- 1) >> 6) {
                counts[line & 63] &+= 1
                if counts[line & 63] > 6 { return false }
            }
        }
        return true
    }
}

/// One top-k call: its operands, its outputs and how it is split.
struct TopKCall<T: SimScalar> {
    let queries: RowMatrix
    let corpus: RowMatrix
    let d: Int
    /// Results per query (the output's width) and candidates kept per query and worker (min(k, n)).
    let k: Int, kept: Int
    let epsilon: EpsilonFloor<T.Acc>
    let normalize: Bool
    let exclusions: TopKExclusions
    let threads: Int
    let interrupt: UnsafePointer<Int32>?
    let scores: UnsafeMutableRawPointer
    let indices: UnsafeMutablePointer<Int64>

    /// Offsets of one worker's pieces in the workspace.
    struct WorkerLayout {
        var scores = 0, indices = 0, counts = 0, thresholds = 0, merge = 0
        var tiles = 0, cScales = 0, cFactors = 0, sums = 0, states = 0, dots = 0, corpus = 0, slot = 0, stage = 0
    }

    /// Lays the workspace out, allocates it, then runs the passes of queries through the chosen path
    /// and merges each pass's heaps into the outputs.
    func run(stream: Bool) -> ssim_status {
        let t = threads, acc = MemoryLayout<T.Acc>.stride, rq = queries.rows, rd = d
        let bl = AllPairsBlocking(T.self, d: rd, xRows: rq, yRows: corpus.rows)
        let mr = bl.mr, nr = bl.nr
        // Queries per pass: the packed panels (bl.xPass) and every worker's heaps within gemmPackBytes.
        let heapBytes = kept &* (acc &+ 8) &+ 16
        let qPass = max(mr, min(bl.xPass, gemmPackBytes / max(1, t &* heapBytes) / mr &* mr))
        let panelsPerPass = (qPass &+ mr &- 1) / mr
        let blockRows = stream ? 2 &* nr : bl.blockPanels &* nr  // streaming: one group (streamPass)
        let pair = MemoryLayout<(T.Acc, Int64)>.stride
        let contiguous = corpus.elemStride == MemoryLayout<T>.stride
        // The workspace, laid out once (offsets), then allocated: query panels and scales; per worker its
        // heaps, its merge scratch, its tiles, and one packed corpus block (packed) or one slice (streaming)
        // with the scales of its rows.
        var plan = WorkspacePlan()
        let tileCount = stream ? max(2, panelsPerPass) &* gemmTileVectors : bl.tileVectors
        let corpusElements = stream ? gemmKC &* blockRows : blockRows &* max(rd, 1)
        guard let panelBytes = checkedProduct(qPass, rd, acc), let heapScoreBytes = checkedProduct(qPass, kept, acc),
            let heapIndexBytes = checkedProduct(qPass, kept, 8), let mergeBytes = checkedProduct(t, kept, pair),
            let corpusBytes = checkedProduct(corpusElements, acc),
            let stageBytes = checkedProduct(stream && pairDotProducts(T.self) ? blockRows : 0, rd, 2)
        else { return SSIM_ERR_BAD_SHAPE }
        let qPanelsAt = plan.reserve(panelBytes), qScalesAt = plan.reserve(qPass &* acc)
        let workerAt = (0..<t).map { _ in
            WorkerLayout(
                scores: plan.reserve(heapScoreBytes), indices: plan.reserve(heapIndexBytes), counts: plan.reserve(qPass &* 8),
                thresholds: plan.reserve(qPass &* acc), merge: plan.reserve(mergeBytes),
                tiles: plan.reserve(tileCount &* MemoryLayout<T.Vec>.stride), cScales: plan.reserve(blockRows &* acc),
                cFactors: plan.reserve(blockRows &* acc), sums: plan.reserve(blockRows &* acc),
                states: plan.reserve(stream ? 2 &* blockRows &* MemoryLayout<T.Vec>.stride : 0),
                dots: plan.reserve(stream ? 8 &* MemoryLayout<T.Vec>.stride : 0),
                corpus: plan.reserve(corpusBytes),
                slot: plan.reserve(stream && !contiguous ? stageChunk &* MemoryLayout<T>.stride : 0),
                stage: plan.reserve(stageBytes))
        }
        guard let total = plan.total else { return SSIM_ERR_BAD_SHAPE }
        let memory = Workspace(bytes: total)
        guard let base = memory.base else { return SSIM_ERR_NO_MEMORY }
        defer { memory.free() }
        let qPanels = (base + qPanelsAt).assumingMemoryBound(to: T.Acc.self)
        let qScales = (base + qScalesAt).assumingMemoryBound(to: T.Acc.self)
        let heaps: [TopKHeaps<T.Acc>] = workerAt.map {
            TopKHeaps(
                k: kept, scores: (base + $0.scores).assumingMemoryBound(to: T.Acc.self),
                indices: (base + $0.indices).assumingMemoryBound(to: Int64.self),
                counts: (base + $0.counts).assumingMemoryBound(to: Int.self),
                thresholds: (base + $0.thresholds).assumingMemoryBound(to: T.Acc.self))
        }
        return heaps.withUnsafeBufferPointer { heaps in
            var qs0 = 0
            while qs0 < rq {
                let qRows = min(qPass, rq &- qs0)
                for h in heaps { h.counts.initialize(repeating: 0, count: qRows) }
                let pass = Pass(first: qs0, rows: qRows, panels: qPanels, scales: qScales)
                if stream {
                    streamPass(pass, base: base, workers: workerAt, heaps: heaps)
                } else {
                    packedPass(pass, blocking: bl, base: base, workers: workerAt, heaps: heaps)
                }
                if ssim_flag_is_set(interrupt) { return SSIM_INTERRUPTED }
                merge(pass, base: base, workers: workerAt, heaps: heaps)
                qs0 &+= qPass
            }
            return SSIM_OK
        }
    }

    /// The queries of one pass and where they are packed.
    struct Pass {
        let first: Int, rows: Int
        let panels: UnsafeMutablePointer<T.Acc>
        let scales: UnsafeMutablePointer<T.Acc>
    }

    @inline(__always) func sink(_ heaps: TopKHeaps<T.Acc>, _ pass: Pass) -> TopKSink<T.Acc> {
        TopKSink(heaps: heaps, exclusions: exclusions, queryOffset: pass.first)
    }

    /// Packs the pass's queries into panels of `gemmMR` rows, a few panels per task; the last panel is
    /// `width(p)` wide.
    func packQueries(_ pass: Pass, width: (Int) -> Int) {
        let mr = gemmMR, np = (pass.rows &+ mr &- 1) / mr, chunk = 4
        forEachTask((np &+ chunk &- 1) / chunk, threads: threads) { _, task in
            for p in (task &* chunk)..<min(np, (task &+ 1) &* chunk) {
                let q0 = p &* mr
                packPanel(
                    queries.row(pass.first &+ q0), rowStride: queries.rowStride, elemStride: queries.elemStride,
                    rows: min(mr, pass.rows &- q0), d: d, width: width(p), into: pass.panels + q0 &* d,
                    scales: pass.scales + q0, epsilon: epsilon, normalize: normalize, pairs: pairDotProducts(T.self), T.self)
            }
        }
    }

    // MARK: streaming path

    /// One pass over the corpus for the pass's queries: the corpus split by groups of rows over the
    /// threads, each group's norms, slices and tiles computed by one thread. A group is one tile wide
    /// (NR rows), or two (`wide`: one panel of at most four queries on a target with two registers per
    /// tile, whose few FMA chains would otherwise wait on the FMA latency).
    ///
    /// A full group of contiguous rows takes the fast route: per K block and per register of rows (16
    /// Float or 8 Double rows), the rows' squared norms are advanced over the block (sumSquares's own
    /// operations, its state kept per row) and the same, now L1-resident, elements are transposed into
    /// the slice, while the next group is prefetched into L2; the norms are finished after the last block.
    /// With one panel of at most eight queries (`fused`), each register of rows is instead multiplied
    /// right after its norms, its transposed squares in registers (fusedDots, squareDots): no slice is
    /// stored, which would bound the route, and the next register of rows is fetched into L1 meanwhile;
    /// with one or two queries, two registers of rows at a time (fusedDotsTwo), for more chains in flight.
    /// A row whose scale needs a factor (rare) sends the group through the general route again: scales
    /// first, then an element-by-element transpose of the scaled values. Partial groups and strided rows
    /// take the general route directly.
    func streamPass(_ pass: Pass, base: UnsafeMutableRawPointer, workers: [WorkerLayout], heaps: UnsafeBufferPointer<TopKHeaps<T.Acc>>) {
        let mr = gemmMR, nr = gemmNR(T.self), panels = (pass.rows &+ mr &- 1) / mr
        let lastWidth = narrowWidth(pass.rows &- (panels &- 1) &* mr)
        // One panel of at most eight queries: the fast route multiplies each transposed square in registers
        // (squareDots) instead of through the slice, whose stores would bound it.
        let fused = panels == 1 && lastWidth <= 8
        packQueries(pass) { p in p == panels &- 1 ? lastWidth : mr }
        let wide = gemmNRV == 2 && panels == 1 && lastWidth <= 4
        let gs = wide ? 2 &* nr : nr, w = T.Vec.scalarCount, size = MemoryLayout<T>.stride
        // One or two queries' chains are too few to hide the FMA latency: two registers of rows are then
        // multiplied at once (fusedDotsTwo), unless their K block's lines would crowd L1's sets.
        let two =
            fused && lastWidth <= 2 && (gs / w) % 2 == 0 && multipliesTwoRegisters(T.self)
            && l1SetsHold(rows: 2 &* w, rowStride: corpus.rowStride, bytes: min(gemmKC, d) &* size)
        let groups = (corpus.rows &+ gs &- 1) / gs
        let perTask = max(1, min(64 / (gs / nr), groups / max(1, 8 &* threads)))
        let contiguous = corpus.elemStride == size
        let pairsEnd = d / (2 &* w) &* (2 &* w), singleAt = pairsEnd &+ w <= d ? pairsEnd : -1
        let aheadGroups = max(1, (16 << 10) / max(1, abs(gs &* corpus.rowStride)))
        forEachTask((groups &+ perTask &- 1) / perTask, threads: threads) { worker, task in
            // The dtype tests again, inside the closure: its specialisation then drops the routes its dtype
            // never takes (captured, they would be run-time values).
            let pairs = pairDotProducts(T.self), two = two && multipliesTwoRegisters(T.self)
            let at = workers[worker]
            let tiles = (base + at.tiles).assumingMemoryBound(to: T.Vec.self)
            let cScales = (base + at.cScales).assumingMemoryBound(to: T.Acc.self)
            let cFactors = (base + at.cFactors).assumingMemoryBound(to: T.Acc.self)
            let sums = (base + at.sums).assumingMemoryBound(to: T.Acc.self)
            let states = (base + at.states).assumingMemoryBound(to: T.Vec.self)
            let dots = (base + at.dots).assumingMemoryBound(to: T.Vec.self)
            let stage = base + at.stage
            let slice = (base + at.corpus).assumingMemoryBound(to: T.Acc.self)
            let slot = contiguous ? nil : base + at.slot
            let sink = sink(heaps[worker], pass)
            // The products of the group's slices with every query panel, K block by K block.
            @inline(__always) func multiply(_ pc: Int, _ kc: Int) {
                if wide {
                    wideKernel(
                        rows: lastWidth, UnsafePointer(pass.panels + pc &* lastWidth), UnsafePointer(slice), kc, tiles,
                        accumulate: pc > 0)
                } else if pairs {
                    // bfloat16 pairs: the slice holds the words packPairs makes (transposePairs); full panels
                    // run the micro-kernel, the last one a tile of its width.
                    for p in 0..<panels {
                        let pw = p == panels &- 1 ? lastWidth : mr, a = pass.panels + p &* mr &* d + pc &* pw
                        let tile = tiles + p &* gemmTileVectors
                        if pw == mr {
                            microKernel(UnsafePointer(a), UnsafePointer(slice), kc, tile, accumulate: pc > 0, pairs: true)
                        } else {
                            ssim_pairs_tile(
                                UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), Int32(pw), slice, (kc &+ 1) / 2,
                                OpaquePointer(tile), pc > 0 ? 1 : 0)
                        }
                    }
                } else {
                    for p in 0..<panels {
                        let pw = p == panels &- 1 ? lastWidth : mr
                        narrowKernel(
                            rows: pw, UnsafePointer(pass.panels + p &* mr &* d + pc &* pw), UnsafePointer(slice), kc,
                            tiles + p &* gemmTileVectors, accumulate: pc > 0)
                    }
                }
            }
            let taskEnd = min(groups, (task &+ 1) &* perTask)
            for g in (task &* perTask)..<taskEnd {
                if ssim_flag_is_set(interrupt) { return }  // stop at a tile boundary
                let j0 = g &* gs, count = min(gs, corpus.rows &- j0)
                var general = !(contiguous && count == gs)
                if !general {
                    // The fast route (see above). `ahead`: a later group of the task (at least 16 KiB on; 64
                    // measured 5-10 % slower at d = 128), fetched into L2 meanwhile; none past the task's last
                    // group, whose successors another thread may be reading (the fetch would cost memory
                    // bandwidth and bring nothing).
                    let ahead = g &+ aheadGroups < taskEnd ? aheadGroups &* gs &* corpus.rowStride : 0
                    // The norms' pass runs with assume_normalized too (its result unused): it is the rows'
                    // first, sequential, read, which the transposes would otherwise make in a worse order.
                    var pc = 0
                    repeat {
                        let kc = min(gemmKC, d &- pc), queries = UnsafePointer(pass.panels + pc &* lastWidth)
                        for h in 0..<(gs / w) {
                            let rows = corpus.row(j0 &+ h &* w)
                            let end = min(pc &+ kc, pairsEnd)
                            for r in stride(from: 0, to: w, by: 4) {
                                sumSquaresStep4(
                                    rows + r &* corpus.rowStride, rowStride: corpus.rowStride, pairs: pc..<max(pc, end),
                                    single: singleAt >= pc && singleAt < pc &+ kc ? singleAt : -1,
                                    state: states + 2 &* (h &* w &+ r), fresh: pc == 0, T.self)
                            }
                            if fused && two {
                                // Two registers of rows at once (fusedDotsTwo), after the second's norms.
                                if h % 2 == 0 { continue }
                                if j0 &+ (h &+ 3) &* w <= corpus.rows {
                                    ssim_prefetch_l1(rows + w &* corpus.rowStride + pc &* size, corpus.rowStride, Int32(2 &* w), kc &* size)
                                }
                                fusedDotsTwo(
                                    rows - w &* corpus.rowStride, rowStride: corpus.rowStride, square: h &- 1, k0: pc, kc: kc,
                                    ahead: ahead, queries, width: lastWidth, dots: dots, tiles: tiles, accumulate: pc > 0)
                            } else if fused {
                                // The next square's block (the next group's first, past the last) into L1 while this
                                // one is multiplied: its norms' loads then wait on L1 alone.
                                if j0 &+ (h &+ 2) &* w <= corpus.rows {
                                    ssim_prefetch_l1(rows + w &* corpus.rowStride + pc &* size, corpus.rowStride, Int32(w), kc &* size)
                                }
                                fusedDots(
                                    rows, rowStride: corpus.rowStride, square: h, k0: pc, kc: kc, ahead: ahead, queries,
                                    width: lastWidth, dots: dots, tiles: tiles, accumulate: pc > 0)
                            } else if pairs {
                                transposePairs(
                                    rows, rowStride: corpus.rowStride, k0: pc, kc: kc, column: h &* w, width: gs, ahead: ahead, into: slice)
                            } else {
                                var k = 0
                                while k &+ w <= kc {
                                    transposeRows(
                                        rows + (pc &+ k) &* size, corpus.rowStride, slice + (k &* gs &+ h &* w), gs, ahead: ahead)
                                    k &+= w
                                }
                            }
                        }
                        if !fused {
                            if !pairs {
                                transposeTail(
                                    first: j0, count: count, k0: pc, from: kc / w &* w, to: kc, width: gs, factors: nil, into: slice)
                            }
                            multiply(pc, kc)
                        }
                        pc &+= gemmKC
                    } while pc < d
                    if normalize {
                        finishSumSquares(states, rows: gs, first: j0, tailFrom: d / w &* w, into: sums)
                        general = rowScales(
                            sums: sums, count: gs, corpus.row(j0), rowStride: corpus.rowStride, d, size, epsilon: epsilon,
                            scales: cScales, factors: cFactors, T.self)
                    } else {
                        for r in 0..<gs { cScales[r] = 1 }
                    }
                }
                if general {
                    // The general route: scales first, then the scaled elements one by one.
                    for r in 0..<count {
                        if normalize {
                            let sc = rowScale(corpus.row(j0 &+ r), d, corpus.elemStride, epsilon: epsilon, slot: slot, T.self)
                            cScales[r] = sc.r
                            cFactors[r] = sc.factor
                        } else {
                            cScales[r] = 1
                            cFactors[r] = 1
                        }
                    }
                    for r in count..<gs {
                        cScales[r] = 0
                        cFactors[r] = 0
                    }
                    if pairs {
                        // bfloat16 pairs: the group's rows scaled (exactly, as packPairs scales them) into `stage`,
                        // contiguous, the missing rows zero; then the fast route's products over them.
                        let st = stagePairs(first: j0, count: count, rows: gs, factors: cFactors, into: stage)
                        var pc = 0
                        repeat {
                            let kc = min(gemmKC, d &- pc), queries = UnsafePointer(pass.panels + pc &* lastWidth)
                            for h in 0..<(gs / w) {
                                let rows = UnsafeRawPointer(stage) + h &* w &* st
                                if fused {
                                    fusedDots(
                                        rows, rowStride: st, square: h, k0: pc, kc: kc, ahead: 0, queries, width: lastWidth,
                                        dots: dots, tiles: tiles, accumulate: pc > 0)
                                } else {
                                    transposePairs(rows, rowStride: st, k0: pc, kc: kc, column: h &* w, width: gs, ahead: 0, into: slice)
                                }
                            }
                            if !fused { multiply(pc, kc) }
                            pc &+= gemmKC
                        } while pc < d
                    } else {
                        var pc = 0
                        repeat {
                            let kc = min(gemmKC, d &- pc)
                            transposeTail(first: j0, count: count, k0: pc, from: 0, to: kc, width: gs, factors: cFactors, into: slice)
                            multiply(pc, kc)
                            pc &+= gemmKC
                        } while pc < d
                    }
                }
                if wide {
                    for h in 0..<2 where count > h &* nr {
                        selectTile(
                            tiles + h &* gemmTileVectors, rx: pass.scales, ry: cScales + h &* nr, rows: pass.rows,
                            cols: min(nr, count &- h &* nr), firstQuery: 0, firstIndex: j0 &+ h &* nr, sink: sink, T.self)
                    }
                } else {
                    for p in 0..<panels {
                        selectTile(
                            tiles + p &* gemmTileVectors, rx: pass.scales + p &* mr, ry: cScales, rows: min(mr, pass.rows &- p &* mr),
                            cols: count, firstQuery: p &* mr, firstIndex: j0, sink: sink, T.self)
                    }
                }
            }
        }
    }

    /// The products of elements `k0 ..< k0 + kc` of square h (the T.Vec.scalarCount rows from `rows`,
    /// `rowStride` bytes apart, elements contiguous) with the pass's one panel of queries (`q`: element k
    /// of query j at q[k·width + j]), stored (or, `accumulate`, added) into the tiles: the square's lanes
    /// are tile h / NRV's register h % NRV. Each lane is the micro-kernel's chain: from zero at the block's
    /// start, one madd per k in order (bfloat16 multiplied as pairs: one vdpbf16ps per pair of k, the
    /// words packPairs makes), then added to the tile.
    @inline(__always)
    func fusedDots(
        _ rows: UnsafeRawPointer, rowStride: Int, square h: Int, k0: Int, kc: Int, ahead: Int, _ q: UnsafePointer<T.Acc>,
        width: Int, dots: UnsafeMutablePointer<T.Vec>, tiles: UnsafeMutablePointer<T.Vec>, accumulate: Bool
    ) {
        let at = rows + k0 &* MemoryLayout<T>.stride
        dots.initialize(repeating: T.Vec(), count: width)
        let done = fusedSquares(at, rowStride: rowStride, second: nil, kc: kc, ahead: ahead, q, width: width, dots)
        fusedTail(at, rowStride: rowStride, from: done, kc: kc, q, width: width, dots)
        storeDots(square: h, width: width, dots, tiles: tiles, accumulate: accumulate)
    }

    /// fusedDots for two registers of rows at once (squares h and h + 1, the second's rows
    /// T.Vec.scalarCount rows after the first's), so that two sets of chains run side by side where one or
    /// two queries' few chains would wait on the FMA latency (how they are interleaved: squareDots and
    /// fusedSquares). The same chains, so the same bits. Out of line, so as not to change the one-register
    /// code.
    @inline(never)
    func fusedDotsTwo(
        _ rows: UnsafeRawPointer, rowStride: Int, square h: Int, k0: Int, kc: Int, ahead: Int, _ q: UnsafePointer<T.Acc>,
        width: Int, dots: UnsafeMutablePointer<T.Vec>, tiles: UnsafeMutablePointer<T.Vec>, accumulate: Bool
    ) {
        let at = rows + k0 &* MemoryLayout<T>.stride, second = T.Vec.scalarCount &* rowStride
        dots.initialize(repeating: T.Vec(), count: 2 &* width)
        let done = fusedSquares(at, rowStride: rowStride, second: second, kc: kc, ahead: ahead, q, width: width, dots)
        fusedTail(at, rowStride: rowStride, from: done, kc: kc, q, width: width, dots)
        fusedTail(at + second, rowStride: rowStride, from: done, kc: kc, q, width: width, dots + width)
        storeDots(square: h, width: width, dots, tiles: tiles, accumulate: accumulate)
        storeDots(square: h &+ 1, width: width, dots + width, tiles: tiles, accumulate: accumulate)
    }

    /// The square part of fusedDots: dots[j] advanced over the block's whole squares of the rows from `at`
    /// (their block's first element); with `second`, also dots[width + j] over those of the rows `second`
    /// bytes on (fusedDotsTwo; one or two queries, the types multipliesTwoRegisters names). Returns the
    /// block's first element past the squares.
    @inline(__always)
    func fusedSquares(
        _ at: UnsafeRawPointer, rowStride: Int, second: Int?, kc: Int, ahead: Int, _ q: UnsafePointer<T.Acc>, width: Int,
        _ dots: UnsafeMutablePointer<T.Vec>
    ) -> Int {
        let w = T.Vec.scalarCount
        if pairDotProducts(T.self) {
            // Squares of 16 rows × 32 elements: 16 words of pairs per row, transposed as 32-bit lanes.
            let squares = kc / (2 &* w), p = UnsafeRawPointer(q).assumingMemoryBound(to: Float.self), a = OpaquePointer(dots)
            if let second {
                ssim_square_pairdots16_bf16x2(at, rowStride, second, ahead, p, width, Int32(width), squares, a)
            } else {
                ssim_square_pairdots16_bf16(at, rowStride, ahead, p, width, Int32(width), squares, a)
            }
            return squares &* 2 &* w
        }
        let squares = kc / w
        squareDots(at, rowStride: rowStride, second: second, squares: squares, ahead: ahead, q, width: width, dots)
        return squares &* w
    }

    /// The tail part of fusedDots: dots[j] advanced over the block's elements `from ..< kc` one by one
    /// (bfloat16 pairs: pair by pair, the high half of one past the block zero).
    @inline(__always)
    func fusedTail(
        _ at: UnsafeRawPointer, rowStride: Int, from: Int, kc: Int, _ q: UnsafePointer<T.Acc>, width: Int,
        _ dots: UnsafeMutablePointer<T.Vec>
    ) {
        let w = T.Vec.scalarCount, size = MemoryLayout<T>.stride
        var k = from
        if pairDotProducts(T.self) {
            let p = UnsafeRawPointer(q).assumingMemoryBound(to: Float.self)
            let d16 = UnsafeMutableRawPointer(dots).assumingMemoryBound(to: SIMD16<Float>.self)
            while k < kc {
                let b = unsafeBitCast(pairWords(at, rowStride: rowStride, k: k, kc: kc), to: SIMD16<Float>.self), step = k / 2
                for j in 0..<width { d16[j] = ssim_dpbf16_f32x16(d16[j], SIMD16<Float>(repeating: p[step &* width &+ j]), b) }
                k &+= 2
            }
            return
        }
        while k < kc {
            var x = T.Vec()
            for r in 0..<w { x[r] = T.widen((at + r &* rowStride).load(fromByteOffset: k &* size, as: T.self)) }
            for j in 0..<width { dots[j] = dots[j].madd(T.Vec(repeating: q[k &* width &+ j]), x) }
            k &+= 1
        }
    }

    /// Square h's sums (dots[j] for j < width) stored, or added (`accumulate`), into the tiles: tile h / NRV,
    /// register h % NRV of row j.
    @inline(__always)
    func storeDots(square h: Int, width: Int, _ dots: UnsafeMutablePointer<T.Vec>, tiles: UnsafeMutablePointer<T.Vec>, accumulate: Bool) {
        let nrv = gemmNRV, tile = tiles + (h / nrv) &* gemmTileVectors
        for j in 0..<width {
            let i = j &* nrv &+ h % nrv
            tile[i] = accumulate ? tile[i] + dots[j] : dots[j]
        }
    }

    /// Rows `first ..< first + count` of the bfloat16 corpus, each multiplied by its power-of-two factor
    /// (exactly, as packPairs does), into `stage` as `rows` contiguous rows of d elements (rows past
    /// `count` zero). Returns the staged row stride in bytes.
    func stagePairs(first: Int, count: Int, rows: Int, factors: UnsafePointer<T.Acc>, into stage: UnsafeMutableRawPointer) -> Int {
        let st = d &* 2, out = stage.assumingMemoryBound(to: UInt16.self)
        for r in 0..<rows {
            let row = corpus.row(first &+ r), o = out + r &* d
            if r >= count {
                o.initialize(repeating: 0, count: d)
                continue
            }
            let f = Float(factors[r])
            for k in 0..<d { o[k] = scaledBFloat16Bits(row.load(fromByteOffset: k &* corpus.elemStride, as: UInt16.self), f) }
        }
        return st
    }

    /// acc[j] for j < width (a narrow tile's 1, 2, 4 or 8, or 6: the whole tile of a 6-row target) advanced
    /// over `squares` T.Vec.scalarCount × T.Vec.scalarCount squares of corpus elements from `src` (rows `rs`
    /// bytes apart, the squares side by side along them) with the queries' elements `q` (element k of query
    /// j at q[k·width + j]): ssim_square_dots16_f32 (float64: ssim_square_dots8_f64),
    /// the square widened into registers first for the 16-bit types. With `second` (width ≤ 2), also
    /// acc[width + j] over the rows `second` bytes on, the two sets' chains interleaved (float64: the x2
    /// kernel; float32: square by square).
    @inline(__always)
    func squareDots(
        _ src: UnsafeRawPointer, rowStride rs: Int, second: Int?, squares: Int, ahead: Int, _ q: UnsafePointer<T.Acc>,
        width: Int, _ acc: UnsafeMutablePointer<T.Vec>
    ) {
        let a = OpaquePointer(acc)  // ssim_f32x16 * or ssim_f64x8 *
        if T.self == Double.self {
            let p = UnsafeRawPointer(q).assumingMemoryBound(to: Double.self)
            if let second {
                ssim_square_dots8_f64x2(src, rs, second, ahead, p, width, Int32(width), squares, a)
            } else {
                ssim_square_dots8_f64(src, rs, ahead, p, width, Int32(width), squares, a)
            }
            return
        }
        if T.self == Float.self {
            let p = UnsafeRawPointer(q).assumingMemoryBound(to: Float.self)
            if let second {
                // A square of each set in turn, not the x2 kernel: two transposed squares of floats and their
                // chains do not fit the registers together, and the x2 kernel's spills made it slower.
                let b = OpaquePointer(acc + width), w = T.Vec.scalarCount
                for sq in 0..<squares {
                    let at = src + sq &* w &* MemoryLayout<T>.stride, qs = p + sq &* w &* width
                    ssim_square_dots16_f32(at, rs, ahead, qs, width, Int32(width), 1, a)
                    ssim_square_dots16_f32(at + second, rs, ahead, qs, width, Int32(width), 1, b)
                }
            } else {
                ssim_square_dots16_f32(src, rs, ahead, p, width, Int32(width), squares, a)
            }
            return
        }
        // Float16, BFloat16 without vdpbf16ps: each square widened into registers first, one set of rows after
        // the other (fusedDotsTwo does not take these types: multipliesTwoRegisters).
        withWidenedSquare { regs, vs in
            let w = T.Vec.scalarCount
            for set in 0..<(second == nil ? 1 : 2) {
                var p = UnsafeRawPointer(q).assumingMemoryBound(to: Float.self)
                let rows = src + set &* (second ?? 0), sums = OpaquePointer(acc + set &* width)
                for sq in 0..<squares {
                    let at = rows + sq &* w &* MemoryLayout<T>.stride
                    for r in 0..<w { regs.storeBytes(of: T.load(at + r &* rs), toByteOffset: r &* vs, as: T.Vec.self) }
                    ssim_square_dots16_f32(UnsafeRawPointer(regs), vs, 0, p, width, Int32(width), 1, sums)
                    p += w &* width
                }
            }
        }
    }

    /// Elements `k0 + from ..< k0 + to` of corpus rows `first ..< first + count` (count ≤ width; the other
    /// columns zero) into `slice` laid out [k][width], one by one: each widened and multiplied by its row's
    /// factor (none: 1), the values packPanel puts in a Y panel.
    @inline(__always)
    func transposeTail(
        first: Int, count: Int, k0: Int, from: Int, to: Int, width: Int, factors: UnsafePointer<T.Acc>?,
        into slice: UnsafeMutablePointer<T.Acc>
    ) {
        var k = from
        while k < to {
            let dst = slice + k &* width, offset = (k0 &+ k) &* corpus.elemStride
            for r in 0..<width {
                if r < count {
                    let x = T.widen(corpus.row(first &+ r).load(fromByteOffset: offset, as: T.self))
                    dst[r] = factors.map { x * $0[r] } ?? x
                } else {
                    dst[r] = 0
                }
            }
            k &+= 1
        }
    }

    /// Each row's squared norm from its sumSquares state (two registers per row in `states`): the lane
    /// tree of their sum, then the scalar tail from element `tailFrom` — what SumSquaresState.finish does.
    @inline(__always)
    func finishSumSquares(_ states: UnsafePointer<T.Vec>, rows: Int, first: Int, tailFrom: Int, into sums: UnsafeMutablePointer<T.Acc>) {
        var r = 0
        while r &+ 3 <= rows {
            let (a, b, c) = T.hsum3(
                states[2 &* r] + states[2 &* r &+ 1], states[2 &* r &+ 2] + states[2 &* r &+ 3], states[2 &* r &+ 4] + states[2 &* r &+ 5])
            sums[r] = a
            sums[r &+ 1] = b
            sums[r &+ 2] = c
            r &+= 3
        }
        while r < rows {
            sums[r] = T.hsum(states[2 &* r] + states[2 &* r &+ 1])
            r &+= 1
        }
        if tailFrom < d {
            for r in 0..<rows {
                let t = corpus.row(first &+ r).assumingMemoryBound(to: T.self)
                var s = sums[r]
                for j in tailFrom..<d { let v = T.widen(t[j]); s = s.madd(v, v) }
                sums[r] = s
            }
        }
    }

    /// out[j · outStride + r] = element j of row r (rows `rowStride` bytes apart from `src`), for
    /// T.Vec.scalarCount rows and elements, widened to Acc.
    @inline(__always)
    func transposeRows(
        _ src: UnsafeRawPointer, _ rowStride: Int, _ out: UnsafeMutablePointer<T.Acc>, _ outStride: Int, ahead: Int
    ) {
        let o = UnsafeMutableRawPointer(out)
        if T.self == Float.self {
            ssim_transpose16_f32(
                src.assumingMemoryBound(to: Float.self), rowStride, o.assumingMemoryBound(to: Float.self), outStride, ahead)
        } else if T.self == Double.self {
            ssim_transpose8_f64(
                src.assumingMemoryBound(to: Double.self), rowStride, o.assumingMemoryBound(to: Double.self), outStride, ahead)
        } else {  // Float16: widened into registers first
            withWidenedSquare { regs, vs in
                for r in 0..<T.Vec.scalarCount { regs.storeBytes(of: T.load(src + r &* rowStride), toByteOffset: r &* vs, as: T.Vec.self) }
                ssim_transpose16_f32(regs, vs, o.assumingMemoryBound(to: Float.self), outStride, 0)
            }
        }
    }

    /// Runs `body` with room for one square of widened rows (T.Vec.scalarCount registers, `vs` bytes apart)
    /// on the stack: 16-byte alignment, as a stronger one would make it a heap allocation per square.
    @inline(__always)
    func withWidenedSquare(_ body: (UnsafeMutableRawPointer, Int) -> Void) {
        let vs = MemoryLayout<T.Vec>.stride
        withUnsafeTemporaryAllocation(byteCount: T.Vec.scalarCount &* vs, alignment: 16) { body($0.baseAddress!, vs) }
    }

    /// Elements `k0 ..< k0 + kc` of the 16 bfloat16 rows from `rows` (`rowStride` bytes apart, elements
    /// contiguous) into columns `column ..< column + 16` of `slice` (words, `width` per pair step) as the
    /// words packPairs makes: squares of 16 rows × 32 elements transposed as 32-bit lanes, then the block's
    /// last pairs (the high half of one past the block zero) one by one.
    @inline(__always)
    func transposePairs(
        _ rows: UnsafeRawPointer, rowStride: Int, k0: Int, kc: Int, column: Int, width: Int, ahead: Int,
        into slice: UnsafeMutablePointer<T.Acc>
    ) {
        let w = 16, at = rows + k0 &* 2, squares = kc / (2 &* w)
        let out = UnsafeMutableRawPointer(slice).assumingMemoryBound(to: Float.self) + column
        for s in 0..<squares { ssim_transpose16_f32(at + s &* 4 &* w, rowStride, out + s &* w &* width, width, ahead) }
        let words = UnsafeMutableRawPointer(out).assumingMemoryBound(to: UInt32.self)
        var k = squares &* 2 &* w
        while k < kc {
            let x = pairWords(at, rowStride: rowStride, k: k, kc: kc), dst = words + k / 2 &* width
            for r in 0..<w { dst[r] = x[r] }
            k &+= 2
        }
    }

    /// The 32-bit words of pair (k, k + 1) of the 16 bfloat16 rows from `at` (`rowStride` bytes apart; their
    /// block's first element), as packPairs makes them: element k in the low half, k + 1 in the high half,
    /// zero when k + 1 is past the block's `kc` elements.
    @inline(__always)
    func pairWords(_ at: UnsafeRawPointer, rowStride: Int, k: Int, kc: Int) -> SIMD16<UInt32> {
        var x = SIMD16<UInt32>()
        for r in 0..<16 {
            let row = at + r &* rowStride
            let lo = UInt32(row.loadUnaligned(fromByteOffset: k &* 2, as: UInt16.self))
            let hi = k &+ 1 < kc ? UInt32(row.loadUnaligned(fromByteOffset: (k &+ 1) &* 2, as: UInt16.self)) : 0
            x[r] = lo | hi &<< 16
        }
        return x
    }

    // MARK: packed path

    /// The pass's queries against every block of packed corpus panels; a task is one block.
    func packedPass(
        _ pass: Pass, blocking bl: AllPairsBlocking, base: UnsafeMutableRawPointer, workers: [WorkerLayout],
        heaps: UnsafeBufferPointer<TopKHeaps<T.Acc>>
    ) {
        let mr = bl.mr, nr = bl.nr, rd = d, npq = (pass.rows &+ mr &- 1) / mr
        packQueries(pass) { _ in mr }
        let blockRows = bl.blockPanels &* nr
        let blocks = (corpus.rows &+ blockRows &- 1) / blockRows
        forEachTask(blocks, threads: threads) { worker, blk in
            if ssim_flag_is_set(interrupt) { return }
            let at = workers[worker]
            let tiles = (base + at.tiles).assumingMemoryBound(to: T.Vec.self)
            let cScales = (base + at.cScales).assumingMemoryBound(to: T.Acc.self)
            let cPanels = (base + at.corpus).assumingMemoryBound(to: T.Acc.self)
            let sink = sink(heaps[worker], pass)
            let c0 = blk &* blockRows, cRows = min(blockRows, corpus.rows &- c0), npc = (cRows &+ nr &- 1) / nr
            packRows(
                corpus, first: c0, count: cRows, width: nr, d: rd, panels: cPanels, scales: cScales, epsilon: epsilon,
                normalize: normalize, T.self)
            for ip in 0..<npq {
                if ssim_flag_is_set(interrupt) { return }  // stop at a tile boundary
                let a = UnsafePointer(pass.panels + ip &* mr &* rd)
                var pc = 0
                repeat {
                    let kc = min(gemmKC, rd &- pc)
                    for jp in 0..<npc {
                        microKernel(
                            a + pc &* mr, UnsafePointer(cPanels + jp &* nr &* rd + pc &* nr), kc, tiles + jp &* gemmTileVectors,
                            accumulate: pc > 0, pairs: pairDotProducts(T.self))
                    }
                    pc &+= gemmKC
                } while pc < rd
                let rows = min(mr, pass.rows &- ip &* mr)
                for jp in 0..<npc {
                    selectTile(
                        tiles + jp &* gemmTileVectors, rx: pass.scales + ip &* mr, ry: cScales + jp &* nr, rows: rows,
                        cols: min(nr, cRows &- jp &* nr), firstQuery: ip &* mr, firstIndex: c0 &+ jp &* nr, sink: sink, T.self)
                }
            }
        }
    }

    // MARK: merge

    /// Every worker's heap of each query of the pass, merged best first into the outputs; the positions
    /// past the query's candidates get index -1 and a NaN score.
    func merge(_ pass: Pass, base: UnsafeMutableRawPointer, workers: [WorkerLayout], heaps: UnsafeBufferPointer<TopKHeaps<T.Acc>>) {
        let mergeChunk = 64, kept = self.kept, k = self.k, size = MemoryLayout<T>.stride
        let nan = T.nan
        forEachTask((pass.rows &+ mergeChunk &- 1) / mergeChunk, threads: threads) { worker, task in
            let cand = (base + workers[worker].merge).bindMemory(to: (T.Acc, Int64).self, capacity: heaps.count &* kept)
            for q in (task &* mergeChunk)..<min(pass.rows, (task &+ 1) &* mergeChunk) {
                var count = 0
                for h in heaps {
                    for e in 0..<h.counts[q] {
                        cand[count] = (h.scores[q &* kept &+ e], h.indices[q &* kept &+ e])
                        count &+= 1
                    }
                }
                var buf = UnsafeMutableBufferPointer(start: cand, count: count)
                buf.sort { TopKHeaps<T.Acc>.ranksAfter($1.0, $1.1, $0.0, $0.1) }
                let row = (pass.first &+ q) &* k
                for e in 0..<k {
                    let real = e < count
                    scores.storeBytes(of: real ? T.narrow(buf[e].0) : nan, toByteOffset: (row &+ e) &* size, as: T.self)
                    indices[row &+ e] = real ? buf[e].1 : -1
                }
            }
        }
    }
}
