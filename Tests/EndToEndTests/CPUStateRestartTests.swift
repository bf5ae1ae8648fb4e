// CPUStateRestartTests.swift: the vCPU state a guest changed (MSRs, debug registers) survives `denalid serve`
// stopping with SIGTERM (every VM swapped out to disk) and starting again from the swap images.
import Foundation
import Testing

@Suite("vCPU state across a daemon restart", .serialized)
struct CPUStateRestartTests {
  @Test("a guest that wrote its MSRs and debug registers finds them all after SIGTERM and a restart")
  func survivesRestart() throws {
    guard Denalid.ready(guests: ["cpu-state"]) else { return }
    let daemon = try DaemonProcess()
    try daemon.start()
    // The guest sets its state, then idles 4 s of its own clock (which stands still while no daemon runs it).
    let spawn = try daemon.client(["spawn", "cpu-state.elf", "--name", "state", "--memory", "2MiB", "--", "4000"])
    #expect(spawn.status == 0, "\(spawn.stderr)")
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline, !(try daemon.client(["logs", "state"]).stdout.contains(" msrs\n")) {
      Thread.sleep(forTimeInterval: 0.05)
    }
    #expect(try daemon.inspect("state")["state"] as? String == "idle", "it set its state and idles")
    #expect(daemon.terminate() == 0)
    try daemon.start()
    #expect(try daemon.inspect("state")["restored_from"] as? String == "swap")
    try daemon.waitForVMs("the guest to check its state and exit") { $0.first?["state"] as? String == "exited" }
    let logs = try daemon.client(["logs", "state"]).stdout
    #expect(try daemon.inspect("state")["exit_status"] as? Int == 0, "\(logs)")
    #expect(logs.contains(" 0 mismatches") && !logs.contains("MISMATCH"), "\(logs)")
    #expect(daemon.terminate() == 0)
  }
}
