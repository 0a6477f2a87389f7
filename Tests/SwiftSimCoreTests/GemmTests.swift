// GemmTests.swift — the shared engine of the all-pairs kernels: scheduler, workspace, packing, micro-kernel.

import Dispatch
import Synchronization
import XCTest

@testable import SwiftSimCore

final class GemmTests: XCTestCase {
    func testEveryTaskRunsOnceOnAValidWorker() {
        for threads in [1, 2, 3, 8] {
            for count in [0, 1, 2, 7, 100] {
                let seen = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: max(count, 1))
                for i in 0..<count { (seen + i).initialize(to: Atomic(0)) }
                let badWorker = Atomic<Bool>(false)
                forEachTask(count, threads: threads) { w, i in
                    if w < 0 || w >= threads { badWorker.store(true, ordering: .relaxed) }
                    seen[i].wrappingAdd(1, ordering: .relaxed)
                }
                for i in 0..<count { XCTAssertEqual(seen[i].load(ordering: .relaxed), 1, "threads \(threads) task \(i)") }
                XCTAssertFalse(badWorker.load(ordering: .relaxed))
                seen.deallocate()
            }
        }
    }

    func testConcurrentCallersShareThePoolOrRunAlone() {
        // Four callers at once: one gets the pool, the others run on their own threads; all complete.
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<20 {
                forEachTask(50, threads: 3) { _, _ in total.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 4 * 20 * 50)
    }

    func testWorkspacePlanAndAllocation() {
        var plan = WorkspacePlan()
        XCTAssertEqual(plan.reserve(1), 0)
        XCTAssertEqual(plan.reserve(64), 64)
        XCTAssertEqual(plan.reserve(0), 128)
        XCTAssertEqual(plan.total, 128)
        _ = plan.reserve(Int.max - 10)
        XCTAssertNil(plan.total)
        XCTAssertNil(Workspace(bytes: -1).base)
        let w = Workspace(bytes: 1000)
        XCTAssertNotNil(w.base)
        XCTAssertEqual(Int(bitPattern: w.base!) % 64, 0)
        w.free()
        let again = Workspace(bytes: 500)  // served by the cached block
        XCTAssertEqual(again.base, w.base)
        again.free()
    }

    func testPackPanelTransposesPadsAndScales() {
        let rows = 3, d = 70, width = 5
        let x = (0..<(rows * d)).map { Float($0 % 13) - 6 }
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: width * d)
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer { panel.deallocate(); scales.deallocate() }
        x.withUnsafeBytes { px in
            packPanel(
                px.baseAddress!, rowStride: d * 4, elemStride: 4, rows: rows, d: d, width: width, into: panel, scales: scales,
                epsilon: EpsilonFloor(1e-12), normalize: true, Float.self)
        }
        for r in 0..<width {
            var s: Double = 0
            for k in 0..<d {
                let want: Float = r < rows ? x[r * d + k] : 0
                XCTAssertEqual(panel[k * width + r], want)
                s += Double(want * want)
            }
            XCTAssertEqual(Double(scales[r]), r < rows ? 1 / s.squareRoot() : 0, accuracy: 1e-7)
        }
    }

    func testMicroKernelMatchesNaiveProduct() {
        let mr = gemmMR, nr = gemmNR(Float.self), kc = 37
        var g = Lcg(state: 8)
        let a = (0..<(kc * mr)).map { _ in Float(g.next()) }, b = (0..<(kc * nr)).map { _ in Float(g.next()) }
        let c = UnsafeMutablePointer<SIMD16<Float>>.allocate(capacity: gemmTileVectors)
        defer { c.deallocate() }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                microKernel(pa.baseAddress!, pb.baseAddress!, kc, c, accumulate: false)
                microKernel(pa.baseAddress!, pb.baseAddress!, kc, c, accumulate: true)  // doubles every sum
            }
        }
        for r in 0..<mr {
            for j in 0..<nr {
                var want = 0.0
                for k in 0..<kc { want += Double(a[k * mr + r]) * Double(b[k * nr + j]) }
                XCTAssertEqual(Double(c[r * gemmNRV + j / 16][j % 16]), 2 * want, accuracy: 1e-5)
            }
        }
    }
}
