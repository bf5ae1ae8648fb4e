// NetworkDevice.swift: the virtual NIC's two hypercalls, send and receive, every argument checked.
import DenaliABI
import KVM

/// A VM's NIC as the guest sees it: DENALI_HC_NET_SEND and DENALI_HC_NET_RECV over its `NetworkPort`
/// (or DENALI_ENODEV for both without one). Frames are copied between guest memory and the port only
/// here, on the VM's own worker thread.
public final class NetworkDevice {
  /// The VM's port on the switch; nil when the VM has no NIC.
  public let port: NetworkPort?
  private let interrupts: VirtualInterrupts

  /// A NIC over `port`, attached to the VM's `interrupts` (detached again when the device goes away).
  public init(port: NetworkPort?, interrupts: VirtualInterrupts) {
    self.port = port
    self.interrupts = interrupts
    port?.attach(interrupts)
  }

  deinit { port?.detach(interrupts) }

  /// Registers the NIC hypercalls in `table`.
  func register(in table: inout HypercallTable) {
    let size = UInt64(MemoryLayout<denali_hc_net_io>.size)
    table.register(DENALI_HC_NET_SEND, structSize: size) { [self] memory, address in
      let call = try memory.load(denali_hc_net_io.self, at: address)
      try memory.write(send(call, memory: memory), at: address)
      return .resume
    }
    table.register(DENALI_HC_NET_RECV, structSize: size) { [self] memory, address in
      let call = try memory.load(denali_hc_net_io.self, at: address)
      try memory.write(receive(call, memory: memory), at: address)
      return .resume
    }
  }

  /// Send: no NIC, then length, then buffer, then a full transmit queue.
  private func send(_ call: denali_hc_net_io, memory: GuestMemory) -> Int64 {
    guard let port else { return Int64(DENALI_ENODEV) }
    guard call.length >= UInt64(DENALI_NET_FRAME_MIN), call.length <= UInt64(DENALI_NET_FRAME_MAX) else {
      return Int64(DENALI_EMSGSIZE)
    }
    guard let frame = try? memory.bytes(at: call.buffer, count: call.length) else { return Int64(DENALI_EFAULT) }
    return port.send(frame) ? Int64(call.length) : Int64(DENALI_EAGAIN)
  }

  /// Receive: no NIC, then the buffer (as much of it as a frame can fill), then the queue.
  private func receive(_ call: denali_hc_net_io, memory: GuestMemory) -> Int64 {
    guard let port else { return Int64(DENALI_ENODEV) }
    let reach = min(call.length, UInt64(DENALI_NET_FRAME_MAX))
    guard memory.contains(address: call.buffer, length: reach) else { return Int64(DENALI_EFAULT) }
    switch port.receive(capacity: Int(reach)) {
    case .empty:
      return Int64(DENALI_EAGAIN)
    case .tooLarge:
      return Int64(DENALI_EMSGSIZE)
    case .frame(let frame):
      // The range [buffer, buffer + reach) was checked and frame.count <= reach.
      guard (try? memory.write(frame, at: call.buffer)) != nil else { return Int64(DENALI_EFAULT) }
      return Int64(frame.count)
    }
  }
}
