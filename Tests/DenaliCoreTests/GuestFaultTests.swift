import Testing

// GuestFaultTests.swift: exit statuses and one-line descriptions of guest faults.
@testable import DenaliCore

@Suite struct GuestFaultTests {
  @Test(arguments: [UInt8(0), 1, 6, 13, 14, 31])
  func exceptionStatusIs128PlusVector(vector: UInt8) {
    let fault = GuestFault.exception(vector: vector, rip: 0x10_0000, errorCode: nil, faultAddress: nil)
    #expect(fault.exitStatus == 128 + Int32(vector))
  }

  @Test func exceptionStatusStaysBelow160() {
    // The exception range is 128...159: a wild vector must not collide with the other statuses.
    for vector in UInt8(0)...255 {
      let status = GuestFault.exception(vector: vector, rip: 0, errorCode: nil, faultAddress: nil).exitStatus
      #expect((128...159).contains(status), "vector \(vector)")
    }
  }

  static let others: [(GuestFault, Int32)] = [
    (.tripleFault(rip: 0x1234), 160),
    (.halted(rip: 0x1234), 161),
    (.emulationFailure(suberror: 1, rip: 0x1234), 162),
    (.memoryOutOfBounds(address: 0x4000_0000, isWrite: true, rip: 0x1234), 163),
    (.invalidPortIO(port: 0x60, isInput: true, size: 1, count: 1, rip: 0x1234), 164),
    (.invalidHypercall(number: 1, structAddress: 0x3, rip: 0x1234), 165),
    (.entryFailure(hardwareReason: 0x21), 166),
    (.unexpectedExit("exit reason 99", rip: 0x1234), 166),
    (.stuck(rip: 0x1234), 167),
  ]

  @Test(arguments: others)
  func otherStatuses(fault: GuestFault, status: Int32) {
    #expect(fault.exitStatus == status)
  }

  static let descriptions: [(GuestFault, [String])] = [
    (.exception(vector: 6, rip: 0x10_0abc, errorCode: nil, faultAddress: nil), ["invalid opcode", "#UD", "0x100abc"]),
    (.exception(vector: 0, rip: 0x10_0010, errorCode: nil, faultAddress: nil), ["divide error", "0x100010"]),
    (
      .exception(vector: 13, rip: 0x10_0020, errorCode: 0x18, faultAddress: nil),
      ["general protection", "#GP", "0x100020", "error code 0x18"]
    ),
    (
      .exception(vector: 14, rip: 0x10_0030, errorCode: 2, faultAddress: 0xdead_0000),
      ["page fault", "#PF", "0x100030", "address 0xdead0000", "error code 0x2"]
    ),
    (.exception(vector: 9, rip: 0x42, errorCode: nil, faultAddress: nil), ["reserved exception 9", "0x42"]),
    (.tripleFault(rip: 0xfff0), ["triple fault", "0xfff0"]),
    (.halted(rip: 0x10_0007), ["halted", "0x100007"]),
    (.emulationFailure(suberror: 3, rip: 0x10_0008), ["emulate", "3", "0x100008"]),
    (
      .memoryOutOfBounds(address: 0x4000_0000, isWrite: true, rip: 0x10_0009),
      ["write outside guest memory", "0x40000000", "0x100009"]
    ),
    (
      .memoryOutOfBounds(address: 0x5000_0000, isWrite: false, rip: 0x10_000a),
      ["read outside", "0x50000000", "0x10000a"]
    ),
    (
      .invalidPortIO(port: 0x60, isInput: true, size: 1, count: 1, rip: 0x10_000b),
      ["port I/O", "in port 0x60", "0x10000b"]
    ),
    (.invalidHypercall(number: 1, structAddress: 0x3, rip: 0x10_000c), ["hypercall 1", "(0x3)", "0x10000c"]),
    (.entryFailure(hardwareReason: 0x21), ["could not enter", "0x21"]),
    (.unexpectedExit("exit reason 99", rip: 0x10_000d), ["exit reason 99", "0x10000d"]),
    (.stuck(rip: 0x10_000e), ["retries forever", "0x10000e"]),
  ]

  @Test(arguments: descriptions)
  func descriptionNamesFaultAndRIP(fault: GuestFault, fragments: [String]) {
    for fragment in fragments {
      #expect(fault.description.contains(fragment), "\(fault.description) lacks \(fragment)")
    }
    #expect(!fault.description.contains("\n"))
  }

  @Test func exceptionWithoutAddressOrErrorCodeSaysNeither() {
    let text = GuestFault.exception(vector: 6, rip: 0x10_0000, errorCode: nil, faultAddress: nil).description
    #expect(text == "invalid opcode (#UD) at rip 0x100000")
  }

  @Test func pageFaultDescriptionExact() {
    let text = GuestFault.exception(vector: 14, rip: 0x10_0000, errorCode: 0, faultAddress: 0).description
    #expect(text == "page fault (#PF) at rip 0x100000, address 0x0, error code 0x0")
  }

  @Test func hasErrorCode() {
    for vector: UInt8 in [8, 10, 11, 12, 13, 14, 17, 21, 29, 30] {
      #expect(GuestFault.hasErrorCode(vector), "vector \(vector)")
    }
    for vector: UInt8 in [0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 16, 18, 19, 20, 28, 31] {
      #expect(!GuestFault.hasErrorCode(vector), "vector \(vector)")
    }
  }

  @Test func exceptionNames() {
    #expect(GuestFault.exceptionName(3) == "breakpoint (#BP)")
    #expect(GuestFault.exceptionName(8) == "double fault (#DF)")
    #expect(GuestFault.exceptionName(15) == "reserved exception 15")
  }
}
