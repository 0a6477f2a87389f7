// BFloat16.swift — the bfloat16 storage type: the upper 16 bits of a binary32 (1 sign, 8 exponent and
// 7 significand bits), as `ml_dtypes.bfloat16`, JAX and DLPack's kDLBfloat store it.
//
// Widening is exact (a 16-bit left shift of the bits); narrowing rounds to nearest, ties to even, keeps
// NaN a NaN (quieted, sign and top payload bits kept) and overflows to ±infinity; subnormals are kept.
// Arithmetic is done in Float and rounded once: for +, −, ×, ÷ and √ of two bfloat16 values the Float
// result rounded to bfloat16 is the correctly rounded one (24 ≥ 2·8 + 2 significand bits), so the
// type is a correctly rounded IEEE-style format. The kernels never compute in it: they widen to Float.

/// A bfloat16 value, stored as its 16 bits.
@frozen
public struct BFloat16: Sendable {
    /// The IEEE-style bits: the upper half of the binary32 with the same sign, exponent and top 7
    /// significand bits.
    public var bitPattern: UInt16

    @inlinable @inline(__always) public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// `x` rounded to nearest even; NaN stays NaN.
    @inlinable @inline(__always) public init(_ x: Float) { self.init(bitPattern: bfloat16Bits(x)) }

    /// `x` rounded once to nearest even (not through a Float rounding, which could round twice).
    @inlinable public init(_ x: Double) {
        var f = Float(x)
        // Float rounding lands exactly on a bfloat16 midpoint only when that midpoint is x itself or x
        // lies within half a Float ulp of it: step one Float ulp towards x so the midpoint is not a tie.
        if f.isFinite, f.bitPattern & 0xFFFF == 0x8000, Double(f) != x { f = Double(f) < x ? f.nextUp : f.nextDown }
        self.init(f)
    }

    /// The value as a Float (exact).
    @inlinable @inline(__always) public var float: Float { Float(bitPattern: UInt32(bitPattern) &<< 16) }
}

/// The bfloat16 bits of `x`, rounded to nearest even; a NaN gives a quiet NaN with its sign and top bits.
@inlinable @inline(__always)
public func bfloat16Bits(_ x: Float) -> UInt16 {
    let b = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: b &>> 16) | 0x40 }
    return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b &>> 16) & 1)) &>> 16)
}

extension BFloat16: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { float.description }
    public var debugDescription: String { float.debugDescription }
}

extension BFloat16: Codable {
    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(Float.self)) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(float)
    }
}

extension BFloat16: Hashable {
    @inlinable public static func == (a: BFloat16, b: BFloat16) -> Bool { a.float == b.float }
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(float) }
}

extension BFloat16: Comparable {
    @inlinable public static func < (a: BFloat16, b: BFloat16) -> Bool { a.float < b.float }
    @inlinable public static func <= (a: BFloat16, b: BFloat16) -> Bool { a.float <= b.float }
    @inlinable public static func > (a: BFloat16, b: BFloat16) -> Bool { a.float > b.float }
    @inlinable public static func >= (a: BFloat16, b: BFloat16) -> Bool { a.float >= b.float }
}

extension BFloat16: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    @inlinable public init(floatLiteral value: Double) { self.init(value) }
    @inlinable public init(integerLiteral value: Int) { self.init(Float(value)) }
}

extension BFloat16: Strideable {
    @inlinable public func distance(to other: BFloat16) -> BFloat16 { other - self }
    @inlinable public func advanced(by n: BFloat16) -> BFloat16 { self + n }
}

extension BFloat16: SignedNumeric {
    public typealias Magnitude = BFloat16
    @inlinable public var magnitude: BFloat16 { BFloat16(bitPattern: bitPattern & 0x7FFF) }
    @inlinable public init?<Source: BinaryInteger>(exactly source: Source) {
        guard let f = Float(exactly: source), Float(BFloat16(f)) == f else { return nil }
        self.init(f)
    }
    @inlinable public static prefix func - (x: BFloat16) -> BFloat16 { BFloat16(bitPattern: x.bitPattern ^ 0x8000) }
    @inlinable public mutating func negate() { bitPattern ^= 0x8000 }
    @inlinable public static func + (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float + b.float) }
    @inlinable public static func - (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float - b.float) }
    @inlinable public static func * (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float * b.float) }
    @inlinable public static func += (a: inout BFloat16, b: BFloat16) { a = a + b }
    @inlinable public static func -= (a: inout BFloat16, b: BFloat16) { a = a - b }
    @inlinable public static func *= (a: inout BFloat16, b: BFloat16) { a = a * b }
}

extension Float {
    /// `x` widened (exact).
    @inlinable @inline(__always) public init(_ x: BFloat16) { self = x.float }
}

extension BFloat16: BinaryFloatingPoint {
    public typealias Exponent = Int
    public typealias RawSignificand = UInt16
    public typealias RawExponent = UInt
    public typealias Stride = BFloat16

    @inlinable public static var exponentBitCount: Int { 8 }
    @inlinable public static var significandBitCount: Int { 7 }
    @inlinable public var exponentBitPattern: UInt { UInt((bitPattern &>> 7) & 0xFF) }
    @inlinable public var significandBitPattern: UInt16 { bitPattern & 0x7F }
    @inlinable public init(sign: FloatingPointSign, exponentBitPattern: UInt, significandBitPattern: UInt16) {
        let s: UInt16 = sign == .minus ? 0x8000 : 0
        self.init(bitPattern: s | UInt16(truncatingIfNeeded: (exponentBitPattern & 0xFF) &<< 7) | (significandBitPattern & 0x7F))
    }
    @inlinable public init(sign: FloatingPointSign, exponent: Int, significand: BFloat16) {
        self.init(Float(sign: sign, exponent: exponent, significand: significand.float))
    }
    @inlinable public init(_ value: Int) { self.init(Float(value)) }
    @inlinable public init<Source: BinaryInteger>(_ value: Source) { self.init(Float(value)) }

    @inlinable public var binade: BFloat16 { BFloat16(float.binade) }
    @inlinable public var significandWidth: Int { float.significandWidth }

    @inlinable public static var nan: BFloat16 { BFloat16(bitPattern: 0x7FC0) }
    @inlinable public static var signalingNaN: BFloat16 { BFloat16(bitPattern: 0x7FA0) }
    @inlinable public static var infinity: BFloat16 { BFloat16(bitPattern: 0x7F80) }
    @inlinable public static var greatestFiniteMagnitude: BFloat16 { BFloat16(bitPattern: 0x7F7F) }
    @inlinable public static var pi: BFloat16 { BFloat16(bitPattern: 0x4049) }  // rounded towards zero, as Float.pi
    @inlinable public static var leastNormalMagnitude: BFloat16 { BFloat16(bitPattern: 0x0080) }
    @inlinable public static var leastNonzeroMagnitude: BFloat16 { BFloat16(bitPattern: 0x0001) }
    @inlinable public var ulp: BFloat16 {
        guard isFinite else { return .nan }
        let m = magnitude
        return m.bitPattern == 0x7F7F ? m - BFloat16(bitPattern: 0x7F7E) : m.nextUp - m
    }

    @inlinable public var sign: FloatingPointSign { bitPattern & 0x8000 != 0 ? .minus : .plus }
    @inlinable public var exponent: Int { float.exponent }
    @inlinable public var significand: BFloat16 { BFloat16(float.significand) }

    @inlinable public static func / (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float / b.float) }
    @inlinable public static func /= (a: inout BFloat16, b: BFloat16) { a = a / b }
    @inlinable public mutating func formRemainder(dividingBy other: BFloat16) {
        self = BFloat16(float.remainder(dividingBy: other.float))
    }
    @inlinable public mutating func formTruncatingRemainder(dividingBy other: BFloat16) {
        self = BFloat16(float.truncatingRemainder(dividingBy: other.float))
    }
    @inlinable public mutating func formSquareRoot() { self = BFloat16(float.squareRoot()) }
    @inlinable public mutating func addProduct(_ lhs: BFloat16, _ rhs: BFloat16) {
        // The product of two bfloat16 values is exact in Double; the sum is rounded there, then to bfloat16.
        self = BFloat16(Double(float) + Double(lhs.float) * Double(rhs.float))
    }
    @inlinable public mutating func round(_ rule: FloatingPointRoundingRule) { self = BFloat16(float.rounded(rule)) }

    @inlinable public var nextUp: BFloat16 {
        if isNaN || bitPattern == 0x7F80 { return self }
        if bitPattern == 0x8000 { return BFloat16(bitPattern: 0x0001) }
        return sign == .minus ? BFloat16(bitPattern: bitPattern &- 1) : BFloat16(bitPattern: bitPattern &+ 1)
    }

    @inlinable public func isEqual(to other: BFloat16) -> Bool { float == other.float }
    @inlinable public func isLess(than other: BFloat16) -> Bool { float < other.float }
    @inlinable public func isLessThanOrEqualTo(_ other: BFloat16) -> Bool { float <= other.float }
    @inlinable public func isTotallyOrdered(belowOrEqualTo other: BFloat16) -> Bool {
        float.isTotallyOrdered(belowOrEqualTo: other.float)
    }
    @inlinable public var isNormal: Bool { float.isNormal }
    @inlinable public var isFinite: Bool { bitPattern & 0x7F80 != 0x7F80 }
    @inlinable public var isZero: Bool { bitPattern & 0x7FFF == 0 }
    @inlinable public var isSubnormal: Bool { float.isSubnormal }
    @inlinable public var isInfinite: Bool { bitPattern & 0x7FFF == 0x7F80 }
    @inlinable public var isNaN: Bool { bitPattern & 0x7FFF > 0x7F80 }
    @inlinable public var isSignalingNaN: Bool { isNaN && bitPattern & 0x40 == 0 }
    @inlinable public var isCanonical: Bool { true }
}

// MARK: SIMD storage
// SIMDn<BFloat16> holds the bits in SIMDn<UInt16>'s storage (the kernels themselves load and store
// bfloat16 through UInt16 registers, Scalar.swift).

extension BFloat16: SIMDScalar {
    public typealias SIMDMaskScalar = Int16
    public typealias SIMD2Storage = BFloat16Storage<UInt16.SIMD2Storage>
    public typealias SIMD4Storage = BFloat16Storage<UInt16.SIMD4Storage>
    public typealias SIMD8Storage = BFloat16Storage<UInt16.SIMD8Storage>
    public typealias SIMD16Storage = BFloat16Storage<UInt16.SIMD16Storage>
    public typealias SIMD32Storage = BFloat16Storage<UInt16.SIMD32Storage>
    public typealias SIMD64Storage = BFloat16Storage<UInt16.SIMD64Storage>
}

/// The storage of a SIMD vector of bfloat16: that of the same number of UInt16 bit patterns.
@frozen
public struct BFloat16Storage<Raw: SIMDStorage>: SIMDStorage, Sendable where Raw.Scalar == UInt16, Raw: Sendable {
    public typealias Scalar = BFloat16
    public var raw: Raw
    @inlinable public init() { raw = Raw() }
    @inlinable public var scalarCount: Int { raw.scalarCount }
    @inlinable public subscript(index: Int) -> BFloat16 {
        get { BFloat16(bitPattern: raw[index]) }
        set { raw[index] = newValue.bitPattern }
    }
}
