// SPDX-License-Identifier: GPL-2.0
/* Network device drivers. */
#include <demo/device.h>

#ifdef CONFIG_NET_ENC28J60
static int enc28j60_probe(struct device *dev)
{
	int id = dev_read(dev, 0x12);

#ifdef CONFIG_NET_ENC28J60_DEBUG
	printk("enc28j60: id register 0x12 reads 0x%02x (expect 0x06)\n", id);
#endif
#ifdef CONFIG_NET_ENC28J60_IRQ
	if (dev_request_irq(dev, 25))
		return -EINVAL;
#endif
	dev_write(dev, 0x12, 0x06);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(enc28j60, "net", enc28j60_probe)
#endif

#ifdef CONFIG_NET_W5500
static int w5500_probe(struct device *dev)
{
	int id = dev_read(dev, 0x39);

#ifdef CONFIG_NET_W5500_DEBUG
	printk("w5500: id register 0x39 reads 0x%02x (expect 0x04)\n", id);
#endif
#ifdef CONFIG_NET_W5500_IRQ
	if (dev_request_irq(dev, 30))
		return -EINVAL;
#endif
	dev_write(dev, 0x39, 0x04);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(w5500, "net", w5500_probe)
#endif

#ifdef CONFIG_NET_KSZ8851
static int ksz8851_probe(struct device *dev)
{
	int id = dev_read(dev, 0xc0);

#ifdef CONFIG_NET_KSZ8851_DEBUG
	printk("ksz8851: id register 0xc0 reads 0x%02x (expect 0x72)\n", id);
#endif
#ifdef CONFIG_NET_KSZ8851_IRQ
	if (dev_request_irq(dev, 19))
		return -EINVAL;
#endif
	dev_write(dev, 0xc0, 0x72);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(ksz8851, "net", ksz8851_probe)
#endif

#ifdef CONFIG_NET_LAN9303
static int lan9303_probe(struct device *dev)
{
	int id = dev_read(dev, 0x50);

#ifdef CONFIG_NET_LAN9303_DEBUG
	printk("lan9303: id register 0x50 reads 0x%02x (expect 0x93)\n", id);
#endif
#ifdef CONFIG_NET_LAN9303_IRQ
	if (dev_request_irq(dev, 4))
		return -EINVAL;
#endif
	dev_write(dev, 0x50, 0x93);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(lan9303, "net", lan9303_probe)
#endif

#ifdef CONFIG_NET_DM9000
static int dm9000_probe(struct device *dev)
{
	int id = dev_read(dev, 0x28);

#ifdef CONFIG_NET_DM9000_DEBUG
	printk("dm9000: id register 0x28 reads 0x%02x (expect 0x46)\n", id);
#endif
#ifdef CONFIG_NET_DM9000_IRQ
	if (dev_request_irq(dev, 15))
		return -EINVAL;
#endif
	dev_write(dev, 0x28, 0x46);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(dm9000, "net", dm9000_probe)
#endif

#ifdef CONFIG_NET_SMSC911X
static int smsc911x_probe(struct device *dev)
{
	int id = dev_read(dev, 0x50);

#ifdef CONFIG_NET_SMSC911X_DEBUG
	printk("smsc911x: id register 0x50 reads 0x%02x (expect 0x92)\n", id);
#endif
#ifdef CONFIG_NET_SMSC911X_IRQ
	if (dev_request_irq(dev, 3))
		return -EINVAL;
#endif
	dev_write(dev, 0x50, 0x92);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(smsc911x, "net", smsc911x_probe)
#endif

#ifdef CONFIG_NET_CDC_ETHER
static int cdc_ether_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_NET_CDC_ETHER_DEBUG
	printk("cdc_ether: id register 0x00 reads 0x%02x (expect 0x06)\n", id);
#endif
#ifdef CONFIG_NET_CDC_ETHER_IRQ
	if (dev_request_irq(dev, 7))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x06);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(cdc_ether, "net", cdc_ether_probe)
#endif

#ifdef CONFIG_NET_RNDIS_HOST
static int rndis_host_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_NET_RNDIS_HOST_DEBUG
	printk("rndis_host: id register 0x00 reads 0x%02x (expect 0x02)\n", id);
#endif
#ifdef CONFIG_NET_RNDIS_HOST_IRQ
	if (dev_request_irq(dev, 3))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x02);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(rndis_host, "net", rndis_host_probe)
#endif
