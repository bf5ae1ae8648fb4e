// ControlBackend.swift: what the control API needs from the engine; the API layer talks to nothing else.

/// The engine behind the control API: a thread-safe registry of VMs plus daemon-wide figures.
///
/// The API server calls these methods from a small pool of its own threads (never from its event loop), several
/// at a time, so every method must be thread-safe and may block (creating a batch of VMs takes a while). Errors
/// are `ControlBackendError`s, which the server turns into HTTP statuses. Requests arrive already validated:
/// sizes are within the configured limits, names are well formed, and the image has been resolved inside an
/// image directory and read.
public protocol ControlBackend: AnyObject, Sendable {
  /// Starts the engine's threads; called once, after the daemon has dropped its privileges.
  func start() throws

  /// Creates `request.count` VMs from one image. Throws when none was created; a batch that stops part way
  /// returns the VMs it created and the reason it stopped.
  func createVMs(_ request: VMCreationRequest) throws(ControlBackendError) -> VMCreationResult

  /// Every VM the engine knows, in creation order (finished VMs too, for as long as it keeps them).
  func listVMs() -> [VMInfo]

  /// One VM; `.notFound` when no VM has that id or name.
  func inspectVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo

  /// Stops a VM (state `killed`) and returns its record; `.conflict` when it had already finished.
  func killVM(_ vm: VMReference) throws(ControlBackendError) -> VMInfo

  /// The last `lines` lines of a VM's console output as kept by the engine (0: everything it kept).
  func consoleTail(_ vm: VMReference, lines: Int) throws(ControlBackendError) -> [UInt8]

  /// Streams a VM's console: first `.output` with its last `tailLines` lines, then every new write, then one
  /// `.ended` when the VM finishes (at once for a finished VM). `handler` is called from the engine's threads,
  /// one call at a time and in order, and must not block; no event follows `cancel()` of the subscription
  /// once `cancel()` has returned.
  func followConsole(
    _ vm: VMReference, tailLines: Int, handler: @escaping @Sendable (ConsoleEvent) -> Void
  ) throws(ControlBackendError) -> any ConsoleSubscription

  /// Daemon-wide figures for `GET /v1/stats` and `GET /v1/metrics`.
  func statistics() -> DaemonStatistics

  /// Whether the engine is healthy, for `GET /v1/health`.
  func health() -> BackendHealth

  /// Called once when the daemon stops (SIGTERM, SIGINT), after the API has stopped accepting requests.
  func shutdown()
}
