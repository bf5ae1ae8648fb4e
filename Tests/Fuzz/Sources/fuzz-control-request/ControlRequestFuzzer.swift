// ControlRequestFuzzer.swift: libFuzzer harness for the control API's request decoding and validation: the input
// is split into method, URI, content type and body (by newlines); the router parses it and a create body is
// validated against the default limits and an image directory holding one small file.
// Addresses in its inputs are only request fields: nothing is created and no packet is sent.
import ControlAPI
import Foundation
import FuzzSupport

let imageDirectory: String = {
  let directory = FuzzSupport.scratchDirectory + "/images"
  try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  FileManager.default.createFile(atPath: directory + "/a.elf", contents: Data([0x7f, 0x45, 0x4c, 0x46]))
  return directory
}()
let router = ControlRouter(limits: ControlLimits())
let resolver = ImageResolver(directories: [imageDirectory])

/// Requests of every route, a create body with every field.
func seeds() -> [[UInt8]] {
  [
    "POST\n/v1/vms\napplication/json\n{\"image\":\"a.elf\",\"count\":3,\"name\":\"web\",\"first_index\":2,\"memory\":\"4MiB\",\"disk\":{\"size\":\"1MiB\"},\"arguments\":[\"x\"],\"network\":{}}",
    "POST\n/v1/vms\napplication/json\n{\"image\":\"a.elf\",\"network\":{\"address\":\"10.0.5.5\"}}",
    "GET\n/v1/vms/web-1/console?tail=10&follow=true\n\n",
    "POST\n/v1/vms/7/kill\n\n",
    "GET\n/v1/stats\n\n",
  ].map { Array($0.utf8) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlRequest(_ input: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data = input else { return 0 }
  FuzzSupport.writeSeedsIfAsked(seeds)
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  let parts = bytes.split(separator: 0x0A, maxSplits: 3, omittingEmptySubsequences: false)
  guard parts.count >= 3 else { return 0 }
  let method = String(decoding: parts[0], as: UTF8.self)
  let uri = String(decoding: parts[1], as: UTF8.self)
  let contentType = parts[2].isEmpty ? nil : String(decoding: parts[2], as: UTF8.self)
  let body = parts.count > 3 ? Array(parts[3]) : nil
  guard let action = try? router.parse(method: method, uri: uri, contentType: contentType, body: body) else { return 0 }
  if case .createVMs(let create) = action {
    _ = try? create.validated(limits: router.limits, images: resolver)
  }
  return 0
}

/// The harness's entry point: libFuzzer's driver.
@main
enum FuzzControlRequestHarness {
  static func main() { FuzzSupport.run(fuzzControlRequest) }
}
