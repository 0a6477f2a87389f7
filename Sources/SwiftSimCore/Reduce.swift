// Reduce.swift — the per-row reductions every kernel starts from, and the rule that turns a squared
// norm into a scale.
//
// Contiguous rows are reduced with two registers of accumulators per sum (2 × 16 Float lanes, or
// 2 × 8 Double lanes), one FMA per element per sum, then a one-register loop, then a scalar tail;
// the lanes are summed as a balanced tree. The order is fixed by `d` alone, so a row always gives
// the same bits. Error against the exact sum: about (d / lanes + log2(lanes)) ulp of Acc in the worst
// case, sqrt of that typically (lanes = 32 for Float, 16 for Double).

/// The three sums of one row pair.
struct DotNorms<A: BinaryFloatingPoint> {
    var ab: A
    var aa: A
    var bb: A
}

/// The running sums of `dotNorms`, carried from chunk to chunk of a row.
struct DotNormsState<T: SimScalar> {
    var ab0 = T.Vec(), ab1 = T.Vec(), aa0 = T.Vec(), aa1 = T.Vec(), bb0 = T.Vec(), bb1 = T.Vec()

    /// Adds `d` contiguous elements of each row, `d` a multiple of two registers (a chunk before the
    /// last): exactly the iterations a single pass makes over those elements.
    @inline(__always) mutating func add(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ d: Int) {
        let w = T.Vec.scalarCount
        let step = w * MemoryLayout<T>.stride
        var i = 0
        var pa = a, pb = b
        while i &+ 2 &* w <= d {
            let x0 = T.load(pa), y0 = T.load(pb)
            let x1 = T.load(pa + step), y1 = T.load(pb + step)
            ab0 = ab0.madd(x0, y0); ab1 = ab1.madd(x1, y1)
            aa0 = aa0.madd(x0, x0); aa1 = aa1.madd(x1, x1)
            bb0 = bb0.madd(y0, y0); bb1 = bb1.madd(y1, y1)
            i &+= 2 &* w; pa += 2 &* step; pb += 2 &* step
        }
    }

    /// The row's last `d` elements: pairs of registers, one register, the lane sums, a scalar tail.
    @inline(__always) mutating func finish(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ d: Int) -> DotNorms<T.Acc> {
        let w = T.Vec.scalarCount
        let pairs = d / (2 &* w) &* (2 &* w)
        add(a, b, pairs)
        var i = pairs
        if i &+ w <= d {
            let x0 = T.load(a + i &* MemoryLayout<T>.stride), y0 = T.load(b + i &* MemoryLayout<T>.stride)
            ab0 = ab0.madd(x0, y0)
            aa0 = aa0.madd(x0, x0)
            bb0 = bb0.madd(y0, y0)
            i &+= w
        }
        let (sab, saa, sbb) = T.hsum3(ab0 + ab1, aa0 + aa1, bb0 + bb1)
        var r = DotNorms(ab: sab, aa: saa, bb: sbb)
        let ta = a.assumingMemoryBound(to: T.self), tb = b.assumingMemoryBound(to: T.self)
        while i < d {
            let x = T.widen(ta[i]), y = T.widen(tb[i])
            r.ab = r.ab.madd(x, y)
            r.aa = r.aa.madd(x, x)
            r.bb = r.bb.madd(y, y)
            i &+= 1
        }
        return r
    }
}

/// Σ a_i b_i, Σ a_i², Σ b_i² over `d` contiguous elements.
@inline(__always)
func dotNorms<T: SimScalar>(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ d: Int, _: T.Type) -> DotNorms<T.Acc> {
    var s = DotNormsState<T>()
    return s.finish(a, b, d)
}

/// Σ a_i b_i, Σ a_i², Σ b_i² of two rows of any layout, chunk by chunk (Staging.swift): the same
/// operations, so the same bits, as the contiguous form.
@inline(__always)
func dotNorms<T: SimScalar>(_ a: RowReader<T>, _ b: RowReader<T>, _ d: Int) -> DotNorms<T.Acc> {
    if a.contiguous && b.contiguous { return dotNorms(a.base, b.base, d, T.self) }
    var s = DotNormsState<T>()
    var i = 0
    while d &- i > stageChunk {
        s.add(a.chunk(i, stageChunk), b.chunk(i, stageChunk), stageChunk)
        i &+= stageChunk
    }
    return s.finish(a.chunk(i, d &- i), b.chunk(i, d &- i), d &- i)
}

/// The running sum of `sumSquares`, carried from chunk to chunk of a row.
struct SumSquaresState<T: SimScalar> {
    var s0 = T.Vec(), s1 = T.Vec()

    /// Adds `d` contiguous elements, `d` a multiple of two registers.
    @inline(__always) mutating func add(_ x: UnsafeRawPointer, _ d: Int) {
        let w = T.Vec.scalarCount
        let step = w * MemoryLayout<T>.stride
        var i = 0
        var p = x
        while i &+ 2 &* w <= d {
            let (v0, v1) = T.loadPair(p)
            s0 = s0.madd(v0, v0); s1 = s1.madd(v1, v1)
            i &+= 2 &* w; p += 2 &* step
        }
    }

    /// The row's last `d` elements.
    @inline(__always) mutating func finish(_ x: UnsafeRawPointer, _ d: Int) -> T.Acc {
        let w = T.Vec.scalarCount
        let pairs = d / (2 &* w) &* (2 &* w)
        add(x, pairs)
        var i = pairs
        if i &+ w <= d {
            let v0 = T.load(x + i &* MemoryLayout<T>.stride)
            s0 = s0.madd(v0, v0)
            i &+= w
        }
        var s = T.hsum(s0 + s1)
        let t = x.assumingMemoryBound(to: T.self)
        while i < d {
            let v = T.widen(t[i])
            s = s.madd(v, v)
            i &+= 1
        }
        return s
    }
}

/// Σ x_i² over `d` contiguous elements.
@inline(__always)
func sumSquares<T: SimScalar>(_ x: UnsafeRawPointer, _ d: Int, _: T.Type) -> T.Acc {
    var s = SumSquaresState<T>()
    return s.finish(x, d)
}

/// Σ x_i² of a row of any layout, chunk by chunk: the same bits as the contiguous form.
@inline(__always)
func sumSquares<T: SimScalar>(_ x: RowReader<T>, _ d: Int) -> T.Acc {
    if x.contiguous { return sumSquares(x.base, d, T.self) }
    var s = SumSquaresState<T>()
    var i = 0
    while d &- i > stageChunk {
        s.add(x.chunk(i, stageChunk), stageChunk)
        i &+= stageChunk
    }
    return s.finish(x.chunk(i, d &- i), d &- i)
}

/// One strided vector: `count` elements `stride` bytes apart (count 1 means a size-1 axis that is
/// broadcast along the reduction: every index reads element 0).
struct StridedRow<T: SimScalar> {
    let base: UnsafeRawPointer
    let stride: Int
    let count: Int

    @inline(__always) subscript(i: Int) -> T.Acc {
        T.widen(base.load(fromByteOffset: count == 1 ? 0 : i &* stride, as: T.self))
    }

    /// Σ x_i² over the vector's own length.
    @inline(__always) func sumSquares() -> T.Acc {
        var s: T.Acc = 0
        for i in 0..<count { let v = self[i]; s = s.madd(v, v) }
        return s
    }

    /// max |x_i| over the vector's own length; NaN if any element is NaN.
    func maxMagnitude() -> T.Acc {
        var m: T.Acc = 0
        for i in 0..<count {
            let v = self[i].magnitude
            if v.isNaN { return .nan }
            if v > m { m = v }
        }
        return m
    }
}

/// How one vector is scaled to unit length: x̂_i = (x_i · p) · q, r = p · q = 1/|x| (floored),
/// `clamped` when |x|² < ε (then r is the constant 1/√ε and the gradient has no radial term).
/// `valid` is false when the vector holds a NaN or an infinity.
struct UnitScale<A: BinaryFloatingPoint> {
    var p: A
    var q: A
    var clamped: Bool
    var valid: Bool
    @inline(__always) var r: A { p * q }

    /// A vector taken as it is: r = 1, never clamped (the gradient's upstream side in Normalize.swift).
    static var identity: UnitScale { UnitScale(p: 1, q: 1, clamped: false, valid: true) }

    @inline(__always) private init(p: A, q: A, clamped: Bool, valid: Bool) {
        self.p = p
        self.q = q
        self.clamped = clamped
        self.valid = valid
    }

    /// The TensorFlow rule r = 1/sqrt(max(s, ε)), for a finite squared norm s.
    @inline(__always) init(squaredNorm s: A, epsilon: EpsilonFloor<A>) {
        clamped = !(s >= epsilon.floor)
        p = clamped ? epsilon.clampedScale : 1 / s.squareRoot()
        q = 1
        valid = true
    }

    /// For a vector whose squared norm overflowed (or holds NaN/Inf): scale by the largest magnitude
    /// first, so that finite vectors get their exact unit vector.
    init<T: SimScalar>(overflowed x: StridedRow<T>, epsilon: EpsilonFloor<A>) where T.Acc == A {
        let m = x.maxMagnitude()
        guard m.isFinite else { self.p = .nan; self.q = .nan; self.clamped = false; self.valid = false; return }
        if epsilon.clamps(overflowed: x) {
            self.p = epsilon.clampedScale
            self.q = 1
            self.clamped = true
            self.valid = true
            return
        }
        let inv = 1 / m
        var s: A = 0
        for i in 0..<x.count { let v = x[i] * inv; s = s.madd(v, v) }
        self.p = inv
        self.q = 1 / s.squareRoot()
        self.clamped = false
        self.valid = true
    }

    /// Whichever of the two rules applies to a vector with squared norm `s`.
    @inline(__always) init<T: SimScalar>(_ x: StridedRow<T>, squaredNorm s: A, epsilon: EpsilonFloor<A>) where T.Acc == A {
        if s.isFinite { self.init(squaredNorm: s, epsilon: epsilon) } else { self.init(overflowed: x, epsilon: epsilon) }
    }
}

/// The rare row whose sums are not finite (a squared norm overflowed, or NaN/Inf in a vector): unit
/// scales of both vectors and their cosine, summed in Acc in index order. Returns nil when either
/// vector holds NaN or an infinity.
func generalCosine<T: SimScalar>(_ a: StridedRow<T>, _ b: StridedRow<T>, _ d: Int, epsilon: EpsilonFloor<T.Acc>)
    -> (c: T.Acc, sa: UnitScale<T.Acc>, sb: UnitScale<T.Acc>)?
{
    let aa = a.sumSquares(), bb = b.sumSquares()
    let sa = UnitScale(a, squaredNorm: aa, epsilon: epsilon)
    let sb = UnitScale(b, squaredNorm: bb, epsilon: epsilon)
    guard sa.valid, sb.valid else { return nil }
    var c: T.Acc = 0
    if aa.isFinite && bb.isFinite {
        var ab: T.Acc = 0
        for i in 0..<d { ab = ab.madd(a[i], b[i]) }
        c = ab * sa.r * sb.r
    } else {
        for i in 0..<d { c = c.madd(a[i] * sa.p * sa.q, b[i] * sb.p * sb.q) }
    }
    return (c, sa, sb)
}

/// The floor ε on squared norms, as the kernels use it in the accumulation type `A`.
/// - `floor`: ε in A, for the comparison |x|² ≥ ε. A positive ε below A's smallest subnormal is that
///   subnormal (which no positive squared norm is below, so the comparison is unchanged) instead of 0;
///   an ε beyond A's range is +∞.
/// - `clampedScale`: 1/√ε, the scale of a vector below the floor, computed in Double from the exact ε
///   and rounded once to A: with ε = 1e-50 a float32 zero vector's gradient is b̂·1e25, as the formula
///   says; with ε = 1e300 it is 0. A positive ε whose 1/√ε is beyond A's range gives A's largest
///   finite value, so that a zero vector's cosine is still 0 (0·∞ would be NaN); ε = 0 keeps 1/√0 = ∞
///   (a zero vector then gives NaN, as in TensorFlow).
struct EpsilonFloor<A: BinaryFloatingPoint> {
    let floor: A
    let clampedScale: A
    let exact: Double

    @inline(__always) init(_ epsilon: Double) {
        let e = A(epsilon)
        floor = e == 0 && epsilon > 0 ? A.leastNonzeroMagnitude : e
        let scale = 1 / epsilon.squareRoot()
        clampedScale = epsilon > 0 && scale > Double(A.greatestFiniteMagnitude) ? A.greatestFiniteMagnitude : A(scale)
        exact = epsilon
    }

    /// Whether a vector whose squared norm overflowed A lies below the floor: only possible when ε
    /// itself is beyond A's range, and then decided on the squared norm summed in Double.
    func clamps<T: SimScalar>(overflowed x: StridedRow<T>) -> Bool where T.Acc == A {
        if floor.isFinite { return false }
        if exact == .infinity { return true }
        var s = 0.0
        for i in 0..<x.count { let v = Double(x[i]); s += v * v }
        return s < exact
    }
}

/// The two input rows of a row-wise kernel at one outer index, read through staging slots. An operand
/// of reduced length 1 broadcast along d > 1 is normalised with its own length, as TensorFlow does:
/// its squared norm is a₀², and its products with the other row are a₀ · Σ bᵢ, the sum taken by the
/// same SIMD reduction as every dot product (a row of ones against b), so it has the same error bound.
struct RowPair<T: SimScalar> {
    let a: UnsafeRawPointer, b: UnsafeRawPointer
    let strideA: Int, strideB: Int
    /// The broadcast length d and whether a (b) has reduced length 1 while d > 1.
    let d: Int
    let broadcastA: Bool, broadcastB: Bool
    let slotA: UnsafeMutableRawPointer?, slotB: UnsafeMutableRawPointer?

    @inline(__always) init(
        _ a: UnsafeRawPointer, strideA: Int, lengthA: Int, _ b: UnsafeRawPointer, strideB: Int, lengthB: Int, d: Int,
        slots: (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?)
    ) {
        self.a = a
        self.b = b
        self.strideA = strideA
        self.strideB = strideB
        self.d = d
        broadcastA = lengthA != d
        broadcastB = lengthB != d
        (slotA, slotB) = slots
    }

    /// Row a as d elements (its one element repeated when it is broadcast).
    @inline(__always) var readerA: RowReader<T> {
        broadcastA
            ? RowReader(repeating: a.load(as: T.self), count: d, slot: slotA!) : RowReader(a, stride: strideA, count: d, slot: slotA)
    }
    @inline(__always) var readerB: RowReader<T> {
        broadcastB
            ? RowReader(repeating: b.load(as: T.self), count: d, slot: slotB!) : RowReader(b, stride: strideB, count: d, slot: slotB)
    }

    /// Σ a·b, |a|², |b|² (each operand's squared norm over its own length), and the plain sum of the
    /// full-length row when the other is broadcast (else 0).
    @inline(__always) func sums() -> (DotNorms<T.Acc>, sum: T.Acc) {
        if broadcastA {
            let s = dotNorms(RowReader<T>(repeating: 1, count: d, slot: slotA!), readerB, d)
            let a0 = T.widen(a.load(as: T.self))
            return (DotNorms(ab: a0 * s.ab, aa: a0 * a0, bb: s.bb), s.ab)
        }
        if broadcastB {
            let s = dotNorms(readerA, RowReader<T>(repeating: 1, count: d, slot: slotB!), d)
            let b0 = T.widen(b.load(as: T.self))
            return (DotNorms(ab: b0 * s.ab, aa: s.aa, bb: b0 * b0), s.ab)
        }
        return (dotNorms(readerA, readerB, d), 0)
    }

    /// Whether staging slots are needed for rows with these inner strides and lengths.
    static func needsSlots(strideA: Int, strideB: Int, lengthA: Int, lengthB: Int, d: Int) -> Bool {
        strideA != MemoryLayout<T>.stride || strideB != MemoryLayout<T>.stride || lengthA != d || lengthB != d
    }
}
