// SPDX-License-Identifier: GPL-2.0
/* Bitwise CRC routines: small rather than fast. */
#include <demo/kernel.h>
#include <demo/lib.h>

#ifdef CONFIG_CRC16
uint16_t crc16(uint16_t crc, const uint8_t *buf, size_t len)
{
	while (len--) {
		int i;

		crc ^= *buf++;
		for (i = 0; i < 8; i++)
			crc = (crc & 1) ? (crc >> 1) ^ 0xa001 : crc >> 1;
	}
	return crc;
}
#endif

#ifdef CONFIG_CRC32
uint32_t crc32_le(uint32_t crc, const uint8_t *buf, size_t len)
{
	while (len--) {
		int i;

		crc ^= *buf++;
		for (i = 0; i < 8; i++)
			crc = (crc & 1) ? (crc >> 1) ^ 0xedb88320 : crc >> 1;
	}
	return crc;
}
#endif

#ifdef CONFIG_CRC_ITU_T
uint16_t crc_itu_t(uint16_t crc, const uint8_t *buf, size_t len)
{
	while (len--) {
		int i;

		crc ^= (uint16_t)*buf++ << 8;
		for (i = 0; i < 8; i++)
			crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
	}
	return crc;
}
#endif

#ifdef CONFIG_BITREVERSE
uint32_t bitrev32(uint32_t x)
{
	uint32_t r = 0;
	int i;

	for (i = 0; i < 32; i++, x >>= 1)
		r = (r << 1) | (x & 1);
	return r;
}
#endif
