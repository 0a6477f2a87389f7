// Reference.swift — what every kernel test compares against, and the tools the tests share.
//
//   - `Tol`: the tolerances of docs/contract.md, stated once for the Swift tests.
//   - `Ref`: a float64 reference (compensated sums, scaled norms) of the cosine, the l2 normalisation
//     and the gradient, written from the formulas of the header, not from the kernels.
//   - `SplitMix64`: a tiny seeded generator, so every run sees the same data.
//   - `Operand`: one operand laid out in its own buffer with the C ABI's stride convention
//     (Sources/CSwiftSimABI/include/swiftsim.h): outer byte strides per outer axis, then one inner byte
//     stride; padding is filled with a sentinel so that stray reads (NaN) and stray writes show.
//   - `ABIScalar`: the nine exported entry points, reached by dtype. Float16 data is handed to the
//     f16 entry points as its IEEE binary16 bit pattern (`ssim_f16` = UInt16), as the header says.

import CSwiftSimABI
import Testing

@testable import SwiftSimCore

// MARK: - tolerances (docs/contract.md)

enum Tol {
    /// Absolute tolerance of one value (a cosine, a normalised element) against the exact result:
    /// float32 2e-6 and float64 1e-12, both widened by sqrt(D/256) for D > 256; float16 5e-3.
    static func value(_ dtype: DType, d: Int) -> Double {
        let widen = max(1, (Double(d) / 256).squareRoot())
        switch dtype {
        case .f16: return 5e-3
        case .f32: return 2e-6 * widen
        case .f64: return 1e-12 * widen
        }
    }

    /// A gradient component u·r_x·(g_i − c·x̂_i) is a difference of two terms each of size
    /// ≤ |u|·r_x·m (m = max(1, |c|), or Σ|ŷ| for a size-1 reduced operand): its tolerance is
    /// `value · gradFactor · |u|·r_x·m` (see `Ref.Grad.scaleA`).
    static let gradFactor = 2.0
}

// MARK: - dtypes

enum DType: String, CaseIterable, Sendable, CustomStringConvertible {
    case f16, f32, f64
    var type: any ABIScalar.Type {
        switch self {
        case .f16: return Float16.self
        case .f32: return Float.self
        case .f64: return Double.self
        }
    }
    var description: String { rawValue }
    /// A stable number for seeding (hashValue changes from run to run).
    var seed: Int { DType.allCases.firstIndex(of: self)! + 1 }
}

/// The exported C ABI, one entry point per op for each dtype.
protocol ABIScalar: SimScalar, Codable {
    static var dtype: DType { get }
    /// The value's bits, for bitwise comparisons.
    var bits: UInt64 { get }
    /// Concrete conversions (the generic BinaryFloatingPoint ones are slow in a debug build).
    var double: Double { get }
    init(double: Double)

    static func cosine(
        _ a: UnsafePointer<Self>?, _ b: UnsafePointer<Self>?, _ out: UnsafeMutablePointer<Self>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status
    static func normalize(
        _ x: UnsafePointer<Self>?, _ out: UnsafeMutablePointer<Self>?, _ d: Int64, _ ndim: Int32,
        _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double,
        _ threads: Int32
    ) -> ssim_status
    static func grad(
        _ a: UnsafePointer<Self>?, _ b: UnsafePointer<Self>?, _ u: UnsafePointer<Self>?,
        _ da: UnsafeMutablePointer<Self>?, _ db: UnsafeMutablePointer<Self>?, _ cos: UnsafeMutablePointer<Self>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status
}

extension Float: ABIScalar {
    static var dtype: DType { .f32 }
    var double: Double { Double(self) }
    init(double: Double) { self = Float(double) }
    var bits: UInt64 { UInt64(bitPattern) }
    static func cosine(
        _ a: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_cosine_f32(a, b, out, d, dA, dB, ndim, shape, strides, epsilon, threads)
    }
    static func normalize(
        _ x: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>?, _ d: Int64, _ ndim: Int32,
        _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_l2_normalize_f32(x, out, d, ndim, shape, strides, epsilon, threads)
    }
    static func grad(
        _ a: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?, _ u: UnsafePointer<Float>?,
        _ da: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?, _ cos: UnsafeMutablePointer<Float>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_cosine_grad_f32(a, b, u, da, db, cos, d, dA, dB, ndim, shape, strides, epsilon, threads)
    }
}

extension Double: ABIScalar {
    static var dtype: DType { .f64 }
    var double: Double { self }
    init(double: Double) { self = double }
    var bits: UInt64 { bitPattern }
    static func cosine(
        _ a: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?, _ out: UnsafeMutablePointer<Double>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_cosine_f64(a, b, out, d, dA, dB, ndim, shape, strides, epsilon, threads)
    }
    static func normalize(
        _ x: UnsafePointer<Double>?, _ out: UnsafeMutablePointer<Double>?, _ d: Int64, _ ndim: Int32,
        _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_l2_normalize_f64(x, out, d, ndim, shape, strides, epsilon, threads)
    }
    static func grad(
        _ a: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?, _ u: UnsafePointer<Double>?,
        _ da: UnsafeMutablePointer<Double>?, _ db: UnsafeMutablePointer<Double>?, _ cos: UnsafeMutablePointer<Double>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_cosine_grad_f64(a, b, u, da, db, cos, d, dA, dB, ndim, shape, strides, epsilon, threads)
    }
}

/// Float16 buffers handed over as the binary16 bit patterns the f16 entry points take.
private func bits16(_ p: UnsafePointer<Float16>?) -> UnsafePointer<ssim_f16>? {
    p.map { UnsafeRawPointer($0).assumingMemoryBound(to: ssim_f16.self) }
}
private func bits16(_ p: UnsafeMutablePointer<Float16>?) -> UnsafeMutablePointer<ssim_f16>? {
    p.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: ssim_f16.self) }
}

extension Float16: ABIScalar {
    static var dtype: DType { .f16 }
    var double: Double { Double(self) }
    init(double: Double) { self = Float16(double) }
    var bits: UInt64 { UInt64(bitPattern) }
    static func cosine(
        _ a: UnsafePointer<Float16>?, _ b: UnsafePointer<Float16>?, _ out: UnsafeMutablePointer<Float16>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_cosine_f16(bits16(a), bits16(b), bits16(out), d, dA, dB, ndim, shape, strides, epsilon, threads)
    }
    static func normalize(
        _ x: UnsafePointer<Float16>?, _ out: UnsafeMutablePointer<Float16>?, _ d: Int64, _ ndim: Int32,
        _ shape: UnsafePointer<Int64>?, _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_l2_normalize_f16(bits16(x), bits16(out), d, ndim, shape, strides, epsilon, threads)
    }
    static func grad(
        _ a: UnsafePointer<Float16>?, _ b: UnsafePointer<Float16>?, _ u: UnsafePointer<Float16>?,
        _ da: UnsafeMutablePointer<Float16>?, _ db: UnsafeMutablePointer<Float16>?, _ cos: UnsafeMutablePointer<Float16>?,
        _ d: Int64, _ dA: Int64, _ dB: Int64, _ ndim: Int32, _ shape: UnsafePointer<Int64>?,
        _ strides: UnsafePointer<Int64>?, _ epsilon: Double, _ threads: Int32
    ) -> ssim_status {
        CSwiftSimABI.ssim_cosine_grad_f16(
            bits16(a), bits16(b), bits16(u), bits16(da), bits16(db), bits16(cos),
            d, dA, dB, ndim, shape, strides, epsilon, threads)
    }
}

// MARK: - the float64 reference

enum Ref {
    /// Σ x(i)·y(i) for i < n, compensated (Ogita–Rump–Oishi Dot2: exact products by FMA, TwoSum):
    /// as accurate as a sum in twice the precision, so the reference is exact for float32 inputs
    /// and good to ~1 ulp for float64 inputs.
    static func dot(_ n: Int, _ x: (Int) -> Double, _ y: (Int) -> Double) -> Double {
        var s = 0.0, c = 0.0
        for i in 0..<n {
            let xi = x(i), yi = y(i)
            let p = xi * yi
            let ep = (-p).addingProduct(xi, yi)
            let t = s + p
            let z = t - s
            let es = (s - (t - z)) + (p - z)
            s = t
            c += ep + es
        }
        return s + c
    }

    /// One vector scaled to unit length by TensorFlow's rule: x̂ = x · r, r = 1/sqrt(max(|x|², ε)).
    /// |x|² is formed as m²·Σ(x/m)² (m = max |x_i|) so that it never overflows.
    struct Unit {
        var hat: [Double]
        var r: Double
        var clamped: Bool  // |x|² < ε
        var valid: Bool  // false when x holds NaN or ±Inf
    }

    static func unit(_ x: [Double], eps: Double) -> Unit {
        guard x.allSatisfy({ $0.isFinite }) else {
            return Unit(hat: x.map { _ in .nan }, r: .nan, clamped: false, valid: false)
        }
        let m = x.reduce(0.0) { max($0, $1.magnitude) }
        var s = 0.0
        var y = x
        if m > 0 {
            y = x.map { $0 / m }
            s = dot(y.count, { y[$0] }, { y[$0] })
        }
        let squared = m * m * s
        if !(squared >= eps) {
            let r = 1 / eps.squareRoot()
            return Unit(hat: x.map { $0 * r }, r: r, clamped: true, valid: true)
        }
        if m == 0 {  // only with ε = 0: TensorFlow's 0 · rsqrt(0)
            return Unit(hat: x.map { _ in .nan }, r: .infinity, clamped: false, valid: true)
        }
        let root = s.squareRoot()
        return Unit(hat: y.map { $0 / root }, r: 1 / (m * root), clamped: false, valid: true)
    }

    /// The row's cosine: Σ_i â_i b̂_i over the reduction of length d, each input normalised with its
    /// own length (a length-1 input is broadcast along the reduction).
    static func cosine(_ a: [Double], _ b: [Double], d: Int, eps: Double) -> Double {
        let ua = unit(a, eps: eps), ub = unit(b, eps: eps)
        guard ua.valid, ub.valid else { return .nan }
        return dot(d, { ua.hat[a.count == 1 ? 0 : $0] }, { ub.hat[b.count == 1 ? 0 : $0] })
    }

    static func normalize(_ x: [Double], eps: Double) -> [Double] { unit(x, eps: eps).hat }

    /// Cosine and the gradient of u · cosine with respect to both inputs, each summed back to its
    /// own length: with g = ∂c/∂x̂ (ŷ, or Σŷ for a length-1 x), ∂/∂x = u · r_x · (g − [unclamped]·(g·x̂)·x̂).
    struct Grad {
        var c: Double
        var da: [Double]
        var db: [Double]
        /// |u|·r·m of each input: the size of its gradient terms (see `Tol.gradFactor`).
        var scaleA: Double
        var scaleB: Double
    }

    static func grad(_ a: [Double], _ b: [Double], u: Double, d: Int, eps: Double) -> Grad {
        let ua = unit(a, eps: eps), ub = unit(b, eps: eps)
        guard ua.valid, ub.valid else {
            return Grad(c: .nan, da: a.map { _ in .nan }, db: b.map { _ in .nan }, scaleA: 0, scaleB: 0)
        }
        let c = dot(d, { ua.hat[a.count == 1 ? 0 : $0] }, { ub.hat[b.count == 1 ? 0 : $0] })
        func back(_ x: Unit, _ y: Unit) -> ([Double], Double) {
            let nx = x.hat.count, ny = y.hat.count
            var g = [Double](repeating: 0, count: nx)
            var spread = 0.0
            for i in 0..<d {
                let v = y.hat[ny == 1 ? 0 : i]
                g[nx == 1 ? 0 : i] += v
                spread += v.magnitude
            }
            let gx = dot(nx, { g[$0] }, { x.hat[$0] })
            let k = x.clamped ? 0 : gx
            let grad = (0..<nx).map { u * x.r * (g[$0] - k * x.hat[$0]) }
            // The terms' size: |g_i| ≤ m and |k·x̂_i| ≤ |c| (> 1 when the other operand has length 1).
            let m = max(1, gx.magnitude, nx == 1 && d > 1 ? spread : 1)
            return (grad, u.magnitude * x.r * m)
        }
        let (da, sa) = back(ua, ub)
        let (db, sb) = back(ub, ua)
        return Grad(c: c, da: da, db: db, scaleA: sa, scaleB: sb)
    }
}

// MARK: - seeded data

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    init(_ parts: Int...) {
        var s: UInt64 = 0x5157_1f7e_0000_0001
        for p in parts { s = (s ^ UInt64(bitPattern: Int64(p))) &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678 }
        state = s
    }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Uniform in [-1, 1).
    mutating func symmetric() -> Double { 2 * unit() - 1 }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

// MARK: - laying operands out

/// Every outer index of `shape`, in C order (the order the ABI numbers rows in).
func outerIndices(_ shape: [Int]) -> [[Int]] {
    var all: [[Int]] = []
    let rows = shape.reduce(1, *)
    guard rows > 0 else { return [] }
    var idx = [Int](repeating: 0, count: shape.count)
    for _ in 0..<rows {
        all.append(idx)
        var j = shape.count - 1
        while j >= 0 {
            idx[j] += 1
            if idx[j] < shape[j] { break }
            idx[j] = 0
            j -= 1
        }
    }
    return all
}

/// How one operand is laid out: the order of its outer axes in memory, padding after each row,
/// axes walked backwards (negative strides), broadcast axes (zero strides), the inner stride.
struct LayoutSpec: Sendable, CustomStringConvertible {
    var name = "contiguous"
    /// Outer axes from fastest to slowest in memory; nil means C order (last axis fastest).
    var order: [Int]? = nil
    /// Extra elements after each row: a row stride larger than the row.
    var rowPad = 0
    /// Outer axes with a negative stride.
    var negate: Set<Int> = []
    /// Outer axes with a zero stride (one row, seen at every index of that axis).
    var broadcast: Set<Int> = []
    /// Elements between consecutive elements of a row (negative: walked backwards; zero: one
    /// element seen at every index of the row).
    var inner = 1
    var description: String { name }

    static let contiguous = LayoutSpec()

    /// The layout an output can have next to this input's: no broadcast, no zero inner stride.
    var forOutput: LayoutSpec {
        var s = self
        s.broadcast = []
        if s.inner == 0 { s.inner = 1 }
        return s
    }
}

/// One operand in its own buffer. Elements outside the operand's view hold `sentinel`.
final class Operand<T: ABIScalar> {
    let shape: [Int]
    /// Elements along the reduced axis (d, or 1; 1 with inner stride 0 for per-row scalars).
    let length: Int
    let count: Int
    let storage: UnsafeMutablePointer<T>
    /// Element offset of the row at outer index 0, element strides of the outer axes, inner stride.
    let base: Int
    let outer: [Int]
    let inner: Int
    let sentinel: T

    init(shape: [Int], length: Int, spec: LayoutSpec = .contiguous, sentinel: T = .nan) {
        self.shape = shape
        self.length = length
        self.sentinel = sentinel
        inner = spec.inner
        // A negative inner stride starts the row at its last element; a zero one keeps one element.
        let step = abs(spec.inner)
        var running = (length == 0 ? 1 : (length - 1) * step + 1) + spec.rowPad
        var strides = [Int](repeating: 0, count: shape.count)
        let order = spec.order ?? Array((0..<shape.count).reversed())
        precondition(order.sorted() == Array(0..<shape.count), "order must permute the outer axes")
        for ax in order where !spec.broadcast.contains(ax) {
            strides[ax] = running
            running *= shape[ax]
        }
        var base = spec.inner < 0 && length > 0 ? (length - 1) * step : 0
        for ax in spec.negate where strides[ax] != 0 {
            base += (shape[ax] - 1) * strides[ax]
            strides[ax] = -strides[ax]
        }
        self.base = base
        outer = strides
        count = max(running, 1)
        storage = .allocate(capacity: count)
        storage.initialize(repeating: sentinel, count: count)
    }

    /// A per-row scalar operand (cosines, upstream weights): one element per row, inner stride 0.
    convenience init(scalarsOf shape: [Int], spec: LayoutSpec = .contiguous, sentinel: T = .nan) {
        var s = spec
        s.inner = 0
        self.init(shape: shape, length: 1, spec: s, sentinel: sentinel)
    }

    deinit { storage.deallocate() }

    var rows: Int { shape.reduce(1, *) }
    var ptr: UnsafeMutablePointer<T> { storage + base }

    /// Element offset of element 0 of the row at `idx`.
    func rowOffset(_ idx: [Int]) -> Int {
        var o = base
        for j in 0..<idx.count { o += idx[j] * outer[j] }
        return o
    }

    func offset(_ idx: [Int], _ i: Int) -> Int { rowOffset(idx) + i * inner }

    func row(_ idx: [Int]) -> [T] {
        let o = rowOffset(idx)
        var r = [T](repeating: 0, count: length)
        for i in 0..<length { r[i] = storage[o + i * inner] }
        return r
    }
    func rowD(_ idx: [Int]) -> [Double] {
        let o = rowOffset(idx)
        var r = [Double](repeating: 0, count: length)
        for i in 0..<length { r[i] = storage[o + i * inner].double }
        return r
    }
    func set(_ idx: [Int], _ values: [T]) {
        let o = rowOffset(idx)
        for i in 0..<values.count { storage[o + i * inner] = values[i] }
    }

    /// Fills every row with values uniform in [-scale, scale), rounded to T.
    func fill(_ rng: inout SplitMix64, scale: Double = 1) {
        for idx in outerIndices(shape) { set(idx, (0..<length).map { _ in T(double: rng.symmetric() * scale) }) }
    }

    /// This operand's part of the ABI strides array: outer byte strides, then the inner byte stride.
    var abiStrides: [Int64] {
        let size = MemoryLayout<T>.stride
        return outer.map { Int64($0 * size) } + [Int64(inner * size)]
    }

    /// Elements outside the view whose bits no longer equal the sentinel's (stray writes).
    func strayWrites() -> Int {
        var inView = [Bool](repeating: false, count: count)
        for idx in outerIndices(shape) {
            let o = rowOffset(idx)
            for i in 0..<length { inView[o + i * inner] = true }
        }
        var n = 0
        for k in 0..<count where !inView[k] && storage[k].bits != sentinel.bits { n += 1 }
        return n
    }

    /// The logical values, row after row, as bits (for bitwise comparisons of two runs).
    func logicalBits() -> [UInt64] {
        var bits: [UInt64] = []
        bits.reserveCapacity(rows * length)
        for idx in outerIndices(shape) {
            let o = rowOffset(idx)
            for i in 0..<length { bits.append(storage[o + i * inner].bits) }
        }
        return bits
    }
}

/// The ABI strides array of several operands (operand k at k · (ndim + 1)).
func abiStrides<T>(_ ops: [Operand<T>]) -> [Int64] { ops.flatMap(\.abiStrides) }

// MARK: - calling the entry points

@discardableResult
func callCosine<T: ABIScalar>(
    _ a: Operand<T>, _ b: Operand<T>, _ out: Operand<T>, d: Int,
    eps: Double = 1e-12, threads: Int32 = 1
) -> ssim_status {
    let shape = a.shape.map(Int64.init), strides = abiStrides([a, b, out])
    return shape.withUnsafeBufferPointer { sp in
        strides.withUnsafeBufferPointer { tp in
            T.cosine(
                a.ptr, b.ptr, out.ptr, Int64(d), Int64(a.length), Int64(b.length),
                Int32(shape.count), sp.baseAddress, tp.baseAddress, eps, threads)
        }
    }
}

@discardableResult
func callNormalize<T: ABIScalar>(
    _ x: Operand<T>, _ out: Operand<T>, eps: Double = 1e-12,
    threads: Int32 = 1
) -> ssim_status {
    let shape = x.shape.map(Int64.init), strides = abiStrides([x, out])
    return shape.withUnsafeBufferPointer { sp in
        strides.withUnsafeBufferPointer { tp in
            T.normalize(
                x.ptr, out.ptr, Int64(x.length), Int32(shape.count), sp.baseAddress, tp.baseAddress,
                eps, threads)
        }
    }
}

/// The gradient outputs of one call; nil members are passed as NULL (their strides are still
/// given, as the header says they are ignored).
struct GradOutputs<T: ABIScalar> {
    var da: Operand<T>?
    var db: Operand<T>?
    var cos: Operand<T>?
}

@discardableResult
func callGrad<T: ABIScalar>(
    _ a: Operand<T>, _ b: Operand<T>, _ u: Operand<T>, _ o: GradOutputs<T>, d: Int,
    eps: Double = 1e-12, threads: Int32 = 1
) -> ssim_status {
    let shape = a.shape.map(Int64.init)
    // Strides for absent outputs: copies of the input's (ignored by the kernel).
    let strides = abiStrides([a, b, u, o.da ?? a, o.db ?? b, o.cos ?? u])
    return shape.withUnsafeBufferPointer { sp in
        strides.withUnsafeBufferPointer { tp in
            T.grad(
                a.ptr, b.ptr, u.ptr, o.da?.ptr, o.db?.ptr, o.cos?.ptr, Int64(d), Int64(a.length),
                Int64(b.length), Int32(shape.count), sp.baseAddress, tp.baseAddress, eps, threads)
        }
    }
}

// MARK: - checking

/// Collects mismatches of one check and records a single issue listing the first few.
struct Mismatches {
    let title: String
    private(set) var count = 0
    private var lines: [String] = []
    init(_ title: String) { self.title = title }

    /// |got − want| ≤ tol; NaN expects NaN, ±Inf expects the same infinity. `limit` is the output
    /// dtype's largest finite value: an exact result beyond it must come out as the infinity of its
    /// sign (float16 gradients of tiny vectors overflow), within tol of it either is accepted.
    mutating func close(
        _ got: Double, _ want: Double, tol: Double, limit: Double = .infinity,
        _ at: @autoclosure () -> String
    ) {
        let ok: Bool
        let overflowed = got.isInfinite && (got > 0) == (want > 0)
        if want.isNaN {
            ok = got.isNaN
        } else if want.isInfinite {
            ok = got == want
        } else if want.magnitude - tol > limit {
            ok = overflowed
        } else {
            ok = (got.isFinite && (got - want).magnitude <= tol) || (want.magnitude + tol > limit && overflowed)
        }
        if !ok { fail("\(at()): got \(got), expected \(want) ± \(tol)") }
    }

    /// Exactly equal values (NaN equals NaN).
    mutating func exact(_ got: Double, _ want: Double, _ at: @autoclosure () -> String) {
        if !(got == want || (got.isNaN && want.isNaN)) { fail("\(at()): got \(got), expected exactly \(want)") }
    }

    mutating func fail(_ line: String) {
        count += 1
        if lines.count < 10 { lines.append(line) }
    }

    func finish(sourceLocation: SourceLocation = #_sourceLocation) {
        guard count > 0 else { return }
        Issue.record(
            Comment(rawValue: "\(title): \(count) mismatch(es)\n" + lines.joined(separator: "\n")),
            sourceLocation: sourceLocation)
    }
}

/// Checks every row of a cosine call against the reference.
@discardableResult
func checkCosine<T: ABIScalar>(
    _ a: Operand<T>, _ b: Operand<T>, _ out: Operand<T>, d: Int, eps: Double = 1e-12,
    _ title: String, record: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Int {
    var m = Mismatches("\(T.dtype) cosine \(title) d=\(d)")
    let tol = Tol.value(T.dtype, d: d)
    for idx in outerIndices(a.shape) {
        let want = Ref.cosine(a.rowD(idx), b.rowD(idx), d: d, eps: eps)
        m.close(out.rowD(idx)[0], want, tol: tol, "row \(idx)")
    }
    if out.strayWrites() > 0 { m.fail("\(out.strayWrites()) element(s) written outside out's rows") }
    if record { m.finish(sourceLocation: sourceLocation) }
    return m.count
}

/// Checks every row of a normalisation against the reference.
@discardableResult
func checkNormalize<T: ABIScalar>(
    _ x: Operand<T>, _ out: Operand<T>, input: [[Double]]? = nil, eps: Double = 1e-12,
    _ title: String, record: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Int {
    let d = x.length
    var m = Mismatches("\(T.dtype) l2_normalize \(title) d=\(d)")
    let tol = Tol.value(T.dtype, d: d)
    for (k, idx) in outerIndices(x.shape).enumerated() {
        let want = Ref.normalize(input?[k] ?? x.rowD(idx), eps: eps)
        let got = out.rowD(idx)
        for i in 0..<d { m.close(got[i], want[i], tol: tol, "row \(idx) [\(i)]") }
    }
    if out.strayWrites() > 0 { m.fail("\(out.strayWrites()) element(s) written outside out's rows") }
    if record { m.finish(sourceLocation: sourceLocation) }
    return m.count
}

/// Checks every row of a gradient call (the outputs present) against the reference.
@discardableResult
func checkGrad<T: ABIScalar>(
    _ a: Operand<T>, _ b: Operand<T>, _ u: Operand<T>, _ o: GradOutputs<T>, d: Int,
    eps: Double = 1e-12, _ title: String, record: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Int {
    var m = Mismatches("\(T.dtype) cosine_grad \(title) d=\(d)")
    let tol = Tol.value(T.dtype, d: d)
    let floor = T.leastNormalMagnitude.double, limit = T.greatestFiniteMagnitude.double
    for idx in outerIndices(a.shape) {
        let ref = Ref.grad(a.rowD(idx), b.rowD(idx), u: u.rowD(idx)[0], d: d, eps: eps)
        if let cos = o.cos { m.close(cos.rowD(idx)[0], ref.c, tol: tol, "cos row \(idx)") }
        if let da = o.da {
            let got = da.rowD(idx)
            for i in 0..<a.length {
                m.close(
                    got[i], ref.da[i], tol: tol * Tol.gradFactor * ref.scaleA + floor, limit: limit,
                    "da row \(idx) [\(i)]")
            }
        }
        if let db = o.db {
            let got = db.rowD(idx)
            for i in 0..<b.length {
                m.close(
                    got[i], ref.db[i], tol: tol * Tol.gradFactor * ref.scaleB + floor, limit: limit,
                    "db row \(idx) [\(i)]")
            }
        }
    }
    for (name, op) in [("da", o.da), ("db", o.db), ("cos", o.cos)] {
        if let op, op.strayWrites() > 0 { m.fail("\(op.strayWrites()) element(s) written outside \(name)'s rows") }
    }
    if record { m.finish(sourceLocation: sourceLocation) }
    return m.count
}

// MARK: - the shared cases

/// One operand layout per case: the outer shape and the layouts of a, b and out.
struct StrideCase: Sendable, CustomStringConvertible {
    var name: String
    var shape: [Int]
    var a = LayoutSpec.contiguous
    var b = LayoutSpec.contiguous
    var out = LayoutSpec.contiguous
    var description: String { name }

    /// Row strides larger than d, negative and zero row strides, an inner stride of two elements,
    /// and ndim 2 and 3 outer spaces whose strides cannot be merged into one axis.
    static let all: [StrideCase] = [
        StrideCase(
            name: "row stride > d", shape: [9],
            a: LayoutSpec(rowPad: 3), b: LayoutSpec(rowPad: 11), out: LayoutSpec(rowPad: 2)),
        StrideCase(
            name: "negative row strides", shape: [9],
            a: LayoutSpec(negate: [0]), b: LayoutSpec(rowPad: 1, negate: [0]), out: LayoutSpec(negate: [0])),
        StrideCase(name: "zero row stride (a broadcast)", shape: [9], a: LayoutSpec(broadcast: [0])),
        StrideCase(
            name: "zero row stride (b broadcast, a negative)", shape: [9],
            a: LayoutSpec(negate: [0]), b: LayoutSpec(broadcast: [0])),
        StrideCase(name: "inner stride 2", shape: [9], a: LayoutSpec(inner: 2), b: LayoutSpec(inner: 2)),
        StrideCase(
            name: "inner stride 2 on a only, negative rows", shape: [9],
            a: LayoutSpec(negate: [0], inner: 2), b: LayoutSpec(rowPad: 2)),
        StrideCase(
            name: "ndim 2 Fortran order, padded", shape: [3, 4],
            a: LayoutSpec(order: [0, 1], rowPad: 1), b: LayoutSpec(order: [0, 1]),
            out: LayoutSpec(order: [0, 1], rowPad: 1)),
        StrideCase(
            name: "negative inner strides (-1 and -2)", shape: [9],
            a: LayoutSpec(inner: -1), b: LayoutSpec(negate: [0], inner: -2), out: LayoutSpec(negate: [0])),
        StrideCase(
            name: "zero inner stride (a constant along the row)", shape: [9],
            a: LayoutSpec(rowPad: 1, inner: 0), b: LayoutSpec(inner: 3)),
        StrideCase(
            name: "ndim 2 negative last outer axis, broadcast first", shape: [4, 5],
            a: LayoutSpec(negate: [1]), b: LayoutSpec(broadcast: [0]), out: LayoutSpec(negate: [0, 1])),
        StrideCase(
            name: "ndim 3 permuted, negative, padded", shape: [2, 3, 4],
            a: LayoutSpec(order: [1, 2, 0], rowPad: 2, negate: [1]),
            b: LayoutSpec(order: [2, 0, 1], negate: [0, 2]),
            out: LayoutSpec(order: [0, 1, 2], rowPad: 3)),
        StrideCase(
            name: "ndim 3 broadcast middle axis, inner stride 2", shape: [3, 2, 5],
            a: LayoutSpec(broadcast: [1], inner: 2), b: LayoutSpec(order: [1, 0, 2], rowPad: 1, inner: 2),
            out: LayoutSpec(negate: [2])),
    ]
}

/// The lengths the stride, NaN and zero tests run at: scalar-only, one partial register, exactly one
/// and two registers, and longer rows with tails.
let shortLengths = [1, 3, 16, 33, 70]

/// Lengths whose SIMD tails all differ: every d in 0...67 (two registers of 16 Float lanes and
/// more), plus 256 and 1000.
let tailLengths: [Int] = Array(0...67) + [256, 1000]
