// Gemm.swift — the engine shared by the all-pairs kernels (Pairwise.swift, TopK.swift): panel packing,
// the register-tiled FMA micro-kernel, the tile epilogues and the workspace (tasks run on ThreadPool.swift).
//
// The product C = X·Yᵀ (X: rows x_i, Y: rows y_j, both of length d) is computed the way BLIS/GotoBLAS
// compute a GEMM:
//   - Packing: rows of X are copied (widened to Acc, transposed) into panels of MR rows laid out
//     [k][MR]; rows of Y into panels of NR = NRV registers laid out [k][NR]. Tails are zero-padded, so
//     the micro-kernel never branches. Each row's inverse norm r is computed while packing
//     (TensorFlow's rule, Reduce.swift) and stored beside the panel.
//   - Micro-kernel: an MR × NRV-register tile of accumulators stays in registers; per k it loads the NRV
//     registers of the Y panel and broadcasts the MR values of the X panel: MR·NRV FMAs. The shape
//     follows the compile target's register file (swiftsim_target.h): 12 × 2 on AVX-512 (24 of the 32
//     zmm registers: 32 Float or 16 Double columns), 6 × 1 on AVX2 and NEON, 2 × 1 on SSE.
//   - Blocking: d is cut into blocks of KC so an X panel block (MR × KC) stays in L1 while the Y panels
//     of a block of NC rows stream from L2. Each block's products are summed from zero in registers and
//     then added to the partial tile kept in a small Acc buffer.
//   - So each result element is a fixed two-level sum: FMA chains of KC = 128 steps (one accumulator
//     lane), whose block sums are added in order of k. The order depends on d alone, never on the
//     tiling or the thread count. Error against the exact dot product: at most (KC + d/KC)·u·Σ|x_k y_k|
//     (u = 2⁻²⁴ Float, 2⁻⁵³ Double) instead of a single chain's d·u — for d = 4096, 160 u instead of
//     4096 u, which matters for strongly correlated rows, whose errors do not cancel.
// Float16 rows are widened to Float when packed, so float16 accumulates in float32. So are bfloat16 rows,
// except on a target with AVX512_BF16 (`pairDotProducts`): there they are packed as they are, two k per
// 32-bit word, and the micro-kernel multiplies them with vdpbf16ps, two k per instruction at twice the
// bytes per register. Each lane's sum is then a chain of pair steps (acc + x_{k+1}y_{k+1}) + x_k y_k over
// the KC block (the products are exact in Float, so each step rounds twice, as two FMAs would), blocks
// added in order as above: a fixed order, so the same bits for any tiling or thread count, and the same
// bound on the error; the instruction counts subnormal bfloat16 inputs as zero (their products are
// below 2⁻²⁵² of the sum's scale for a row of normal values, and a row of subnormals is clamped by ε).

import CSwiftSimABI
import CSwiftSimSIMD
import Glibc
import Synchronization

/// Rows of X per register tile (the broadcast side), from the target's register file.
@inline(__always) var gemmMR: Int { Int(SSIM_TARGET_GEMM_MR) }
/// Registers (of 512 bits: T.Vec) of Y per register tile.
@inline(__always) var gemmNRV: Int { SSIM_TARGET_SIMD_BITS >= 512 ? 2 : 1 }
/// Columns of Y per register tile.
@inline(__always) func gemmNR<T: SimScalar>(_: T.Type) -> Int { gemmNRV &* T.Vec.scalarCount }
/// Registers of one tile.
@inline(__always) var gemmTileVectors: Int { gemmMR &* gemmNRV }
/// Depth of one K block (elements): a 12 × 128 Float block of X is 6 KiB, well within L1. The block
/// length bounds the FMA chain of every dot product (see above); 128…768 were measured within noise of
/// each other for d = 768.
let gemmKC = 128
/// Bytes of packed Y a thread keeps hot in its L2 (1 MiB per core here), leaving room for the X stream;
/// 768 KiB measured best for d = 768 in float32 and float64 (512 KiB: float64 6% slower).
let gemmYBlockBytes = 768 << 10
/// Most Y panels per block (bounds the per-thread tile buffer).
let gemmMaxBlockPanels = 32
/// Bytes of packed panels one side may take before the rows are processed in several passes.
let gemmPackBytes = 32 << 20

/// Whether the all-pairs kernels multiply rows of `T` as bfloat16 pairs (vdpbf16ps): bfloat16 on a target
/// with AVX512_BF16. Folds to a constant in each specialisation.
@inline(__always) func pairDotProducts<T: SimScalar>(_: T.Type) -> Bool {
    SSIM_TARGET_HAS_AVX512BF16 != 0 && T.self == BFloat16.self
}

/// Whether one or two queries' streaming products run two registers of corpus rows at once
/// (TopKCall.fusedDotsTwo): float32, float64 and bfloat16 pairs, whose squares are multiplied straight from
/// memory; the types widened into registers first (float16, bfloat16 without vdpbf16ps) do not.
@inline(__always) func multipliesTwoRegisters<T: SimScalar>(_: T.Type) -> Bool {
    T.self == Float.self || T.self == Double.self || pairDotProducts(T.self)
}

// MARK: workspace

/// The most recently released workspace block, kept for the next call: a fresh block of tens of MiB
/// comes from mmap and its first touch costs a page fault and a zeroed page per 4 KiB (5-10% of a
/// 4096² product). At most one block of at most `workspaceCacheBytes` is kept (like a BLAS buffer).
// `nonisolated(unsafe)`: the pointer is only ever exchanged atomically, which is what makes it safe.
nonisolated(unsafe) private let cachedWorkspace = Atomic<UnsafeMutableRawPointer?>(nil)
let workspaceCacheBytes = 64 << 20

/// A 64-byte aligned heap block that reports failure instead of trapping. Its first 64 bytes (before
/// `base`) hold its capacity.
struct Workspace {
    let base: UnsafeMutableRawPointer?
    private let block: UnsafeMutableRawPointer?

    init(bytes: Int) {
        let need = max(bytes, 64)
        if bytes >= 0, let c = cachedWorkspace.exchange(nil, ordering: .acquiring) {  // a negative size never fits
            if c.load(as: Int.self) >= need {
                block = c
                base = c + 64
                return
            }
            Glibc.free(c)
        }
        var p: UnsafeMutableRawPointer? = nil
        if bytes >= 0, bytes <= Int.max - 128, posix_memalign(&p, 64, need + 64) == 0, let p {
            p.storeBytes(of: need, as: Int.self)
            block = p
            base = p + 64
        } else {
            block = nil
            base = nil
        }
    }

    /// Returns the block to the cache (if it is small enough and the cache is empty) or to the system.
    func free() {
        guard let block else { return }
        if block.load(as: Int.self) <= workspaceCacheBytes,
            cachedWorkspace.compareExchange(expected: nil, desired: block, ordering: .acquiringAndReleasing).exchanged
        {
            return
        }
        Glibc.free(block)
    }
}

/// Offsets of the pieces of one workspace, each 64-byte aligned; `total` is nil if a size overflowed.
struct WorkspacePlan {
    private var size = 0
    private var overflowed = false
    /// Reserves `bytes` and returns their offset.
    mutating func reserve(_ bytes: Int) -> Int {
        let at = size
        let (r, o) = size.addingReportingOverflow((max(bytes, 0) &+ 63) & ~63)
        if o || bytes < 0 || bytes > Int.max - 64 { overflowed = true } else { size = r }
        return at
    }
    var total: Int? { overflowed ? nil : size }
}

/// `a * b` (and more factors) or nil on overflow: workspace sizes are computed from caller counts.
@inline(__always) func checkedProduct(_ xs: Int...) -> Int? {
    var p = 1
    for x in xs {
        let (r, o) = p.multipliedReportingOverflow(by: x)
        if o || x < 0 { return nil }
        p = r
    }
    return p
}

// MARK: packing

/// How one row enters the product: its elements are multiplied by `factor` when packed (1, or a power of
/// two for a finite row whose squared norm overflows Acc, which makes the cosine exact there) and its
/// inverse norm is `r` = 1/sqrt(max(|factor·x|², ε)); NaN for a row holding NaN or ±Inf.
/// A strided row's squared norm is summed through `slot` (Staging.swift), giving the bits the same
/// row gives laid out contiguously.
@inline(__always)
func rowScale<T: SimScalar>(
    _ row: UnsafeRawPointer, _ d: Int, _ es: Int, epsilon: EpsilonFloor<T.Acc>, slot: UnsafeMutableRawPointer?, _: T.Type
)
    -> (factor: T.Acc, r: T.Acc)
{
    rowScale(squaredNorm: sumSquares(RowReader<T>(row, stride: es, count: d, slot: slot), d), row, d, es, epsilon: epsilon, T.self)
}

/// `rowScale` of a row whose squared norm `s` (summed as sumSquares sums it) is known.
@inline(__always)
func rowScale<T: SimScalar>(
    squaredNorm s: T.Acc, _ row: UnsafeRawPointer, _ d: Int, _ es: Int, epsilon: EpsilonFloor<T.Acc>, _: T.Type
) -> (factor: T.Acc, r: T.Acc) {
    if s.isFinite {
        let r = UnitScale<T.Acc>(squaredNorm: s, epsilon: epsilon).r
        // The epilogue forms r_i · r_j: a scale beyond √max (a row below about 1e-19 in float32, or a
        // tiny ε) could overflow that product, so such a row is rescaled first.
        if r <= T.Acc.greatestFiniteMagnitude.squareRoot() { return (1, r) }
        return smallRowScale(row, d, es, r: r, epsilon: epsilon, T.self)
    }
    return overflowedRowScale(row, d, es, epsilon: epsilon, T.self)
}

/// Advances the sumSquares states of four contiguous rows (`rowStride` bytes apart; two registers per
/// row in `state`, row after row) over the pairs of registers starting at the elements of `pairs`, then
/// one register at element `single` (when ≥ 0): SumSquaresState's own operations, chunk by chunk, the four
/// rows in lockstep so that their eight FMA chains overlap. With `fresh`, the states start from zero (the
/// first chunk) instead of being read.
@inline(__always)
func sumSquaresStep4<T: SimScalar>(
    _ row: UnsafeRawPointer, rowStride: Int, pairs: Range<Int>, single: Int, state: UnsafeMutablePointer<T.Vec>, fresh: Bool,
    _: T.Type
) {
    let w = T.Vec.scalarCount, size = MemoryLayout<T>.stride
    let p0 = row, p1 = row + rowStride, p2 = row + 2 &* rowStride, p3 = row + 3 &* rowStride
    var a0 = T.Vec(), a1 = T.Vec(), b0 = T.Vec(), b1 = T.Vec(), c0 = T.Vec(), c1 = T.Vec(), e0 = T.Vec(), e1 = T.Vec()
    if !fresh {
        a0 = state[0]; a1 = state[1]; b0 = state[2]; b1 = state[3]
        c0 = state[4]; c1 = state[5]; e0 = state[6]; e1 = state[7]
    }
    var i = pairs.lowerBound
    while i < pairs.upperBound {
        let o = i &* size
        var (x, y) = T.loadPair(p0 + o)
        a0 = a0.madd(x, x); a1 = a1.madd(y, y)
        (x, y) = T.loadPair(p1 + o)
        b0 = b0.madd(x, x); b1 = b1.madd(y, y)
        (x, y) = T.loadPair(p2 + o)
        c0 = c0.madd(x, x); c1 = c1.madd(y, y)
        (x, y) = T.loadPair(p3 + o)
        e0 = e0.madd(x, x); e1 = e1.madd(y, y)
        i &+= 2 &* w
    }
    if single >= 0 {
        let o = single &* size
        var x = T.load(p0 + o)
        a0 = a0.madd(x, x)
        x = T.load(p1 + o); b0 = b0.madd(x, x)
        x = T.load(p2 + o); c0 = c0.madd(x, x)
        x = T.load(p3 + o); e0 = e0.madd(x, x)
    }
    state[0] = a0; state[1] = a1; state[2] = b0; state[3] = b1
    state[4] = c0; state[5] = c1; state[6] = e0; state[7] = e1
}

/// `rowScale` of `count` rows (row i at `row + i·rowStride`, elements `es` bytes apart) whose squared norms
/// `sums` are known, into scales and factors: a register of rows at a time for the common case (a finite
/// squared norm whose scale is at most √max: correctly rounded vector square roots and divisions, the
/// bits UnitScale gives one row at a time), `rowScale` for the rest. Returns whether a factor is not 1.
@inline(__always)
func rowScales<T: SimScalar>(
    sums: UnsafePointer<T.Acc>, count: Int, _ row: UnsafeRawPointer, rowStride: Int, _ d: Int, _ es: Int,
    epsilon: EpsilonFloor<T.Acc>, scales: UnsafeMutablePointer<T.Acc>, factors: UnsafeMutablePointer<T.Acc>, _: T.Type
) -> Bool {
    let w = T.Vec.scalarCount, limit = T.Acc.greatestFiniteMagnitude.squareRoot()
    var scaled = false, i = 0
    while i &+ w <= count {
        var rare: UInt32
        if T.Acc.self == Float.self {
            rare = ssim_inverse_norms_f32x16(
                UnsafeRawPointer(sums + i).assumingMemoryBound(to: Float.self), Float(epsilon.floor), Float(epsilon.clampedScale),
                Float(limit), UnsafeMutableRawPointer(scales + i).assumingMemoryBound(to: Float.self))
        } else {
            rare = ssim_inverse_norms_f64x8(
                UnsafeRawPointer(sums + i).assumingMemoryBound(to: Double.self), Double(epsilon.floor),
                Double(epsilon.clampedScale), Double(limit), UnsafeMutableRawPointer(scales + i).assumingMemoryBound(to: Double.self))
        }
        for l in 0..<w { factors[i &+ l] = 1 }
        while rare != 0 {
            let l = rare.trailingZeroBitCount
            rare &= rare &- 1
            let sc = rowScale(squaredNorm: sums[i &+ l], row + (i &+ l) &* rowStride, d, es, epsilon: epsilon, T.self)
            scales[i &+ l] = sc.r
            factors[i &+ l] = sc.factor
            scaled = scaled || sc.factor != 1
        }
        i &+= w
    }
    while i < count {
        let sc = rowScale(squaredNorm: sums[i], row + i &* rowStride, d, es, epsilon: epsilon, T.self)
        scales[i] = sc.r
        factors[i] = sc.factor
        scaled = scaled || sc.factor != 1
        i &+= 1
    }
    return scaled
}

/// The other rare branch of `rowScale`: a row whose inverse norm exceeds √max. It is multiplied by a
/// power of two f (exact) that brings its largest magnitude near 1, its squared norm is summed again
/// from the scaled values (no longer in the subnormal range) and compared with ε·f², and the scale
/// returned is that of the scaled row, at most 1: the product (f·x)·y · r(f·x) is the exact formula.
@inline(never)
func smallRowScale<T: SimScalar>(
    _ row: UnsafeRawPointer, _ d: Int, _ es: Int, r: T.Acc, epsilon: EpsilonFloor<T.Acc>, _: T.Type
) -> (factor: T.Acc, r: T.Acc) {
    let v = StridedRow<T>(base: row, stride: es, count: d)
    let mx = v.maxMagnitude()
    // A zero row: its cosines are 0 for ε > 0 (any finite scale gives that) and NaN for ε = 0 (1/√0).
    if mx == 0 { return (1, epsilon.exact > 0 ? T.Acc.greatestFiniteMagnitude.squareRoot() : r) }
    let k = min(-Int(mx.exponent), Int(T.Acc.greatestFiniteMagnitude.exponent) - 4)
    let f = T.Acc(sign: .plus, exponent: T.Acc.Exponent(k), significand: 1)
    var s: T.Acc = 0
    for i in 0..<d { let e = v[i] * f; s = s.madd(e, e) }
    if Double(s) / Double(f) / Double(f) < epsilon.exact {  // |x|² < ε: the clamped scale, for f·x
        return (f, T.Acc(1 / epsilon.exact.squareRoot() / Double(f)))
    }
    return (f, 1 / s.squareRoot())
}

/// The rare branch of `rowScale`, kept out of line. The squared norm of the scaled row is compared
/// with nothing: the true one overflowed, so it is above any ε within Acc's range; an ε beyond that
/// range is compared with the true squared norm (EpsilonFloor.clamps).
@inline(never)
func overflowedRowScale<T: SimScalar>(_ row: UnsafeRawPointer, _ d: Int, _ es: Int, epsilon: EpsilonFloor<T.Acc>, _: T.Type)
    -> (factor: T.Acc, r: T.Acc)
{
    let v = StridedRow<T>(base: row, stride: es, count: d)
    let mx = v.maxMagnitude()
    guard mx.isFinite else { return (1, .nan) }
    let f = T.Acc(sign: .plus, exponent: -mx.exponent, significand: 1)  // scaled magnitudes < 2, exact
    if epsilon.clamps(overflowed: v) {
        // r·f⁻¹ undoes the packed factor: the product is (f·x)·y · (1/√ε)/f.
        return (f, T.Acc(1 / epsilon.exact.squareRoot() / Double(f)))
    }
    var s: T.Acc = 0
    for k in 0..<d { let e = v[k] * f; s = s.madd(e, e) }
    return (f, 1 / s.squareRoot())
}

/// Packs `rows` (≤ `width`) rows starting at `src` into one panel laid out [k][width] in Acc, zero-padding
/// rows `rows..<width`, and writes each row's inverse norm to `scales[0..<width]` (0 for padding, 1 for
/// every row when `normalize` is false). The copy goes in chunks of 64 k so the transposed writes stay
/// in L1 (a whole panel is up to width × d × 8 bytes).
/// With `pairs` (see `pairDotProducts`), the rows stay bfloat16, packed as `packPairs` lays them out.
@inline(__always)
func packPanel<T: SimScalar>(
    _ src: UnsafeRawPointer, rowStride: Int, elemStride es: Int, rows: Int, d: Int, width: Int,
    into dst: UnsafeMutablePointer<T.Acc>, scales: UnsafeMutablePointer<T.Acc>, epsilon: EpsilonFloor<T.Acc>, normalize: Bool,
    pairs: Bool = false, _: T.Type
) {
    let contiguous = es == MemoryLayout<T>.stride
    withUnsafeTemporaryAllocation(byteCount: (width &+ (contiguous ? 0 : stageChunk)) &* 8, alignment: 16) { raw in
        let f = raw.baseAddress!.bindMemory(to: T.Acc.self, capacity: width)
        let slot = contiguous ? nil : raw.baseAddress! + width &* 8
        var scaled = false
        for r in 0..<rows {
            // The scale is computed without `normalize` too (its result unused): it is the row's first,
            // sequential read, which the transposing copy below would otherwise make in a worse order
            // (32 rows a few lines at a time), slowing assume_normalized down by about 3 %.
            let sc = rowScale(src + r &* rowStride, d, es, epsilon: epsilon, slot: slot, T.self)
            if normalize {
                f[r] = sc.factor
                scales[r] = sc.r
                scaled = scaled || sc.factor != 1
            } else {
                ssim_keep(Double(sc.r))
                f[r] = 1
                scales[r] = 1
            }
        }
        for r in rows..<width { scales[r] = 0 }
        if pairs {
            packPairs(
                src, rowStride: rowStride, elemStride: es, rows: rows, d: d, width: width,
                factors: UnsafeRawPointer(f).assumingMemoryBound(to: Float.self), into: UnsafeMutableRawPointer(dst))
            return
        }
        var k0 = 0
        while k0 < d {
            let k1 = min(d, k0 &+ 64)
            for r in 0..<rows {
                let row = src + r &* rowStride
                let p = dst + r
                if contiguous && !scaled {
                    let t = row.assumingMemoryBound(to: T.self)
                    for k in k0..<k1 { p[k &* width] = T.widen(t[k]) }
                } else {
                    let fr = f[r]
                    for k in k0..<k1 { p[k &* width] = T.widen(row.load(fromByteOffset: k &* es, as: T.self)) * fr }
                }
            }
            for r in rows..<width {
                for k in k0..<k1 { dst[k &* width &+ r] = 0 }
            }
            k0 = k1
        }
    }
}

/// The bits of bfloat16 `x` (its bits) times the power of two `f`: exact, as the factor only moves the
/// exponent of a row whose values it keeps within range.
@inline(__always) func scaledBFloat16Bits(_ x: UInt16, _ f: Float) -> UInt16 {
    f == 1 ? x : bfloat16Bits(Float(bitPattern: UInt32(x) &<< 16) * f)
}

/// Packs `rows` bfloat16 rows (each multiplied by its power-of-two factor, exactly) as 32-bit words holding
/// the elements k (low half) and k + 1 (high half; 0 past d), for k even: the word of pair k of row r is at
/// word ((k / KC)·KC + (k % KC) / 2)·width + r, so each KC block starts where a Float panel's would (the
/// callers' offsets are those of Float panels) and its kc/2 pair steps fill the first half of it. Rows
/// `rows..<width` are zero.
func packPairs(
    _ src: UnsafeRawPointer, rowStride: Int, elemStride es: Int, rows: Int, d: Int, width: Int, factors: UnsafePointer<Float>,
    into dst: UnsafeMutableRawPointer
) {
    let words = dst.assumingMemoryBound(to: UInt32.self)
    @inline(__always) func element(_ row: UnsafeRawPointer, _ k: Int, _ f: Float) -> UInt32 {
        if k >= d { return 0 }
        return UInt32(scaledBFloat16Bits(row.load(fromByteOffset: k &* es, as: UInt16.self), f))
    }
    var k0 = 0
    while k0 < d {
        let k1 = min(d, k0 &+ gemmKC), full = (k1 &- k0) / 2, pairs = (k1 &- k0 &+ 1) / 2
        let block = words + k0 &* width
        for r in 0..<rows {
            let row = src + r &* rowStride, f = factors[r], p = block + r
            if es == 2 && f == 1 {
                // Two adjacent bfloat16 are one little-endian word with element k in its low half.
                for j in 0..<full { p[j &* width] = row.loadUnaligned(fromByteOffset: (k0 &+ 2 &* j) &* 2, as: UInt32.self) }
                if full < pairs { p[full &* width] = element(row, k1 &- 1, 1) }
            } else {
                for j in 0..<pairs {
                    let k = k0 &+ 2 &* j
                    p[j &* width] = element(row, k, f) | element(row, k &+ 1, f) &<< 16
                }
            }
        }
        for r in rows..<width {
            for j in 0..<pairs { block[j &* width &+ r] = 0 }
        }
        k0 = k1
    }
}

// MARK: operands and their blocking

/// One operand's rows: row i, element k at `base + i·rowStride + k·elemStride` (bytes).
struct RowMatrix {
    var base: UnsafeRawPointer
    var rows: Int
    var rowStride: Int
    var elemStride: Int
    @inline(__always) func row(_ i: Int) -> UnsafeRawPointer { base + i &* rowStride }
}

/// The blocking of one all-pairs call, from d, the dtype and the row counts.
struct AllPairsBlocking {
    let mr: Int, nr: Int, d: Int
    /// Rows of X / Y packed per pass (multiples of mr / nr).
    let xPass: Int, yPass: Int
    /// Y panels per block (the part of packed Y one thread keeps in L2).
    let blockPanels: Int

    init<T: SimScalar>(_: T.Type, d: Int, xRows: Int, yRows: Int) {
        mr = gemmMR
        nr = gemmNR(T.self)
        self.d = d
        let rowBytes = max(1, d &* MemoryLayout<T.Acc>.stride)
        let fit = max(1, gemmPackBytes / rowBytes)
        xPass = max(mr, min(fit, xRows &+ mr &- 1) / mr &* mr)
        yPass = max(nr, min(fit, yRows &+ nr &- 1) / nr &* nr)
        blockPanels = max(1, min(gemmMaxBlockPanels, gemmYBlockBytes / (nr &* rowBytes)))
    }

    /// Acc elements of the packed panels of one pass of X and of Y, and of one thread's tile buffer.
    var xPanelElements: Int? { checkedProduct(xPass, d) }
    var yPanelElements: Int? { checkedProduct(yPass, d) }
    var tileVectors: Int { blockPanels &* gemmTileVectors }
}

/// Packs rows `first ..< first + count` of `src` into `panels` panels of `width` rows ([k][width] each),
/// their inverse norms into `scales`; panel tasks are spread over `threads`.
@inline(__always)
func packRows<T: SimScalar>(
    _ src: RowMatrix, first: Int, count: Int, width: Int, d: Int, panels: UnsafeMutablePointer<T.Acc>,
    scales: UnsafeMutablePointer<T.Acc>, epsilon: EpsilonFloor<T.Acc>, normalize: Bool, _: T.Type
) {
    let np = (count &+ width &- 1) / width
    for p in 0..<np {
        packPanel(
            src.row(first &+ p &* width), rowStride: src.rowStride, elemStride: src.elemStride,
            rows: min(width, count &- p &* width), d: d, width: width, into: panels + p &* width &* d,
            scales: scales + p &* width, epsilon: epsilon, normalize: normalize, pairs: pairDotProducts(T.self), T.self)
    }
}

// MARK: micro-kernel

/// One register tile: the sums Σ_k a[k·MR + r] · b[k·NR + v·w ..< k·NR + (v+1)·w] over `kc` steps, each
/// an FMA chain from zero, stored to c[r·NRV + v], or added to it when `accumulate`. `a` is a packed X panel, `b` a packed Y panel (64-byte
/// aligned), `c` a buffer of MR·NRV registers.
/// With `pairs` (`pairDotProducts`), the panels hold bfloat16 pairs (`packPairs`) and the tile is
/// `microKernel12x2Pairs`'s.
@inline(__always)
func microKernel<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool, pairs: Bool = false
) where V.Scalar: BinaryFloatingPoint {
    if pairs && gemmMR == 12 && V.self == SIMD16<Float>.self {
        return microKernel12x2Pairs(
            UnsafeRawPointer(a), UnsafeRawPointer(b), kc, UnsafeMutableRawPointer(c).assumingMemoryBound(to: SIMD16<Float>.self),
            accumulate: accumulate)
    }
    switch gemmMR {
    case 12: microKernel12x2(a, b, kc, c, accumulate: accumulate)
    case 6: microKernel6x1(a, b, kc, c, accumulate: accumulate)
    default: microKernel2x1(a, b, kc, c, accumulate: accumulate)
    }
}

/// The 12 × 2-register tile (see `microKernel`).
@inline(never)
func microKernel12x2<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var c0a = V(), c0b = V()
    var c1a = V(), c1b = V()
    var c2a = V(), c2b = V()
    var c3a = V(), c3b = V()
    var c4a = V(), c4b = V()
    var c5a = V(), c5b = V()
    var c6a = V(), c6b = V()
    var c7a = V(), c7b = V()
    var c8a = V(), c8b = V()
    var c9a = V(), c9b = V()
    var c10a = V(), c10b = V()
    var c11a = V(), c11b = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self)
        let b1 = pb.load(fromByteOffset: 1 &* step, as: V.self)
        var s: V
        s = V(repeating: pa[0]); c0a = c0a.madd(s, b0); c0b = c0b.madd(s, b1)
        s = V(repeating: pa[1]); c1a = c1a.madd(s, b0); c1b = c1b.madd(s, b1)
        s = V(repeating: pa[2]); c2a = c2a.madd(s, b0); c2b = c2b.madd(s, b1)
        s = V(repeating: pa[3]); c3a = c3a.madd(s, b0); c3b = c3b.madd(s, b1)
        s = V(repeating: pa[4]); c4a = c4a.madd(s, b0); c4b = c4b.madd(s, b1)
        s = V(repeating: pa[5]); c5a = c5a.madd(s, b0); c5b = c5b.madd(s, b1)
        s = V(repeating: pa[6]); c6a = c6a.madd(s, b0); c6b = c6b.madd(s, b1)
        s = V(repeating: pa[7]); c7a = c7a.madd(s, b0); c7b = c7b.madd(s, b1)
        s = V(repeating: pa[8]); c8a = c8a.madd(s, b0); c8b = c8b.madd(s, b1)
        s = V(repeating: pa[9]); c9a = c9a.madd(s, b0); c9b = c9b.madd(s, b1)
        s = V(repeating: pa[10]); c10a = c10a.madd(s, b0); c10b = c10b.madd(s, b1)
        s = V(repeating: pa[11]); c11a = c11a.madd(s, b0); c11b = c11b.madd(s, b1)
        pa += 12
        pb += 2 &* step
    }
    if accumulate {
        c[0] += c0a; c[1] += c0b
        c[2] += c1a; c[3] += c1b
        c[4] += c2a; c[5] += c2b
        c[6] += c3a; c[7] += c3b
        c[8] += c4a; c[9] += c4b
        c[10] += c5a; c[11] += c5b
        c[12] += c6a; c[13] += c6b
        c[14] += c7a; c[15] += c7b
        c[16] += c8a; c[17] += c8b
        c[18] += c9a; c[19] += c9b
        c[20] += c10a; c[21] += c10b
        c[22] += c11a; c[23] += c11b
    } else {
        c[0] = c0a; c[1] = c0b
        c[2] = c1a; c[3] = c1b
        c[4] = c2a; c[5] = c2b
        c[6] = c3a; c[7] = c3b
        c[8] = c4a; c[9] = c4b
        c[10] = c5a; c[11] = c5b
        c[12] = c6a; c[13] = c6b
        c[14] = c7a; c[15] = c7b
        c[16] = c8a; c[17] = c8b
        c[18] = c9a; c[19] = c9b
        c[20] = c10a; c[21] = c10b
        c[22] = c11a; c[23] = c11b
    }
}

/// The 12 × 2-register tile of bfloat16 pairs: per pair step, the two registers of Y words (32 columns ×
/// 2 k) and, per row of X, its word broadcast; 24 vdpbf16ps, each adding two products per lane.
@inline(never)
func microKernel12x2Pairs(
    _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ kc: Int, _ c: UnsafeMutablePointer<SIMD16<Float>>, accumulate: Bool
) {
    typealias V = SIMD16<Float>
    var c0a = V(), c0b = V()
    var c1a = V(), c1b = V()
    var c2a = V(), c2b = V()
    var c3a = V(), c3b = V()
    var c4a = V(), c4b = V()
    var c5a = V(), c5b = V()
    var c6a = V(), c6b = V()
    var c7a = V(), c7b = V()
    var c8a = V(), c8b = V()
    var c9a = V(), c9b = V()
    var c10a = V(), c10b = V()
    var c11a = V(), c11b = V()
    var pa = a.assumingMemoryBound(to: Float.self)  // words of bfloat16 pairs, moved as Float bits
    var pb = b
    let step = MemoryLayout<V>.stride
    for _ in 0..<((kc &+ 1) / 2) {
        let b0 = pb.load(as: V.self)
        let b1 = pb.load(fromByteOffset: step, as: V.self)
        var s: V
        s = V(repeating: pa[0]); c0a = ssim_dpbf16_f32x16(c0a, s, b0); c0b = ssim_dpbf16_f32x16(c0b, s, b1)
        s = V(repeating: pa[1]); c1a = ssim_dpbf16_f32x16(c1a, s, b0); c1b = ssim_dpbf16_f32x16(c1b, s, b1)
        s = V(repeating: pa[2]); c2a = ssim_dpbf16_f32x16(c2a, s, b0); c2b = ssim_dpbf16_f32x16(c2b, s, b1)
        s = V(repeating: pa[3]); c3a = ssim_dpbf16_f32x16(c3a, s, b0); c3b = ssim_dpbf16_f32x16(c3b, s, b1)
        s = V(repeating: pa[4]); c4a = ssim_dpbf16_f32x16(c4a, s, b0); c4b = ssim_dpbf16_f32x16(c4b, s, b1)
        s = V(repeating: pa[5]); c5a = ssim_dpbf16_f32x16(c5a, s, b0); c5b = ssim_dpbf16_f32x16(c5b, s, b1)
        s = V(repeating: pa[6]); c6a = ssim_dpbf16_f32x16(c6a, s, b0); c6b = ssim_dpbf16_f32x16(c6b, s, b1)
        s = V(repeating: pa[7]); c7a = ssim_dpbf16_f32x16(c7a, s, b0); c7b = ssim_dpbf16_f32x16(c7b, s, b1)
        s = V(repeating: pa[8]); c8a = ssim_dpbf16_f32x16(c8a, s, b0); c8b = ssim_dpbf16_f32x16(c8b, s, b1)
        s = V(repeating: pa[9]); c9a = ssim_dpbf16_f32x16(c9a, s, b0); c9b = ssim_dpbf16_f32x16(c9b, s, b1)
        s = V(repeating: pa[10]); c10a = ssim_dpbf16_f32x16(c10a, s, b0); c10b = ssim_dpbf16_f32x16(c10b, s, b1)
        s = V(repeating: pa[11]); c11a = ssim_dpbf16_f32x16(c11a, s, b0); c11b = ssim_dpbf16_f32x16(c11b, s, b1)
        pa += 12
        pb += 2 &* step
    }
    if accumulate {
        c[0] += c0a; c[1] += c0b
        c[2] += c1a; c[3] += c1b
        c[4] += c2a; c[5] += c2b
        c[6] += c3a; c[7] += c3b
        c[8] += c4a; c[9] += c4b
        c[10] += c5a; c[11] += c5b
        c[12] += c6a; c[13] += c6b
        c[14] += c7a; c[15] += c7b
        c[16] += c8a; c[17] += c8b
        c[18] += c9a; c[19] += c9b
        c[20] += c10a; c[21] += c10b
        c[22] += c11a; c[23] += c11b
    } else {
        c[0] = c0a; c[1] = c0b
        c[2] = c1a; c[3] = c1b
        c[4] = c2a; c[5] = c2b
        c[6] = c3a; c[7] = c3b
        c[8] = c4a; c[9] = c4b
        c[10] = c5a; c[11] = c5b
        c[12] = c6a; c[13] = c6b
        c[14] = c7a; c[15] = c7b
        c[16] = c8a; c[17] = c8b
        c[18] = c9a; c[19] = c9b
        c[20] = c10a; c[21] = c10b
        c[22] = c11a; c[23] = c11b
    }
}

/// The 6 × 1-register tile (see `microKernel`).
@inline(never)
func microKernel6x1<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var c0a = V()
    var c1a = V()
    var c2a = V()
    var c3a = V()
    var c4a = V()
    var c5a = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self)
        var s: V
        s = V(repeating: pa[0]); c0a = c0a.madd(s, b0)
        s = V(repeating: pa[1]); c1a = c1a.madd(s, b0)
        s = V(repeating: pa[2]); c2a = c2a.madd(s, b0)
        s = V(repeating: pa[3]); c3a = c3a.madd(s, b0)
        s = V(repeating: pa[4]); c4a = c4a.madd(s, b0)
        s = V(repeating: pa[5]); c5a = c5a.madd(s, b0)
        pa += 6
        pb += 1 &* step
    }
    if accumulate {
        c[0] += c0a
        c[1] += c1a
        c[2] += c2a
        c[3] += c3a
        c[4] += c4a
        c[5] += c5a
    } else {
        c[0] = c0a
        c[1] = c1a
        c[2] = c2a
        c[3] = c3a
        c[4] = c4a
        c[5] = c5a
    }
}

/// The 2 × 1-register tile (see `microKernel`).
@inline(never)
func microKernel2x1<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var c0a = V()
    var c1a = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self)
        var s: V
        s = V(repeating: pa[0]); c0a = c0a.madd(s, b0)
        s = V(repeating: pa[1]); c1a = c1a.madd(s, b0)
        pa += 2
        pb += 1 &* step
    }
    if accumulate {
        c[0] += c0a
        c[1] += c1a
    } else {
        c[0] = c0a
        c[1] = c1a
    }
}

// MARK: narrow micro-kernels

/// Tiles of fewer rows than `gemmMR` for the top-k streaming path, whose few queries are the broadcast
/// side: `rows` (1, 2, 4 or 8, at most gemmMR) × gemmNRV registers, the same FMA chains from zero as
/// `microKernel` (so the same bits for each lane), the same tile layout c[r·NRV + v].
@inline(__always)
func narrowKernel<V: SIMD>(
    rows: Int, _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    if rows == gemmMR { return microKernel(a, b, kc, c, accumulate: accumulate) }
    switch rows {
    case 1: narrowKernel1(a, b, kc, c, accumulate: accumulate)
    case 2: narrowKernel2(a, b, kc, c, accumulate: accumulate)
    case 4: narrowKernel4(a, b, kc, c, accumulate: accumulate)
    default: narrowKernel8(a, b, kc, c, accumulate: accumulate)
    }
}

/// The narrow tile widths: the smallest of 1, 2, 4, 8 and gemmMR that holds `rows` (at most gemmMR) rows.
@inline(__always) func narrowWidth(_ rows: Int) -> Int {
    let r = min(rows, gemmMR)
    for w in [1, 2, 4, 8] where r <= w && w < gemmMR { return w }
    return gemmMR
}

/// Stores (or adds) one tile row's accumulators.
@inline(__always)
func storeTileRow<V: SIMD>(_ c: UnsafeMutablePointer<V>, _ row: Int, _ x: V, _ y: V, accumulate: Bool) where V.Scalar: FloatingPoint {
    let i = row &* gemmNRV
    if accumulate {
        c[i] += x
        if gemmNRV > 1 { c[i &+ 1] += y }
    } else {
        c[i] = x
        if gemmNRV > 1 { c[i &+ 1] = y }
    }
}

/// The 1-row tile (see `narrowKernel`).
@inline(never)
func narrowKernel1<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var c0a = V(), c0b = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride, two = gemmNRV > 1
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self)
        let b1 = two ? pb.load(fromByteOffset: step, as: V.self) : b0
        let s = V(repeating: pa[0])
        c0a = c0a.madd(s, b0)
        if two { c0b = c0b.madd(s, b1) }
        pa += 1
        pb += gemmNRV &* step
    }
    storeTileRow(c, 0, c0a, c0b, accumulate: accumulate)
}

/// The 2-row tile (see `narrowKernel`).
@inline(never)
func narrowKernel2<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var c0a = V(), c0b = V(), c1a = V(), c1b = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride, two = gemmNRV > 1
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self)
        let b1 = two ? pb.load(fromByteOffset: step, as: V.self) : b0
        var s: V
        s = V(repeating: pa[0]); c0a = c0a.madd(s, b0); if two { c0b = c0b.madd(s, b1) }
        s = V(repeating: pa[1]); c1a = c1a.madd(s, b0); if two { c1b = c1b.madd(s, b1) }
        pa += 2
        pb += gemmNRV &* step
    }
    storeTileRow(c, 0, c0a, c0b, accumulate: accumulate)
    storeTileRow(c, 1, c1a, c1b, accumulate: accumulate)
}

/// The 4-row tile (see `narrowKernel`).
@inline(never)
func narrowKernel4<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var c0a = V(), c0b = V(), c1a = V(), c1b = V(), c2a = V(), c2b = V(), c3a = V(), c3b = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride, two = gemmNRV > 1
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self)
        let b1 = two ? pb.load(fromByteOffset: step, as: V.self) : b0
        var s: V
        s = V(repeating: pa[0]); c0a = c0a.madd(s, b0); if two { c0b = c0b.madd(s, b1) }
        s = V(repeating: pa[1]); c1a = c1a.madd(s, b0); if two { c1b = c1b.madd(s, b1) }
        s = V(repeating: pa[2]); c2a = c2a.madd(s, b0); if two { c2b = c2b.madd(s, b1) }
        s = V(repeating: pa[3]); c3a = c3a.madd(s, b0); if two { c3b = c3b.madd(s, b1) }
        pa += 4
        pb += gemmNRV &* step
    }
    storeTileRow(c, 0, c0a, c0b, accumulate: accumulate)
    storeTileRow(c, 1, c1a, c1b, accumulate: accumulate)
    storeTileRow(c, 2, c2a, c2b, accumulate: accumulate)
    storeTileRow(c, 3, c3a, c3b, accumulate: accumulate)
}

/// The 8-row tile (see `narrowKernel`; used where gemmMR > 8).
@inline(never)
func narrowKernel8<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var c0a = V(), c0b = V(), c1a = V(), c1b = V(), c2a = V(), c2b = V(), c3a = V(), c3b = V()
    var c4a = V(), c4b = V(), c5a = V(), c5b = V(), c6a = V(), c6b = V(), c7a = V(), c7b = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride, two = gemmNRV > 1
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self)
        let b1 = two ? pb.load(fromByteOffset: step, as: V.self) : b0
        var s: V
        s = V(repeating: pa[0]); c0a = c0a.madd(s, b0); if two { c0b = c0b.madd(s, b1) }
        s = V(repeating: pa[1]); c1a = c1a.madd(s, b0); if two { c1b = c1b.madd(s, b1) }
        s = V(repeating: pa[2]); c2a = c2a.madd(s, b0); if two { c2b = c2b.madd(s, b1) }
        s = V(repeating: pa[3]); c3a = c3a.madd(s, b0); if two { c3b = c3b.madd(s, b1) }
        s = V(repeating: pa[4]); c4a = c4a.madd(s, b0); if two { c4b = c4b.madd(s, b1) }
        s = V(repeating: pa[5]); c5a = c5a.madd(s, b0); if two { c5b = c5b.madd(s, b1) }
        s = V(repeating: pa[6]); c6a = c6a.madd(s, b0); if two { c6b = c6b.madd(s, b1) }
        s = V(repeating: pa[7]); c7a = c7a.madd(s, b0); if two { c7b = c7b.madd(s, b1) }
        pa += 8
        pb += gemmNRV &* step
    }
    storeTileRow(c, 0, c0a, c0b, accumulate: accumulate)
    storeTileRow(c, 1, c1a, c1b, accumulate: accumulate)
    storeTileRow(c, 2, c2a, c2b, accumulate: accumulate)
    storeTileRow(c, 3, c3a, c3b, accumulate: accumulate)
    storeTileRow(c, 4, c4a, c4b, accumulate: accumulate)
    storeTileRow(c, 5, c5a, c5b, accumulate: accumulate)
    storeTileRow(c, 6, c6a, c6b, accumulate: accumulate)
    storeTileRow(c, 7, c7a, c7b, accumulate: accumulate)
}

/// Tiles of 1, 2 or 4 rows over the columns of two tiles at once, for targets with two registers per
/// tile (gemmNRV == 2): `b` is a slice laid out [k][2·NR] (four registers per k) and the sums go to two
/// tiles of the usual layout, c and c + gemmTileVectors. The same FMA chains as `microKernel` (the same
/// bits per lane), twice as many of them at once: with one or two queries, `narrowKernel`'s few chains
/// wait on the FMA latency.
@inline(__always)
func wideKernel<V: SIMD>(
    rows: Int, _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    switch rows {
    case 1: wideKernel1(a, b, kc, c, accumulate: accumulate)
    case 2: wideKernel2(a, b, kc, c, accumulate: accumulate)
    default: wideKernel4(a, b, kc, c, accumulate: accumulate)
    }
}

@inline(never)
func wideKernel1<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>, accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    wideKernelBody(rows: 1, a, b, kc, c, accumulate: accumulate)
}

@inline(never)
func wideKernel2<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>, accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    wideKernelBody(rows: 2, a, b, kc, c, accumulate: accumulate)
}

@inline(never)
func wideKernel4<V: SIMD>(
    _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>, accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    wideKernelBody(rows: 4, a, b, kc, c, accumulate: accumulate)
}

/// The body of the wide tiles; `rows` is a constant in each caller, so its tests fold away.
@inline(__always)
func wideKernelBody<V: SIMD>(
    rows: Int, _ a: UnsafePointer<V.Scalar>, _ b: UnsafePointer<V.Scalar>, _ kc: Int, _ c: UnsafeMutablePointer<V>,
    accumulate: Bool
) where V.Scalar: BinaryFloatingPoint {
    var x0 = V(), x1 = V(), x2 = V(), x3 = V()
    var y0 = V(), y1 = V(), y2 = V(), y3 = V()
    var z0 = V(), z1 = V(), z2 = V(), z3 = V()
    var u0 = V(), u1 = V(), u2 = V(), u3 = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let step = MemoryLayout<V>.stride
    for _ in 0..<kc {
        let b0 = pb.load(as: V.self), b1 = pb.load(fromByteOffset: step, as: V.self)
        let b2 = pb.load(fromByteOffset: 2 &* step, as: V.self), b3 = pb.load(fromByteOffset: 3 &* step, as: V.self)
        var s = V(repeating: pa[0])
        x0 = x0.madd(s, b0); x1 = x1.madd(s, b1); x2 = x2.madd(s, b2); x3 = x3.madd(s, b3)
        if rows > 1 {
            s = V(repeating: pa[1])
            y0 = y0.madd(s, b0); y1 = y1.madd(s, b1); y2 = y2.madd(s, b2); y3 = y3.madd(s, b3)
        }
        if rows > 2 {
            s = V(repeating: pa[2])
            z0 = z0.madd(s, b0); z1 = z1.madd(s, b1); z2 = z2.madd(s, b2); z3 = z3.madd(s, b3)
            s = V(repeating: pa[3])
            u0 = u0.madd(s, b0); u1 = u1.madd(s, b1); u2 = u2.madd(s, b2); u3 = u3.madd(s, b3)
        }
        pa += rows
        pb += 4 &* step
    }
    let c1 = c + gemmTileVectors
    storeTileRow(c, 0, x0, x1, accumulate: accumulate)
    storeTileRow(c1, 0, x2, x3, accumulate: accumulate)
    if rows > 1 {
        storeTileRow(c, 1, y0, y1, accumulate: accumulate)
        storeTileRow(c1, 1, y2, y3, accumulate: accumulate)
    }
    if rows > 2 {
        storeTileRow(c, 2, z0, z1, accumulate: accumulate)
        storeTileRow(c1, 2, z2, z3, accumulate: accumulate)
        storeTileRow(c, 3, u0, u1, accumulate: accumulate)
        storeTileRow(c1, 3, u2, u3, accumulate: accumulate)
    }
}

// MARK: epilogues

/// The inverse norms of one Y panel's columns, as NRV registers.
struct PanelScales<V: SIMD> where V.Scalar: BinaryFloatingPoint {
    let r0: V, r1: V
    @inline(__always) init(_ ry: UnsafePointer<V.Scalar>) {
        r0 = UnsafeRawPointer(ry).loadUnaligned(as: V.self)
        r1 = gemmNRV > 1 ? UnsafeRawPointer(ry + V.scalarCount).loadUnaligned(as: V.self) : V()
    }
    /// Register v of tile row `row` scaled by r_i · r_j (a product symmetric in i and j).
    @inline(__always) func scaled(_ c: UnsafePointer<V>, row: Int, _ v: Int, ri: V) -> V {
        c[row &* gemmNRV &+ v] * (ri * (v == 0 ? r0 : r1))
    }
}

/// Stores `tiles` consecutive scaled tiles (one X panel × `tiles` Y panels: `rows` × `cols` valid, the
/// last tile possibly partial) to `out` (row stride `rowStride` bytes, columns contiguous), one output
/// row at a time so that the stores run along each row.
@inline(__always)
func storeTiles<T: SimScalar>(
    _ c: UnsafePointer<T.Vec>, tiles: Int, rx: UnsafePointer<T.Acc>, ry: UnsafePointer<T.Acc>, rows: Int, cols: Int,
    out: UnsafeMutableRawPointer, rowStride: Int, _: T.Type
) {
    let w = T.Vec.scalarCount, nrv = gemmNRV, nr = nrv &* w, size = MemoryLayout<T>.stride
    for r in 0..<rows {
        let ri = T.Vec(repeating: rx[r])
        let o = out + r &* rowStride
        for t in 0..<tiles {
            let scales = PanelScales<T.Vec>(ry + t &* nr)
            let tile = c + t &* gemmTileVectors
            let ot = o + t &* nr &* size
            let valid = min(nr, cols &- t &* nr)
            if valid == nr {
                for v in 0..<nrv { T.store(scales.scaled(tile, row: r, v, ri: ri), ot + v &* w &* size) }
            } else {
                for v in 0..<nrv where v &* w < valid {
                    let x = scales.scaled(tile, row: r, v, ri: ri)
                    for l in 0..<min(w, valid &- v &* w) {
                        ot.storeBytes(of: T.narrow(x[l]), toByteOffset: (v &* w &+ l) &* size, as: T.self)
                    }
                }
            }
        }
    }
}

/// The threads worth using for `work` multiply-adds (one thread below `parallelThreshold` × 16).
@inline(__always) func gemmThreads(_ threads: Int32, work: Int) -> Int {
    work < parallelThreshold &* 16 ? 1 : max(1, Int(threads))
}
