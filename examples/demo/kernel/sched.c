// SPDX-License-Identifier: GPL-2.0
#include <demo/kernel.h>

#ifdef CONFIG_SMP
#define NR_CPUS CONFIG_NR_CPUS
#else
#define NR_CPUS 1
#endif

#if defined(CONFIG_HZ_100)
#define HZ 100
#elif defined(CONFIG_HZ_1000)
#define HZ 1000
#else
#define HZ 250
#endif

struct runqueue {
	unsigned int nr_running;
	unsigned long clock;
#ifdef CONFIG_PSI
	unsigned long stall_time;
#endif
};

static struct runqueue runqueues[NR_CPUS];

#ifdef CONFIG_DEBUG_SPINLOCK
static int lock_owner = -1;
#endif

void sched_init(void)
{
	unsigned int cpu;

	for (cpu = 0; cpu < NR_CPUS; cpu++) {
		runqueues[cpu].nr_running = 0;
		runqueues[cpu].clock = cpu * HZ;
#ifdef CONFIG_PSI
		runqueues[cpu].stall_time = 0;
#endif
	}
#ifdef CONFIG_DEBUG_SPINLOCK
	BUG_ON(lock_owner != -1);
#endif
#if defined(CONFIG_PREEMPT)
	printk("sched: preemptible, %d CPUs, HZ=%d\n", NR_CPUS, HZ);
#elif defined(CONFIG_PREEMPT_VOLUNTARY)
	printk("sched: voluntary preemption, %d CPUs, HZ=%d\n", NR_CPUS, HZ);
#else
	printk("sched: no forced preemption, %d CPUs, HZ=%d\n", NR_CPUS, HZ);
#endif
#ifdef CONFIG_NO_HZ_IDLE
	printk("sched: tickless idle\n");
#endif
#ifdef CONFIG_WORKQUEUE_STATS
	printk("workqueue: statistics on\n");
#endif
}
