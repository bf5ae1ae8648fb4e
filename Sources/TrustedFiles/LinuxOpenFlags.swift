// LinuxOpenFlags.swift: open(2) flags that Glibc's Swift module leaves out (they need _GNU_SOURCE in C).

/// Linux open(2) flags, from <bits/fcntl-linux.h> (x86-64 and every other architecture but alpha, parisc, sparc).
public enum LinuxOpenFlags {
  /// O_PATH: a descriptor that only locates a file (for *at calls and fstat), needing no read permission.
  public static let pathOnly: Int32 = 0o10_000_000
  /// O_TMPFILE: an unnamed regular file in the directory given (O_DIRECTORY included, as in C).
  public static let temporaryFile: Int32 = 0o20_200_000
}
