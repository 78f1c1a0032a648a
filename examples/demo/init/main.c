// SPDX-License-Identifier: GPL-2.0
/* The demo kernel's entry point: print the banner, bring the subsystems up, probe drivers. */
#include <stdio.h>
#include <demo/kernel.h>

#ifdef CONFIG_KERNEL_GZIP
#define COMPRESSION "gzip"
#elif defined(CONFIG_KERNEL_LZ4)
#define COMPRESSION "lz4"
#else
#define COMPRESSION "zstd"
#endif

int main(void)
{
	int drivers;

	printk_init();
	printk("Demo kernel 1.0%s (%s) booting, log buffer %d bytes, compression %s\n",
	       CONFIG_LOCALVERSION, CONFIG_DEFAULT_HOSTNAME, 1 << CONFIG_LOG_BUF_SHIFT, COMPRESSION);
	printk("RAM at 0x%lx, console %d baud\n", (unsigned long)CONFIG_MEM_BASE, CONFIG_CONSOLE_BAUD);
	lib_init();
	sched_init();
#ifdef CONFIG_CGROUPS
	cgroup_init();
#endif
#ifdef CONFIG_MODULES
	modules_init();
#endif
#ifdef CONFIG_CRYPTO
	crypto_init();
#endif
#ifdef CONFIG_NET
	net_init();
#endif
	fs_init();
	drivers = driver_probe_all();
	printk("%d drivers bound\n", drivers);
	return 0;
}
