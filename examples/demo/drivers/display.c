// SPDX-License-Identifier: GPL-2.0
/* Displays. */
#include <demo/device.h>

#ifdef CONFIG_FB_SSD1306
static int ssd1306_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_FB_SSD1306_DEBUG
	printk("ssd1306: id register 0x00 reads 0x%02x (expect 0x43)\n", id);
#endif
#ifdef CONFIG_FB_SSD1306_IRQ
	if (dev_request_irq(dev, 4))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x43);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(ssd1306, "display", ssd1306_probe)
#endif

#ifdef CONFIG_FB_SH1106
static int sh1106_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_FB_SH1106_DEBUG
	printk("sh1106: id register 0x00 reads 0x%02x (expect 0x44)\n", id);
#endif
#ifdef CONFIG_FB_SH1106_IRQ
	if (dev_request_irq(dev, 5))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x44);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(sh1106, "display", sh1106_probe)
#endif

#ifdef CONFIG_FB_ST7735
static int st7735_probe(struct device *dev)
{
	int id = dev_read(dev, 0x04);

#ifdef CONFIG_FB_ST7735_DEBUG
	printk("st7735: id register 0x04 reads 0x%02x (expect 0x7c)\n", id);
#endif
#ifdef CONFIG_FB_ST7735_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x04, 0x7c);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(st7735, "display", st7735_probe)
#endif

#ifdef CONFIG_FB_ST7789
static int st7789_probe(struct device *dev)
{
	int id = dev_read(dev, 0x04);

#ifdef CONFIG_FB_ST7789_DEBUG
	printk("st7789: id register 0x04 reads 0x%02x (expect 0x85)\n", id);
#endif
#ifdef CONFIG_FB_ST7789_IRQ
	if (dev_request_irq(dev, 10))
		return -EINVAL;
#endif
	dev_write(dev, 0x04, 0x85);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(st7789, "display", st7789_probe)
#endif

#ifdef CONFIG_FB_ILI9341
static int ili9341_probe(struct device *dev)
{
	int id = dev_read(dev, 0xd3);

#ifdef CONFIG_FB_ILI9341_DEBUG
	printk("ili9341: id register 0xd3 reads 0x%02x (expect 0x93)\n", id);
#endif
#ifdef CONFIG_FB_ILI9341_IRQ
	if (dev_request_irq(dev, 7))
		return -EINVAL;
#endif
	dev_write(dev, 0xd3, 0x93);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(ili9341, "display", ili9341_probe)
#endif

#ifdef CONFIG_FB_HD44780
static int hd44780_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_FB_HD44780_DEBUG
	printk("hd44780: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_FB_HD44780_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(hd44780, "display", hd44780_probe)
#endif

#ifdef CONFIG_FB_MAX7219
static int max7219_probe(struct device *dev)
{
	int id = dev_read(dev, 0x0f);

#ifdef CONFIG_FB_MAX7219_DEBUG
	printk("max7219: id register 0x0f reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_FB_MAX7219_IRQ
	if (dev_request_irq(dev, 16))
		return -EINVAL;
#endif
	dev_write(dev, 0x0f, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(max7219, "display", max7219_probe)
#endif

#ifdef CONFIG_FB_EPD2IN13
static int epd2in13_probe(struct device *dev)
{
	int id = dev_read(dev, 0x2f);

#ifdef CONFIG_FB_EPD2IN13_DEBUG
	printk("epd2in13: id register 0x2f reads 0x%02x (expect 0x01)\n", id);
#endif
#ifdef CONFIG_FB_EPD2IN13_IRQ
	if (dev_request_irq(dev, 17))
		return -EINVAL;
#endif
	dev_write(dev, 0x2f, 0x01);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(epd2in13, "display", epd2in13_probe)
#endif
