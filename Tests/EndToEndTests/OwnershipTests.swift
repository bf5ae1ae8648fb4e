// OwnershipTests.swift: VMs belong to the user who created them: with two unprivileged users and an admin, over the
// real daemon's socket: who sees and kills what, per-user quotas (403), the daemon-wide disk limits (409), and
// owners kept across a swap-out of every VM and a restart.
import Foundation
import Glibc
import Testing

@Suite("VM ownership, quotas and disk limits", .serialized)
struct OwnershipTests {
  /// The JSON object of a response body.
  static func object(_ body: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
  }

  /// The VMs of a `GET /v1/vms` body.
  static func vms(_ body: String) -> [[String: Any]] { object(body)["vms"] as? [[String: Any]] ?? [] }

  /// The names of a `GET /v1/vms` body, sorted.
  static func names(_ body: String) -> [String] { vms(body).compactMap { $0["name"] as? String }.sorted() }

  /// A create body for one idler of 2 MiB named `name`, with `extra` JSON members.
  static func idler(_ name: String, _ extra: String = "") -> String {
    #"{"image":"idler.elf","name":"\#(name)","memory":"2MiB","arguments":["1000"]\#(extra)}"#
  }

  @Test(
    "A user sees and acts on only their own VMs (another's answers 404), an admin on all; quotas answer 403 and disk limits 409, changing nothing; owners survive swap-out and restart"
  )
  func ownership() throws {
    guard Denalid.ready(guests: ["idler"]), LocalUsers.available() else { return }
    let accounts = LocalUsers()
    let socketGroup = try accounts.group("sock")
    let adminGroup = try accounts.group("adm")
    let alice = try accounts.user("a", primary: socketGroup.name)
    let bob = try accounts.user("b", primary: socketGroup.name)
    // The admin's primary group is the socket's: it is an admin through its supplementary group.
    let admin = try accounts.user("c", primary: socketGroup.name, others: [adminGroup.name])

    // 2 MiB VMs: each counts 12,730,368 bytes against swap-limit (4 images of 2 MiB of pages, the largest
    // segment, superblocks, plus 64 KiB of slack), so 60 MiB holds four of them and not five.
    let daemon = try DaemonProcess(flags: [
      "--socket-group", socketGroup.name, "--admin-group", adminGroup.name, "--quota-vms", "2", "--quota-memory",
      "6MiB",
      "--quota-disk", "64KiB", "--scratch-disk-limit", "128KiB", "--swap-limit", "60MiB",
    ])
    // The users reach the socket (mode 0660, group socketGroup) through the test's private directory.
    #expect(chmod(daemon.directory, 0o711) == 0)
    try daemon.start()
    let socket = daemon.socket
    func call(_ method: String, _ path: String, _ body: String? = nil, as user: LocalUsers.User?) throws -> (
      status: Int, body: String
    ) {
      try LocalUsers.request(method, path, body: body, as: user, socket: socket)
    }

    // Each user creates VMs; each VM records its creator's uid.
    let a1 = try call("POST", "/v1/vms", Self.idler("a1"), as: alice)
    #expect(a1.status == 201, "\(a1.body)")
    #expect(Self.vms(a1.body).first?["owner"] as? Int == Int(alice.uid))
    #expect(try call("POST", "/v1/vms", Self.idler("a2"), as: alice).status == 201)
    let b1 = try call("POST", "/v1/vms", Self.idler("b1", #","disk":{"size":"64KiB"}"#), as: bob)
    #expect(b1.status == 201, "\(b1.body)")
    let b1ID = Self.vms(b1.body).first?["id"] as? Int ?? -1

    // Alice sees only her own VMs; Bob's answers exactly as a VM that does not exist.
    let aliceList = try call("GET", "/v1/vms", as: alice)
    #expect(Self.names(aliceList.body) == ["a1", "a2"], "\(aliceList.body)")
    #expect(Self.vms(aliceList.body).allSatisfy { $0["owner"] as? Int == Int(alice.uid) })
    #expect(Self.names(try call("GET", "/v1/vms", as: bob).body) == ["b1"])
    let unknownByID = try call("GET", "/v1/vms/999999", as: alice)
    #expect(unknownByID.status == 404)
    for path in ["/v1/vms/b1", "/v1/vms/\(b1ID)", "/v1/vms/b1/console", "/v1/vms/b1/console?follow=true"] {
      let answer = try call("GET", path, as: alice)
      #expect(answer.status == 404, "\(path): \(answer.body)")
      #expect(Self.object(answer.body)["code"] as? String == "vm_not_found", "\(path): \(answer.body)")
    }
    let byID = try call("GET", "/v1/vms/\(b1ID)", as: alice)
    #expect(
      byID.body == unknownByID.body.replacingOccurrences(of: "999999", with: "\(b1ID)"),
      "another's VM leaks: \(byID.body)")
    let killOther = try call("POST", "/v1/vms/b1/kill", as: alice)
    #expect(killOther.status == 404, "\(killOther.body)")
    #expect(
      Self.object(try call("GET", "/v1/vms/b1", as: bob).body)["state"] as? String != "killed",
      "Alice's kill reached Bob's VM")
    // Alice's own VMs answer her.
    #expect(try call("GET", "/v1/vms/a1", as: alice).status == 200)
    #expect(try call("GET", "/v1/vms/a1/console", as: alice).status == 200)

    // The admin (by its supplementary group) and root see every VM.
    #expect(Self.names(try call("GET", "/v1/vms", as: admin).body) == ["a1", "a2", "b1"])
    #expect(Self.names(try call("GET", "/v1/vms", as: nil).body) == ["a1", "a2", "b1"])
    // `denalid list` shows an OWNER column once VMs of several users are listed (to the admin, not to Alice).
    let table = try daemon.client(["list"])
    #expect(table.stdout.hasPrefix("ID  NAME  STATE") && table.stdout.contains("OWNER"), "\(table.stdout)")
    #expect(
      table.stdout.split(separator: "\n").contains { $0.hasPrefix("3 ") && $0.contains(" \(bob.uid) ") },
      "\(table.stdout)")

    // Quotas: refused whole with 403 naming the quota; nothing changes (no VM, no id used).
    let overCount = try call("POST", "/v1/vms", Self.idler("a3"), as: alice)
    #expect(overCount.status == 403, "\(overCount.body)")
    #expect(Self.object(overCount.body)["code"] as? String == "quota_exceeded")
    #expect((Self.object(overCount.body)["message"] as? String ?? "").hasPrefix("quota-vms:"), "\(overCount.body)")
    let overMemory = try call("POST", "/v1/vms", #"{"image":"idler.elf","name":"b2","memory":"6MiB"}"#, as: bob)
    #expect(
      overMemory.status == 403 && (Self.object(overMemory.body)["message"] as? String ?? "").hasPrefix("quota-memory:"),
      "\(overMemory.body)")
    let overDisk = try call("POST", "/v1/vms", Self.idler("b2", #","disk":{"size":"4KiB"}"#), as: bob)
    #expect(
      overDisk.status == 403 && (Self.object(overDisk.body)["message"] as? String ?? "").hasPrefix("quota-disk:"),
      "\(overDisk.body)")
    // The admin has no quota.
    let r1 = try call("POST", "/v1/vms", Self.idler("r1", #","disk":{"size":"64KiB"}"#), as: admin)
    #expect(r1.status == 201, "\(r1.body)")
    #expect(Self.vms(r1.body).first?["id"] as? Int == b1ID + 1, "a refused request used an id: \(r1.body)")
    #expect(Self.vms(r1.body).first?["owner"] as? Int == Int(admin.uid))

    // Disk limits: refused whole with 409 naming the key, for the admin too; every VM is still there.
    let overScratch = try call("POST", "/v1/vms", Self.idler("r2", #","disk":{"size":"4KiB"}"#), as: nil)
    #expect(overScratch.status == 409, "\(overScratch.body)")
    #expect(
      (Self.object(overScratch.body)["message"] as? String ?? "").hasPrefix("scratch-disk-limit:"),
      "\(overScratch.body)")
    let overSwap = try call("POST", "/v1/vms", Self.idler("r2"), as: nil)
    #expect(overSwap.status == 409, "\(overSwap.body)")
    #expect(Self.object(overSwap.body)["code"] as? String == "limit_reached")
    #expect((Self.object(overSwap.body)["message"] as? String ?? "").hasPrefix("swap-limit:"), "\(overSwap.body)")
    let all = try call("GET", "/v1/vms", as: nil)
    #expect(Self.names(all.body) == ["a1", "a2", "b1", "r1"], "\(all.body)")
    #expect(
      Self.vms(all.body).allSatisfy {
        ["exited", "faulted", "killed"].contains($0["state"] as? String ?? "") == false
      }, "\(all.body)")

    // The admin kills Bob's VM; then Bob's VM no longer holds quota or disk, so Bob may create again.
    #expect(try call("POST", "/v1/vms/b1/kill", as: admin).status == 200)
    // Its scratch disk counts until it has really ended (the engine removes the disk then).
    let deadline = ContinuousClock.now + .seconds(120)
    while ContinuousClock.now < deadline, Self.object(try call("GET", "/v1/vms/b1", as: nil).body)["ended_at"] is NSNull
    {
      Thread.sleep(forTimeInterval: 0.1)
    }
    let b2 = try call("POST", "/v1/vms", Self.idler("b2", #","disk":{"size":"64KiB"}"#), as: bob)
    #expect(b2.status == 201, "\(b2.body)")

    // A clean stop swaps every VM out; after the restart each VM has its owner and each user sees the same.
    #expect(daemon.terminate() == 0)
    try daemon.start()
    let restarted = try call("GET", "/v1/vms", as: nil)
    let owners = Dictionary(
      uniqueKeysWithValues: Self.vms(restarted.body).compactMap { vm in
        (vm["name"] as? String).map { ($0, vm["owner"] as? Int ?? -1) }
      })
    #expect(
      owners == [
        "a1": Int(alice.uid), "a2": Int(alice.uid), "b1": Int(bob.uid), "b2": Int(bob.uid), "r1": Int(admin.uid),
      ], "\(restarted.body)")
    #expect(
      Self.vms(restarted.body).filter { $0["name"] as? String == "a1" }.first?["restored_from"] as? String == "swap")
    #expect(Self.names(try call("GET", "/v1/vms", as: alice).body) == ["a1", "a2"])
    #expect(Self.names(try call("GET", "/v1/vms", as: bob).body) == ["b1", "b2"])
    #expect(try call("POST", "/v1/vms/a1/kill", as: bob).status == 404)
    #expect(try call("POST", "/v1/vms/a1/kill", as: alice).status == 200)
    #expect(daemon.terminate() == 0)
  }
}
