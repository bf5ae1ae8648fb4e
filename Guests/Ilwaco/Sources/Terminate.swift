// Terminate.swift: ending the VM.

/// Flushes the console and ends this VM with `status` (the host takes it modulo 256).
public func terminate(status: Int32) -> Never {
  ilwaco_terminate(Int64(status))
}
