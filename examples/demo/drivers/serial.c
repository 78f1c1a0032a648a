// SPDX-License-Identifier: GPL-2.0
/* Serial and real-time clocks. */
#include <demo/device.h>

#ifdef CONFIG_UART_8250
static int uart_8250_probe(struct device *dev)
{
	int id = dev_read(dev, 0x05);

#ifdef CONFIG_UART_8250_DEBUG
	printk("uart_8250: id register 0x05 reads 0x%02x (expect 0x60)\n", id);
#endif
#ifdef CONFIG_UART_8250_IRQ
	if (dev_request_irq(dev, 6))
		return -EINVAL;
#endif
	dev_write(dev, 0x05, 0x60);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(uart_8250, "tty", uart_8250_probe)
#endif

#ifdef CONFIG_UART_PL011
static int uart_pl011_probe(struct device *dev)
{
	int id = dev_read(dev, 0xfe0);

#ifdef CONFIG_UART_PL011_DEBUG
	printk("uart_pl011: id register 0xfe0 reads 0x%02x (expect 0x11)\n", id);
#endif
#ifdef CONFIG_UART_PL011_IRQ
	if (dev_request_irq(dev, 18))
		return -EINVAL;
#endif
	dev_write(dev, 0xfe0, 0x11);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(uart_pl011, "tty", uart_pl011_probe)
#endif

#ifdef CONFIG_SC16IS7XX
static int sc16is7xx_probe(struct device *dev)
{
	int id = dev_read(dev, 0x1c);

#ifdef CONFIG_SC16IS7XX_DEBUG
	printk("sc16is7xx: id register 0x1c reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_SC16IS7XX_IRQ
	if (dev_request_irq(dev, 29))
		return -EINVAL;
#endif
	dev_write(dev, 0x1c, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(sc16is7xx, "tty", sc16is7xx_probe)
#endif

#ifdef CONFIG_USB_SERIAL_FTDI
static int usb_serial_ftdi_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_USB_SERIAL_FTDI_DEBUG
	printk("usb_serial_ftdi: id register 0x00 reads 0x%02x (expect 0x04)\n", id);
#endif
#ifdef CONFIG_USB_SERIAL_FTDI_IRQ
	if (dev_request_irq(dev, 5))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x04);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(usb_serial_ftdi, "tty", usb_serial_ftdi_probe)
#endif

#ifdef CONFIG_USB_SERIAL_CP210X
static int usb_serial_cp210x_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_USB_SERIAL_CP210X_DEBUG
	printk("usb_serial_cp210x: id register 0x00 reads 0x%02x (expect 0x10)\n", id);
#endif
#ifdef CONFIG_USB_SERIAL_CP210X_IRQ
	if (dev_request_irq(dev, 17))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x10);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(usb_serial_cp210x, "tty", usb_serial_cp210x_probe)
#endif

#ifdef CONFIG_RTC_DS1307
static int rtc_ds1307_probe(struct device *dev)
{
	int id = dev_read(dev, 0x07);

#ifdef CONFIG_RTC_DS1307_DEBUG
	printk("rtc_ds1307: id register 0x07 reads 0x%02x (expect 0x03)\n", id);
#endif
#ifdef CONFIG_RTC_DS1307_IRQ
	if (dev_request_irq(dev, 11))
		return -EINVAL;
#endif
	dev_write(dev, 0x07, 0x03);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(rtc_ds1307, "tty", rtc_ds1307_probe)
#endif

#ifdef CONFIG_RTC_DS3231
static int rtc_ds3231_probe(struct device *dev)
{
	int id = dev_read(dev, 0x0e);

#ifdef CONFIG_RTC_DS3231_DEBUG
	printk("rtc_ds3231: id register 0x0e reads 0x%02x (expect 0x1c)\n", id);
#endif
#ifdef CONFIG_RTC_DS3231_IRQ
	if (dev_request_irq(dev, 11))
		return -EINVAL;
#endif
	dev_write(dev, 0x0e, 0x1c);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(rtc_ds3231, "tty", rtc_ds3231_probe)
#endif

#ifdef CONFIG_RTC_PCF8563
static int rtc_pcf8563_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_RTC_PCF8563_DEBUG
	printk("rtc_pcf8563: id register 0x00 reads 0x%02x (expect 0x08)\n", id);
#endif
#ifdef CONFIG_RTC_PCF8563_IRQ
	if (dev_request_irq(dev, 9))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x08);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(rtc_pcf8563, "tty", rtc_pcf8563_probe)
#endif

#ifdef CONFIG_SOFT_WATCHDOG
static int soft_watchdog_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_SOFT_WATCHDOG_DEBUG
	printk("soft_watchdog: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_SOFT_WATCHDOG_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(soft_watchdog, "tty", soft_watchdog_probe)
#endif

#ifdef CONFIG_GPIO_WATCHDOG
static int gpio_watchdog_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_GPIO_WATCHDOG_DEBUG
	printk("gpio_watchdog: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_GPIO_WATCHDOG_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(gpio_watchdog, "tty", gpio_watchdog_probe)
#endif
