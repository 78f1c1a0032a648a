// SPDX-License-Identifier: GPL-2.0
#include <demo/kernel.h>

static const char *const controllers[] = {
#ifdef CONFIG_MEMCG
	"memory",
#endif
#ifdef CONFIG_CPUSETS
	"cpuset",
#endif
	"pids",
};

void cgroup_init(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(controllers); i++)
		printk("cgroup: controller %s\n", controllers[i]);
}
