// SeccompProgram.swift: a classic-BPF seccomp program built from a list of system-call rules.
import CSeccomp

/// The BPF program of one thread role: the x86-64 ABI only (any other architecture, or the x32 ABI, ends the
/// process at once), then each rule in order, and `SECCOMP_RET_TRAP` for every call no rule allows (the SIGSYS
/// handler reports it and stops the process).
public struct SeccompProgram: Sendable {
  /// The instructions.
  public let instructions: [sock_filter]

  /// A jump target inside one rule's block, resolved when the block is laid out.
  private enum Target {
    case next
    case allow
    case nextAlternative
  }

  /// An instruction whose jumps are still symbolic.
  private struct Pending {
    var instruction: sock_filter
    var whenTrue: Target = .next
    var whenFalse: Target = .next
  }

  /// The program for `rules`. A rule listed twice counts once; two different rules for one call are a bug.
  /// `otherwise` is the result for every call no rule allows: a trap (the daemon's), or for the tests an error
  /// number (`SECCOMP_RESULT_ERRNO | errno`), so that a refused call can be seen without stopping the process.
  public init(allowing listed: [SystemCallRule], otherwise: UInt32 = SECCOMP_RESULT_TRAP) {
    var rules: [SystemCallRule] = []
    for rule in listed {
      if let earlier = rules.first(where: { $0.number == rule.number }) {
        precondition(earlier == rule, "two different rules for system call \(rule.number)")
        continue
      }
      rules.append(rule)
    }
    var program: [sock_filter] = [
      Self.load(SECCOMP_DATA_ARCHITECTURE),
      Self.jump(SECCOMP_BPF_JUMP_EQUAL, SECCOMP_ARCHITECTURE_X86_64, then: 1, else: 0),
      Self.return(SECCOMP_RESULT_KILL_PROCESS),
      Self.load(SECCOMP_DATA_NUMBER),
      Self.jump(SECCOMP_BPF_JUMP_GREATER_OR_EQUAL, SECCOMP_X32_SYSCALL_BIT, then: 0, else: 1),
      Self.return(SECCOMP_RESULT_KILL_PROCESS),
    ]
    for rule in rules {
      // Each block is entered with the system call number in the accumulator and ends in a return, so the next
      // block still finds the number there.
      let body = Self.body(of: rule, otherwise: otherwise)
      precondition(body.count < 256, "a rule's block must fit an 8-bit jump")
      program.append(
        Self.jump(SECCOMP_BPF_JUMP_EQUAL, UInt32(bitPattern: rule.number), then: 0, else: UInt8(body.count)))
      program.append(contentsOf: body)
    }
    program.append(Self.return(otherwise))
    precondition(program.count <= 4096, "a seccomp program holds at most 4096 instructions")
    instructions = program
  }

  /// The instructions after a rule's number matched, ending in returns.
  private static func body(of rule: SystemCallRule, otherwise: UInt32) -> [sock_filter] {
    if let failure = rule.failure { return [self.return(SECCOMP_RESULT_ERRNO | (UInt32(failure) & 0xffff))] }
    if rule.alternatives.isEmpty { return [self.return(SECCOMP_RESULT_ALLOW)] }
    // Alternatives one after the other; a failed condition jumps to the next alternative (the trap after the
    // last), a passed one goes on to the next condition, and the last condition of an alternative to the allow.
    var pending: [Pending] = []
    var alternativeStarts: [Int] = []
    for alternative in rule.alternatives {
      alternativeStarts.append(pending.count)
      for (position, condition) in alternative.enumerated() {
        let last = position == alternative.count - 1
        let pass: Target = last ? .allow : .next
        pending.append(Pending(instruction: load(SECCOMP_DATA_ARGUMENTS + UInt32(condition.index) * 8)))
        switch condition.check {
        case .oneOf(let values):
          // A match jumps past the remaining comparisons, so only the last condition of an alternative may list
          // several values.
          precondition(last || values.count <= 1, "a oneOf check of several values must come last in its alternative")
          for (index, value) in values.enumerated() {
            let fail: Target = index == values.count - 1 ? .nextAlternative : .next
            pending.append(Pending(instruction: jump(SECCOMP_BPF_JUMP_EQUAL, value), whenTrue: pass, whenFalse: fail))
          }
          if values.isEmpty {
            pending.append(
              Pending(
                instruction: jump(SECCOMP_BPF_JUMP_EQUAL, 0), whenTrue: .nextAlternative, whenFalse: .nextAlternative))
          }
        case .not(let value):
          pending.append(
            Pending(instruction: jump(SECCOMP_BPF_JUMP_EQUAL, value), whenTrue: .nextAlternative, whenFalse: pass))
        case .clear(let bits):
          pending.append(
            Pending(instruction: jump(SECCOMP_BPF_JUMP_ANY_BIT, bits), whenTrue: .nextAlternative, whenFalse: pass))
        case .anySet(let bits):
          pending.append(
            Pending(instruction: jump(SECCOMP_BPF_JUMP_ANY_BIT, bits), whenTrue: pass, whenFalse: .nextAlternative))
        }
      }
    }
    let trapIndex = pending.count
    let allowIndex = trapIndex + 1
    var body: [sock_filter] = []
    for (position, entry) in pending.enumerated() {
      let nextAlternative = alternativeStarts.first { $0 > position } ?? trapIndex
      func offset(_ target: Target) -> UInt8 {
        let destination: Int
        switch target {
        case .next: destination = position + 1
        case .allow: destination = allowIndex
        case .nextAlternative: destination = nextAlternative
        }
        return UInt8(destination - position - 1)
      }
      var instruction = entry.instruction
      if instruction.code != SECCOMP_BPF_LOAD_WORD {
        instruction.jt = offset(entry.whenTrue)
        instruction.jf = offset(entry.whenFalse)
      }
      body.append(instruction)
    }
    body.append(self.return(otherwise))
    body.append(self.return(SECCOMP_RESULT_ALLOW))
    return body
  }

  private static func load(_ offset: UInt32) -> sock_filter {
    sock_filter(code: SECCOMP_BPF_LOAD_WORD, jt: 0, jf: 0, k: offset)
  }

  private static func jump(_ code: UInt16, _ value: UInt32, then: UInt8 = 0, else otherwise: UInt8 = 0) -> sock_filter {
    sock_filter(code: code, jt: then, jf: otherwise, k: value)
  }

  private static func `return`(_ result: UInt32) -> sock_filter {
    sock_filter(code: SECCOMP_BPF_RETURN, jt: 0, jf: 0, k: result)
  }

  /// Installs the program on the calling thread. Returns 0 or -errno.
  public func install() -> Int32 {
    // SAFETY: the buffer is alive for the call; the kernel copies the program before returning.
    instructions.withUnsafeBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return -22 }
      return seccomp_install_filter(base, UInt16(buffer.count))
    }
  }
}
