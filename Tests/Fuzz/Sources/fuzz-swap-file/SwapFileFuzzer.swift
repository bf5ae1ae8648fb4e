// SwapFileFuzzer.swift: libFuzzer harness for the swap-file reader: any bytes as VM 1's swap file are recovered,
// verified page by page and their machine state read; a crafted file may be refused, never crash or allocate
// more than the file and the VM's memory justify.
import DenaliCore
import Foundation
import FuzzSupport
import KVM

@testable import DenaliCore

/// The memory size of the fuzzed VM: 16 pages (the format does not depend on it).
let memorySize: UInt64 = 16 * 4096
let path = FuzzSupport.scratchDirectory + "/vm-1.swap"

/// Valid swap files to start from: one image, and one with a second, incremental commit in the other slot.
func seeds() -> [[UInt8]] {
  var result: [[UInt8]] = []
  do {
    let memory = try GuestMemory(size: memorySize)
    for page in [1, 5, 15] { try memory.write(UInt64(page) &* 0x0101_0101_0101_0101, at: UInt64(page * 4096 + 8)) }
    unlink(path)
    let file = SwapFile(path: path, vmID: 1, memorySize: memorySize)
    let first = try file.write(memory: memory, state: Array(repeating: 7, count: 40), previous: nil, changed: nil)
    try file.complete(first)
    result.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    var changed = PageBitmap(pageCount: Int(memorySize / 4096))
    changed.insert(5)
    try memory.write(UInt64(0xdead_beef), at: 5 * 4096)
    let second = try file.write(memory: memory, state: [1, 2, 3], previous: first.entries, changed: changed)
    try file.complete(second)
    result.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
  } catch {
    fatalError("cannot make seed swap files: \(error)")
  }
  return result
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSwapFile(_ input: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data = input else { return 0 }
  FuzzSupport.writeSeedsIfAsked(seeds)
  FuzzSupport.writeFile(path, UnsafeBufferPointer(start: data, count: size))
  let file = SwapFile(path: path, vmID: 1, memorySize: memorySize)
  do {
    try file.verify()
    _ = try file.readState()
  } catch {
    // Refused: the expected outcome for almost every input.
  }
  return 0
}

/// The harness's entry point: libFuzzer's driver.
@main
enum FuzzSwapFileHarness {
  static func main() { FuzzSupport.run(fuzzSwapFile) }
}
