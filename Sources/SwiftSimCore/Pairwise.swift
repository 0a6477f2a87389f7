// Pairwise.swift — all-pairs cosine similarity, batched: out[b][i][j] = cosine(x[b][i], y[b][j]).
//
// Computes c_ij = (x_i·y_j) · (r_i · r_j) with r = 1/sqrt(max(|row|², ε)) (TensorFlow's rule, each
// squared norm clamped on its own), the dot product being one Acc lane of the GEMM engine in Gemm.swift
// (FMA chains of KC steps whose block sums are added in order; see there for the error bound) and the
// norms computed once per row while packing. Because both the FMA chain and the scale product r_i·r_j are symmetric, c_ij and c_ji
// are bitwise equal: with y = x (same memory) only the tiles touching the upper triangle are computed
// and the rest is mirrored, which gives exactly the bits the full computation gives.
// Special rows: NaN or ±Inf → r = NaN → that row (column) of results is NaN; a zero row → 0 (for ε > 0);
// a finite row whose squared norm overflows Acc is scaled by a power of two first (exact cosine).
//
// Work split: a batch of many small matrices runs one matrix per thread; otherwise each matrix is
// packed in parallel (panels), then computed in parallel (tasks = a block of Y panels × a run of X
// panels). Each result is produced by one micro-kernel lane, so no split changes a bit.

import CSwiftSimABI
import CSwiftSimThreads

/// The buffers one executor of `pairwiseMatrix` works in (one per concurrently computed matrix).
struct AllPairsBuffers<T: SimScalar> {
    var xPanels: UnsafeMutablePointer<T.Acc>
    var xScales: UnsafeMutablePointer<T.Acc>
    var yPanels: UnsafeMutablePointer<T.Acc>
    var yScales: UnsafeMutablePointer<T.Acc>
    /// `workers` tile buffers of `blocking.tileVectors` registers each.
    var tiles: UnsafeMutablePointer<T.Vec>
    let memory: Workspace

    /// nil when the allocation fails or the sizes overflow.
    init?(_ b: AllPairsBlocking, workers: Int, packY: Bool = true) {
        let acc = MemoryLayout<T.Acc>.stride
        let vec = MemoryLayout<T.Vec>.stride
        guard let xe = b.xPanelElements, let ye = packY ? b.yPanelElements : 0,
            let tileBytes = checkedProduct(workers, b.tileVectors, vec)
        else { return nil }
        // Layout: tiles | x panels | y panels | x scales | y scales, each 64-byte aligned.
        func up(_ v: Int) -> Int { (v &+ 63) & ~63 }
        let xOff = up(tileBytes), yOff = xOff &+ up(xe &* acc), sxOff = yOff &+ up(ye &* acc)
        let syOff = sxOff &+ up(b.xPass &* acc), total = syOff &+ up(b.yPass &* acc)
        guard xe <= Int.max / 8, ye <= Int.max / 8, total > 0 else { return nil }
        memory = Workspace(bytes: total)
        guard let base = memory.base else { return nil }
        tiles = base.bindMemory(to: T.Vec.self, capacity: workers &* b.tileVectors)
        xPanels = (base + xOff).bindMemory(to: T.Acc.self, capacity: xe)
        yPanels = (base + yOff).bindMemory(to: T.Acc.self, capacity: ye)
        xScales = (base + sxOff).bindMemory(to: T.Acc.self, capacity: b.xPass)
        yScales = (base + syOff).bindMemory(to: T.Acc.self, capacity: b.yPass)
    }
}

/// All pairs of one matrix pair into `out` (row stride `outStride`, columns contiguous).
func pairwiseMatrix<T: SimScalar>(
    _ x: RowMatrix, _ y: RowMatrix, out: UnsafeMutableRawPointer, outStride: Int, d: Int, epsilon: EpsilonFloor<T.Acc>,
    symmetric: Bool, blocking bl: AllPairsBlocking, buffers: AllPairsBuffers<T>, threads: Int,
    interrupt: UnsafePointer<Int32>?, _: T.Type
) {
    let mr = bl.mr, nr = bl.nr, size = MemoryLayout<T>.stride
    let n = x.rows, m = y.rows
    var xs0 = 0
    while xs0 < n {
        let xRows = min(bl.xPass, n &- xs0), npx = (xRows &+ mr &- 1) / mr
        var ys0 = 0
        var xPacked = false
        while ys0 < m {
            let yRows = min(bl.yPass, m &- ys0), npy = (yRows &+ nr &- 1) / nr
            defer { ys0 &+= bl.yPass }
            if symmetric && ys0 &+ yRows <= xs0 { continue }  // entirely below the diagonal: mirrored
            // Phase 1: pack this pass of X (once) and of Y, a few panels per task.
            let chunk = 4
            let xTasks = xPacked ? 0 : (npx &+ chunk &- 1) / chunk, yTasks = (npy &+ chunk &- 1) / chunk
            forEachTask(xTasks &+ yTasks, threads: threads) { _, t in
                if t < xTasks {
                    let p0 = t &* chunk, p1 = min(npx, p0 &+ chunk)
                    packRows(
                        x, first: xs0 &+ p0 &* mr, count: min(xRows, p1 &* mr) &- p0 &* mr, width: mr, d: d,
                        panels: buffers.xPanels + p0 &* mr &* d, scales: buffers.xScales + p0 &* mr,
                        epsilon: epsilon, normalize: true, T.self)
                } else {
                    let p0 = (t &- xTasks) &* chunk, p1 = min(npy, p0 &+ chunk)
                    packRows(
                        y, first: ys0 &+ p0 &* nr, count: min(yRows, p1 &* nr) &- p0 &* nr, width: nr, d: d,
                        panels: buffers.yPanels + p0 &* nr &* d, scales: buffers.yScales + p0 &* nr,
                        epsilon: epsilon, normalize: true, T.self)
                }
            }
            xPacked = true
            // Phase 2: tasks = (block of Y panels) × (run of X panels), enough of them to balance threads.
            let blocks = (npy &+ bl.blockPanels &- 1) / bl.blockPanels
            let wanted = threads > 1 ? (symmetric ? 8 : 4) &* threads : 1
            let runs = min(npx, max(1, (wanted &+ blocks &- 1) / blocks))
            let runPanels = (npx &+ runs &- 1) / runs
            let runCount = (npx &+ runPanels &- 1) / runPanels
            forEachTask(blocks &* runCount, threads: threads) { worker, t in
                if ssim_flag_is_set(interrupt) { return }
                let jp0 = (t / runCount) &* bl.blockPanels, jp1 = min(npy, jp0 &+ bl.blockPanels)
                let ip0 = (t % runCount) &* runPanels, ip1 = min(npx, ip0 &+ runPanels)
                let tiles = buffers.tiles + worker &* bl.tileVectors
                for ip in ip0..<ip1 {
                    if ssim_flag_is_set(interrupt) { return }  // stop at a tile boundary
                    let i0 = xs0 &+ ip &* mr
                    var jLo = jp0
                    if symmetric && i0 > ys0 { jLo = max(jp0, (i0 &- ys0) / nr) }  // first tile reaching j ≥ i0
                    if jLo >= jp1 { continue }
                    let a = UnsafePointer(buffers.xPanels + ip &* mr &* d)
                    var pc = 0
                    repeat {
                        let kc = min(gemmKC, d &- pc)
                        for jp in jLo..<jp1 {
                            microKernel(
                                a + pc &* mr, UnsafePointer(buffers.yPanels + jp &* nr &* d + pc &* nr), kc,
                                tiles + (jp &- jLo) &* gemmTileVectors, accumulate: pc > 0, pairs: pairDotProducts(T.self))
                        }
                        pc &+= gemmKC
                    } while pc < d
                    let rows = min(mr, xRows &- ip &* mr)
                    storeTiles(
                        tiles, tiles: jp1 &- jLo, rx: buffers.xScales + ip &* mr, ry: buffers.yScales + jLo &* nr,
                        rows: rows, cols: yRows &- jLo &* nr, out: out + i0 &* outStride + (ys0 &+ jLo &* nr) &* size,
                        rowStride: outStride, T.self)
                }
            }
        }
        xs0 &+= bl.xPass
        if ssim_flag_is_set(interrupt) { return }
    }
    if symmetric { mirrorLower(out, n: n, rowStride: outStride, threads: threads, interrupt: interrupt, T.self) }
}

/// out[i][j] = out[j][i] for every j < i, in 64 × 64 blocks; row bands are spread over `threads`.
func mirrorLower<T>(
    _ out: UnsafeMutableRawPointer, n: Int, rowStride: Int, threads: Int, interrupt: UnsafePointer<Int32>?, _: T.Type
) {
    let b = 64, size = MemoryLayout<T>.stride
    forEachTask((n &+ b &- 1) / b, threads: threads) { _, t in
        if ssim_flag_is_set(interrupt) { return }
        let i0 = t &* b, i1 = min(n, i0 &+ b)
        var j0 = 0
        while j0 < i1 {
            let j1 = min(j0 &+ b, i1)
            for i in i0..<i1 {
                let jEnd = min(j1, i)
                if j0 >= jEnd { continue }
                let dst = (out + i &* rowStride).assumingMemoryBound(to: T.self)
                for j in j0..<jEnd { dst[j] = (out + j &* rowStride).load(fromByteOffset: i &* size, as: T.self) }
            }
            j0 = j1
        }
    }
}

/// The exported entry point (see swiftsim.h): checks, chooses the split, runs every matrix of the batch.
func pairwiseCosine<T: SimScalar>(
    _ x: UnsafePointer<T>?, _ y: UnsafePointer<T>?, _ out: UnsafeMutablePointer<T>?, n: Int64, m: Int64, d: Int64,
    xElemStride: Int64, yElemStride: Int64, ndim: Int32, shape: UnsafePointer<Int64>?, strides: UnsafePointer<Int64>?,
    epsilon: Double, threads: Int32, interrupt: UnsafePointer<Int32>?
) -> ssim_status {
    guard n >= 0, m >= 0, d >= 0 else { return SSIM_ERR_BAD_SHAPE }
    let layout: RowLayout
    switch RowLayout.checked(d: 1, dA: 1, dB: 1, epsilon: epsilon, ndim: ndim, shape: shape, strides: strides, operands: 3) {
    case .success(let l): layout = l
    case .failure(let e): return e.status
    }
    let batches = layout.rows, rn = Int(n), rm = Int(m), rd = Int(d)
    if batches == 0 || rn == 0 || rm == 0 { return SSIM_OK }
    guard let x, let y, let out else { return SSIM_ERR_NULL_POINTER }
    guard let work = checkedProduct(batches, rn, rm, max(rd, 1)) else { return SSIM_ERR_BAD_SHAPE }
    let xs = Int(xElemStride), ys = Int(yElemStride)
    let xr = layout.inner(0), yr = layout.inner(1), outStride = layout.inner(2)
    // y = x: the same rows in the same memory, for every matrix of the batch.
    var symmetric = UnsafeRawPointer(x) == UnsafeRawPointer(y) && n == m && xs == ys && xr == yr
    for j in 0..<layout.ndim where layout.strides[j] != layout.strides[layout.ndim &+ 1 &+ j] { symmetric = false }
    let eps = EpsilonFloor<T.Acc>(epsilon)
    let bl = AllPairsBlocking(T.self, d: rd, xRows: rn, yRows: rm)
    let t = gemmThreads(threads, work: work)
    let perMatrixBytes = (rn &+ rm) &* max(rd, 1) &* MemoryLayout<T.Acc>.stride
    let px = UnsafeRawPointer(x), py = UnsafeRawPointer(y), po = UnsafeMutableRawPointer(out)

    if t > 1 && batches >= 2 &* t && work / batches <= 1 << 26 && perMatrixBytes <= 8 << 20 {
        // Many small matrices: one matrix per task, each worker with its own buffers.
        var buffers: [AllPairsBuffers<T>] = []
        defer { for b in buffers { b.memory.free() } }
        for _ in 0..<t {
            guard let b = AllPairsBuffers<T>(bl, workers: 1) else { return SSIM_ERR_NO_MEMORY }
            buffers.append(b)
        }
        buffers.withUnsafeBufferPointer { bufs in
            forEachTask(batches, threads: t) { worker, b in
                layout.forEachRow(in: b..<(b &+ 1)) { off in
                    pairwiseMatrix(
                        RowMatrix(base: px + off[0], rows: rn, rowStride: xr, elemStride: xs),
                        RowMatrix(base: py + off[1], rows: rm, rowStride: yr, elemStride: ys),
                        out: po + off[2], outStride: outStride, d: rd, epsilon: eps, symmetric: symmetric,
                        blocking: bl, buffers: bufs[worker], threads: 1, interrupt: interrupt, T.self)
                }
            }
        }
        return ssim_flag_is_set(interrupt) ? SSIM_INTERRUPTED : SSIM_OK
    }
    guard let buffers = AllPairsBuffers<T>(bl, workers: t) else { return SSIM_ERR_NO_MEMORY }
    defer { buffers.memory.free() }
    layout.forEachRow(in: 0..<batches) { off in
        pairwiseMatrix(
            RowMatrix(base: px + off[0], rows: rn, rowStride: xr, elemStride: xs),
            RowMatrix(base: py + off[1], rows: rm, rowStride: yr, elemStride: ys),
            out: po + off[2], outStride: outStride, d: rd, epsilon: eps, symmetric: symmetric,
            blocking: bl, buffers: buffers, threads: t, interrupt: interrupt, T.self)
    }
    return ssim_flag_is_set(interrupt) ? SSIM_INTERRUPTED : SSIM_OK
}
