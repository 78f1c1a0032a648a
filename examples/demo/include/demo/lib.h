/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DEMO_LIB_H
#define DEMO_LIB_H

#include <stddef.h>
#include <stdint.h>

#ifdef CONFIG_CRC16
uint16_t crc16(uint16_t crc, const uint8_t *buf, size_t len);
#endif
#ifdef CONFIG_CRC32
uint32_t crc32_le(uint32_t crc, const uint8_t *buf, size_t len);
#endif
#ifdef CONFIG_CRC_ITU_T
uint16_t crc_itu_t(uint16_t crc, const uint8_t *buf, size_t len);
#endif
#ifdef CONFIG_BITREVERSE
uint32_t bitrev32(uint32_t x);
#endif

int decompress_kernel(const uint8_t *in, size_t len, uint8_t *out, size_t outlen);

#endif
