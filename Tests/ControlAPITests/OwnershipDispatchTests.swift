// OwnershipDispatchTests.swift: the dispatcher shows and lets act a caller on its own VMs only (another's answer
// exactly as a missing one), an admin on every VM; the per-VM metrics are filtered the same way.
import ControlAPI
import Foundation
import Testing

@Suite("Ownership in the dispatcher")
struct OwnershipDispatchTests {
  static let alice = ControlCaller(uid: 1001, isAdmin: false)
  static let bob = ControlCaller(uid: 1002, isAdmin: false)
  static let admin = ControlCaller(uid: 1003, isAdmin: true)

  /// A create body for one VM named `name` with a NIC (so that it has per-VM metrics series).
  static func create(_ name: String) -> ControlAction {
    .createVMs(CreateVMsBody(image: "hello.elf", name: name, network: NetworkBody()))
  }

  /// The body of a response as text.
  static func text(_ response: ControlResponse) -> String { String(decoding: response.body, as: UTF8.self) }

  @Test(
    "list, inspect, console, kill and per-VM metrics: a user's own VMs only, another's 404 worded as a missing one; an admin all"
  )
  func dispatch() throws {
    let server = try TestServer()
    let dispatcher = server.server.dispatcher
    #expect(dispatcher.perform(Self.create("a1"), caller: Self.alice).status == 201)
    #expect(dispatcher.perform(Self.create("b1"), caller: Self.bob).status == 201)
    #expect(server.backend.listVMs().map(\.owner) == [1001, 1002])

    let list = Self.text(dispatcher.perform(.listVMs, caller: Self.alice))
    #expect(list.contains(#""name":"a1""#) && !list.contains(#""name":"b1""#), "\(list)")
    #expect(list.contains(#""owner":1001"#))
    let adminList = Self.text(dispatcher.perform(.listVMs, caller: Self.admin))
    #expect(adminList.contains(#""name":"a1""#) && adminList.contains(#""name":"b1""#))

    // Bob's VM 2 and a VM that does not exist answer alike, by id and by name, for every action.
    for (theirs, missing, theirText, missingText) in [
      (VMReference.id(2), VMReference.id(99), "2", "99"), (.name("b1"), .name("zz"), "b1", "zz"),
    ] {
      for make in [
        { (vm: VMReference) in ControlAction.inspectVM(vm) }, { .killVM($0) },
        { .readConsole($0, tail: 0, follow: false) },
      ] {
        let other = dispatcher.perform(make(theirs), caller: Self.alice)
        let none = dispatcher.perform(make(missing), caller: Self.alice)
        #expect(other.status == 404 && none.status == 404)
        #expect(
          Self.text(other) == Self.text(none).replacingOccurrences(of: missingText, with: theirText),
          "\(Self.text(other))")
      }
      #expect(throws: ControlError.self) { try dispatcher.follow(theirs, tail: 0, caller: Self.alice) { _ in } }
    }
    #expect(server.backend.listVMs().last?.state == .runnable, "Alice's kill reached Bob's VM")
    #expect(dispatcher.perform(.inspectVM(.name("a1")), caller: Self.alice).status == 200)
    #expect(dispatcher.perform(.killVM(.name("b1")), caller: Self.bob).status == 200)

    // Per-VM metrics series: only the caller's NICs (labelled by name) for a user; every VM's for an admin.
    let metrics = Self.text(dispatcher.perform(.metrics, caller: Self.alice))
    #expect(metrics.contains(#"name="a1""#) && !metrics.contains(#"name="b1""#), "\(metrics)")
    let adminMetrics = Self.text(dispatcher.perform(.metrics, caller: Self.admin))
    #expect(adminMetrics.contains(#"name="a1""#) && adminMetrics.contains(#"name="b1""#))
  }
}
