// WorkerWire.swift: what the daemon and its VM worker processes say to each other: calls on the worker's engine,
// their answers, and console events, each one JSON frame (the encoding of the control API's own types).
import ControlAPI
import Foundation

/// One frame on a worker channel.
enum WorkerFrame: Codable, Sendable {
  /// The daemon calls the worker's engine; the answer carries the same number.
  case call(UInt64, WorkerCall)
  /// The worker's answer to call number `UInt64`.
  case answer(UInt64, WorkerAnswer)
  /// An event of console subscription number `UInt64` (the number of the `follow` call that opened it).
  case console(UInt64, WorkerConsoleEvent)
}

/// A call on a worker's engine: one per `ControlBackend` method, and the two queries the daemon needs to keep
/// names and limits daemon-wide.
enum WorkerCall: Codable, Sendable {
  /// `createVMs`.
  case create(WorkerCreation)
  /// `listVMs`.
  case list
  /// `inspectVM`.
  case inspect(VMReference)
  /// `killVM`.
  case kill(VMReference)
  /// `consoleTail`.
  case consoleTail(VMReference, lines: Int)
  /// `followConsole`: events follow as `.console` frames with this call's number.
  case follow(VMReference, tailLines: Int)
  /// Cancels the subscription opened by call number `subscription`.
  case unfollow(subscription: UInt64)
  /// `statistics`.
  case statistics
  /// `health`.
  case health
  /// What live VMs and reservations hold, all of them and those of user `uid`.
  case holdings(uid: UInt32)
  /// Which of these names a VM of the worker has (finished ones it keeps included).
  case namesInUse([String])
  /// `shutdown`: the worker swaps its VMs out, writes its journal and answers; it exits when the channel closes.
  case shutdown
}

/// A worker's answer.
enum WorkerAnswer: Codable, Sendable {
  /// `createVMs`'s result.
  case created([VMInfo], stoppedBy: ControlBackendError?)
  /// `listVMs`'s VMs.
  case vms([VMInfo])
  /// One VM.
  case vm(VMInfo)
  /// Console bytes.
  case bytes(Data)
  /// `statistics`.
  case statistics(DaemonStatistics)
  /// `health`.
  case health(healthy: Bool, detail: String)
  /// `holdings`.
  case holdings(WorkerHoldings)
  /// `namesInUse`.
  case names([String])
  /// Done (`follow`, `unfollow`, `shutdown`).
  case done
  /// The call failed.
  case failed(ControlBackendError)
}

/// A console event, as `ConsoleEvent` but encodable.
enum WorkerConsoleEvent: Codable, Sendable {
  /// Bytes the guest wrote.
  case output(Data)
  /// The VM finished in this state.
  case ended(VMState)

  /// The frame for `event`.
  init(_ event: ConsoleEvent) {
    switch event {
    case .output(let bytes): self = .output(Data(bytes))
    case .ended(let state): self = .ended(state)
    }
  }

  /// The event.
  var event: ConsoleEvent {
    switch self {
    case .output(let data): .output(Array(data))
    case .ended(let state): .ended(state)
    }
  }
}

/// A `VMCreationRequest`, encodable (images as their bytes).
struct WorkerCreation: Codable, Sendable {
  /// The image's canonical path.
  var imagePath: String
  /// The image's bytes.
  var image: Data
  /// VMs to create.
  var count: Int
  /// Their names, or nil.
  var names: [String]?
  /// Guest memory per VM.
  var memoryBytes: UInt64
  /// Scratch disk per VM, or nil.
  var diskBytes: UInt64?
  /// Guest arguments.
  var arguments: [String]
  /// True for a NIC per VM.
  var wantsNetwork: Bool
  /// The NIC's address asked for, or nil.
  var networkAddress: String?
  /// The shared disk image's path, or nil.
  var diskImagePath: String?
  /// The shared disk image's bytes, or nil.
  var diskImage: Data?
  /// The requester's uid.
  var uid: UInt32
  /// Whether the requester is an administrator.
  var isAdmin: Bool

  /// The encoding of `request`.
  init(_ request: VMCreationRequest) {
    imagePath = request.image.path
    image = Data(request.image.bytes)
    count = request.count
    names = request.names
    memoryBytes = request.memoryBytes
    diskBytes = request.diskBytes
    arguments = request.arguments
    wantsNetwork = request.network != nil
    networkAddress = request.network?.address
    diskImagePath = request.diskImage?.path
    diskImage = request.diskImage.map { Data($0.bytes) }
    uid = request.requester.uid
    isAdmin = request.requester.isAdmin
  }

  /// The request.
  var request: VMCreationRequest {
    VMCreationRequest(
      image: ResolvedImage(path: imagePath, bytes: Array(image)), count: count, names: names,
      memoryBytes: memoryBytes, diskBytes: diskBytes, arguments: arguments,
      network: wantsNetwork ? VMNetworkRequest(address: networkAddress) : nil,
      requester: ControlCaller(uid: uid, isAdmin: isAdmin),
      diskImage: diskImagePath.map { ResolvedImage(path: $0, bytes: Array(diskImage ?? Data())) })
  }
}

/// What one worker's live VMs and reservations hold.
struct WorkerHoldings: Codable, Sendable, Equatable {
  /// All of them.
  var all: EngineHoldings
  /// Those of the user asked about.
  var own: EngineHoldings
}
