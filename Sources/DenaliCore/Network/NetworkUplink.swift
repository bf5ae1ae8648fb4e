// NetworkUplink.swift: what the switch needs from its connection to the host's network (a TAP device).

/// The switch's way out to the host: frames for no VM go here, and frames from the host come in through
/// the `receive` function given to `start`.
public protocol NetworkUplink: AnyObject, Sendable {
  /// Writes one frame to the host; false when it could not (the switch counts an uplink error).
  func transmit(_ frame: [UInt8]) -> Bool
  /// Starts reading frames from the host, passing each to `receive` (on the uplink's own thread).
  func start(receive: @escaping @Sendable ([UInt8]) -> Void) throws(NetworkError)
  /// Stops reading; returns once the reader has stopped.
  func stop()
}
