// swift-tools-version:6.0
// Package.swift: Denali on KVM, an isolation-kernel daemon (denalid) and its layers.
import PackageDescription

/// The git commit being built, from DENALI_GIT_COMMIT (the Makefile sets it from `git rev-parse`): 12 hex digits,
/// optionally followed by "-dirty"; anything else (or nothing: a plain `swift build`) means no commit is known.
let gitCommit: String = {
  let value = Context.environment["DENALI_GIT_COMMIT"] ?? ""
  let hex = value.hasSuffix("-dirty") ? String(value.dropLast(6)) : value
  guard hex.count == 12, hex.allSatisfy({ "0123456789abcdef".contains($0) }) else { return "" }
  return value
}()

/// denalid links the Swift runtime and Foundation statically, so that the installed binary (make install, the
/// Debian package) needs only libc, libstdc++ and libcap. The static Foundation libraries do not name the
/// libraries they need themselves (Swift 6.3), hence the list. `-z now`: every symbol bound at start, so that
/// RELRO covers the whole GOT (a daemon started as root). The sanitizers' runtimes do not link with a static Swift
/// runtime: scripts/sanitized-tests.sh sets DENALI_SWIFT_RUNTIME=dynamic.
let staticSwiftRuntime: [LinkerSetting] =
  Context.environment["DENALI_SWIFT_RUNTIME"] == "dynamic"
  ? [.unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now"])]
  : [
    .unsafeFlags(["-static-stdlib", "-Xlinker", "-z", "-Xlinker", "now"]),
    .linkedLibrary("CoreFoundation"), .linkedLibrary("_FoundationICU"), .linkedLibrary("_FoundationCollections"),
    .linkedLibrary("_FoundationCShims"),
  ]

let package = Package(
  name: "Denali",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "denalid", targets: ["denalid"]),
    .executable(name: "denali-bench", targets: ["denali-bench"]),
    // The layers as libraries, for the libFuzzer harnesses in Tests/Fuzz (a package of their own: `make fuzz`).
    .library(name: "DenaliCore", targets: ["DenaliCore"]),
    .library(name: "ControlAPI", targets: ["ControlAPI"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
  ],
  targets: [
    // Layer 0: the guest ABI header shared with the guest library.
    .target(name: "DenaliABI", path: "Sources/DenaliABI"),
    // Layer 1: KVM. A C shim over linux/kvm.h and a typed Swift wrapper; knows nothing of Denali.
    .target(name: "CKVM", path: "Sources/CKVM"),
    .target(name: "KVM", dependencies: ["CKVM", "SystemCalls", "ThreadConfinement"], path: "Sources/KVM"),
    // Per-thread seccomp filters (classic BPF built in Swift; the SIGSYS reporter in C). Every layer that starts a
    // thread names its role; denalid turns the filters on.
    .target(name: "CSeccomp", path: "Sources/CSeccomp"),
    .target(name: "ThreadConfinement", dependencies: ["CSeccomp"], path: "Sources/ThreadConfinement"),
    // Directories the daemon writes in, held by descriptor and checked for who may change them (Linux only).
    // A failed system call, the one host-failure error type of every layer above the KVM wrapper.
    .target(name: "SystemCalls", path: "Sources/SystemCalls"),
    .target(name: "TrustedFiles", dependencies: ["SystemCalls"], path: "Sources/TrustedFiles"),
    // Layer 2 support: swap-file checksums, zero-page detection and syncfs (C for speed).
    .target(name: "CSwapSupport", path: "Sources/CSwapSupport"),
    // Cache prefetch hints (`__builtin_prefetch`), which Swift has no spelling for.
    .target(name: "CMemoryHints", path: "Sources/CMemoryHints"),
    // The TAP uplink's ioctls (TUNSETIFF, interface address and flags), for the virtual switch.
    .target(name: "CNetwork", path: "Sources/CNetwork"),
    // Layer 2: the isolation kernel core: loader, machine setup, hypercalls, devices, VM lifecycle.
    .target(
      name: "DenaliCore",
      dependencies: [
        "KVM", "DenaliABI", "CSwapSupport", "CNetwork", "CMemoryHints", "SystemCalls", "TrustedFiles",
        "ThreadConfinement", .product(name: "DequeModule", package: "swift-collections"),
        .product(name: "HeapModule", package: "swift-collections"),
      ],
      path: "Sources/DenaliCore"
    ),
    // The package version and the git commit denalid was built from (`denalid --version`, GET /v1/health).
    .target(
      name: "CBuildInfo", path: "Sources/CBuildInfo",
      cSettings: [.define("DENALI_GIT_COMMIT", to: "\"\(gitCommit)\"")]
    ),
    // Layer 3 support: process figures for the benchmarks (malloc statistics).
    .target(name: "CHostStats", path: "Sources/CHostStats"),
    // Layer 3: front ends. The control API (HTTP/1.1 + JSON on a unix socket) talks to the engine only through
    // its ControlBackend protocol: it never imports KVM or DenaliCore.
    .target(
      name: "ControlAPI",
      dependencies: [
        "TrustedFiles", "ThreadConfinement",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        "SystemCalls",
      ],
      path: "Sources/ControlAPI"
    ),
    // Layer 3: the engine behind `denalid serve`: VMs of the control API on one scheduler, the VM journal, consoles,
    // restart after a stop or a crash. A library with its own tests, not part of the executable.
    .target(
      name: "DenaliEngine",
      dependencies: [
        "DenaliCore", "ControlAPI", "KVM", "SystemCalls", "TrustedFiles", "ThreadConfinement",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/DenaliEngine"
    ),
    // libcap, for dropping capabilities once the daemon has opened what it needs (Debian libcap-dev).
    .systemLibrary(name: "CLibcap", path: "Sources/CLibcap"),
    // What the command-line programs share: output streams, the open-file limit, `run`'s state directory, size and
    // duration option values.
    .target(
      name: "DenaliCommandLine",
      dependencies: [
        "DenaliCore", "SystemCalls", "TrustedFiles", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/DenaliCommandLine"
    ),
    // The benchmarks: a program of its own beside denalid (the daemon benchmarks start denalid from its folder).
    .executableTarget(
      name: "denali-bench",
      dependencies: [
        "DenaliCore", "DenaliCommandLine", "ControlAPI", "KVM", "CHostStats", "SystemCalls", "TrustedFiles",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/denali-bench"
    ),
    .executableTarget(
      name: "denalid",
      dependencies: [
        "DenaliCore", "DenaliEngine", "DenaliCommandLine", "ControlAPI", "CLibcap", "CHostStats", "CBuildInfo",
        "CNetwork", "SystemCalls", "TrustedFiles", "ThreadConfinement",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ],
      path: "Sources/denalid",
      linkerSettings: staticSwiftRuntime
    ),
    // Serves the control API over an in-memory backend (no VMs run): for scripts/schemathesis.sh.
    .executableTarget(
      name: "control-api-fixture",
      dependencies: [
        "ControlAPI",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Sources/control-api-fixture"
    ),
    // Benchmark baseline: a minimal C program doing the same KVM steps as denalid.
    .executableTarget(name: "kvm-baseline", dependencies: ["DenaliABI"], path: "Benchmarks/kvm-baseline"),
    // Network benchmark baseline: a minimal C program answering ARP and echoing UDP over a TAP device.
    .executableTarget(name: "tap-echo", path: "Benchmarks/tap-echo"),
    .testTarget(name: "KVMTests", dependencies: ["KVM"], path: "Tests/KVMTests"),
    // The BPF programs of the thread roles, installed on throw-away threads with an error number for refusals.
    .testTarget(
      name: "ThreadConfinementTests", dependencies: ["ThreadConfinement", "CSeccomp"],
      path: "Tests/ThreadConfinementTests"),
    .testTarget(
      name: "DenaliCoreTests", dependencies: ["DenaliCore", "ControlAPI", "TrustedFiles"], path: "Tests/DenaliCoreTests"
    ),
    .testTarget(name: "EndToEndTests", dependencies: [], path: "Tests/EndToEndTests"),
    .testTarget(name: "ControlAPITests", dependencies: ["ControlAPI", "TrustedFiles"], path: "Tests/ControlAPITests"),
    // The engine in-process on real KVM with real guests: reservations, forgetting, the journal, recovery, errors.
    .testTarget(
      name: "DenaliEngineTests", dependencies: ["DenaliEngine", "DenaliCore", "ControlAPI"],
      path: "Tests/DenaliEngineTests"),
  ]
)
