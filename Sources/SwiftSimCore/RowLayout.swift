// RowLayout.swift — the outer (row) index space of the row-wise kernels: the checked arguments every
// row-wise kernel shares, and the odometer that turns a row number into each operand's byte offset.

import CSwiftSimABI

/// The outer index space of one call: `ndim` axes of sizes `shape`, and for each of `operands`
/// operands `ndim` outer byte strides followed by one inner byte stride (the C ABI's layout).
struct RowLayout {
    let ndim: Int
    let shape: UnsafePointer<Int64>
    let strides: UnsafePointer<Int64>
    let operands: Int
    let rows: Int

    /// A refused call: the status the C ABI returns.
    struct Refusal: Error {
        let status: ssim_status
    }

    /// Checks the arguments every row-wise kernel shares and builds the layout. `d` must be the
    /// broadcast of the reduced lengths `dA` and `dB` (equal, or one of them 1), `epsilon` >= 0.
    static func checked(
        d: Int64, dA: Int64, dB: Int64, epsilon: Double,
        ndim: Int32, shape: UnsafePointer<Int64>?, strides: UnsafePointer<Int64>?, operands: Int
    ) -> Result<RowLayout, Refusal> {
        guard ndim >= 0, ndim <= SSIM_MAX_DIMS else { return .failure(Refusal(status: SSIM_ERR_BAD_SHAPE)) }
        guard let strides, ndim == 0 || shape != nil else { return .failure(Refusal(status: SSIM_ERR_NULL_POINTER)) }
        guard d >= 0, dA == d || dA == 1, dB == d || dB == 1, d == (dA == 1 ? dB : dA)
        else { return .failure(Refusal(status: SSIM_ERR_BAD_SHAPE)) }
        guard epsilon >= 0 else { return .failure(Refusal(status: SSIM_ERR_BAD_EPSILON)) }
        let n = Int(ndim)
        var rows = 1
        for j in 0..<n {
            let s = shape![j]
            guard s >= 0 else { return .failure(Refusal(status: SSIM_ERR_BAD_SHAPE)) }
            let (p, o) = rows.multipliedReportingOverflow(by: Int(s))
            guard !o else { return .failure(Refusal(status: SSIM_ERR_BAD_SHAPE)) }
            rows = p
        }
        // shape is never read when ndim == 0.
        return .success(RowLayout(ndim: n, shape: shape ?? strides, strides: strides, operands: operands, rows: rows))
    }

    @inline(__always) func inner(_ k: Int) -> Int { Int(strides[k * (ndim + 1) + ndim]) }

    /// Calls `body(offsets)` for each row in `range`, in order; `offsets[k]` is operand k's byte offset.
    @inline(__always)
    func forEachRow(in range: Range<Int>, _ body: (UnsafePointer<Int>) -> Void) {
        if range.isEmpty { return }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: operands + ndim) { buf in
            let off = buf.baseAddress!
            let idx = off + operands
            if ndim <= 1 {
                // The common case: one outer axis (the shim coalesces what it can).
                for row in range {
                    for k in 0..<operands {
                        off[k] = ndim == 0 ? 0 : row &* Int(strides[k &* 2])
                    }
                    body(UnsafePointer(off))
                }
                return
            }
            // Unravel the first row, then step like an odometer.
            var rest = range.lowerBound
            for j in stride(from: ndim - 1, through: 0, by: -1) {
                let s = Int(shape[j])
                idx[j] = rest % s
                rest /= s
            }
            for k in 0..<operands {
                var o = 0
                for j in 0..<ndim { o &+= idx[j] &* Int(strides[k &* (ndim + 1) &+ j]) }
                off[k] = o
            }
            for _ in range {
                body(UnsafePointer(off))
                var j = ndim - 1
                while j >= 0 {
                    idx[j] += 1
                    for k in 0..<operands { off[k] &+= Int(strides[k &* (ndim + 1) &+ j]) }
                    if idx[j] < Int(shape[j]) { break }
                    for k in 0..<operands { off[k] &-= idx[j] &* Int(strides[k &* (ndim + 1) &+ j]) }
                    idx[j] = 0
                    j -= 1
                }
            }
        }
    }
}
