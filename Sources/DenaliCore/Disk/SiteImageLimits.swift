// SiteImageLimits.swift: the largest paths, file counts and sizes `denalid disk pack` accepts.
import DenaliABI

/// Limits on what a site image holds. The defaults are the format's own maxima; smaller ones are allowed
/// (tests use them), larger ones are clamped to the format's.
public struct SiteImageLimits: Sendable, Equatable {
  /// Longest path in bytes, leading '/' included.
  public var pathLength: Int
  /// Most files.
  public var files: Int
  /// Largest file in bytes.
  public var fileSize: UInt64
  /// Largest image in bytes (header, tables and data).
  public var imageSize: UInt64

  /// The format's maxima: 216-byte paths, 65,536 files, 1 GiB files, 4 GiB images.
  public static let format = SiteImageLimits(
    pathLength: Int(DENALI_SITE_PATH_MAX), files: Int(DENALI_SITE_FILES_MAX), fileSize: DENALI_SITE_FILE_SIZE_MAX,
    imageSize: DENALI_SITE_BLOCKS_MAX * UInt64(DENALI_SITE_BLOCK_SIZE))

  /// Limits no larger than the format's.
  public init(pathLength: Int, files: Int, fileSize: UInt64, imageSize: UInt64) {
    self.pathLength = min(pathLength, Int(DENALI_SITE_PATH_MAX))
    self.files = min(files, Int(DENALI_SITE_FILES_MAX))
    self.fileSize = min(fileSize, DENALI_SITE_FILE_SIZE_MAX)
    self.imageSize = min(imageSize, DENALI_SITE_BLOCKS_MAX * UInt64(DENALI_SITE_BLOCK_SIZE))
  }
}
