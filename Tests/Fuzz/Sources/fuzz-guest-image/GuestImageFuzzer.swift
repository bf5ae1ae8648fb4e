// GuestImageFuzzer.swift: libFuzzer harness for the ELF loader: any bytes are parsed as a guest image for a
// 2 MiB VM and, when accepted, loaded into fresh guest memory; nothing may crash or write outside it.
import DenaliCore
import Foundation
import FuzzSupport
import KVM

@testable import DenaliCore

/// The built guests (Guests/build, from the working directory) of at most 64 KiB.
func seeds() -> [[UInt8]] {
  let directory = "Guests/build"
  let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
  return names.filter { ["null.elf", "hello.elf"].contains($0) }.sorted().compactMap { name in
    guard let data = FileManager.default.contents(atPath: directory + "/" + name), data.count <= 64 << 10 else {
      return nil
    }
    return [UInt8](data)
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGuestImage(_ input: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data = input else { return 0 }
  FuzzSupport.writeSeedsIfAsked(seeds)
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let image = try? GuestImage(bytes: bytes, memorySize: 2 << 20) else { return 0 }
  guard let memory = try? GuestMemory(size: 2 << 20) else { fatalError("cannot map 2 MiB") }
  do {
    try image.load(intoFresh: memory)
  } catch {
    fatalError("an accepted image failed to load: \(error)")
  }
  return 0
}

/// The harness's entry point: libFuzzer's driver.
@main
enum FuzzGuestImageHarness {
  static func main() { FuzzSupport.run(fuzzGuestImage) }
}
