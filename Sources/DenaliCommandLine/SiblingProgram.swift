// SiblingProgram.swift: the path of another of our programs in the folder of the running one.
import Foundation

/// The program `name` in this program's folder (/proc/self/exe resolved, else argv[0]): `swift build` and
/// `make install` put denalid, denali-bench, kvm-baseline and tap-echo side by side.
public func siblingProgram(_ name: String) -> String {
  let executable =
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
  return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent(name).path
}
