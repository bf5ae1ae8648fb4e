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
  case inspect(WorkerVMReference)
  /// `killVM`.
  case kill(WorkerVMReference)
  /// `consoleTail`.
  case consoleTail(WorkerVMReference, lines: Int)
  /// `followConsole`: events follow as `.console` frames with this call's number.
  case follow(WorkerVMReference, tailLines: Int)
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
  case created([VMInfo], stoppedBy: WorkerFailure?)
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
  case failed(WorkerFailure)
}

/// A console event, as `ConsoleEvent` but encodable.
enum WorkerConsoleEvent: Codable, Sendable {
  /// Bytes the guest wrote.
  case output(Data)
  /// The VM finished in this state.
  case ended(WorkerVMState)

  /// The frame for `event`.
  init(_ event: ConsoleEvent) {
    switch event {
    case .output(let bytes): self = .output(Data(bytes))
    case .ended(let state): self = .ended(WorkerVMState(state))
    }
  }

  /// The event.
  var event: ConsoleEvent {
    switch self {
    case .output(let data): .output(Array(data))
    case .ended(let state): .ended(state.state)
    }
  }
}

/// A `VMState`, encodable: its kind and details.
struct WorkerVMState: Codable, Sendable {
  /// The state's kind.
  var kind: VMStateKind
  /// The exit status of an exited VM.
  var status: Int32?
  /// The fault of a faulted VM.
  var fault: String?

  /// The encoding of `state`.
  init(_ state: VMState) {
    kind = state.kind
    switch state {
    case .exited(let code): status = code
    case .faulted(let description): fault = description
    default: break
    }
  }

  /// The state (an exit or fault without its detail, which only a broken worker sends, keeps a placeholder).
  var state: VMState {
    switch kind {
    case .running: .running
    case .runnable: .runnable
    case .idle: .idle
    case .waitingForAdmission: .waitingForAdmission
    case .swappedOut: .swappedOut
    case .swappingOut: .swappingOut
    case .swappingIn: .swappingIn
    case .exited: .exited(status: status ?? -1)
    case .faulted: .faulted(description: fault ?? "unknown")
    case .killed: .killed
    }
  }
}

/// A `VMReference`, encodable.
enum WorkerVMReference: Codable, Sendable {
  /// By id.
  case id(UInt64)
  /// By name.
  case name(String)

  /// The encoding of `reference`.
  init(_ reference: VMReference) {
    switch reference {
    case .id(let id): self = .id(id)
    case .name(let name): self = .name(name)
    }
  }

  /// The reference.
  var reference: VMReference {
    switch self {
    case .id(let id): .id(id)
    case .name(let name): .name(name)
    }
  }
}

/// A `ControlBackendError`, encodable.
enum WorkerFailure: Codable, Sendable, Error {
  /// `.notFound`.
  case notFound(String)
  /// `.conflict`.
  case conflict(String)
  /// `.limitReached`.
  case limitReached(String)
  /// `.quotaExceeded`.
  case quotaExceeded(String)
  /// `.invalid`.
  case invalid(String)
  /// `.unavailable`.
  case unavailable(String)
  /// `.hostError`.
  case hostError(String)

  /// The encoding of `error`.
  init(_ error: ControlBackendError) {
    switch error {
    case .notFound(let message): self = .notFound(message)
    case .conflict(let message): self = .conflict(message)
    case .limitReached(let message): self = .limitReached(message)
    case .quotaExceeded(let message): self = .quotaExceeded(message)
    case .invalid(let message): self = .invalid(message)
    case .unavailable(let message): self = .unavailable(message)
    case .hostError(let message): self = .hostError(message)
    }
  }

  /// The error.
  var error: ControlBackendError {
    switch self {
    case .notFound(let message): .notFound(message)
    case .conflict(let message): .conflict(message)
    case .limitReached(let message): .limitReached(message)
    case .quotaExceeded(let message): .quotaExceeded(message)
    case .invalid(let message): .invalid(message)
    case .unavailable(let message): .unavailable(message)
    case .hostError(let message): .hostError(message)
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
