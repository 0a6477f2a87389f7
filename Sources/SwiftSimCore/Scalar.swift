// Scalar.swift — the dtype protocol every kernel is generic over.
//
// A `SimScalar` is a storage type (Float16, BFloat16, Float, Double) together with the type it
// accumulates in (Float16 → Float, BFloat16 → Float, Float → Float, Double → Double) and one SIMD register of accumulators (`Vec`,
// 512 bits of `Acc`). Kernels are written once against this protocol; the four conformances below
// are the only per-dtype code, and they only say how to load, store and reduce one register.

import CSwiftSimSIMD

public protocol SimScalar: BinaryFloatingPoint, SIMDScalar, Codable, SendableMetatype {
    /// The type sums are accumulated in.
    associatedtype Acc: BinaryFloatingPoint & SIMDScalar
    /// One register of accumulators (16 × Float or 8 × Double).
    associatedtype Vec: SIMD where Vec.Scalar == Acc

    /// Loads `Vec.scalarCount` consecutive elements (no alignment needed), widened to `Acc`.
    static func load(_ p: UnsafeRawPointer) -> Vec
    /// Loads `2 · Vec.scalarCount` consecutive elements into two registers, in the order the type loads
    /// fastest: the first and the second half (`load` twice), or for BFloat16 the even and the odd
    /// elements. For sums whose lanes need no particular element, such as sums of squares.
    static func loadPair(_ p: UnsafeRawPointer) -> (Vec, Vec)
    /// Stores `Vec.scalarCount` consecutive elements, narrowed from `Acc` (round to nearest even).
    static func store(_ v: Vec, _ p: UnsafeMutableRawPointer)
    /// `v` narrowed as `store` narrows it and widened back, in registers: the values a caller receives.
    static func rounded(_ v: Vec) -> Vec
    /// Sums the lanes of `v` as a fixed tree (halves, then adjacent lanes).
    static func hsum(_ v: Vec) -> Acc
    /// The lane sums of three registers at once, each a fixed tree (halves, then adjacent lanes),
    /// with the partial sums packed into shared registers (Sources/CSwiftSimSIMD).
    static func hsum3(_ x: Vec, _ y: Vec, _ z: Vec) -> (Acc, Acc, Acc)
    /// Widens one element.
    static func widen(_ x: Self) -> Acc
    /// Narrows one accumulator value (round to nearest even).
    static func narrow(_ x: Acc) -> Self
}

extension SimScalar {
    @inline(__always) public static func loadPair(_ p: UnsafeRawPointer) -> (Vec, Vec) {
        (load(p), load(p + Vec.scalarCount &* MemoryLayout<Self>.stride))
    }
}

extension Float: SimScalar {
    public typealias Acc = Float
    public typealias Vec = SIMD16<Float>
    @inline(__always) public static func load(_ p: UnsafeRawPointer) -> Vec {
        p.loadUnaligned(as: Vec.self)
    }
    @inline(__always) public static func store(_ v: Vec, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: v, as: Vec.self)
    }
    @inline(__always) public static func hsum(_ v: Vec) -> Float { hsum16(v) }
    @inline(__always) public static func hsum3(_ x: Vec, _ y: Vec, _ z: Vec) -> (Float, Float, Float) {
        hsum3x16(x, y, z)
    }
    @inline(__always) public static func rounded(_ v: Vec) -> Vec { v }
    @inline(__always) public static func widen(_ x: Float) -> Float { x }
    @inline(__always) public static func narrow(_ x: Float) -> Float { x }
}

extension Double: SimScalar {
    public typealias Acc = Double
    public typealias Vec = SIMD8<Double>
    @inline(__always) public static func load(_ p: UnsafeRawPointer) -> Vec {
        p.loadUnaligned(as: Vec.self)
    }
    @inline(__always) public static func store(_ v: Vec, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: v, as: Vec.self)
    }
    @inline(__always) public static func hsum(_ v: Vec) -> Double { ssim_hsum3_f64x8(v, v, v)[0] }
    @inline(__always) public static func hsum3(_ x: Vec, _ y: Vec, _ z: Vec) -> (Double, Double, Double) {
        let s = ssim_hsum3_f64x8(x, y, z)
        return (s[0], s[1], s[2])
    }
    @inline(__always) public static func rounded(_ v: Vec) -> Vec { v }
    @inline(__always) public static func widen(_ x: Double) -> Double { x }
    @inline(__always) public static func narrow(_ x: Double) -> Double { x }
}

extension Float16: SimScalar {
    public typealias Acc = Float
    public typealias Vec = SIMD16<Float>
    @inline(__always) public static func load(_ p: UnsafeRawPointer) -> Vec {
        // A per-lane loop compiles to one vcvtph2ps; the stdlib's SIMD initialiser is not inlined.
        let h = p.loadUnaligned(as: SIMD16<Float16>.self)
        var r = Vec()
        for i in 0..<16 { r[i] = Float(h[i]) }
        return r
    }
    @inline(__always) public static func store(_ v: Vec, _ p: UnsafeMutableRawPointer) {
        var h = SIMD16<Float16>()
        for i in 0..<16 { h[i] = Float16(v[i]) }
        p.storeBytes(of: h, as: SIMD16<Float16>.self)
    }
    @inline(__always) public static func hsum(_ v: Vec) -> Float { hsum16(v) }
    @inline(__always) public static func hsum3(_ x: Vec, _ y: Vec, _ z: Vec) -> (Float, Float, Float) {
        hsum3x16(x, y, z)
    }
    @inline(__always) public static func rounded(_ v: Vec) -> Vec {
        var r = Vec()
        for i in 0..<16 { r[i] = Float(Float16(v[i])) }
        return r
    }
    @inline(__always) public static func widen(_ x: Float16) -> Float { Float(x) }
    @inline(__always) public static func narrow(_ x: Float) -> Float16 { Float16(x) }
}

extension BFloat16: SimScalar {
    public typealias Acc = Float
    public typealias Vec = SIMD16<Float>
    /// Widens with a 16-bit left shift of each element's bits (exact).
    @inline(__always) public static func load(_ p: UnsafeRawPointer) -> Vec { ssim_load_bf16x16(p) }
    /// The even and the odd elements of one 64-byte load, each widened by a shift or a mask of its word.
    @inline(__always) public static func loadPair(_ p: UnsafeRawPointer) -> (Vec, Vec) {
        (ssim_load_bf16x32_even(p), ssim_load_bf16x32_odd(p))
    }
    /// Narrows each lane to nearest even, NaN kept NaN (the rule of `bfloat16Bits`).
    @inline(__always) public static func store(_ v: Vec, _ p: UnsafeMutableRawPointer) { ssim_store_bf16x16(v, p) }
    @inline(__always) public static func rounded(_ v: Vec) -> Vec { ssim_round_bf16x16(v) }
    @inline(__always) public static func hsum(_ v: Vec) -> Float { hsum16(v) }
    @inline(__always) public static func hsum3(_ x: Vec, _ y: Vec, _ z: Vec) -> (Float, Float, Float) {
        hsum3x16(x, y, z)
    }
    @inline(__always) public static func widen(_ x: BFloat16) -> Float { x.float }
    @inline(__always) public static func narrow(_ x: Float) -> BFloat16 { BFloat16(x) }
}

@inline(__always)
func hsum16(_ v: SIMD16<Float>) -> Float { ssim_hsum3_f32x16(v, v, v)[0] }

@inline(__always)
func hsum3x16(_ x: SIMD16<Float>, _ y: SIMD16<Float>, _ z: SIMD16<Float>) -> (Float, Float, Float) {
    let s = ssim_hsum3_f32x16(x, y, z)
    return (s[0], s[1], s[2])
}

// MARK: multiply-add
// `madd` is a fused multiply-add where the compile target has FMA (one rounding), and a multiply
// then an add where it does not (the x86-64-v2 build): `addingProduct` would otherwise become a
// call to the correctly rounded software fmaf, 30× slower. SSIM_TARGET_HAS_FMA comes from
// swiftsim_target.h, compiled for the same CPU as this code, so the branch folds away.

/// Whether the compile target has FMA. A function, not the constant itself, so that the branch is
/// folded by the optimiser rather than reported as unreachable code by the mandatory passes.
@inline(__always) func targetHasFMA() -> Bool { SSIM_TARGET_HAS_FMA != 0 }

extension SIMD where Scalar: FloatingPoint {
    /// self + x · y
    @inline(__always) func madd(_ x: Self, _ y: Self) -> Self {
        targetHasFMA() ? addingProduct(x, y) : self + x * y
    }
}

extension FloatingPoint {
    /// self + x · y
    @inline(__always) func madd(_ x: Self, _ y: Self) -> Self {
        targetHasFMA() ? addingProduct(x, y) : self + x * y
    }
}
