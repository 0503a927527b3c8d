/* CRC-32C: run-time dispatch between the SSE4.2 crc32 instruction and a slicing-by-8 table.
 * The tables are generated once from the polynomial at first use. */
#include "raft/crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define FO__CRC32C_X86 1
#endif

#define FO__CRC32C_POLY 0x82F63B78u

static uint32_t fo__crc_table[8][256];
static int fo__crc_hw;
static pthread_once_t fo__crc_once = PTHREAD_ONCE_INIT;

static void fo__crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (FO__CRC32C_POLY & (0u - (c & 1u)));
        fo__crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = fo__crc_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = (c >> 8) ^ fo__crc_table[0][c & 0xFF];
            fo__crc_table[t][i] = c;
        }
    }
#ifdef FO__CRC32C_X86
    fo__crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

static uint32_t fo__crc_sw_raw(uint32_t c, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ fo__crc_table[0][(c ^ *p++) & 0xFF];
        len--;
    }
    while (len >= 8) {
        /* Byte-wise loads keep this independent of host endianness. */
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = fo__crc_table[7][lo & 0xFF] ^ fo__crc_table[6][(lo >> 8) & 0xFF] ^
            fo__crc_table[5][(lo >> 16) & 0xFF] ^ fo__crc_table[4][lo >> 24] ^
            fo__crc_table[3][hi & 0xFF] ^ fo__crc_table[2][(hi >> 8) & 0xFF] ^
            fo__crc_table[1][(hi >> 16) & 0xFF] ^ fo__crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ fo__crc_table[0][(c ^ *p++) & 0xFF];
    return c;
}

#ifdef FO__CRC32C_X86
__attribute__((target("sse4.2"))) static uint32_t fo__crc_hw_raw(uint32_t c, const unsigned char *p,
                                                                 size_t len)
{
    uint64_t c64;
    while (len && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8(c, *p++);
        len--;
    }
    c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t fo_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&fo__crc_once, fo__crc_init);
    return ~fo__crc_sw_raw(~crc, buf, len);
}

uint32_t fo_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&fo__crc_once, fo__crc_init);
#ifdef FO__CRC32C_X86
    if (fo__crc_hw)
        return ~fo__crc_hw_raw(~crc, buf, len);
#endif
    return ~fo__crc_sw_raw(~crc, buf, len);
}

int fo_crc32c_hw_available(void)
{
    pthread_once(&fo__crc_once, fo__crc_init);
    return fo__crc_hw;
}

uint32_t fo_crc32c(uint32_t crc, const void *buf, size_t len)
{
    return fo_crc32c_hw(crc, buf, len);
}
