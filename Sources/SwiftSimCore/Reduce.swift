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

/// Σ a_i b_i, Σ a_i², Σ b_i² over `d` contiguous elements.
@inline(__always)
func dotNorms<T: SimScalar>(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ d: Int, _: T.Type) -> DotNorms<T.Acc> {
    let w = T.Vec.scalarCount
    let step = w * MemoryLayout<T>.stride
    var ab0 = T.Vec(), ab1 = T.Vec(), aa0 = T.Vec(), aa1 = T.Vec(), bb0 = T.Vec(), bb1 = T.Vec()
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
    if i &+ w <= d {
        let x0 = T.load(pa), y0 = T.load(pb)
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

/// Σ x_i² over `d` contiguous elements.
@inline(__always)
func sumSquares<T: SimScalar>(_ x: UnsafeRawPointer, _ d: Int, _: T.Type) -> T.Acc {
    let w = T.Vec.scalarCount
    let step = w * MemoryLayout<T>.stride
    var s0 = T.Vec(), s1 = T.Vec()
    var i = 0
    var p = x
    while i &+ 2 &* w <= d {
        let v0 = T.load(p), v1 = T.load(p + step)
        s0 = s0.madd(v0, v0); s1 = s1.madd(v1, v1)
        i &+= 2 &* w; p += 2 &* step
    }
    if i &+ w <= d {
        let v0 = T.load(p)
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

    /// The TensorFlow rule r = 1/sqrt(max(s, ε)), for a finite squared norm s.
    @inline(__always) init(squaredNorm s: A, epsilon: A) {
        clamped = !(s >= epsilon)
        p = 1 / (clamped ? epsilon : s).squareRoot()
        q = 1
        valid = true
    }

    /// For a vector whose squared norm overflowed (or holds NaN/Inf): scale by the largest magnitude
    /// first, so that finite vectors get their exact unit vector.
    init<T: SimScalar>(overflowed x: StridedRow<T>, epsilon: A) where T.Acc == A {
        let m = x.maxMagnitude()
        guard m.isFinite else { self.p = .nan; self.q = .nan; self.clamped = false; self.valid = false; return }
        let inv = 1 / m
        var s: A = 0
        for i in 0..<x.count { let v = x[i] * inv; s = s.madd(v, v) }
        self.p = inv
        self.q = 1 / s.squareRoot()
        self.clamped = false
        self.valid = true
    }

    /// Whichever of the two rules applies to a vector with squared norm `s`.
    @inline(__always) init<T: SimScalar>(_ x: StridedRow<T>, squaredNorm s: A, epsilon: A) where T.Acc == A {
        if s.isFinite { self.init(squaredNorm: s, epsilon: epsilon) } else { self.init(overflowed: x, epsilon: epsilon) }
    }
}

/// The general (strided, broadcast or overflowed) row: unit scales of both vectors and their cosine,
/// summed in Acc in index order. Returns nil when either vector holds NaN or an infinity.
func generalCosine<T: SimScalar>(_ a: StridedRow<T>, _ b: StridedRow<T>, _ d: Int, epsilon: T.Acc)
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

/// Gives every row a contiguous copy when its elements are not adjacent, so that all layouts go
/// through the same SIMD reductions and give the same bits. One scratch area per thread, of
/// `slots` rows; rows that are already contiguous are used in place.
struct Staging<T: SimScalar> {
    let buffer: UnsafeMutableRawPointer?
    let n: Int

    @inline(__always) func slot(_ k: Int) -> UnsafeMutableRawPointer {
        buffer! + k &* n &* MemoryLayout<T>.stride
    }

    /// The row at `p` (elements `stride` bytes apart) as contiguous memory: itself, or a copy in `slot`.
    @inline(__always) func contiguous(_ p: UnsafeRawPointer, stride: Int, slot k: Int) -> UnsafeRawPointer {
        if stride == MemoryLayout<T>.stride { return p }
        let dst = slot(k)
        for i in 0..<n {
            dst.storeBytes(
                of: p.load(fromByteOffset: i &* stride, as: T.self),
                toByteOffset: i &* MemoryLayout<T>.stride, as: T.self)
        }
        return UnsafeRawPointer(dst)
    }

    /// Where to write a row destined for `p`: `p` itself when contiguous, else `slot` (then `scatter`).
    @inline(__always) func target(_ p: UnsafeMutableRawPointer, stride: Int, slot k: Int) -> UnsafeMutableRawPointer {
        stride == MemoryLayout<T>.stride ? p : slot(k)
    }

    /// Copies `slot` to the row at `p` when `target` handed out the slot.
    @inline(__always) func scatter(_ p: UnsafeMutableRawPointer, stride: Int, slot k: Int) {
        if stride == MemoryLayout<T>.stride { return }
        let src = slot(k)
        for i in 0..<n {
            p.storeBytes(
                of: src.load(fromByteOffset: i &* MemoryLayout<T>.stride, as: T.self),
                toByteOffset: i &* stride, as: T.self)
        }
    }
}

/// Runs `body` with a `Staging` of `slots` rows of `n` elements (no memory when not `needed`).
@inline(__always)
func withStaging<T: SimScalar>(_: T.Type, slots: Int, n: Int, needed: Bool, _ body: (Staging<T>) -> Void) {
    if !needed { return body(Staging(buffer: nil, n: n)) }
    withUnsafeTemporaryAllocation(byteCount: max(slots * n * MemoryLayout<T>.stride, 1), alignment: 64) { raw in
        body(Staging(buffer: raw.baseAddress!, n: n))
    }
}
