// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <demo/kernel.h>

#ifdef CONFIG_PRINTK
static char log_buf[1 << CONFIG_LOG_BUF_SHIFT];
static size_t log_len;

int printk(const char *fmt, ...)
{
	va_list ap;
	int n;

#ifdef CONFIG_PRINTK_TIME
	log_len += snprintf(log_buf + log_len % sizeof(log_buf), 16, "[%8ld] ", (long)clock());
#endif
	va_start(ap, fmt);
	n = vsnprintf(log_buf + log_len % sizeof(log_buf), sizeof(log_buf) - log_len % sizeof(log_buf),
		      fmt, ap);
	va_end(ap);
	fputs(log_buf + log_len % sizeof(log_buf), stdout);
	log_len += n;
	return n;
}
#endif

#ifdef CONFIG_BUG
void bug(const char *file, int line)
{
	fprintf(stderr, "kernel BUG at %s:%d!\n", file, line);
#ifdef CONFIG_PANIC_ON_OOPS
	fprintf(stderr, "Kernel panic - not syncing: Fatal exception (timeout %d)\n", CONFIG_PANIC_TIMEOUT);
#endif
	abort();
}
#endif

void printk_init(void)
{
#if defined(CONFIG_LOGLEVEL_DEBUG)
	int level = 7;
#elif defined(CONFIG_LOGLEVEL_INFO)
	int level = 6;
#elif defined(CONFIG_LOGLEVEL_WARNING)
	int level = 4;
#else
	int level = 3;
#endif
	printk("console log level %d\n", level);
}
