// SPDX-License-Identifier: GPL-2.0
/* Hardware monitoring and sensors. */
#include <demo/device.h>

#ifdef CONFIG_SENSORS_BMP280
static int bmp280_probe(struct device *dev)
{
	int id = dev_read(dev, 0xd0);

#ifdef CONFIG_SENSORS_BMP280_DEBUG
	printk("bmp280: id register 0xd0 reads 0x%02x (expect 0x58)\n", id);
#endif
#ifdef CONFIG_SENSORS_BMP280_IRQ
	if (dev_request_irq(dev, 9))
		return -EINVAL;
#endif
	dev_write(dev, 0xd0, 0x58);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(bmp280, "sensor", bmp280_probe)
#endif

#ifdef CONFIG_SENSORS_BME680
static int bme680_probe(struct device *dev)
{
	int id = dev_read(dev, 0xd0);

#ifdef CONFIG_SENSORS_BME680_DEBUG
	printk("bme680: id register 0xd0 reads 0x%02x (expect 0x61)\n", id);
#endif
#ifdef CONFIG_SENSORS_BME680_IRQ
	if (dev_request_irq(dev, 18))
		return -EINVAL;
#endif
	dev_write(dev, 0xd0, 0x61);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(bme680, "sensor", bme680_probe)
#endif

#ifdef CONFIG_SENSORS_SHT31
static int sht31_probe(struct device *dev)
{
	int id = dev_read(dev, 0xf3);

#ifdef CONFIG_SENSORS_SHT31_DEBUG
	printk("sht31: id register 0xf3 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_SENSORS_SHT31_IRQ
	if (dev_request_irq(dev, 20))
		return -EINVAL;
#endif
	dev_write(dev, 0xf3, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(sht31, "sensor", sht31_probe)
#endif

#ifdef CONFIG_SENSORS_HTU21
static int htu21_probe(struct device *dev)
{
	int id = dev_read(dev, 0xe7);

#ifdef CONFIG_SENSORS_HTU21_DEBUG
	printk("htu21: id register 0xe7 reads 0x%02x (expect 0x02)\n", id);
#endif
#ifdef CONFIG_SENSORS_HTU21_IRQ
	if (dev_request_irq(dev, 10))
		return -EINVAL;
#endif
	dev_write(dev, 0xe7, 0x02);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(htu21, "sensor", htu21_probe)
#endif

#ifdef CONFIG_SENSORS_LM75
static int lm75_probe(struct device *dev)
{
	int id = dev_read(dev, 0x01);

#ifdef CONFIG_SENSORS_LM75_DEBUG
	printk("lm75: id register 0x01 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_SENSORS_LM75_IRQ
	if (dev_request_irq(dev, 2))
		return -EINVAL;
#endif
	dev_write(dev, 0x01, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(lm75, "sensor", lm75_probe)
#endif

#ifdef CONFIG_SENSORS_TMP102
static int tmp102_probe(struct device *dev)
{
	int id = dev_read(dev, 0x01);

#ifdef CONFIG_SENSORS_TMP102_DEBUG
	printk("tmp102: id register 0x01 reads 0x%02x (expect 0x60)\n", id);
#endif
#ifdef CONFIG_SENSORS_TMP102_IRQ
	if (dev_request_irq(dev, 2))
		return -EINVAL;
#endif
	dev_write(dev, 0x01, 0x60);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(tmp102, "sensor", tmp102_probe)
#endif

#ifdef CONFIG_SENSORS_INA219
static int ina219_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_SENSORS_INA219_DEBUG
	printk("ina219: id register 0x00 reads 0x%02x (expect 0x39)\n", id);
#endif
#ifdef CONFIG_SENSORS_INA219_IRQ
	if (dev_request_irq(dev, 26))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x39);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(ina219, "sensor", ina219_probe)
#endif

#ifdef CONFIG_SENSORS_ADS1115
static int ads1115_probe(struct device *dev)
{
	int id = dev_read(dev, 0x01);

#ifdef CONFIG_SENSORS_ADS1115_DEBUG
	printk("ads1115: id register 0x01 reads 0x%02x (expect 0x85)\n", id);
#endif
#ifdef CONFIG_SENSORS_ADS1115_IRQ
	if (dev_request_irq(dev, 7))
		return -EINVAL;
#endif
	dev_write(dev, 0x01, 0x85);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(ads1115, "sensor", ads1115_probe)
#endif

#ifdef CONFIG_SENSORS_MPU6050
static int mpu6050_probe(struct device *dev)
{
	int id = dev_read(dev, 0x75);

#ifdef CONFIG_SENSORS_MPU6050_DEBUG
	printk("mpu6050: id register 0x75 reads 0x%02x (expect 0x68)\n", id);
#endif
#ifdef CONFIG_SENSORS_MPU6050_IRQ
	if (dev_request_irq(dev, 30))
		return -EINVAL;
#endif
	dev_write(dev, 0x75, 0x68);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(mpu6050, "sensor", mpu6050_probe)
#endif

#ifdef CONFIG_SENSORS_LIS3DH
static int lis3dh_probe(struct device *dev)
{
	int id = dev_read(dev, 0x0f);

#ifdef CONFIG_SENSORS_LIS3DH_DEBUG
	printk("lis3dh: id register 0x0f reads 0x%02x (expect 0x33)\n", id);
#endif
#ifdef CONFIG_SENSORS_LIS3DH_IRQ
	if (dev_request_irq(dev, 3))
		return -EINVAL;
#endif
	dev_write(dev, 0x0f, 0x33);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(lis3dh, "sensor", lis3dh_probe)
#endif

#ifdef CONFIG_SENSORS_ADXL345
static int adxl345_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_SENSORS_ADXL345_DEBUG
	printk("adxl345: id register 0x00 reads 0x%02x (expect 0xe5)\n", id);
#endif
#ifdef CONFIG_SENSORS_ADXL345_IRQ
	if (dev_request_irq(dev, 6))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0xe5);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(adxl345, "sensor", adxl345_probe)
#endif

#ifdef CONFIG_SENSORS_HMC5883
static int hmc5883_probe(struct device *dev)
{
	int id = dev_read(dev, 0x0a);

#ifdef CONFIG_SENSORS_HMC5883_DEBUG
	printk("hmc5883: id register 0x0a reads 0x%02x (expect 0x48)\n", id);
#endif
#ifdef CONFIG_SENSORS_HMC5883_IRQ
	if (dev_request_irq(dev, 19))
		return -EINVAL;
#endif
	dev_write(dev, 0x0a, 0x48);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(hmc5883, "sensor", hmc5883_probe)
#endif

#ifdef CONFIG_SENSORS_VL53L0X
static int vl53l0x_probe(struct device *dev)
{
	int id = dev_read(dev, 0xc0);

#ifdef CONFIG_SENSORS_VL53L0X_DEBUG
	printk("vl53l0x: id register 0xc0 reads 0x%02x (expect 0xee)\n", id);
#endif
#ifdef CONFIG_SENSORS_VL53L0X_IRQ
	if (dev_request_irq(dev, 15))
		return -EINVAL;
#endif
	dev_write(dev, 0xc0, 0xee);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(vl53l0x, "sensor", vl53l0x_probe)
#endif

#ifdef CONFIG_SENSORS_TSL2561
static int tsl2561_probe(struct device *dev)
{
	int id = dev_read(dev, 0x0a);

#ifdef CONFIG_SENSORS_TSL2561_DEBUG
	printk("tsl2561: id register 0x0a reads 0x%02x (expect 0x50)\n", id);
#endif
#ifdef CONFIG_SENSORS_TSL2561_IRQ
	if (dev_request_irq(dev, 27))
		return -EINVAL;
#endif
	dev_write(dev, 0x0a, 0x50);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(tsl2561, "sensor", tsl2561_probe)
#endif

#ifdef CONFIG_SENSORS_VEML7700
static int veml7700_probe(struct device *dev)
{
	int id = dev_read(dev, 0x07);

#ifdef CONFIG_SENSORS_VEML7700_DEBUG
	printk("veml7700: id register 0x07 reads 0x%02x (expect 0x81)\n", id);
#endif
#ifdef CONFIG_SENSORS_VEML7700_IRQ
	if (dev_request_irq(dev, 9))
		return -EINVAL;
#endif
	dev_write(dev, 0x07, 0x81);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(veml7700, "sensor", veml7700_probe)
#endif

#ifdef CONFIG_SENSORS_SI7021
static int si7021_probe(struct device *dev)
{
	int id = dev_read(dev, 0xfc);

#ifdef CONFIG_SENSORS_SI7021_DEBUG
	printk("si7021: id register 0xfc reads 0x%02x (expect 0x15)\n", id);
#endif
#ifdef CONFIG_SENSORS_SI7021_IRQ
	if (dev_request_irq(dev, 18))
		return -EINVAL;
#endif
	dev_write(dev, 0xfc, 0x15);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(si7021, "sensor", si7021_probe)
#endif

#ifdef CONFIG_SENSORS_CCS811
static int ccs811_probe(struct device *dev)
{
	int id = dev_read(dev, 0x20);

#ifdef CONFIG_SENSORS_CCS811_DEBUG
	printk("ccs811: id register 0x20 reads 0x%02x (expect 0x81)\n", id);
#endif
#ifdef CONFIG_SENSORS_CCS811_IRQ
	if (dev_request_irq(dev, 2))
		return -EINVAL;
#endif
	dev_write(dev, 0x20, 0x81);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(ccs811, "sensor", ccs811_probe)
#endif

#ifdef CONFIG_SENSORS_MLX90614
static int mlx90614_probe(struct device *dev)
{
	int id = dev_read(dev, 0x0e);

#ifdef CONFIG_SENSORS_MLX90614_DEBUG
	printk("mlx90614: id register 0x0e reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_SENSORS_MLX90614_IRQ
	if (dev_request_irq(dev, 15))
		return -EINVAL;
#endif
	dev_write(dev, 0x0e, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(mlx90614, "sensor", mlx90614_probe)
#endif

#ifdef CONFIG_SENSORS_MAX31855
static int max31855_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_SENSORS_MAX31855_DEBUG
	printk("max31855: id register 0x00 reads 0x%02x (expect 0x00)\n", id);
#endif
#ifdef CONFIG_SENSORS_MAX31855_IRQ
	if (dev_request_irq(dev, 1))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x00);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(max31855, "sensor", max31855_probe)
#endif

#ifdef CONFIG_SENSORS_DS18B20
static int ds18b20_probe(struct device *dev)
{
	int id = dev_read(dev, 0x00);

#ifdef CONFIG_SENSORS_DS18B20_DEBUG
	printk("ds18b20: id register 0x00 reads 0x%02x (expect 0x28)\n", id);
#endif
#ifdef CONFIG_SENSORS_DS18B20_IRQ
	if (dev_request_irq(dev, 9))
		return -EINVAL;
#endif
	dev_write(dev, 0x00, 0x28);
	return (id & 1) ? 0 : -ENODEV;
}
DRIVER(ds18b20, "sensor", ds18b20_probe)
#endif
