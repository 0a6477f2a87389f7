// Staging.swift — reading and writing rows of any layout as contiguous chunks, in bounded memory.
//
// The SIMD reductions (Reduce.swift) read contiguous elements. A row whose elements are not adjacent
// is copied, one chunk of `stageChunk` elements at a time, into a scratch slot; a row that is one
// value repeated (inner stride 0, or a size-1 reduced axis broadcast along the reduction) is a slot
// filled once with that value and read for every chunk. So every layout goes through the same
// reductions in the same order and gives the same bits, and the scratch memory is a few slots of
// `stageChunk` elements per thread whatever the row's length (a row of 2³⁴ broadcast elements needs
// no more than a row of 2 000).

import Glibc

/// Elements per staged chunk: a multiple of two registers of every dtype (32 Float, 16 Double lanes),
/// so that chunked reductions perform exactly the operations of one pass over the whole row.
let stageChunk = 2048

/// Scratch slots for the row-wise kernels: `areas` areas (one per block of rows, so per thread) of
/// `slots` slots of `stageChunk` elements, in one 64-byte aligned allocation made before any row is
/// touched. `init` returns nil when the memory cannot be had (the caller reports SSIM_ERR_NO_MEMORY).
struct StagingArea<T: SimScalar> {
    let memory: Workspace?
    let slots: Int

    /// No memory when `needed` is false (every row contiguous).
    init?(slots: Int, areas: Int, needed: Bool) {
        self.slots = slots
        guard needed else {
            memory = nil
            return
        }
        guard let bytes = checkedProduct(slots, areas, stageChunk, MemoryLayout<T>.stride) else { return nil }
        let w = Workspace(bytes: bytes)
        guard w.base != nil else { return nil }
        memory = w
    }

    /// Slot `k` of area `area`.
    @inline(__always) func slot(_ area: Int, _ k: Int) -> UnsafeMutableRawPointer? {
        memory?.base.map { $0 + (area &* slots &+ k) &* stageChunk &* MemoryLayout<T>.stride }
    }

    func free() { memory?.free() }
}

/// One input row, read as contiguous chunks: in place when its elements are adjacent, else through a
/// slot. `count` elements, `stride` bytes apart (0: one value repeated, which fills the slot once).
struct RowReader<T: SimScalar> {
    let base: UnsafeRawPointer
    let stride: Int
    let slot: UnsafeMutableRawPointer?

    @inline(__always) var contiguous: Bool { stride == MemoryLayout<T>.stride }

    /// A row of `count` elements at `base`; `slot` (stageChunk elements) is used unless contiguous.
    @inline(__always) init(_ base: UnsafeRawPointer, stride: Int, count: Int, slot: UnsafeMutableRawPointer?) {
        self.base = base
        self.stride = stride
        self.slot = slot
        if stride == 0, count > 0, let slot { fill(slot, base.load(as: T.self), count) }
    }

    /// One value repeated `count` times (a size-1 reduced axis broadcast along the reduction).
    @inline(__always) init(repeating value: T, count: Int, slot: UnsafeMutableRawPointer) {
        base = UnsafeRawPointer(slot)
        stride = 0
        self.slot = slot
        fill(slot, value, count)
    }

    @inline(__always) private func fill(_ slot: UnsafeMutableRawPointer, _ value: T, _ count: Int) {
        slot.initializeMemory(as: T.self, repeating: value, count: min(count, stageChunk))
    }

    /// Elements `i ..< i + n` (n ≤ stageChunk) as contiguous memory.
    @inline(__always) func chunk(_ i: Int, _ n: Int) -> UnsafeRawPointer {
        let size = MemoryLayout<T>.stride
        if stride == size { return base + i &* size }
        let dst = slot!
        if stride == 0 { return UnsafeRawPointer(dst) }
        let src = base + i &* stride
        for e in 0..<n {
            dst.storeBytes(of: src.load(fromByteOffset: e &* stride, as: T.self), toByteOffset: e &* size, as: T.self)
        }
        return UnsafeRawPointer(dst)
    }
}

/// One output row, written as contiguous chunks: in place when its elements are adjacent, else into a
/// slot that `commit` copies out.
struct RowWriter<T: SimScalar> {
    let base: UnsafeMutableRawPointer
    let stride: Int
    let slot: UnsafeMutableRawPointer?

    /// Where to write elements `i ..< i + n` (n ≤ stageChunk).
    @inline(__always) func chunk(_ i: Int) -> UnsafeMutableRawPointer {
        stride == MemoryLayout<T>.stride ? base + i &* stride : slot!
    }

    /// Copies the slot to elements `i ..< i + n` when `chunk` handed out the slot.
    @inline(__always) func commit(_ i: Int, _ n: Int) {
        let size = MemoryLayout<T>.stride
        if stride == size { return }
        let src = slot!, dst = base + i &* stride
        for e in 0..<n {
            dst.storeBytes(of: src.load(fromByteOffset: e &* size, as: T.self), toByteOffset: e &* stride, as: T.self)
        }
    }
}

/// Calls `body(i, n)` for the chunks `i ..< i + n` of a row of `d` elements, in order.
@inline(__always)
func forEachChunk(_ d: Int, _ body: (_ i: Int, _ n: Int) -> Void) {
    var i = 0
    repeat {
        let n = min(stageChunk, d &- i)
        body(i, n)
        i &+= n
    } while i < d
}
