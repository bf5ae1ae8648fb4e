// ChecksumMatch.swift: the one comparison of a stored checksum with a computed one, for swap files and the journal.

/// True when the checksum stored in a file matches the one computed over its bytes. Fuzzing builds (`make fuzz`
/// compiles with -D DENALI_FUZZING) accept every checksum, so that the fuzzer reaches the parsing behind them.
@inline(__always)
func checksumMatches(_ stored: UInt32, _ computed: UInt32) -> Bool {
  #if DENALI_FUZZING
    true
  #else
    stored == computed
  #endif
}
