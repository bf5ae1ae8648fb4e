// VMStateSpellingTests.swift: each VM state is spelled one way from the scheduler to the API.
import ControlAPI
import DenaliCore
import Testing

@testable import DenaliEngine

@Suite("VM state spelling")
struct VMStateSpellingTests {
  @Test("every scheduler phase of a live VM maps to the API state of the same name")
  func phasesAndStatesAgree() {
    for phase in VMStatus.Phase.allCases where phase != .finished {
      #expect(EngineEntry.state(for: phase).kind.rawValue == phase.rawValue, "\(phase)")
    }
  }
}
