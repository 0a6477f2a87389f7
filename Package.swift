// swift-tools-version: 6.3
// swiftsim: cosine similarity kernels in Swift, exported through a C ABI to a CPython extension.
//
// `swift build` / `swift test` build the kernels and their tests alone. The CPython extension
// (target CPyBridge, product _swiftsim) is declared only when setup.py passes the Python and NumPy
// include folders in SWIFTSIM_PYTHON_INCLUDE / SWIFTSIM_NUMPY_INCLUDE, so that machines without
// Python headers can still build and test the kernels.

import PackageDescription

let env = Context.environment
let pythonInclude = env["SWIFTSIM_PYTHON_INCLUDE"]
let numpyInclude = env["SWIFTSIM_NUMPY_INCLUDE"]
// The CPU the kernels are compiled for: without a target CPU `addingProduct` becomes a call to
// fmaf (30× slower). "native" suits a build for this machine; a portable build names a CPU.
let targetCPU = env["SWIFTSIM_TARGET_CPU"] ?? "native"
// Which of setup.py's per-CPU builds this is (reported by build_info()).
let variant = env["SWIFTSIM_VARIANT"] ?? "native"
// A sanitizer build of the extension (`make sanitize`): ThreadSanitizer must see the Swift runtime's
// synchronisation, which the statically linked runtime hides from it, so that build links it dynamically.
let dynamicRuntime = env["SWIFTSIM_SANITIZE"] == "thread"
// The project's own builds (the Makefile exports SWIFTSIM_STRICT_WARNINGS=1) fail on any warning, which
// keeps the build free of them; a user's `pip install` with a newer compiler is not failed by a new one.
let strict = env["SWIFTSIM_STRICT_WARNINGS"] == "1"
let swiftWarnings: [SwiftSetting] = strict ? [.unsafeFlags(["-warnings-as-errors"])] : []
let cWarnings: [CSetting] = [.unsafeFlags(["-Wall", "-Wextra"] + (strict ? ["-Werror"] : []))]

// MARK: kernels
var targets: [Target] = [
    // The C ABI, declared once: SwiftSimCore implements it (`@c @implementation` checks the
    // signatures), CPyBridge calls it.
    .target(name: "CSwiftSimABI", path: "Sources/CSwiftSimABI"),
    // Lane shuffles the kernels need as single instructions (header-only, internal to the kernels).
    .target(name: "CSwiftSimSIMD", path: "Sources/CSwiftSimSIMD"),
    // The thread pool's fork handlers, registered at load time, and the flag long kernels poll.
    .target(name: "CSwiftSimThreads", path: "Sources/CSwiftSimThreads"),
    .target(
        name: "SwiftSimCore",
        dependencies: ["CSwiftSimABI", "CSwiftSimSIMD", "CSwiftSimThreads"],
        exclude: ["README.md"],
        swiftSettings: [
            // -target-cpu: FMA and 512-bit vectors instead of library calls.
            // -Ounchecked (release): the exported paths validate their arguments explicitly and must
            // never trap; overflow checks inside the loops would only cost time. -wmo only in
            // release: with debug indexing it fails ("index output filenames do not match").
            .unsafeFlags(["-target-cpu", targetCPU]),
            .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
            .swiftLanguageMode(.v6),
        ] + swiftWarnings
    ),
    // MARK: tests
    .testTarget(
        name: "SwiftSimCoreTests", dependencies: ["SwiftSimCore", "CSwiftSimABI"],
        swiftSettings: [.swiftLanguageMode(.v6)] + swiftWarnings),
]
var products: [Product] = []

// MARK: CPython extension (only when setup.py provides the headers)
if let pythonInclude, let numpyInclude {
    targets.append(
        .target(
            name: "CPyBridge",
            dependencies: ["SwiftSimCore", "CSwiftSimABI"],
            path: "Sources/CPyBridge",
            cSettings: [
                // Python and NumPy headers of the interpreter that runs setup.py (not pkg-config's).
                .unsafeFlags(["-I", pythonInclude, "-I", numpyInclude, "-O2"]),
                .define("SWIFTSIM_TARGET_CPU", to: "\"\(targetCPU)\""),
                .define("SWIFTSIM_VARIANT", to: "\"\(variant)\""),
                // The width of the vector registers the target CPU has (a 16-lane Float register of the
                // kernels is one zmm register at 512, two ymm at 256, four xmm at 128).
                .define("SWIFTSIM_VECTOR_BITS", to: env["SWIFTSIM_VECTOR_BITS"] ?? "0"),
                .define("SWIFTSIM_SWIFT_VERSION", to: "\"\(env["SWIFTSIM_SWIFT_VERSION"] ?? "unknown")\""),
            ] + cWarnings,
            linkerSettings: [
                // The Swift runtime is linked in statically so the module imports without a toolchain;
                // the version script exports PyInit__swiftsim alone. libpython is never linked: the
                // interpreter provides its symbols. setup.py ships no per-CPU product: it relinks each
                // build's objects (the product's Objects.LinkFileList) into one stripped library with
                // these flags and its own (setup.py's link_library): a flag added here goes there too.
                .unsafeFlags(
                    (dynamicRuntime ? [] : ["-static-stdlib"])
                        + ["-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/CPyBridge/exports.map"])
            ]
        ))
    products.append(.library(name: "_swiftsim", type: .dynamic, targets: ["CPyBridge"]))
}

let package = Package(
    name: "swiftsim",
    products: products,
    targets: targets
)
