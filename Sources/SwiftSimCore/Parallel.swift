// Parallel.swift — the outer (row) index space and how rows are shared among threads.
//
// Rows are split into `threads` contiguous blocks; every row is reduced entirely by one thread in a
// fixed order, so results are bitwise identical for any thread count.

import CSwiftSim
import Dispatch
import Glibc
import Synchronization

/// Below this many elements (rows × d) a call stays on the calling thread: waking a second thread
/// costs more than the work.
let parallelThreshold = 1 << 16

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

/// Runs `body` over `0..<rows`, split into at most `threads` contiguous blocks when the work
/// (`rows × elementsPerRow`) is large enough to pay for the threads.
@inline(__always)
func parallelRows(_ rows: Int, elementsPerRow: Int, threads: Int32, _ body: (Range<Int>) -> Void) {
    let work = rows.multipliedReportingOverflow(by: max(elementsPerRow, 1))
    let t = min(Int(max(threads, 1)), rows)
    if t <= 1 || (!work.overflow && work.partialValue < parallelThreshold) {
        body(0..<rows)
        return
    }
    forEachTask(t, threads: t) { _, i in
        body((rows * i / t)..<(rows * (i + 1) / t))
    }
}

// MARK: scheduling

/// Runs `body(worker, task)` for every task in 0..<count on at most `threads` threads (worker ids
/// 0..<threads, 0 being the calling thread). Tasks are handed out in increasing order from a shared
/// counter, so each worker sees increasing task numbers; which worker runs which task never affects a
/// result.
func forEachTask(_ count: Int, threads: Int, _ body: (_ worker: Int, _ task: Int) -> Void) {
    let t = max(1, min(threads, count))
    if t == 1 {
        for i in 0..<count { body(0, i) }
        return
    }
    if taskPool.run(count, threads: t, body) { return }
    // The pool is busy with another caller's job (or t is beyond its size): libdispatch instead.
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: t) { w in
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(w, i)
        }
    }
}

/// Parked helper threads for `forEachTask`. libdispatch's concurrentPerform was measured to start its
/// second iteration only after ~2 ms when the process had been idle for 10 ms or more (its workers are
/// not woken promptly), which halves the speed of 5-10 ms calls; a pthread parked on a condition
/// variable wakes in ~20 µs. Helpers are created on first use (at most `maxHelpers`), run one job at a
/// time, and are forgotten in a forked child (which creates its own).
final class TaskPool: @unchecked Sendable {
    static let maxHelpers = 63
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let busy = Atomic<Bool>(false)
    private let next = Atomic<Int>(0)
    // Guarded by `lock`:
    private var helpers = 0
    private var generation = 0
    /// The generation before the job during which the newest helpers were created: a helper starts
    /// from it, so it takes part in that job even if it first gets the lock after the job started.
    private var createdAt = 0
    private var jobThreads = 0
    private var jobCount = 0
    private var running = 0
    private var jobBody: ((Int, Int) -> Void)? = nil

    init() {
        initialize()
        pthread_atfork(nil, nil) { taskPool.afterFork() }
    }

    private func initialize() {
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
    }

    /// In a forked child only the forking thread exists: forget the helpers and any job in flight.
    fileprivate func afterFork() {
        initialize()
        helpers = 0
        jobBody = nil
        running = 0
        busy.store(false, ordering: .relaxed)
    }

    /// Runs the job on the caller and `threads - 1` helpers; false (nothing run) if the pool is busy,
    /// too small, or a helper cannot be created.
    func run(_ count: Int, threads: Int, _ body: (Int, Int) -> Void) -> Bool {
        guard threads - 1 <= Self.maxHelpers,
            busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return false }
        defer { busy.store(false, ordering: .releasing) }
        pthread_mutex_lock(lock)
        createdAt = generation
        while helpers < threads - 1 {
            var thread = pthread_t()
            let id = UnsafeMutableRawPointer(bitPattern: helpers + 1)
            guard pthread_create(&thread, nil, { arg in taskPool.helperLoop(id: Int(bitPattern: arg)) }, id) == 0 else {
                pthread_mutex_unlock(lock)
                return false
            }
            pthread_detach(thread)
            helpers += 1
        }
        return withoutActuallyEscaping(body) { body in
            next.store(0, ordering: .relaxed)
            jobBody = body
            jobCount = count
            jobThreads = threads
            running = threads - 1
            generation &+= 1
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(lock)
            work(worker: 0, count: count, body)
            pthread_mutex_lock(lock)
            while running > 0 { pthread_cond_wait(finished, lock) }
            jobBody = nil
            pthread_mutex_unlock(lock)
            return true
        }
    }

    @inline(__always) private func work(worker: Int, count: Int, _ body: (Int, Int) -> Void) {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(worker, i)
        }
    }

    private func helperLoop(id: Int) -> UnsafeMutableRawPointer? {
        pthread_mutex_lock(lock)
        var seen = createdAt
        while true {
            while generation == seen { pthread_cond_wait(wake, lock) }
            seen = generation
            guard id < jobThreads, let body = jobBody else { continue }
            let count = jobCount
            pthread_mutex_unlock(lock)
            work(worker: id, count: count, body)
            pthread_mutex_lock(lock)
            running -= 1
            if running == 0 { pthread_cond_signal(finished) }
        }
    }
}

let taskPool = TaskPool()
