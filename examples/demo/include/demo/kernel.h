/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DEMO_KERNEL_H
#define DEMO_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#define ENODEV 19
#define ENOMEM 12
#define EINVAL 22

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifdef CONFIG_PRINTK
int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#else
static inline __attribute__((format(printf, 1, 2))) int printk(const char *fmt, ...)
{
	(void)fmt;
	return 0;
}
#endif

#ifdef CONFIG_BUG
void bug(const char *file, int line) __attribute__((noreturn));
#define BUG_ON(cond) do { if (cond) bug(__FILE__, __LINE__); } while (0)
#else
#define BUG_ON(cond) do { (void)(cond); } while (0)
#endif

void printk_init(void);
void sched_init(void);
void fs_init(void);
void lib_init(void);
int driver_probe_all(void);

#ifdef CONFIG_NET
void net_init(void);
#endif
#ifdef CONFIG_CRYPTO
void crypto_init(void);
#endif
#ifdef CONFIG_MODULES
void modules_init(void);
#endif
#ifdef CONFIG_CGROUPS
void cgroup_init(void);
#endif

#endif
