// SpecialRegisters.swift: a vCPU's segment, descriptor-table and control registers.
import CKVM

/// A segment register as KVM describes it (the hidden descriptor cache included).
public struct SegmentRegister: Equatable, Sendable {
  /// Segment base, limit and selector.
  public var base: UInt64 = 0, limit: UInt32 = 0, selector: UInt16 = 0
  /// Descriptor type field (4 bits).
  public var type: UInt8 = 0
  /// Descriptor flag bits: present, privilege level, default size, system, long mode, granularity, available.
  public var present: Bool = false, dpl: UInt8 = 0, db: Bool = false, s: Bool = false
  /// Descriptor flag bits (continued).
  public var l: Bool = false, g: Bool = false, avl: Bool = false
  /// Set when the segment register holds no usable segment.
  public var unusable: Bool = false

  /// An empty, unusable segment.
  public init() {}

  init(_ k: kvm_segment) {
    base = k.base
    limit = k.limit
    selector = k.selector
    type = k.type
    present = k.present != 0
    dpl = k.dpl
    db = k.db != 0
    s = k.s != 0
    l = k.l != 0
    g = k.g != 0
    avl = k.avl != 0
    unusable = k.unusable != 0
  }

  var kvm: kvm_segment {
    var k = kvm_segment()
    k.base = base
    k.limit = limit
    k.selector = selector
    k.type = type
    k.present = present ? 1 : 0
    k.dpl = dpl
    k.db = db ? 1 : 0
    k.s = s ? 1 : 0
    k.l = l ? 1 : 0
    k.g = g ? 1 : 0
    k.avl = avl ? 1 : 0
    k.unusable = unusable ? 1 : 0
    return k
  }
}

/// A descriptor-table register (GDTR or IDTR).
public struct DescriptorTableRegister: Equatable, Sendable {
  /// Linear base address of the table.
  public var base: UInt64 = 0
  /// Table limit: size in bytes minus one.
  public var limit: UInt16 = 0

  /// A table register with the given base and limit.
  public init(base: UInt64 = 0, limit: UInt16 = 0) {
    self.base = base
    self.limit = limit
  }
}

/// The special registers of a vCPU (`struct kvm_sregs`); fields not listed are kept as read from KVM.
public struct SpecialRegisters: Sendable {
  var raw: kvm_sregs

  init(_ raw: kvm_sregs) { self.raw = raw }

  /// Code segment.
  public var cs: SegmentRegister {
    get { .init(raw.cs) }
    set { raw.cs = newValue.kvm }
  }
  /// Data segments.
  public var ds: SegmentRegister {
    get { .init(raw.ds) }
    set { raw.ds = newValue.kvm }
  }
  /// Data segments.
  public var es: SegmentRegister {
    get { .init(raw.es) }
    set { raw.es = newValue.kvm }
  }
  /// Data segments.
  public var fs: SegmentRegister {
    get { .init(raw.fs) }
    set { raw.fs = newValue.kvm }
  }
  /// Data segments.
  public var gs: SegmentRegister {
    get { .init(raw.gs) }
    set { raw.gs = newValue.kvm }
  }
  /// Stack segment.
  public var ss: SegmentRegister {
    get { .init(raw.ss) }
    set { raw.ss = newValue.kvm }
  }
  /// Task register.
  public var tr: SegmentRegister {
    get { .init(raw.tr) }
    set { raw.tr = newValue.kvm }
  }
  /// Local descriptor table register.
  public var ldt: SegmentRegister {
    get { .init(raw.ldt) }
    set { raw.ldt = newValue.kvm }
  }
  /// Global descriptor table register.
  public var gdt: DescriptorTableRegister {
    get { .init(base: raw.gdt.base, limit: raw.gdt.limit) }
    set {
      raw.gdt.base = newValue.base
      raw.gdt.limit = newValue.limit
    }
  }
  /// Interrupt descriptor table register.
  public var idt: DescriptorTableRegister {
    get { .init(base: raw.idt.base, limit: raw.idt.limit) }
    set {
      raw.idt.base = newValue.base
      raw.idt.limit = newValue.limit
    }
  }
  /// Control registers.
  public var cr0: UInt64 {
    get { raw.cr0 }
    set { raw.cr0 = newValue }
  }
  /// Page-fault linear address.
  public var cr2: UInt64 {
    get { raw.cr2 }
    set { raw.cr2 = newValue }
  }
  /// Page-table root.
  public var cr3: UInt64 {
    get { raw.cr3 }
    set { raw.cr3 = newValue }
  }
  /// Control register 4.
  public var cr4: UInt64 {
    get { raw.cr4 }
    set { raw.cr4 = newValue }
  }
  /// Extended feature enable register.
  public var efer: UInt64 {
    get { raw.efer }
    set { raw.efer = newValue }
  }
}
