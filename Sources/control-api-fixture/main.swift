// main.swift: control-api-fixture: serves the control API over an in-memory backend, for API tests and schemathesis.
//
//   control-api-fixture --socket PATH --image-dir DIR [--max-vms N] [--max-memory SIZE] [--lifetime SECONDS]
//
// It runs no guests (see InMemoryBackend) and stops on SIGTERM or SIGINT.
import ControlAPI
import Glibc
import Logging

/// Writes `text` to standard error.
func printError(_ text: String) {
  var line = text + "\n"
  line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Prints a usage error and exits with status 2.
func usage(_ message: String) -> Never {
  printError("control-api-fixture: \(message)")
  printError(
    "usage: control-api-fixture --socket PATH --image-dir DIR [--max-vms N] [--max-memory SIZE] [--lifetime SECONDS]")
  exit(2)
}

var socketPath: String?
var imageDirectories: [String] = []
var maximumVMs = 100_000
var lifetime: Double?
var limits = ControlLimits()
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
  guard let value = arguments.popFirst() else { usage("\(flag) needs a value") }
  switch flag {
  case "--socket": socketPath = value
  case "--image-dir": imageDirectories.append(value)
  case "--max-vms":
    guard let count = Int(value), count > 0 else { usage("--max-vms needs a positive number") }
    maximumVMs = count
    limits.maximumVMsPerRequest = min(limits.maximumVMsPerRequest, count)
  case "--lifetime":
    guard let seconds = Double(value), seconds > 0 else { usage("--lifetime needs a positive number of seconds") }
    lifetime = seconds
  case "--max-memory":
    guard let bytes = ByteCount.parse(value) else { usage("--max-memory needs a size") }
    limits.maximumMemoryPerVM = bytes
  default: usage("unknown option \(flag)")
  }
}
guard let socketPath else { usage("--socket is required") }

// Signals are taken by sigwait on this thread; block them before any thread starts so all threads inherit it.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGTERM)
sigaddset(&signals, SIGINT)
pthread_sigmask(SIG_BLOCK, &signals, nil)

var logger = Logger(label: "control-api-fixture")
logger.logLevel = .info
let backend = InMemoryBackend(maximumVMs: maximumVMs, lifetime: lifetime)
let server = ControlServer(
  backend: backend,
  configuration: .init(limits: limits, imageDirectories: imageDirectories, peerPolicy: PeerPolicy(groupID: nil)),
  logger: logger)
do {
  let socket = try ControlSocket.create(path: socketPath, groupID: nil)
  try server.start(on: socket)
} catch {
  printError("control-api-fixture: \(error)")
  exit(1)
}
var received: Int32 = 0
sigwait(&signals, &received)
server.stop()
backend.shutdown()
