// BFloat16Tests.swift — the bfloat16 storage type (BFloat16.swift, its SimScalar conformance in
// Scalar.swift) and the bfloat16 entry points against a float64 reference of the same bfloat16 values.

import CSwiftSimABI
import XCTest

@testable import SwiftSimCore

/// The nearest bfloat16 to `x` (ties to even), found by comparing distances in Double: a reference
/// written from the definition, not from the bit trick the kernels use.
private func referenceNarrow(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let b = x.bitPattern
    let lo = UInt16(truncatingIfNeeded: b >> 16)  // x rounded towards zero
    if b & 0xFFFF == 0 { return lo }
    let hi = lo &+ 1  // the next bfloat16 away from zero (0x7F80 | sign: infinity)
    func value(_ bits: UInt16) -> Double {
        bits & 0x7FFF == 0x7F80 ? (bits & 0x8000 != 0 ? -0x1p128 : 0x1p128) : Double(Float(bitPattern: UInt32(bits) << 16))
    }
    let dl = abs(Double(x) - value(lo)), dh = abs(Double(x) - value(hi))
    if dl != dh { return dl < dh ? lo : hi }
    return lo & 1 == 0 ? lo : hi
}

/// One bfloat16 ulp at `x`'s magnitude (that of a normal value; the least subnormal below the normals).
private func ulp(_ x: Double) -> Double {
    let a = abs(x)
    if a < 0x1p-126 { return 0x1p-133 }
    return Double(sign: .plus, exponent: a.exponent - 7, significand: 1)
}

final class BFloat16Tests: XCTestCase {
    func testWideningIsAShiftAndNarrowingRoundTrips() {
        for b in 0...0xFFFF {
            let x = BFloat16(bitPattern: UInt16(b))
            XCTAssertEqual(x.float.bitPattern, UInt32(b) << 16)
            XCTAssertEqual(BFloat16.widen(x).bitPattern, UInt32(b) << 16)
            if x.isNaN {
                XCTAssertTrue(BFloat16(x.float).isNaN)
            } else {
                XCTAssertEqual(BFloat16(x.float).bitPattern, UInt16(b), "bits \(b)")
            }
        }
    }

    func testNarrowingRoundsToNearestEven() {
        let cases: [(UInt32, UInt16)] = [
            (0x3F80_8000, 0x3F80),  // 1 + 2⁻⁸: a tie, to the even 1
            (0x3F81_8000, 0x3F82),  // a tie, to the even neighbour above
            (0x3F80_8001, 0x3F81),  // just above the tie
            (0x3F80_7FFF, 0x3F80),  // just below
            (0xBF80_8000, 0xBF80),  // negative tie
            (0x7F7F_FFFF, 0x7F80),  // Float's largest rounds to infinity
            (0x7F7F_7FFF, 0x7F7F),  // bfloat16's largest stays
            (0x7F80_0000, 0x7F80),  // +inf
            (0xFF80_0000, 0xFF80),  // -inf
            (0x0000_8000, 0x0000),  // subnormal tie to even (zero)
            (0x0001_8000, 0x0002),  // subnormal tie to even
            (0x0000_8001, 0x0001),  // subnormal just above the tie: kept, not flushed
            (0x8000_0000, 0x8000),  // -0
        ]
        for (f, want) in cases {
            let x = Float(bitPattern: f)
            XCTAssertEqual(BFloat16(x).bitPattern, want, "float bits \(String(f, radix: 16))")
            XCTAssertEqual(referenceNarrow(x), want, "reference, float bits \(String(f, radix: 16))")
        }
        for f: UInt32 in [0x7F80_0001, 0x7FC0_0000, 0xFFC0_1234, 0x7FFF_FFFF, 0xFF80_0001] {
            let n = BFloat16(Float(bitPattern: f))
            XCTAssertTrue(n.isNaN, "NaN bits \(String(f, radix: 16)) must stay NaN")
            XCTAssertEqual(n.sign, Float(bitPattern: f).sign)
        }
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            let got = BFloat16(x).bitPattern
            if x.isNaN { XCTAssertTrue(BFloat16(bitPattern: got).isNaN) } else { XCTAssertEqual(got, referenceNarrow(x)) }
        }
    }

    func testVectorLoadAndStoreMatchTheScalarRule() {
        var rng = SplitMix64(seed: 11)
        var floats = [Float](repeating: 0, count: 16 * 4096)
        for i in floats.indices { floats[i] = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        floats[0] = .nan
        floats[1] = -.infinity
        floats[2] = Float(bitPattern: 0x3F80_8000)
        floats[3] = Float(bitPattern: 0x0001_8000)
        var stored = [UInt16](repeating: 0, count: floats.count)
        floats.withUnsafeBytes { src in
            stored.withUnsafeMutableBytes { dst in
                for i in stride(from: 0, to: floats.count, by: 16) {
                    BFloat16.store(src.baseAddress!.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self), dst.baseAddress! + i * 2)
                }
            }
        }
        for i in floats.indices {
            let x = floats[i]
            if x.isNaN {
                XCTAssertTrue(BFloat16(bitPattern: stored[i]).isNaN)
            } else {
                XCTAssertEqual(stored[i], bfloat16Bits(x), "lane \(i)")
            }
        }
        stored.withUnsafeBytes { src in
            for i in stride(from: 0, to: stored.count, by: 16) {
                let v = BFloat16.load(src.baseAddress! + i * 2)
                for l in 0..<16 { XCTAssertEqual(v[l].bitPattern, UInt32(stored[i + l]) << 16) }
            }
        }
    }

    func testDoubleConversionRoundsOnce() {
        // 1 + 2⁻⁸ + 2⁻³⁰ rounds to the Float 1 + 2⁻⁸, a bfloat16 tie: rounding twice would give 1.
        XCTAssertEqual(BFloat16(1 + 0x1p-8 + 0x1p-30 as Double).bitPattern, 0x3F81)
        XCTAssertEqual(BFloat16(1 + 0x1p-8 - 0x1p-30 as Double).bitPattern, 0x3F80)
        XCTAssertEqual(BFloat16(1 + 0x1p-8 as Double).bitPattern, 0x3F80)
        XCTAssertEqual(BFloat16(-(1 + 0x1p-8 + 0x1p-30) as Double).bitPattern, 0xBF81)
        XCTAssertTrue(BFloat16(Double.nan).isNaN)
        XCTAssertEqual(BFloat16(1e300 as Double).bitPattern, 0x7F80)
    }

    func testArithmeticAndClassification() {
        let one = BFloat16(1 as Float)
        XCTAssertEqual(one.nextUp.bitPattern, 0x3F81)
        XCTAssertEqual(one.ulp.float, 0x1p-7)
        XCTAssertEqual((one + one).float, 2)
        XCTAssertEqual(BFloat16.greatestFiniteMagnitude.float, Float(bitPattern: 0x7F7F_0000))
        XCTAssertEqual(BFloat16.leastNonzeroMagnitude.float, Float(bitPattern: 0x0001_0000))
        XCTAssertTrue(BFloat16.leastNonzeroMagnitude.isSubnormal)
        XCTAssertTrue(BFloat16.infinity.isInfinite && !BFloat16.infinity.isNaN)
        XCTAssertTrue(BFloat16.nan.isNaN && !BFloat16.nan.isSignalingNaN && BFloat16.signalingNaN.isSignalingNaN)
        XCTAssertEqual(BFloat16(-0.0 as Float), BFloat16(0 as Float))
        XCTAssertEqual(BFloat16(0.1 as Double).float, Float(bitPattern: 0x3DCD_0000))
        XCTAssertEqual(MemoryLayout<BFloat16>.stride, 2)
    }

    /// Row-wise cosines of bfloat16 rows: within one bfloat16 ulp of the float64 cosine of the same values.
    func testCosineKernelIsWithinOneUlpOfFloat64() {
        var rng = SplitMix64(seed: 3)
        for d in [1, 7, 16, 33, 128, 257, 1000] {
            let n = 64
            let a = (0..<(n * d)).map { _ in BFloat16(rng.symmetric() * 3) }
            let b = (0..<(n * d)).map { i in i % 5 == 0 ? a[i] : BFloat16(rng.symmetric()) }
            var out = [BFloat16](repeating: 0, count: n)
            let size = Int64(2)
            let shape: [Int64] = [Int64(n)]
            let strides: [Int64] = [Int64(d) * size, size, Int64(d) * size, size, size, 0]
            let st = a.withUnsafeBytes { pa in
                b.withUnsafeBytes { pb in
                    out.withUnsafeMutableBytes { po in
                        ssim_cosine_bf16(
                            pa.baseAddress!.assumingMemoryBound(to: ssim_bf16.self),
                            pb.baseAddress!.assumingMemoryBound(to: ssim_bf16.self),
                            po.baseAddress!.assumingMemoryBound(to: ssim_bf16.self), Int64(d), Int64(d), Int64(d), 1, shape, strides, 1e-12,
                            2)
                    }
                }
            }
            XCTAssertEqual(st, SSIM_OK)
            for i in 0..<n {
                var dot = 0.0, sa = 0.0, sb = 0.0
                for k in 0..<d {
                    let x = Double(a[i * d + k].float), y = Double(b[i * d + k].float)
                    dot += x * y
                    sa += x * x
                    sb += y * y
                }
                let want = dot / max(sa, 1e-12).squareRoot() / max(sb, 1e-12).squareRoot()
                XCTAssertLessThanOrEqual(abs(Double(out[i].float) - want), ulp(want), "d \(d) row \(i)")
            }
        }
    }

    /// All-pairs cosines of bfloat16 rows: within one bfloat16 ulp of float64, the same bits for any thread count.
    func testPairwiseKernelIsWithinOneUlpOfFloat64() {
        var rng = Lcg(state: 5)
        for (n, m, d) in [(1, 1, 1), (13, 37, 31), (30, 70, 300), (25, 40, 129)] {
            let x = rng.matrix(n, d).map { BFloat16($0) }, y = rng.matrix(m, d).map { BFloat16($0) }
            let want = referencePairwise(x.map { Double($0.float) }, y.map { Double($0.float) }, n: n, m: m, d: d)
            let (st, got) = pairwise(x, y, n: n, m: m, d: d)
            XCTAssertEqual(st, SSIM_OK)
            for e in 0..<(n * m) {
                XCTAssertLessThanOrEqual(abs(Double(got[e].float) - want[e]), ulp(want[e]), "(\(n), \(m), \(d)) element \(e)")
            }
            let (st4, got4) = pairwise(x, y, n: n, m: m, d: d, threads: 4)
            XCTAssertEqual(st4, SSIM_OK)
            XCTAssertEqual(got.map(\.bitPattern), got4.map(\.bitPattern))
        }
    }
}
