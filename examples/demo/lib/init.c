// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include <demo/kernel.h>
#include <demo/lib.h>

int decompress_kernel(const uint8_t *in, size_t len, uint8_t *out, size_t outlen)
{
	size_t n = len < outlen ? len : outlen;

	/* The image is stored uncompressed in the demo; the decoder only names itself. */
	memcpy(out, in, n);
#if defined(CONFIG_ZLIB_INFLATE) && defined(CONFIG_KERNEL_GZIP)
	printk("decompress: inflate\n");
#elif defined(CONFIG_LZ4_DECOMPRESS) && defined(CONFIG_KERNEL_LZ4)
	printk("decompress: lz4\n");
#elif defined(CONFIG_ZSTD_DECOMPRESS) && defined(CONFIG_KERNEL_ZSTD)
	printk("decompress: zstd\n");
#endif
	return (int)n;
}

void lib_init(void)
{
	static const uint8_t image[] = "demo kernel image";
	uint8_t out[sizeof(image)];

	decompress_kernel(image, sizeof(image), out, sizeof(out));
#ifdef CONFIG_CRC32_SELFTEST
	BUG_ON(crc32_le(~0u, (const uint8_t *)"123456789", 9) != 0x340bc6d9);
	printk("crc32: self test passed\n");
#endif
#ifdef CONFIG_STRING_SELFTEST
	BUG_ON(strlen("demo") != 4);
#endif
#ifdef CONFIG_XZ_DEC
	printk("xz: decoder ready\n");
#endif
}
