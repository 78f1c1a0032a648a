// SPDX-License-Identifier: GPL-2.0
#include <demo/kernel.h>
#ifdef CONFIG_MODULE_SIG
#include <demo/crypto.h>
#endif

void modules_init(void)
{
#ifdef CONFIG_MODULE_SIG
	static const unsigned char key[] = "demo module signing key";
	unsigned char digest[32];

	sha256_digest(key, sizeof(key) - 1, digest);
	printk("modules: signature checking with key %02x%02x...\n", digest[0], digest[1]);
#endif
#ifdef CONFIG_MODULE_UNLOAD
	printk("modules: unloading allowed\n");
#endif
	printk("modules: loader ready\n");
}
