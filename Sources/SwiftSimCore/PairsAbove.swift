// PairsAbove.swift — every pair of rows whose cosine reaches a threshold (near-duplicate search), in
// increasing (row, column), without ever holding the n × m matrix.
//
// The product is computed tile by tile by the GEMM engine of Gemm.swift exactly as Pairwise.swift
// computes it (same packing, micro-kernel and scales r_i · r_j), so every score is bitwise the pairwise
// value, narrowed to the input dtype; the threshold is rounded to that dtype and compared with the
// narrowed score (what `pairwise(x) >= threshold` does in NumPy with a Python float). A tile row none
// of whose lanes reaches the threshold is rejected with two vector compares.
//
// Order and threads. x is processed in passes of at most `pairsPassRows` rows; for each pass, y in
// passes of packed panels, each split into tasks (a block of y panels × a run of x panels) as in
// Pairwise.swift. A task appends the pairs it finds to its worker's log, row by row, so for any one
// row its pairs come out in increasing column; the segment each task wrote is recorded in task order
// (y pass, then block: increasing columns). When the pass of x is done, a stable counting sort by row
// over the segments, in that order, writes its pairs in increasing (row, column) to the caller's
// buffers. The result is sorted on a unique key, so it is the same for any thread count.
// Memory: the packed panels (Pairwise.swift's), the staged pairs of one pass of x (at most what the
// caller's capacity admits, plus one panel's worth), one segment record per task of the pass (about
// m / 256 of them) and a counter per row of the pass: never O(n · m).

import CSwiftSimABI
import CSwiftSimThreads
import Glibc
import Synchronization

/// Rows of x per pass: bounds the staged pairs and the per-row counters, and the work repeated when a
/// caller resumes after SSIM_CAPACITY_EXCEEDED; y is packed once per pass (under 0.1% of the work).
let pairsPassRows = 4096

/// One pair found, staged until its pass of x is written; `row` is relative to the pass.
struct StagedPair<T> {
    var col: Int64
    var row: Int32
    var score: T
}

/// Where one task's pairs are: `log[begin ..< end]` of worker `worker`.
struct PairSegment {
    var begin: Int
    var end: Int
    var worker: Int
}

/// A growable buffer of `E` in malloc'd memory: growth that cannot be had is reported, never trapped.
struct GrowableBuffer<E> {
    var base: UnsafeMutablePointer<E>? = nil
    var count = 0
    var capacity = 0

    /// Makes room for `extra` more elements; false when the memory cannot be had.
    @inline(__always) mutating func reserve(_ extra: Int) -> Bool {
        let (need, o) = count.addingReportingOverflow(extra)
        if o { return false }
        if need <= capacity { return true }
        let grown = max(need, capacity > Int.max / 2 ? need : 2 &* capacity, 64)
        let stride = MemoryLayout<E>.stride
        guard grown <= Int.max / stride, let p = realloc(base, grown &* stride) else { return false }
        base = p.bindMemory(to: E.self, capacity: grown)
        capacity = grown
        return true
    }

    /// Appends `e`; false when the memory cannot be had.
    @inline(__always) mutating func append(_ e: E) -> Bool {
        if count == capacity && !reserve(1) { return false }
        base![count] = e
        count &+= 1
        return true
    }

    func release() { Glibc.free(base) }
}

/// What one call keeps fixed: the threshold in the dtype, the lower bound its vector test uses, and
/// the band j - i >= diagonal (when `banded`).
struct PairFilter<T: SimScalar> {
    let threshold: T
    /// A tile row is looked at only if some lane is >= this: the threshold itself, or for a dtype
    /// narrower than the accumulator the value just below it (a lane rounding up to the threshold
    /// is above that).
    let lanes: T.Acc
    let banded: Bool
    let diagonal: Int
}

/// Scales `tiles` consecutive tiles (one x panel: `rows` rows from global row `row0`, staged as pass
/// rows from `passRow0`; `cols` columns from global column `col0`) and appends every pair that passes
/// `filter` to `log`, row by row, columns increasing. False when the log cannot grow.
@inline(__always)
func stagePairs<T: SimScalar>(
    _ c: UnsafePointer<T.Vec>, tiles: Int, rx: UnsafePointer<T.Acc>, ry: UnsafePointer<T.Acc>, rows: Int, cols: Int,
    row0: Int, passRow0: Int, col0: Int, filter: PairFilter<T>, log: UnsafeMutablePointer<GrowableBuffer<StagedPair<T>>>
) -> Bool {
    let w = T.Vec.scalarCount, nrv = gemmNRV, nr = nrv &* w
    for r in 0..<rows {
        let ri = T.Vec(repeating: rx[r])
        let lo = filter.banded ? max(0, row0 &+ r &+ filter.diagonal &- col0) : 0  // first column in the band
        if lo >= cols { continue }
        for t in (lo / nr)..<tiles {
            let valid = min(nr, cols &- t &* nr)
            let scales = PanelScales<T.Vec>(ry + t &* nr)
            let tile = c + t &* gemmTileVectors
            var v0 = scales.scaled(tile, row: r, 0, ri: ri)
            var v1 = nrv > 1 ? scales.scaled(tile, row: r, 1, ri: ri) : v0
            if !anyAtLeast(v0, v1, filter.lanes) { continue }
            // compare the values the caller receives (float16, bfloat16), not their float32 originals
            v0 = T.rounded(v0)
            v1 = T.rounded(v1)
            for l in max(0, lo &- t &* nr)..<valid {
                let s = T.narrow(l < w ? v0[l] : v1[l &- w])
                if s >= filter.threshold {
                    let pair = StagedPair(col: Int64(col0 &+ t &* nr &+ l), row: Int32(passRow0 &+ r), score: s)
                    if !log.pointee.append(pair) { return false }
                }
            }
        }
    }
    return true
}

/// The exported entry point (see swiftsim.h).
func pairsAbove<T: SimScalar>(
    _ x: UnsafePointer<T>?, _ y: UnsafePointer<T>?, n: Int64, m: Int64, d: Int64, xRowStride: Int64, xElemStride: Int64,
    yRowStride: Int64, yElemStride: Int64, threshold: Double, diagonal: Int64, firstRow: Int64, epsilon: Double,
    capacity: Int64, rows: UnsafeMutablePointer<Int64>?, cols: UnsafeMutablePointer<Int64>?, scores: UnsafeMutablePointer<T>?,
    written: UnsafeMutablePointer<Int64>?, found: UnsafeMutablePointer<Int64>?, nextRow: UnsafeMutablePointer<Int64>?,
    threads: Int32, interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    guard let written, let found, let nextRow else { return SSIM_ERR_NULL_POINTER }
    written.pointee = 0
    found.pointee = 0
    nextRow.pointee = firstRow
    guard n >= 0, m >= 0, d >= 0, firstRow >= 0, firstRow <= n, capacity >= 0 else { return SSIM_ERR_BAD_SHAPE }
    guard epsilon >= 0 else { return SSIM_ERR_BAD_EPSILON }
    guard !threshold.isNaN else { return SSIM_ERR_BAD_THRESHOLD }
    let rn = Int(n), rm = Int(m), rd = Int(d), first = Int(firstRow)
    // j - i lies in [-(n - 1), m - 1]: a diagonal at or below the first keeps every pair, one above the
    // last keeps none; in between, the band is applied (and the arithmetic below cannot overflow).
    let banded = diagonal > 1 &- n
    if first == rn || rm == 0 || diagonal >= m {
        nextRow.pointee = n
        return SSIM_OK
    }
    guard let x, let y else { return SSIM_ERR_NULL_POINTER }
    if capacity > 0 && (rows == nil || cols == nil || scores == nil) { return SSIM_ERR_NULL_POINTER }
    guard let work = checkedProduct(rn &- first, rm, max(rd, 1)) else { return SSIM_ERR_BAD_SHAPE }
    let diag = banded ? Int(diagonal) : 0
    let t = gemmThreads(threads, work: work)
    let eps = EpsilonFloor<T.Acc>(epsilon)
    let th = T(threshold)
    let filter = PairFilter<T>(
        threshold: th, lanes: MemoryLayout<T>.size != MemoryLayout<T.Acc>.size ? T.widen(th.nextDown) : T.widen(th),
        banded: banded, diagonal: diag)
    let bl = AllPairsBlocking(T.self, d: rd, xRows: min(rn &- first, pairsPassRows), yRows: rm)
    let mr = bl.mr, nr = bl.nr, cap = Int(capacity)
    guard let buffers = AllPairsBuffers<T>(bl, workers: t) else { return SSIM_ERR_NO_MEMORY }
    defer { buffers.memory.free() }
    var plan = WorkspacePlan()
    let logsAt = plan.reserve(t &* MemoryLayout<GrowableBuffer<StagedPair<T>>>.stride)
    let countsAt = plan.reserve((bl.xPass &+ 1) &* 8)
    let tableAt = plan.reserve(MemoryLayout<GrowableBuffer<PairSegment>>.stride)
    guard let total = plan.total else { return SSIM_ERR_BAD_SHAPE }
    let memory = Workspace(bytes: total)
    guard let base = memory.base else { return SSIM_ERR_NO_MEMORY }
    let logs = (base + logsAt).bindMemory(to: GrowableBuffer<StagedPair<T>>.self, capacity: t)
    logs.initialize(repeating: GrowableBuffer(), count: t)
    let counts = (base + countsAt).bindMemory(to: Int.self, capacity: bl.xPass &+ 1)
    let table = (base + tableAt).bindMemory(to: GrowableBuffer<PairSegment>.self, capacity: 1)
    table.initialize(to: GrowableBuffer())
    defer {
        for w in 0..<t { logs[w].release() }
        table.pointee.release()
        memory.free()
    }
    let xm = RowMatrix(base: UnsafeRawPointer(x), rows: rn, rowStride: Int(xRowStride), elemStride: Int(xElemStride))
    let ym = RowMatrix(base: UnsafeRawPointer(y), rows: rm, rowStride: Int(yRowStride), elemStride: Int(yElemStride))
    let size = MemoryLayout<T>.stride
    /// Set when a task finds the capacity exhausted (1) or cannot stage a pair (2): every task stops.
    let stop = Atomic<Int>(0)
    var done = 0  // pairs written so far

    var xs0 = first
    while xs0 < rn {
        if banded && xs0 &+ diag >= rm { break }  // no column is far enough right for any later row
        let xRows = min(bl.xPass, rn &- xs0), npx = (xRows &+ mr &- 1) / mr
        for w in 0..<t { logs[w].count = 0 }
        table.pointee.count = 0
        let passFound = Atomic<Int>(0)
        var xPacked = false
        var ys0 = 0
        while ys0 < rm {
            let yRows = min(bl.yPass, rm &- ys0), npy = (yRows &+ nr &- 1) / nr
            defer { ys0 &+= bl.yPass }
            if banded && ys0 &+ yRows &- 1 < xs0 &+ diag { continue }  // left of the band for every row of the pass
            // Phase 1: pack this pass of x (once) and of y, a few panels per task.
            let chunk = 4
            let xTasks = xPacked ? 0 : (npx &+ chunk &- 1) / chunk, yTasks = (npy &+ chunk &- 1) / chunk
            forEachTask(xTasks &+ yTasks, threads: t) { _, task in
                if task < xTasks {
                    let p0 = task &* chunk, p1 = min(npx, p0 &+ chunk)
                    packRows(
                        xm, first: xs0 &+ p0 &* mr, count: min(xRows, p1 &* mr) &- p0 &* mr, width: mr, d: rd,
                        panels: buffers.xPanels + p0 &* mr &* rd, scales: buffers.xScales + p0 &* mr, epsilon: eps,
                        normalize: true, T.self)
                } else {
                    let p0 = (task &- xTasks) &* chunk, p1 = min(npy, p0 &+ chunk)
                    packRows(
                        ym, first: ys0 &+ p0 &* nr, count: min(yRows, p1 &* nr) &- p0 &* nr, width: nr, d: rd,
                        panels: buffers.yPanels + p0 &* nr &* rd, scales: buffers.yScales + p0 &* nr, epsilon: eps,
                        normalize: true, T.self)
                }
            }
            xPacked = true
            // Phase 2: tasks = (block of y panels) × (run of x panels), block-major: for one row, task
            // order is column order.
            let blocks = (npy &+ bl.blockPanels &- 1) / bl.blockPanels
            let wanted = t > 1 ? 4 &* t : 1
            let runs = min(npx, max(1, (wanted &+ blocks &- 1) / blocks))
            let runPanels = (npx &+ runs &- 1) / runs
            let runCount = (npx &+ runPanels &- 1) / runPanels
            let tasks = blocks &* runCount
            let tableBase = table.pointee.count
            guard table.pointee.reserve(tasks) else { return SSIM_ERR_NO_MEMORY }
            table.pointee.count &+= tasks
            let segments = table.pointee.base! + tableBase
            forEachTask(tasks, threads: t) { worker, task in
                let log = logs + worker
                let begin = log.pointee.count
                defer { segments[task] = PairSegment(begin: begin, end: log.pointee.count, worker: worker) }
                let jp0 = (task / runCount) &* bl.blockPanels, jp1 = min(npy, jp0 &+ bl.blockPanels)
                let ip0 = (task % runCount) &* runPanels, ip1 = min(npx, ip0 &+ runPanels)
                let tiles = buffers.tiles + worker &* bl.tileVectors
                for ip in ip0..<ip1 {
                    if ssim_flag_is_set(interrupt) || stop.load(ordering: .relaxed) != 0 { return }  // at a tile boundary
                    let i0 = xs0 &+ ip &* mr
                    var jLo = jp0
                    if banded { jLo = max(jp0, (i0 &+ diag &- ys0) / nr) }  // first panel reaching j ≥ i0 + diagonal
                    if jLo >= jp1 { continue }
                    let a = UnsafePointer(buffers.xPanels + ip &* mr &* rd)
                    var pc = 0
                    repeat {
                        let kc = min(gemmKC, rd &- pc)
                        for jp in jLo..<jp1 {
                            microKernel(
                                a + pc &* mr, UnsafePointer(buffers.yPanels + jp &* nr &* rd + pc &* nr), kc,
                                tiles + (jp &- jLo) &* gemmTileVectors, accumulate: pc > 0, pairs: pairDotProducts(T.self))
                        }
                        pc &+= gemmKC
                    } while pc < rd
                    let before = log.pointee.count
                    let staged = stagePairs(
                        tiles, tiles: jp1 &- jLo, rx: buffers.xScales + ip &* mr, ry: buffers.yScales + jLo &* nr,
                        rows: min(mr, xRows &- ip &* mr), cols: min(yRows, jp1 &* nr) &- jLo &* nr, row0: i0,
                        passRow0: ip &* mr, col0: ys0 &+ jLo &* nr, filter: filter, log: log)
                    if !staged {
                        stop.store(2, ordering: .relaxed)
                        return
                    }
                    let now = passFound.wrappingAdd(log.pointee.count &- before, ordering: .relaxed).newValue
                    if now > cap &- done { _ = stop.compareExchange(expected: 0, desired: 1, ordering: .relaxed) }
                }
            }
            if ssim_flag_is_set(interrupt) { return SSIM_INTERRUPTED }
            if stop.load(ordering: .relaxed) == 2 { return SSIM_ERR_NO_MEMORY }
            if stop.load(ordering: .relaxed) == 1 { break }
        }
        // The pairs of this pass, in (row, column) order: a stable counting sort by row over the
        // segments in task order (see the file's header).
        let segs = table.pointee.base, segCount = table.pointee.count
        var passPairs = 0
        for s in 0..<segCount { passPairs &+= segs![s].end &- segs![s].begin }
        if passPairs > cap &- done {
            written.pointee = Int64(done)
            found.pointee = Int64(done &+ passPairs)
            nextRow.pointee = Int64(xs0)
            return SSIM_CAPACITY_EXCEEDED
        }
        counts.initialize(repeating: 0, count: xRows &+ 1)
        for s in 0..<segCount {
            let sg = segs![s]
            guard sg.end > sg.begin, let log = logs[sg.worker].base else { continue }
            for e in sg.begin..<sg.end { counts[Int(log[e].row) &+ 1] &+= 1 }
        }
        for r in 0..<xRows { counts[r &+ 1] &+= counts[r] }
        let outScores = UnsafeMutableRawPointer(scores)
        for s in 0..<segCount {
            let sg = segs![s]
            guard sg.end > sg.begin, let log = logs[sg.worker].base else { continue }
            for e in sg.begin..<sg.end {
                let p = log[e], r = Int(p.row)
                let at = done &+ counts[r]
                counts[r] &+= 1
                rows![at] = Int64(xs0 &+ r)
                cols![at] = p.col
                outScores!.storeBytes(of: p.score, toByteOffset: at &* size, as: T.self)
            }
        }
        done &+= passPairs
        xs0 &+= bl.xPass
    }
    written.pointee = Int64(done)
    found.pointee = Int64(done)
    nextRow.pointee = n
    return SSIM_OK
}
