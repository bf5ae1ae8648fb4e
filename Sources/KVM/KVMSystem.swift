// KVMSystem.swift: the /dev/kvm file descriptor, parent of every virtual machine.
import CKVM
import Glibc

/// An open `/dev/kvm`: checks the API version and creates virtual machines.
public final class KVMSystem: Sendable {
  /// The stable KVM API version this wrapper speaks.
  public static let apiVersion: Int32 = 12
  /// The signal used to kick a vCPU out of `KVM_RUN` (see `VCPU.requestExit`).
  public static let kickSignal: Int32 = SIGUSR2

  /// The `/dev/kvm` file descriptor.
  public let fd: Int32
  /// Size of each vCPU's `kvm_run` mapping.
  public let vcpuMmapSize: Int
  /// The optional capabilities the wrapper uses.
  public let features: KVMFeatures
  /// The MSRs a saved vCPU state carries on this KVM (for `/dev/kvm`, found once per process).
  public let savedMSRs: SavedMSRList
  /// Kicks vCPUs that stay inside one KVM_RUN for a whole period (their `run()` returns `.longRun`).
  let runWatchdog: RunWatchdog

  /// Default period of the run watchdog: 100 ms.
  public static let defaultRunWatchdogPeriod: Duration = .milliseconds(100)

  /// Opens the KVM device at `path` and checks that it speaks API version 12. A vCPU that stays inside one
  /// `KVM_RUN` for a whole `runWatchdogPeriod` is kicked out of it (see `VMExit.longRun`).
  /// Sets malloc so that the process's mappings change rarely (`ckvm_stabilize_heap`): each heap growth or
  /// shrink and each large block's own mapping calls every KVM VM's MMU notifier in the process, which in a
  /// process of thousands of VMs costs more than the boots themselves. Call it once, before the VMs exist;
  /// returns false when malloc refused a setting.
  @discardableResult
  public static func stabilizeHeapForManyVMs() -> Bool { ckvm_stabilize_heap() == 1 }

  /// Starts the run watchdog's thread now instead of with the first vCPU: the daemon calls it before its threads
  /// confine themselves, since a vCPU may be created on a thread whose seccomp filter forbids creating threads.
  public func startRunWatchdog() { runWatchdog.startEarly() }

  public init(path: String = "/dev/kvm", runWatchdogPeriod: Duration = defaultRunWatchdogPeriod) throws(KVMError) {
    let fd = open(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { throw KVMError.last("open \(path)") }
    let version = ckvm_ioctl_value(fd, CKVM_GET_API_VERSION, 0)
    guard version == Self.apiVersion else {
      close(fd)
      throw KVMError(operation: "KVM_GET_API_VERSION (got \(version), need \(Self.apiVersion))", errno: EINVAL)
    }
    let size = ckvm_ioctl_value(fd, CKVM_GET_VCPU_MMAP_SIZE, 0)
    guard size > 0 else {
      let error = KVMError.last("KVM_GET_VCPU_MMAP_SIZE")
      close(fd)
      throw error
    }
    guard ckvm_install_kick_handler(Self.kickSignal) == 0 else {
      let error = KVMError.last("sigaction(kick signal)")
      close(fd)
      throw error
    }
    self.fd = fd
    self.vcpuMmapSize = Int(size)
    features = KVMFeatures(kvmFD: fd)
    savedMSRs = (path == "/dev/kvm" ? SavedMSRList.forDefaultDevice : nil) ?? SavedMSRList.probe(kvmFD: fd)
    let (seconds, attoseconds) = runWatchdogPeriod.components
    let period = UInt64(max(0, min(seconds, 3600))) * 1_000_000_000 + UInt64(max(0, attoseconds)) / 1_000_000_000
    runWatchdog = RunWatchdog(periodNanoseconds: period)
  }

  deinit {
    runWatchdog.stop()
    close(fd)
  }

  /// Returns KVM's answer to `KVM_CHECK_EXTENSION` for `capability` (0 when unsupported).
  public func checkExtension(_ capability: Int32) -> Int32 {
    max(0, ckvm_ioctl_value(fd, CKVM_CHECK_EXTENSION, UInt(capability)))
  }

  /// Creates a new, empty virtual machine.
  public func createVirtualMachine() throws(KVMError) -> VirtualMachine {
    let vmFD = ckvm_ioctl_value(fd, CKVM_CREATE_VM, 0)
    guard vmFD >= 0 else { throw KVMError.last("KVM_CREATE_VM") }
    return VirtualMachine(fd: vmFD, system: self)
  }
}
