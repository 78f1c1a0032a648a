// SPDX-License-Identifier: GPL-2.0
/* The file system types the kernel knows, registered at boot. */
#include <demo/kernel.h>
#if defined(CONFIG_EXT4_FS)
#include <demo/lib.h>
#endif

struct file_system_type {
	const char *name;
	int requires_dev;
};

static const struct file_system_type filesystems[] = {
#ifdef CONFIG_EXT2_FS
	{ "ext2", 1 },
#endif
#ifdef CONFIG_EXT4_FS
	{ "ext4", 1 },
#endif
#ifdef CONFIG_VFAT_FS
	{ "vfat", 1 },
#elif defined(CONFIG_FAT_FS)
	{ "msdos", 1 },
#endif
#ifdef CONFIG_PROC_FS
	{ "proc", 0 },
#endif
#ifdef CONFIG_SYSFS
	{ "sysfs", 0 },
#endif
#ifdef CONFIG_TMPFS
	{ "tmpfs", 0 },
#endif
#ifdef CONFIG_SQUASHFS
	{ "squashfs", 1 },
#endif
#ifdef CONFIG_NFS_FS
	{ "nfs", 0 },
#endif
	{ "rootfs", 0 },
};

void fs_init(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(filesystems); i++)
		printk("VFS: %s%s\n", filesystems[i].name, filesystems[i].requires_dev ? "" : " (nodev)");
#ifdef CONFIG_EXT4_FS
	printk("EXT4-fs: group descriptor checksum %04x\n", crc16(~0, (const uint8_t *)"ext4", 4));
#ifdef CONFIG_EXT4_FS_POSIX_ACL
	printk("EXT4-fs: POSIX ACLs\n");
#endif
#endif
#ifdef CONFIG_FAT_FS
	printk("FAT: codepage %d\n", CONFIG_FAT_DEFAULT_CODEPAGE);
#endif
#ifdef CONFIG_VFAT_FS
	printk("FAT: iocharset %s\n", CONFIG_FAT_DEFAULT_IOCHARSET);
#endif
#ifdef CONFIG_SQUASHFS_XZ
	printk("squashfs: xz\n");
#endif
#ifdef CONFIG_QUOTA
	printk("VFS: disk quotas\n");
#endif
#ifdef CONFIG_SWAP
	printk("swap: enabled\n");
#endif
}
