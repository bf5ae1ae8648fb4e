// Guest.swift: the guest program convention: `@main struct X: Guest { static func run(_:) -> Int32 }`.
@_exported import CIlwaco

/// A Denali guest program; its `run` result becomes the VM's exit status.
public protocol Guest {
  /// The guest's body, given its command-line arguments; returns the exit status (0-255).
  static func run(_ arguments: Arguments) -> Int32
}

extension Guest {
  /// Entry point that `@main` calls: runs the guest, then terminates the VM with its status.
  public static func main() {
    terminate(status: run(Arguments()))
  }
}
