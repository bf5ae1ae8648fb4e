// SystemCallRule.swift: one system call in a thread's seccomp filter: allowed always, allowed when its arguments
// pass checks, or failed with an error number.
import Glibc

/// One system call a filter names, and what the filter does with it.
public struct SystemCallRule: Sendable, Equatable {
  /// What one argument must satisfy. Only its low 32 bits are compared: every argument checked is an int, a
  /// flags word whose bits of interest are low, or an ioctl request, which the kernel truncates to 32 bits itself.
  public enum Check: Sendable, Equatable {
    /// The argument is one of these values.
    case oneOf([UInt32])
    /// The argument is not this value.
    case not(UInt32)
    /// None of these bits is set.
    case clear(UInt32)
    /// At least one of these bits is set.
    case anySet(UInt32)
  }

  /// A check of argument `index` (0-5).
  public struct Condition: Sendable, Equatable {
    /// The argument's position.
    public var index: Int
    /// What it must satisfy.
    public var check: Check

    /// Argument `index` must pass `check`.
    public init(_ index: Int, _ check: Check) {
      precondition(index >= 0 && index < 6, "system calls have six arguments")
      self.index = index
      self.check = check
    }
  }

  /// The x86-64 system call number.
  public var number: Int32
  /// The call is allowed when every condition of at least one alternative holds; empty: always allowed.
  public var alternatives: [[Condition]]
  /// When set, the call is never made: it fails with this error number instead (for calls a library tries and
  /// copes without, where a trap would stop the process for nothing).
  public var failure: Int32?

  /// Allows `number` with any arguments.
  public init(_ number: Int32) {
    self.init(number, anyOf: [])
  }

  /// Allows `number` when argument `index` passes `check`.
  public init(_ number: Int32, argument index: Int, _ check: Check) {
    self.init(number, anyOf: [[Condition(index, check)]])
  }

  /// Allows `number` when every condition of one of `alternatives` holds.
  public init(_ number: Int32, anyOf alternatives: [[Condition]]) {
    self.number = number
    self.alternatives = alternatives
    self.failure = nil
  }

  /// Makes `number` fail with `error` without running it.
  public init(_ number: Int32, failingWith error: Int32) {
    self.number = number
    self.alternatives = []
    self.failure = error
  }
}
