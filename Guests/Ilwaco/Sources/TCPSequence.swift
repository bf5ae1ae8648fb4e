// TCPSequence.swift: TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 section 3.4).

/// A TCP sequence (or acknowledgment) number. Arithmetic wraps; `a < b` means `a` comes before `b` in
/// sequence space, that is `b - a` is in 1...2^31-1 (only meaningful for numbers less than 2^31 apart).
public struct TCPSequence: Equatable {
  /// The number as on the wire (host order).
  public var value: UInt32

  /// The sequence number `value`.
  @inline(__always)
  public init(_ value: UInt32) { self.value = value }

  /// `sequence` advanced by `count` (wrapping).
  @inline(__always)
  public static func + (sequence: TCPSequence, count: UInt32) -> TCPSequence { TCPSequence(sequence.value &+ count) }

  /// `sequence` moved back by `count` (wrapping).
  @inline(__always)
  public static func - (sequence: TCPSequence, count: UInt32) -> TCPSequence { TCPSequence(sequence.value &- count) }

  /// The distance from `b` to `a` (wrapping): how far `a` is ahead of `b`, as an unsigned count.
  @inline(__always)
  public static func - (a: TCPSequence, b: TCPSequence) -> UInt32 { a.value &- b.value }

  /// Advances `sequence` by `count`.
  @inline(__always)
  public static func += (sequence: inout TCPSequence, count: UInt32) { sequence.value &+= count }

  /// Whether `a` comes strictly before `b`.
  @inline(__always)
  public static func < (a: TCPSequence, b: TCPSequence) -> Bool { Int32(bitPattern: a.value &- b.value) < 0 }

  /// Whether `a` comes before or is `b`.
  @inline(__always)
  public static func <= (a: TCPSequence, b: TCPSequence) -> Bool { Int32(bitPattern: a.value &- b.value) <= 0 }

  /// Whether `a` comes strictly after `b`.
  @inline(__always)
  public static func > (a: TCPSequence, b: TCPSequence) -> Bool { Int32(bitPattern: a.value &- b.value) > 0 }

  /// Whether `a` comes after or is `b`.
  @inline(__always)
  public static func >= (a: TCPSequence, b: TCPSequence) -> Bool { Int32(bitPattern: a.value &- b.value) >= 0 }

  /// The later of `a` and `b`.
  @inline(__always)
  public static func latest(_ a: TCPSequence, _ b: TCPSequence) -> TCPSequence { a > b ? a : b }

  /// Whether `self` lies in `[start, start + count)`.
  @inline(__always)
  public func isIn(start: TCPSequence, count: UInt32) -> Bool { value &- start.value < count }
}
