// DetachedThread.swift: a detached pthread running one closure, for the KVM layer's own helper threads (the run
// watchdog, the shell pool's resetting thread), which must not depend on Foundation's Thread.
import Glibc

/// Starts detached threads.
enum DetachedThread {
  /// The closure a thread runs, kept alive by the thread until it returns.
  private final class Body {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
  }

  /// Starts a detached thread running `body`; false when the thread could not be created (`body` is then
  /// never run).
  static func start(_ body: @escaping () -> Void) -> Bool {
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(
      &thread, nil,
      { raw in
        // SAFETY: `raw` is the retained Body passed below; the thread releases it when the body returns.
        guard let raw else { return nil }
        Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
        return nil
      }, context)
    guard result == 0 else {
      Unmanaged<Body>.fromOpaque(context).release()
      return false
    }
    pthread_detach(thread)
    return true
  }
}
