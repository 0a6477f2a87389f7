// ExportsTests.swift — the C ABI surface itself (Sources/SwiftSimCore/Exports.swift and the argument
// checks behind it): every bad argument returns its status and never traps nor writes, float16 goes
// through as binary16 bit patterns, ndim 0, and the checkers of Reference.swift can fail.

import CSwiftSimABI
import Testing

@testable import SwiftSimCore

enum Op: String, Sendable, CaseIterable, CustomStringConvertible {
    case cosine, normalize, grad
    var description: String { rawValue }
}

/// One set of arguments and the status every op it applies to must return.
struct ArgCase: Sendable, CustomStringConvertible {
    var name: String
    var d: Int64 = 4
    var dA: Int64? = nil  // nil: d
    var dB: Int64? = nil
    var ndim: Int32? = nil  // nil: shape.count
    var shape: [Int64]? = [3]
    var nullStrides = false
    var eps = 1e-12
    /// Pointers passed as NULL: "a" (x for normalize), "b", "out", "u", "da", "db", "cos".
    var null: Set<String> = []
    var want: UInt32
    var ops: Set<Op> = Set(Op.allCases)
    var description: String { name }

    static let ok = SSIM_OK.rawValue, shape = SSIM_ERR_BAD_SHAPE.rawValue
    static let epsilon = SSIM_ERR_BAD_EPSILON.rawValue, nullPointer = SSIM_ERR_NULL_POINTER.rawValue

    static let all: [ArgCase] = [
        ArgCase(name: "valid", want: ok),
        ArgCase(name: "negative d", d: -1, want: shape),
        ArgCase(name: "negative d, rows 0", d: -1, shape: [0], want: shape),
        ArgCase(name: "d_a = 2 with d = 4", dA: 2, want: shape, ops: [.cosine, .grad]),
        ArgCase(name: "d_a = 0 with d = 4", dA: 0, want: shape, ops: [.cosine, .grad]),
        ArgCase(name: "d_b = 5 with d = 4", dB: 5, want: shape, ops: [.cosine, .grad]),
        ArgCase(name: "d_a = -1", dA: -1, want: shape, ops: [.cosine, .grad]),
        ArgCase(name: "d_a = 1, d_b = d", dA: 1, want: ok, ops: [.cosine, .grad]),
        ArgCase(name: "d_a = d, d_b = 1", dB: 1, want: ok, ops: [.cosine, .grad]),
        ArgCase(name: "ndim -1", ndim: -1, want: shape),
        ArgCase(name: "ndim 65", ndim: 65, shape: [Int64](repeating: 1, count: 65), want: shape),
        ArgCase(name: "ndim 64 (the limit)", ndim: 64, shape: [Int64](repeating: 1, count: 64), want: ok),
        ArgCase(name: "negative shape entry", shape: [3, -2], want: shape),
        ArgCase(name: "negative shape entry beside a zero", shape: [0, -1], want: shape),
        ArgCase(name: "shape product overflows", shape: [1 << 40, 1 << 40], want: shape),
        ArgCase(name: "negative epsilon", eps: -1e-12, want: epsilon),
        ArgCase(name: "NaN epsilon", eps: .nan, want: epsilon),
        ArgCase(name: "-Inf epsilon", eps: -.infinity, want: epsilon),
        ArgCase(name: "epsilon 0", eps: 0, want: ok),
        ArgCase(name: "epsilon +Inf", eps: .infinity, want: ok),
        ArgCase(name: "NULL a / x", null: ["a"], want: nullPointer),
        ArgCase(name: "NULL b", null: ["b"], want: nullPointer, ops: [.cosine, .grad]),
        ArgCase(name: "NULL out", null: ["out"], want: nullPointer, ops: [.cosine, .normalize]),
        ArgCase(name: "NULL u", null: ["u"], want: nullPointer, ops: [.grad]),
        ArgCase(name: "NULL da, db and cos (nothing to compute)", null: ["da", "db", "cos"], want: ok, ops: [.grad]),
        ArgCase(
            name: "rows 0 with every data pointer NULL", shape: [0],
            null: ["a", "b", "out", "u", "da", "db", "cos"], want: ok),
        ArgCase(
            name: "rows 0 (ndim 2) with every data pointer NULL", shape: [3, 0],
            null: ["a", "b", "out", "u", "da", "db", "cos"], want: ok),
        ArgCase(name: "ndim 0 with a NULL shape: one row", ndim: 0, shape: nil, want: ok),
        // The header: SSIM_ERR_NULL_POINTER is "a required pointer was NULL"; the strides (and the
        // shape when ndim > 0) are required pointers.
        ArgCase(name: "NULL strides", nullStrides: true, want: nullPointer),
        ArgCase(name: "NULL shape with ndim 1", ndim: 1, shape: nil, want: nullPointer),
        // The header: d_a, d_b "equal to d, or 1"; BAD_SHAPE only when "not in {d, 1}". With d = 0 a
        // size-1 operand broadcasts against an empty one (NumPy: (1,) and (0,) give (0,)): cosine 0.
        ArgCase(name: "d = 0 with d_a = 1 (size-1 against empty)", d: 0, dA: 1, want: ok, ops: [.cosine, .grad]),
    ]
}

@Suite("C ABI")
struct ExportsTests {
    @Test("bad arguments return their status, never trap, write nothing", arguments: DType.allCases, ArgCase.all)
    func arguments(dtype: DType, c: ArgCase) { checkArguments(dtype.type, c) }

    @Test("float16 is passed as binary16 bit patterns")
    func float16BitPatterns() {
        // a = (1, 0), b = (1, 1): cos = 1/√2 → binary16 0x39A8 (0.70703125, the nearest).
        let a: [ssim_f16] = [0x3C00, 0x0000], b: [ssim_f16] = [0x3C00, 0x3C00]
        var out: [ssim_f16] = [0xFFFF]
        let shape: [Int64] = [1], strides: [Int64] = [4, 2, 4, 2, 2, 0]
        #expect(ssim_cosine_f16(a, b, &out, 2, 2, 2, 1, shape, strides, 1e-12, 1) == SSIM_OK)
        #expect(out[0] == 0x39A8, "cos((1,0),(1,1)) = 0x39A8, got 0x\(String(out[0], radix: 16))")
        // A binary16 zero vector gives +0, not NaN (sums in float32).
        let zero: [ssim_f16] = [0x0000, 0x8000]
        #expect(ssim_cosine_f16(zero, b, &out, 2, 2, 2, 1, shape, strides, 1e-12, 1) == SSIM_OK)
        #expect(out[0] & 0x7FFF == 0, "zero vector: 0, got 0x\(String(out[0], radix: 16))")
        // l2_normalize((3, 4)) = (0.6, 0.8) → 0x38CD, 0x3A66.
        let x: [ssim_f16] = [0x4200, 0x4400]
        var y: [ssim_f16] = [0xFFFF, 0xFFFF]
        #expect(ssim_l2_normalize_f16(x, &y, 2, 1, shape, [4, 2, 4, 2], 1e-12, 1) == SSIM_OK)
        #expect(y == [0x38CD, 0x3A66], "normalize (3, 4): got \(y.map { String($0, radix: 16) })")
        // Gradient of cos(a, b) with a = (1, 0), b = (0, 1), u = 1: da = (0, 1), db = (1, 0), c = 0.
        let e0: [ssim_f16] = [0x3C00, 0], e1: [ssim_f16] = [0, 0x3C00], u: [ssim_f16] = [0x3C00]
        var da: [ssim_f16] = [0xFFFF, 0xFFFF], db: [ssim_f16] = [0xFFFF, 0xFFFF], c: [ssim_f16] = [0xFFFF]
        let gs: [Int64] = [4, 2, 4, 2, 2, 0, 4, 2, 4, 2, 2, 0]
        #expect(ssim_cosine_grad_f16(e0, e1, u, &da, &db, &c, 2, 2, 2, 1, shape, gs, 1e-12, 1) == SSIM_OK)
        #expect(
            da.map { $0 & 0x7FFF } == [0, 0x3C00] && db.map { $0 & 0x7FFF } == [0x3C00, 0] && c[0] & 0x7FFF == 0,
            "grad: da \(da), db \(db), c \(c)")
    }

    @Test("ndim 0: one row, the shape pointer unused", arguments: DType.allCases)
    func ndimZero(dtype: DType) { checkNdimZero(dtype.type) }

    @Test("ssim_build_info is a non-empty static string")
    func buildInfo() {
        let p = ssim_build_info()
        #expect(p != nil)
        if let p { #expect(!String(cString: p).isEmpty) }
    }

    @Test("the checkers catch a wrong value, a stray NaN and a stray write", arguments: DType.allCases)
    func checkersCanFail(dtype: DType) { checkCheckers(dtype.type) }
}

// MARK: - generic bodies

private func checkArguments<T: ABIScalar>(_: T.Type, _ c: ArgCase) {
    let names = ["a", "b", "out", "u", "da", "db", "cos"]
    let n = 64
    var buffers: [String: UnsafeMutablePointer<T>] = [:]
    for name in names {
        let p = UnsafeMutablePointer<T>.allocate(capacity: n)
        p.initialize(repeating: ["out", "da", "db", "cos"].contains(name) ? .nan : T(0.5), count: n)
        buffers[name] = p
    }
    defer { for p in buffers.values { p.deallocate() } }
    func ptr(_ name: String) -> UnsafeMutablePointer<T>? { c.null.contains(name) ? nil : buffers[name] }
    let ndim = c.ndim ?? Int32(c.shape?.count ?? 0)
    let size = Int64(MemoryLayout<T>.stride)
    let d = c.d, dA = c.dA ?? c.d, dB = c.dB ?? c.d
    for op in Op.allCases where c.ops.contains(op) {
        // Zero outer strides: every row is the same row, so small buffers serve any shape.
        let slots = Int(max(ndim, 0)) + 1
        let scalar: [Bool] =
            op == .cosine
            ? [false, false, true]
            : op == .normalize
                ? [false, false]
                : [false, false, true, false, false, true]
        var strides = [Int64](repeating: 0, count: 6 * 66)
        for (k, s) in scalar.enumerated() { strides[k * slots + slots - 1] = s ? 0 : size }
        let shape = c.shape ?? []
        let status: ssim_status = strides.withUnsafeBufferPointer { tp in
            shape.withUnsafeBufferPointer { sp in
                let st = c.nullStrides ? nil : tp.baseAddress
                let sh = c.shape == nil ? nil : sp.baseAddress
                switch op {
                case .cosine:
                    return T.cosine(ptr("a"), ptr("b"), ptr("out"), d, dA, dB, ndim, sh, st, c.eps, 1)
                case .normalize:
                    return T.normalize(ptr("a"), ptr("out"), d, ndim, sh, st, c.eps, 1)
                case .grad:
                    return T.grad(
                        ptr("a"), ptr("b"), ptr("u"), ptr("da"), ptr("db"), ptr("cos"), d, dA, dB, ndim, sh, st,
                        c.eps, 1)
                }
            }
        }
        #expect(status.rawValue == c.want, "\(op) \(T.dtype): \(c.name): status \(status.rawValue), expected \(c.want)")
        if c.want != SSIM_OK.rawValue {
            for name in ["out", "da", "db", "cos"] {
                let p = buffers[name]!
                #expect((0..<n).allSatisfy { p[$0].bits == T.nan.bits }, "\(op): \(c.name): \(name) written on error")
            }
        }
        for name in ["a", "b", "u"] {
            let p = buffers[name]!
            #expect((0..<n).allSatisfy { p[$0] == T(0.5) }, "\(op): \(c.name): input \(name) modified")
        }
        // Reset the outputs for the next op.
        for name in ["out", "da", "db", "cos"] { buffers[name]!.update(repeating: .nan, count: n) }
    }
}

private func checkNdimZero<T: ABIScalar>(_: T.Type) {
    let d = 37
    var rng = SplitMix64(50, T.dtype.seed)
    let a = Operand<T>(shape: [], length: d), b = Operand<T>(shape: [], length: d), u = Operand<T>(scalarsOf: [])
    let out = Operand<T>(scalarsOf: []), norm = Operand<T>(shape: [], length: d)
    let g = GradOutputs(
        da: Operand<T>(shape: [], length: d), db: Operand<T>(shape: [], length: d),
        cos: Operand<T>(scalarsOf: []))
    a.fill(&rng)
    b.fill(&rng)
    u.fill(&rng)
    let sc = abiStrides([a, b, out]), sn = abiStrides([a, norm])
    let sg = abiStrides([a, b, u, g.da!, g.db!, g.cos!])
    #expect(T.cosine(a.ptr, b.ptr, out.ptr, Int64(d), Int64(d), Int64(d), 0, nil, sc, 1e-12, 4) == SSIM_OK)
    #expect(T.normalize(a.ptr, norm.ptr, Int64(d), 0, nil, sn, 1e-12, 4) == SSIM_OK)
    #expect(
        T.grad(
            a.ptr, b.ptr, u.ptr, g.da!.ptr, g.db!.ptr, g.cos!.ptr, Int64(d), Int64(d), Int64(d), 0, nil, sg,
            1e-12, 4) == SSIM_OK)
    checkCosine(a, b, out, d: d, "ndim 0")
    checkNormalize(a, norm, "ndim 0")
    checkGrad(a, b, u, g, d: d, "ndim 0")
}

private func checkCheckers<T: ABIScalar>(_: T.Type) {
    let d = 40
    var rng = SplitMix64(51, T.dtype.seed)
    let a = Operand<T>(shape: [4], length: d), b = Operand<T>(shape: [4], length: d)
    let out = Operand<T>(scalarsOf: [4], spec: LayoutSpec(rowPad: 1))
    a.fill(&rng)
    b.fill(&rng)
    #expect(callCosine(a, b, out, d: d) == SSIM_OK)
    #expect(checkCosine(a, b, out, d: d, "clean", record: false) == 0)
    let tol = Tol.value(T.dtype, d: d)
    let saved = out.row([2])
    out.set([2], [T(Double(saved[0]) + 3 * tol)])
    #expect(checkCosine(a, b, out, d: d, "off by 3 tol", record: false) == 1)
    out.set([2], [.nan])
    #expect(checkCosine(a, b, out, d: d, "NaN", record: false) == 1)
    out.set([2], saved)
    out.storage[out.offset([1], 0) + 1] = 0  // the padding after row 1
    #expect(out.strayWrites() == 1)
    #expect(checkCosine(a, b, out, d: d, "stray write", record: false) == 1)

    let norm = Operand<T>(shape: [4], length: d)
    #expect(callNormalize(a, norm) == SSIM_OK)
    #expect(checkNormalize(a, norm, "clean", record: false) == 0)
    var row = norm.row([3])
    row[d - 1] = T(Double(row[d - 1]) + 3 * tol)
    norm.set([3], row)
    #expect(checkNormalize(a, norm, "off by 3 tol", record: false) == 1)

    let u = Operand<T>(scalarsOf: [4])
    u.fill(&rng, scale: 2)
    u.set([1], [T(1)])
    let g = GradOutputs(
        da: Operand<T>(shape: [4], length: d), db: Operand<T>(shape: [4], length: d),
        cos: Operand<T>(scalarsOf: [4]))
    #expect(callGrad(a, b, u, g, d: d) == SSIM_OK)
    #expect(checkGrad(a, b, u, g, d: d, "clean", record: false) == 0)
    let ref = Ref.grad(a.rowD([1]), b.rowD([1]), u: 1, d: d, eps: 1e-12)
    var gb = g.db!.row([1])
    gb[0] = T(ref.db[0] + 3 * tol * Tol.gradFactor * ref.scaleB)
    g.db!.set([1], gb)
    #expect(checkGrad(a, b, u, g, d: d, "db off by 3 tol", record: false) == 1)
}
