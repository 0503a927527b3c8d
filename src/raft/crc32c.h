/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI (RFC 3720) and ext4 use it.
 * Guards every Raft log record, the term/vote file and snapshots. The SSE4.2 instruction is used
 * when the CPU has it (checked at run time), a slicing-by-8 table otherwise. */
#ifndef FO_RAFT_CRC32C_H
#define FO_RAFT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc: 0 to start, or a previous result to continue over more bytes (chaining two calls equals
 * one call over the concatenation). fo_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t fo_crc32c(uint32_t crc, const void *buf, size_t len);

/* The two implementations behind fo_crc32c(), exposed so tests can compare them. */
uint32_t fo_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Falls back to the table when the CPU lacks SSE4.2, so it is always safe to call. */
uint32_t fo_crc32c_hw(uint32_t crc, const void *buf, size_t len);
/* 1 if fo_crc32c() uses the CPU instruction. */
int fo_crc32c_hw_available(void);

#endif
