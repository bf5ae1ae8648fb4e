// swift-tools-version:6.0
// Package.swift: libFuzzer harnesses for the parsers of hostile input (swap files, the VM journal, guest images,
// control API requests, Ethernet frames). A package of its own so that `swift build` of the project never builds
// them; `make fuzz` builds them with -sanitize=fuzzer,address into .build-fuzz and runs each for FUZZ_SECONDS.
import PackageDescription

/// One harness: an executable whose @main hands its LLVMFuzzerTestOneInput to libFuzzer's driver (SwiftPM
/// names an executable's entry point itself, so libFuzzer's own main cannot be used).
func harness(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
  .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, path: "Sources/\(name)")
}

let package = Package(
  name: "DenaliFuzz",
  dependencies: [.package(name: "Denali", path: "../..")],
  targets: [
    // libFuzzer's driver entry point, declared for Swift.
    .target(name: "CFuzzerDriver", path: "Sources/CFuzzerDriver"),
    // What the harnesses share: running the driver, a scratch directory and the seed writer.
    .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"], path: "Sources/FuzzSupport"),
    harness("fuzz-swap-file", [.product(name: "DenaliCore", package: "Denali")]),
    harness("fuzz-journal", [.product(name: "DenaliCore", package: "Denali")]),
    harness("fuzz-guest-image", [.product(name: "DenaliCore", package: "Denali")]),
    harness("fuzz-ethernet-frame", [.product(name: "DenaliCore", package: "Denali")]),
    harness("fuzz-control-request", [.product(name: "ControlAPI", package: "Denali")]),
  ]
)
