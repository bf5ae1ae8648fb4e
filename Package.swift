// swift-tools-version:6.0
// Package.swift: Denali on KVM, an isolation-kernel daemon (denalid) and its layers.
import PackageDescription

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
    .target(name: "KVM", dependencies: ["CKVM"], path: "Sources/KVM"),
    // Directories the daemon writes in, held by descriptor and checked for who may change them (Linux only).
    .target(name: "TrustedFiles", path: "Sources/TrustedFiles"),
    // Layer 2 support: swap-file checksums, zero-page detection and syncfs (C for speed).
    .target(name: "CSwapSupport", path: "Sources/CSwapSupport"),
    // The TAP uplink's ioctls (TUNSETIFF, interface address and flags), for the virtual switch.
    .target(name: "CNetwork", path: "Sources/CNetwork"),
    // Layer 2: the isolation kernel core: loader, machine setup, hypercalls, devices, VM lifecycle.
    .target(
      name: "DenaliCore",
      dependencies: [
        "KVM", "DenaliABI", "CSwapSupport", "CNetwork", "TrustedFiles",
        .product(name: "DequeModule", package: "swift-collections"),
        .product(name: "HeapModule", package: "swift-collections"),
      ],
      path: "Sources/DenaliCore"
    ),
    // Layer 3 support: process figures for the benchmarks (malloc statistics).
    .target(name: "CHostStats", path: "Sources/CHostStats"),
    // Layer 3: front ends. The control API (HTTP/1.1 + JSON on a unix socket) talks to the engine only through
    // its ControlBackend protocol: it never imports KVM or DenaliCore.
    .target(
      name: "ControlAPI",
      dependencies: [
        "TrustedFiles",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ],
      path: "Sources/ControlAPI"
    ),
    // Layer 3: the engine behind `denalid serve`: VMs of the control API on one scheduler, the VM journal, consoles,
    // restart after a stop or a crash. A library with its own tests, not part of the executable.
    .target(
      name: "DenaliEngine",
      dependencies: [
        "DenaliCore", "ControlAPI", "KVM", "TrustedFiles",
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
        "DenaliCore", "TrustedFiles", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/DenaliCommandLine"
    ),
    // The benchmarks: a program of its own beside denalid (the daemon benchmarks start denalid from its folder).
    .executableTarget(
      name: "denali-bench",
      dependencies: [
        "DenaliCore", "DenaliCommandLine", "ControlAPI", "KVM", "CHostStats", "TrustedFiles",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Sources/denali-bench"
    ),
    .executableTarget(
      name: "denalid",
      dependencies: [
        "DenaliCore", "DenaliEngine", "DenaliCommandLine", "ControlAPI", "CLibcap", "CHostStats", "TrustedFiles",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ],
      path: "Sources/denalid"
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
    .testTarget(name: "DenaliCoreTests", dependencies: ["DenaliCore", "TrustedFiles"], path: "Tests/DenaliCoreTests"),
    .testTarget(name: "EndToEndTests", dependencies: [], path: "Tests/EndToEndTests"),
    .testTarget(name: "ControlAPITests", dependencies: ["ControlAPI", "TrustedFiles"], path: "Tests/ControlAPITests"),
    // The engine in-process on real KVM with real guests: reservations, forgetting, the journal, recovery, errors.
    .testTarget(
      name: "DenaliEngineTests", dependencies: ["DenaliEngine", "DenaliCore", "ControlAPI"], path: "Tests/DenaliEngineTests"),
  ]
)
