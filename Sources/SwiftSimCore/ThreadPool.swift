// ThreadPool.swift — how the work of one call is shared among threads.
//
// Every kernel splits its work into tasks (blocks of rows, tiles of a product) whose results do not
// depend on which thread runs them, so a call gives the same bits on any number of threads. Tasks run
// on the calling thread and on parked helper threads of one process-wide pool. The pool never makes a
// call fail or wait for threads it cannot have: when helpers cannot be created (a container's thread
// limit) the call runs on the helpers that exist, and when another caller is using the pool the call
// runs on its own thread alone.

import CSwiftSimThreads
import Glibc
import Synchronization

/// Below this many elements (rows × d) a call stays on the calling thread: waking a second thread
/// costs more than the work.
let parallelThreshold = 1 << 16

/// How many blocks of rows a row-wise call is split into: 1 below `parallelThreshold` elements
/// (rows × elementsPerRow), else one per thread (at most one per row).
@inline(__always)
func rowBlocks(_ rows: Int, elementsPerRow: Int, threads: Int32) -> Int {
    let work = rows.multipliedReportingOverflow(by: max(elementsPerRow, 1))
    let t = min(Int(max(threads, 1)), rows)
    return t <= 1 || (!work.overflow && work.partialValue < parallelThreshold) ? 1 : t
}

/// Runs `body(block, rows)` for `blocks` contiguous blocks that cover `0..<rows` in order, one task
/// each (block b is rows b·rows/blocks ..< (b+1)·rows/blocks).
@inline(__always)
func parallelRows(_ rows: Int, blocks: Int, _ body: (_ block: Int, _ rows: Range<Int>) -> Void) {
    if blocks <= 1 { return body(0, 0..<rows) }
    forEachTask(blocks, threads: blocks) { _, i in
        body(i, (rows &* i / blocks)..<(rows &* (i &+ 1) / blocks))
    }
}

/// Runs `body(worker, task)` for every task in 0..<count on at most `threads` threads (worker ids
/// 0..<threads, 0 being the calling thread). Tasks are handed out in increasing order from a shared
/// counter, so each worker sees increasing task numbers; which worker runs which task never affects a
/// result. Always runs every task exactly once, whatever threads can be had.
func forEachTask(_ count: Int, threads: Int, _ body: (_ worker: Int, _ task: Int) -> Void) {
    let t = max(1, min(threads, count))
    if t > 1 && taskPool.run(count, threads: t, body) { return }
    for i in 0..<count { body(0, i) }
}

/// The job the helpers share: a pointer to the caller's closure, valid while the job runs. Helpers
/// call through the pointer and never hold a copy of the closure, so the caller's non-escaping
/// closure is provably not escaped when the job ends (a stored copy would outlive it).
typealias TaskBody = (Int, Int) -> Void

/// Parked helper threads for `forEachTask`. A pthread parked on a condition variable wakes in ~20 µs
/// (libdispatch's workers were measured to start a second iteration only after ~2 ms when the process
/// had been idle). Helpers are created on first use, up to `maxHelpers`, run one job at a time, and are
/// forgotten in a forked child, which creates its own. Fork handlers (registered by
/// Sources/CSwiftSimThreads when the library is loaded) hold the pool's lock across fork(), so a child
/// never inherits it locked or half initialised.
final class TaskPool: @unchecked Sendable {
    /// One less than the largest thread count a caller may ask for (the shim's limit is 1024).
    static let maxHelpers = 1023
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
    private var job: UnsafePointer<TaskBody>? = nil

    init() { initialize() }

    private func initialize() {
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
    }

    /// Before fork(): no job is being handed out or finished while the process is copied.
    fileprivate func prepareFork() { pthread_mutex_lock(lock) }
    fileprivate func parentAfterFork() { pthread_mutex_unlock(lock) }

    /// In a forked child only the forking thread exists: forget the helpers and any job in flight.
    fileprivate func childAfterFork() {
        initialize()
        helpers = 0
        job = nil
        running = 0
        jobThreads = 0
        busy.store(false, ordering: .relaxed)
    }

    /// Runs the job on the caller and up to `threads - 1` helpers; false (nothing run) when the pool is
    /// busy with another caller's job or no helper exists or can be created.
    func run(_ count: Int, threads: Int, _ body: TaskBody) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        pthread_mutex_lock(lock)
        createdAt = generation
        let wanted = min(threads - 1, Self.maxHelpers)
        while helpers < wanted {
            var thread = pthread_t()
            let id = UnsafeMutableRawPointer(bitPattern: helpers + 1)
            // A failure (EAGAIN under a thread limit) is not retried: the job runs on what exists.
            guard pthread_create(&thread, nil, { arg in taskPool.helperLoop(id: Int(bitPattern: arg)) }, id) == 0 else { break }
            pthread_detach(thread)
            helpers += 1
        }
        let used = min(wanted, helpers)
        if used == 0 {
            pthread_mutex_unlock(lock)
            return false
        }
        withoutActuallyEscaping(body) { body in
            withUnsafePointer(to: body) { shared in
                next.store(0, ordering: .relaxed)
                job = shared
                jobCount = count
                jobThreads = used + 1
                running = used
                generation &+= 1
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(lock)
                work(worker: 0, count: count, shared)
                pthread_mutex_lock(lock)
                while running > 0 { pthread_cond_wait(finished, lock) }
                job = nil
                pthread_mutex_unlock(lock)
            }
        }
        return true
    }

    /// Takes tasks from the shared counter until none is left.
    private func work(worker: Int, count: Int, _ body: UnsafePointer<TaskBody>) {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body.pointee(worker, i)
        }
    }

    private func helperLoop(id: Int) -> UnsafeMutableRawPointer? {
        pthread_mutex_lock(lock)
        var seen = createdAt
        while true {
            while generation == seen { pthread_cond_wait(wake, lock) }
            seen = generation
            guard id < jobThreads, let job else { continue }
            let count = jobCount
            pthread_mutex_unlock(lock)
            work(worker: id, count: count, job)
            pthread_mutex_lock(lock)
            running -= 1
            if running == 0 { pthread_cond_signal(finished) }
        }
    }
}

let taskPool = TaskPool()

// The fork handlers Sources/CSwiftSimThreads registers (see swiftsim_threads.h). Touching `taskPool`
// in the prepare handler also completes its initialisation if another thread is in the middle of it.
@c @implementation public func ssim_pool_prepare_fork() { taskPool.prepareFork() }
@c @implementation public func ssim_pool_parent_after_fork() { taskPool.parentAfterFork() }
@c @implementation public func ssim_pool_child_after_fork() { taskPool.childAfterFork() }
