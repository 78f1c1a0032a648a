// SPDX-License-Identifier: GPL-2.0
/* The driver core: a list of registered drivers and a simulated bus to probe them on. */
#include <demo/device.h>

static struct driver *drivers;

void driver_register(struct driver *drv)
{
	drv->next = drivers;
	drivers = drv;
}

int dev_read(struct device *dev, unsigned int reg)
{
	/* Every simulated device answers with a value derived from its address and register. */
	return (int)((dev->bus_addr * 2654435761u) ^ (reg * 40503u)) & 0xff;
}

void dev_write(struct device *dev, unsigned int reg, int value)
{
	(void)dev;
	(void)reg;
	(void)value;
}

int dev_request_irq(struct device *dev, int irq)
{
	dev->irq = irq;
	return 0;
}

int driver_probe_all(void)
{
	struct driver *drv;
	unsigned int addr = 0x10;
	int bound = 0;

	for (drv = drivers; drv; drv = drv->next, addr++) {
		struct device dev = { drv->name, addr, -1 };

		if (drv->probe(&dev) == 0) {
			printk("%s %s: bound at 0x%02x\n", drv->class, drv->name, addr);
			bound++;
		}
	}
	return bound;
}
