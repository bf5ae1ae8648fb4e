// ControlBackendFactory.swift: THE SEAM between `denalid serve` and the engine. Replace this one function.
import ControlAPI

/// Builds the engine behind the control API.
///
/// MERGE SEAM: the engine (scheduler, gatekeeper, swap) replaces the body of this function with one that builds
/// its `ControlBackend` from `configuration` (state directory, memory budget, workers, VM limit). It runs after
/// the socket is bound and BEFORE privileges are dropped and before any thread exists: open `/dev/kvm`,
/// `/dev/net/tun` and the state directory here, and start threads only in `ControlBackend.start()`.
func makeControlBackend(configuration: DaemonConfiguration) throws -> any ControlBackend {
  throw EngineNotWired()
}

/// The placeholder's error: the daemon front end is built, the engine is not connected to it yet.
struct EngineNotWired: Error, CustomStringConvertible {
  /// The message.
  var description: String {
    "engine not wired yet: this build of denalid has the control API but no VM engine behind it (makeControlBackend in Sources/denalid/Service/ControlBackendFactory.swift)"
  }
}
