// SPDX-License-Identifier: GPL-2.0
/* Checks that only make sense in a debugging kernel. */
#include <demo/kernel.h>

struct list_head {
	struct list_head *next, *prev;
};

static void list_add(struct list_head *new, struct list_head *head)
{
#ifdef CONFIG_DEBUG_LIST
	BUG_ON(head->next->prev != head);
#endif
	new->next = head->next;
	new->prev = head;
	head->next->prev = new;
	head->next = new;
}

void debug_selftest(void);

void debug_selftest(void)
{
	struct list_head head = { &head, &head }, a;

	list_add(&a, &head);
	BUG_ON(head.next != &a);
#ifdef CONFIG_FTRACE
	printk("ftrace: function tracer ready\n");
#endif
#ifdef CONFIG_PROFILING
	printk("profiling: enabled\n");
#endif
#ifdef CONFIG_KALLSYMS_ALL
	printk("kallsyms: all symbols\n");
#endif
}
