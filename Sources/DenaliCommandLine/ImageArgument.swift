// ImageArgument.swift: a guest image named on the command line, as the daemon is to find it.
import Foundation

/// An existing local file as its absolute, canonical path; anything else as given (relative to one of the
/// daemon's image directories).
public func imageArgument(_ image: String) -> String {
  guard !image.hasPrefix("/"), FileManager.default.fileExists(atPath: image) else { return image }
  return URL(fileURLWithPath: image).standardizedFileURL.resolvingSymlinksInPath().path
}
