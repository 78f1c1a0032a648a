// SPDX-License-Identifier: GPL-2.0
/* Input, LEDs and GPIO expanders. */
#include <demo/device.h>

#ifdef CONFIG_PCA9555
static int pca9555_probe(struct device *dev)
{
	int id = dev_read(dev, 0x06);

#ifdef CONFIG_PCA9555_DEBUG
	printk("pca9555: id register 0x06 reads 0x%02x (expect 0xff)\n", id);
#endif
#ifdef CONFIG_PCA9555_IRQ
	if (dev_request_irq(dev, 6))
		return -EINVAL;
#endif
	dev_write(dev, 0x06, 0xff);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(pca9555, "misc", pca9555_probe)
#endif

#ifdef CONFIG_MCP23017
static int mcp23017_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_MCP23017_DEBUG
	printk("mcp23017: id register 0x00 reads 0x%02x (expect 0xff)\n", id);
#endif
#ifdef CONFIG_MCP23017_IRQ
	if (dev_request_irq(dev, 32))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0xff);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(mcp23017, "misc", mcp23017_probe)
#endif

#ifdef CONFIG_PCF8574
static int pcf8574_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_PCF8574_DEBUG
	printk("pcf8574: id register 0x00 reads 0x%02x (expect 0xff)\n", id);
#endif
#ifdef CONFIG_PCF8574_IRQ
	if (dev_request_irq(dev, 32))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0xff);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(pcf8574, "misc", pcf8574_probe)
#endif

#ifdef CONFIG_LEDS_GPIO
static int leds_gpio_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_LEDS_GPIO_DEBUG
	printk("leds_gpio: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_LEDS_GPIO_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(leds_gpio, "misc", leds_gpio_probe)
#endif

#ifdef CONFIG_LEDS_PWM
static int leds_pwm_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_LEDS_PWM_DEBUG
	printk("leds_pwm: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_LEDS_PWM_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(leds_pwm, "misc", leds_pwm_probe)
#endif

#ifdef CONFIG_PCA9685
static int pca9685_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_PCA9685_DEBUG
	printk("pca9685: id register 0x00 reads 0x%02x (expect 0x01)\n", id);
#endif
#ifdef CONFIG_PCA9685_IRQ
	if (dev_request_irq(dev, 2))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x01);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(pca9685, "misc", pca9685_probe)
#endif

#ifdef CONFIG_KEYS_GPIO
static int keys_gpio_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_KEYS_GPIO_DEBUG
	printk("keys_gpio: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_KEYS_GPIO_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(keys_gpio, "misc", keys_gpio_probe)
#endif

#ifdef CONFIG_ROTARY_ENCODER
static int rotary_encoder_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_ROTARY_ENCODER_DEBUG
	printk("rotary_encoder: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_ROTARY_ENCODER_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(rotary_encoder, "misc", rotary_encoder_probe)
#endif

#ifdef CONFIG_XPT2046
static int xpt2046_probe(struct device *dev)
{
	int id = dev_read(dev, 0xd0);

#ifdef CONFIG_XPT2046_DEBUG
	printk("xpt2046: id register 0xd0 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_XPT2046_IRQ
	if (dev_request_irq(dev, 17))
		return -EINVAL;
#endif
	dev_write(dev, 0xd0, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(xpt2046, "misc", xpt2046_probe)
#endif

#ifdef CONFIG_BUZZER_PWM
static int buzzer_pwm_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_BUZZER_PWM_DEBUG
	printk("buzzer_pwm: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_BUZZER_PWM_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(buzzer_pwm, "misc", buzzer_pwm_probe)
#endif
