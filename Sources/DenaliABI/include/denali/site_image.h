/* denali/site_image.h: the site image, a read-only file-system image that `denalid disk pack` makes and guests
 * (Ilwaco's SiteImage) read from their virtual disk. Shared by the packer and the guest library; its prose twin is
 * the "Site images" section of Docs/GUESTS.md. Change both together and bump DENALI_SITE_VERSION on any change.
 *
 * Layout, in 4 KiB blocks (H = ceil(files / 512) hash blocks, E = ceil(files / 16) entry blocks):
 *   block 0            struct denali_site_header, then zeros to the end of the block
 *   blocks 1..H        the hash table: one uint64 FNV-1a path hash per file, ascending, zero-padded
 *   blocks 1+H..H+E    the entry table: struct denali_site_entry per file, in the hash table's order, 16 a block
 *   blocks 1+H+E..     file data, each file from the start of a block, in path order, its last block zero-padded
 * All integers are little-endian. */
#ifndef DENALI_SITE_IMAGE_H
#define DENALI_SITE_IMAGE_H

#include <stdint.h>

/** "DNLISITE" as bytes in memory: the first 8 bytes of the image. */
#define DENALI_SITE_MAGIC 0x45544953494C4E44ull
/** Version of this format. */
#define DENALI_SITE_VERSION 1u
/** Bytes per block (the virtual disk's block size). */
#define DENALI_SITE_BLOCK_SIZE 4096u
/** Path hashes per hash block. */
#define DENALI_SITE_HASHES_PER_BLOCK 512u
/** Bytes per entry, and entries per entry block. */
#define DENALI_SITE_ENTRY_SIZE 256u
#define DENALI_SITE_ENTRIES_PER_BLOCK 16u
/** Longest path in bytes, its leading '/' included. */
#define DENALI_SITE_PATH_MAX 216u
/** Most files in one image (DENALI_SITE_FENCE_MAX hash blocks). */
#define DENALI_SITE_FILES_MAX 65536u
/** Entries of the header's fence: one per hash block. */
#define DENALI_SITE_FENCE_MAX 128u
/** Largest file: 1 GiB. */
#define DENALI_SITE_FILE_SIZE_MAX (1ull << 30)
/** Largest image: 2^20 blocks (4 GiB). */
#define DENALI_SITE_BLOCKS_MAX (1ull << 20)

/** FNV-1a 64 offset basis and prime: the path hash (over bytes) and the checksums (over 64-bit words). */
#define DENALI_SITE_FNV_OFFSET 0xcbf29ce484222325ull
#define DENALI_SITE_FNV_PRIME 0x100000001b3ull

/** Block 0. `checksum` is the word checksum (below) of the whole 4096-byte block with this field read as 0.
 *  `fence[b]` is the first hash of hash block b (b < H); the rest of the fence and `reserved` are 0. */
struct denali_site_header {
  uint64_t magic;        /* DENALI_SITE_MAGIC */
  uint32_t version;      /* DENALI_SITE_VERSION */
  uint32_t file_count;   /* 0..DENALI_SITE_FILES_MAX */
  uint64_t total_blocks; /* blocks of the image: 1 + H + E + data blocks; the disk may be longer */
  uint64_t checksum;     /* word checksum of block 0 with this field zero */
  uint64_t reserved[4];
  uint64_t fence[DENALI_SITE_FENCE_MAX];
};

/** One file. `path` is the URL path as stored (UTF-8, leading '/', no "." or ".." segment, no empty segment, no
 *  byte below 0x20, no 0x7f, no backslash), zero-padded; `path_hash` its FNV-1a 64 over the path_length bytes.
 *  The data is `size` bytes from block `first_block`; `checksum` is its word checksum. */
struct denali_site_entry {
  uint64_t path_hash;
  uint64_t first_block;
  uint64_t size;
  uint64_t checksum;
  uint16_t path_length; /* 1..DENALI_SITE_PATH_MAX */
  uint8_t content_type; /* DENALI_SITE_TYPE_*, from the file name's extension at pack time */
  uint8_t reserved0;
  uint32_t reserved1;
  uint8_t path[DENALI_SITE_PATH_MAX];
};

/* The word checksum of n bytes: h = DENALI_SITE_FNV_OFFSET; for each little-endian uint64 word w of the bytes
 * (the last one zero-padded): h = (h ^ w) * DENALI_SITE_FNV_PRIME (mod 2^64). Zero bytes: the offset basis. */

/** Content types (denali_site_entry.content_type); an unknown value means application/octet-stream. */
#define DENALI_SITE_TYPE_OCTET_STREAM 0u /* application/octet-stream (no or unknown extension) */
#define DENALI_SITE_TYPE_HTML 1u         /* text/html; charset=utf-8: .html .htm */
#define DENALI_SITE_TYPE_TEXT 2u         /* text/plain; charset=utf-8: .txt */
#define DENALI_SITE_TYPE_CSS 3u          /* text/css; charset=utf-8: .css */
#define DENALI_SITE_TYPE_JAVASCRIPT 4u   /* text/javascript; charset=utf-8: .js .mjs */
#define DENALI_SITE_TYPE_JSON 5u         /* application/json: .json */
#define DENALI_SITE_TYPE_PNG 6u          /* image/png: .png */
#define DENALI_SITE_TYPE_JPEG 7u         /* image/jpeg: .jpg .jpeg */
#define DENALI_SITE_TYPE_GIF 8u          /* image/gif: .gif */
#define DENALI_SITE_TYPE_SVG 9u          /* image/svg+xml: .svg */
#define DENALI_SITE_TYPE_ICON 10u        /* image/x-icon: .ico */
#define DENALI_SITE_TYPE_WEBP 11u        /* image/webp: .webp */
#define DENALI_SITE_TYPE_WOFF 12u        /* font/woff: .woff */
#define DENALI_SITE_TYPE_WOFF2 13u       /* font/woff2: .woff2 */
#define DENALI_SITE_TYPE_PDF 14u         /* application/pdf: .pdf */
#define DENALI_SITE_TYPE_XML 15u         /* application/xml: .xml */
#define DENALI_SITE_TYPE_WASM 16u        /* application/wasm: .wasm */
/** Number of content types. */
#define DENALI_SITE_TYPE_COUNT 17u

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct denali_site_header) == 64 + 8 * DENALI_SITE_FENCE_MAX, "site header layout");
_Static_assert(sizeof(struct denali_site_header) <= DENALI_SITE_BLOCK_SIZE, "site header fits block 0");
_Static_assert(sizeof(struct denali_site_entry) == DENALI_SITE_ENTRY_SIZE, "site entry layout");
_Static_assert(DENALI_SITE_ENTRY_SIZE * DENALI_SITE_ENTRIES_PER_BLOCK == DENALI_SITE_BLOCK_SIZE, "entries fill a block");
_Static_assert(8 * DENALI_SITE_HASHES_PER_BLOCK == DENALI_SITE_BLOCK_SIZE, "hashes fill a block");
_Static_assert(DENALI_SITE_FENCE_MAX * DENALI_SITE_HASHES_PER_BLOCK == DENALI_SITE_FILES_MAX, "fence covers every file");
#endif

#endif /* DENALI_SITE_IMAGE_H */
