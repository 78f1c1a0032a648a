// SPDX-License-Identifier: GPL-2.0
/* Storage devices. */
#include <demo/device.h>

#ifdef CONFIG_SDHCI
static int sdhci_probe(struct device *dev)
{
	int id = dev_read(dev, 0xfe);

#ifdef CONFIG_SDHCI_DEBUG
	printk("sdhci: id register 0xfe reads 0x%02x (expect 0x02)\n", id);
#endif
#ifdef CONFIG_SDHCI_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0xfe, 0x02);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(sdhci, "storage", sdhci_probe)
#endif

#ifdef CONFIG_EMMC
static int emmc_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_EMMC_DEBUG
	printk("emmc: id register 0x00 reads 0x%02x (expect 0x07)\n", id);
#endif
#ifdef CONFIG_EMMC_IRQ
	if (dev_request_irq(dev, 8))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x07);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(emmc, "storage", emmc_probe)
#endif

#ifdef CONFIG_SPI_NOR
static int spi_nor_probe(struct device *dev)
{
	int id = dev_read(dev, 0x9f);

#ifdef CONFIG_SPI_NOR_DEBUG
	printk("spi_nor: id register 0x9f reads 0x%02x (expect 0xef)\n", id);
#endif
#ifdef CONFIG_SPI_NOR_IRQ
	if (dev_request_irq(dev, 15))
		return -EINVAL;
#endif
	dev_write(dev, 0x9f, 0xef);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(spi_nor, "storage", spi_nor_probe)
#endif

#ifdef CONFIG_SPI_NAND
static int spi_nand_probe(struct device *dev)
{
	int id = dev_read(dev, 0x9f);

#ifdef CONFIG_SPI_NAND_DEBUG
	printk("spi_nand: id register 0x9f reads 0x%02x (expect 0xc2)\n", id);
#endif
#ifdef CONFIG_SPI_NAND_IRQ
	if (dev_request_irq(dev, 2))
		return -EINVAL;
#endif
	dev_write(dev, 0x9f, 0xc2);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(spi_nand, "storage", spi_nand_probe)
#endif

#ifdef CONFIG_AT24
static int at24_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_AT24_DEBUG
	printk("at24: id register 0x00 reads 0x%02x (expect 0xff)\n", id);
#endif
#ifdef CONFIG_AT24_IRQ
	if (dev_request_irq(dev, 32))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0xff);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(at24, "storage", at24_probe)
#endif

#ifdef CONFIG_FRAM
static int fram_probe(struct device *dev)
{
	int id = dev_read(dev, 0xf8);

#ifdef CONFIG_FRAM_DEBUG
	printk("fram: id register 0xf8 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_FRAM_IRQ
	if (dev_request_irq(dev, 25))
		return -EINVAL;
#endif
	dev_write(dev, 0xf8, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(fram, "storage", fram_probe)
#endif

#ifdef CONFIG_USB_STORAGE
static int usb_storage_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_USB_STORAGE_DEBUG
	printk("usb_storage: id register 0x00 reads 0x%02x (expect 0x08)\n", id);
#endif
#ifdef CONFIG_USB_STORAGE_IRQ
	if (dev_request_irq(dev, 9))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x08);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(usb_storage, "storage", usb_storage_probe)
#endif
