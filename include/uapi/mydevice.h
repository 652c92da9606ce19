/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * mydevice: a blocking kernel FIFO at /dev/mydevice.
 *
 * The user-visible ABI. It compiles in the kernel and in userspace. The
 * semantics are specified in docs/semantics.md.
 */
#ifndef _UAPI_LINUX_MYDEVICE_H
#define _UAPI_LINUX_MYDEVICE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MYDEV_IOC_MAGIC		'M'

/* Capacity limits of the ring buffer, in bytes. */
#define MYDEV_BUFFER_MIN	1
#define MYDEV_BUFFER_MAX	1048576
#define MYDEV_BUFFER_DEFAULT	4096

/* Writes of up to min(MYDEV_ATOMIC_MAX, capacity) bytes are atomic. */
#define MYDEV_ATOMIC_MAX	4096

/* Returned by MYDEV_STATUS. */
struct mydev_status {
	__u32 buffer_size;	/* Capacity in bytes. */
	__u32 bytes_used;	/* Bytes buffered now. */
	__u32 open_count;	/* Open files of the device. */
	__u32 read_count;	/* Successful read() calls (returning > 0). */
	__u32 write_count;	/* Successful write() calls (returning > 0). */
	__u32 _reserved;	/* Always 0. */
};

#define MYDEV_STATS_VERSION	1

/* MYDEV_STATS flags. */
#define MYDEV_FLAG_HUNG_UP	(1U << 0)

/* Returned by MYDEV_STATS. Counters run from module load. */
struct mydev_stats {
	__u32 size;		/* sizeof(struct mydev_stats) filled in. */
	__u32 version;		/* MYDEV_STATS_VERSION. */
	__u64 bytes_read;	/* Bytes delivered by read(). */
	__u64 bytes_written;	/* Bytes stored by write(). */
	__u64 reads;		/* Successful read() calls. */
	__u64 writes;		/* Successful write() calls. */
	__u64 reader_sleeps;	/* Times a reader went to sleep. */
	__u64 writer_sleeps;	/* Times a writer went to sleep. */
	__u32 readers_waiting;	/* Readers asleep now. */
	__u32 writers_waiting;	/* Writers asleep now. */
	__u32 flags;		/* MYDEV_FLAG_*. */
	__u32 _reserved;	/* Always 0. */
};

/* Discard all buffered data and wake writers. Needs FMODE_WRITE. */
#define MYDEV_CLEAR	_IO(MYDEV_IOC_MAGIC, 0)
/* Set the capacity (1..=MYDEV_BUFFER_MAX), keeping the oldest data. Needs FMODE_WRITE. */
#define MYDEV_RESIZE	_IOW(MYDEV_IOC_MAGIC, 1, __u32)
/* Read struct mydev_status. */
#define MYDEV_STATUS	_IOR(MYDEV_IOC_MAGIC, 2, struct mydev_status)
/* Wake every sleeper: readers drain then see EOF, writers get EPIPE. Needs FMODE_WRITE. */
#define MYDEV_HANGUP	_IO(MYDEV_IOC_MAGIC, 3)
/* Read struct mydev_stats. */
#define MYDEV_STATS	_IOR(MYDEV_IOC_MAGIC, 4, struct mydev_stats)

#endif /* _UAPI_LINUX_MYDEVICE_H */
