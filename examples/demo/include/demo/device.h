/* SPDX-License-Identifier: GPL-2.0 */
#ifndef DEMO_DEVICE_H
#define DEMO_DEVICE_H

#include <demo/kernel.h>

struct device {
	const char *name;
	unsigned int bus_addr;
	int irq;
};

struct driver {
	const char *name;
	const char *class;
	int (*probe)(struct device *dev);
	struct driver *next;
};

void driver_register(struct driver *drv);
int dev_read(struct device *dev, unsigned int reg);
void dev_write(struct device *dev, unsigned int reg, int value);
int dev_request_irq(struct device *dev, int irq);

/* Registers a driver before main() runs, as initcalls do in a real kernel. */
#define DRIVER(id, cls, probe_fn)                                        \
	static struct driver __driver_##id = { #id, cls, probe_fn, NULL };   \
	static void __attribute__((constructor)) __register_##id(void)      \
	{                                                                    \
		driver_register(&__driver_##id);                             \
	}

#endif
