// Hex.swift: hexadecimal formatting for messages about guest addresses.

/// Formats `value` as 0x-prefixed lowercase hexadecimal.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
